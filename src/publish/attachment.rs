//! What a publisher learns about an experiment when the experiment is built.

#[cfg(feature = "serde")]
use std::sync::Arc;

#[cfg(feature = "serde")]
use crate::noise::NoiseModel;

/// An experiment a publisher was just attached to, given once to
/// [`Publisher::attach`](super::Publisher::attach) by `build()`, before any run.
///
/// A report that shows per-path noise, or that must never show a whole value of an experiment
/// that redacts through its diff, learns it here, whichever way it was added.
pub struct Attachment<'a> {
    experiment: &'a str,
    diffs_values: bool,
    #[cfg(feature = "serde")]
    noise: Option<&'a Arc<NoiseModel>>,
}

impl<'a> Attachment<'a> {
    pub(crate) fn new(
        experiment: &'a str,
        diffs_values: bool,
        #[cfg(feature = "serde")] noise: Option<&'a Arc<NoiseModel>>,
    ) -> Self {
        Self {
            experiment,
            diffs_values,
            #[cfg(feature = "serde")]
            noise,
        }
    }

    /// The experiment's name.
    pub fn experiment(&self) -> &str {
        self.experiment
    }

    /// Whether the experiment diffs mismatched values
    /// ([`diff`](crate::ExperimentBuilder::diff)): then values leave the process only through
    /// the diff, which applies redaction and caps, and a publisher should show no whole value.
    pub fn diffs_values(&self) -> bool {
        self.diffs_values
    }

    /// Whether the experiment calibrates noise
    /// ([`calibrate_noise`](crate::ExperimentBuilder::calibrate_noise)).
    pub fn calibrates_noise(&self) -> bool {
        #[cfg(feature = "serde")]
        return self.noise.is_some();
        #[cfg(not(feature = "serde"))]
        return false;
    }

    /// The experiment's noise model, for the reports that show what it learnt.
    #[cfg(feature = "serde")]
    #[cfg_attr(not(feature = "insight"), allow(dead_code))]
    pub(crate) fn noise_model(&self) -> Option<&'a Arc<NoiseModel>> {
        self.noise
    }
}

impl std::fmt::Debug for Attachment<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("experiment", &self.experiment)
            .field("diffs_values", &self.diffs_values)
            .field("calibrates_noise", &self.calibrates_noise())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use crate::publish::{Attachment, Publisher};
    use crate::{Experiment, ExperimentResult, Operation};
    use std::sync::{Arc, Mutex};

    /// Remembers what it was attached to.
    #[derive(Clone, Default)]
    struct Remembers(Arc<Mutex<Vec<(String, bool, bool)>>>);

    impl Publisher<u8> for Remembers {
        fn publish(&self, _: &ExperimentResult<u8>) {}
        fn attach(&self, experiment: &Attachment<'_>) {
            self.0.lock().unwrap().push((
                experiment.experiment().to_owned(),
                experiment.diffs_values(),
                experiment.calibrates_noise(),
            ));
        }
    }

    #[test]
    fn every_publisher_is_attached_once_at_build_with_what_the_experiment_does() {
        let plain = Remembers::default();
        let _: Experiment<u8> = Experiment::builder("plain")
            .publisher(plain.clone())
            .publisher(plain.clone())
            .build()
            .unwrap();
        assert_eq!(
            *plain.0.lock().unwrap(),
            vec![
                ("plain".into(), false, false),
                ("plain".into(), false, false)
            ]
        );
        #[cfg(feature = "serde")]
        {
            let diffing = Remembers::default();
            let _: Experiment<u8> = Experiment::builder("diffing")
                .calibrate_noise(crate::noise::NoiseCalibration::new())
                .publisher(diffing.clone())
                .build()
                .unwrap();
            assert_eq!(
                *diffing.0.lock().unwrap(),
                vec![("diffing".into(), true, true)]
            );
        }
    }

    #[test]
    fn debug_shows_what_a_publisher_learns() {
        let attachment = Attachment::new(
            "shown",
            true,
            #[cfg(feature = "serde")]
            None,
        );
        assert_eq!(
            format!("{attachment:?}"),
            r#"Attachment { experiment: "shown", diffs_values: true, calibrates_noise: false }"#
        );
    }

    #[test]
    fn a_panicking_attach_goes_to_the_error_hook_and_the_experiment_still_builds() {
        struct Panics;
        impl Publisher<u8> for Panics {
            fn publish(&self, _: &ExperimentResult<u8>) {}
            fn attach(&self, _: &Attachment<'_>) {
                panic!("attach failed");
            }
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hook = seen.clone();
        let experiment: Experiment<u8> = Experiment::builder("panicky")
            .publisher(Panics)
            .on_error(move |error| {
                hook.lock()
                    .unwrap()
                    .push((error.operation, error.message.clone()))
            })
            .build()
            .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![(Operation::Publish, "attach failed".to_string())]
        );
        assert_eq!(experiment.stats().callback_errors_by(Operation::Publish), 1);
        assert_eq!(experiment.run(|| 1, || 1), 1);
    }

    #[cfg(feature = "insight")]
    #[test]
    #[allow(deprecated)]
    fn the_deprecated_insight_method_links_noise_as_publisher_does() {
        use crate::insight::Insight;
        use crate::noise::NoiseCalibration;
        let through_publisher = Insight::new();
        let through_insight = Insight::new();
        for (name, builder) in [
            (
                "publisher",
                Experiment::<(u8, u32)>::builder("publisher").publisher(through_publisher.clone()),
            ),
            (
                "insight",
                Experiment::<(u8, u32)>::builder("insight").insight(&through_insight),
            ),
        ] {
            let experiment = builder
                .calibrate_noise(NoiseCalibration::new().percent(100.0))
                .build()
                .unwrap();
            for n in 0..30u32 {
                experiment
                    .trial()
                    .control(|| (1, n))
                    .calibration(|| (1, n + 1))
                    .candidate("v2", || (1, n + 2))
                    .run();
            }
            assert_eq!(experiment.stats().noise, 30, "{name}");
        }
        for insight in [through_publisher, through_insight] {
            let noise = insight.report().noise.expect("the noise model is linked");
            assert!(noise
                .paths
                .iter()
                .any(|path| path.path == "$[1]" && path.is_noise));
        }
    }
}
