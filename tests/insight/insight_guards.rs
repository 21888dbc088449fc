//! Guard trips and re-arms reach the insight once each: on its report's timeline (a marker in
//! the mismatch-rate chart), in its guard-event table (HTML and terminal) and in the serialized
//! report, names escaped.

use darklaunch::guard::GuardRails;
use darklaunch::insight::Insight;
use darklaunch::Experiment;

#[test]
fn a_trip_and_a_re_arm_are_marked_once_each_in_every_report_form() {
    let name = "<v2>\u{1b}[31m";
    let insight: Insight<u64, String> = Insight::new();
    let experiment: Experiment<u64, String> = Experiment::builder("insight-guard")
        .guard_candidate(
            name,
            GuardRails::new()
                .max_error_rate(0.2)
                .window(100)
                .min_runs(50),
        )
        .publisher(insight.clone())
        .build()
        .unwrap();
    for call in 0..200u64 {
        let value = experiment
            .trial()
            .control(|| Ok(call))
            .candidate(name, || {
                if call % 2 == 0 {
                    Err("down".to_string())
                } else {
                    Ok(call)
                }
            })
            .run();
        assert_eq!(value, Ok(call));
    }
    experiment.guard(name).unwrap().reset();

    let report = insight.report();
    let events: Vec<_> = report
        .guard_events
        .iter()
        .map(|mark| (mark.event, mark.reason))
        .collect();
    assert_eq!(events, [("tripped", "error_rate"), ("rearmed", "manual")]);
    assert_eq!(report.guard_events_dropped, 0);
    assert!(!report.guard_events[0].candidate.contains('\u{1b}'));
    assert_eq!(report.guard_events[0].observed, 0.5);

    let html = report.to_html();
    assert_eq!(
        html.matches(r#"class="guard-mark" data-event="tripped""#)
            .count(),
        1
    );
    assert_eq!(
        html.matches(r#"class="guard-mark" data-event="rearmed""#)
            .count(),
        1
    );
    assert_eq!(html.matches(r#"<tr class="guard-tripped">"#).count(), 1);
    assert_eq!(html.matches(r#"<tr class="guard-rearmed">"#).count(), 1);
    assert!(html.contains("&lt;v2&gt;"), "the name is escaped");
    assert!(!html.contains("<v2>") && !html.contains('\u{1b}'));

    let terminal = report.to_terminal();
    assert!(terminal.contains("Guard events"), "{terminal}");
    assert_eq!(terminal.matches("error_rate").count(), 1, "{terminal}");
    assert!(!terminal.contains('\u{1b}'));

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["guard_events"].as_array().unwrap().len(), 2);
    assert_eq!(json["guard_events"][0]["event"], "tripped");
}
