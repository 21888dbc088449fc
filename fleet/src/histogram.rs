//! Quantiles of a Prometheus histogram's cumulative buckets, computed as PromQL's
//! `histogram_quantile` computes them (linear interpolation within the bucket the rank falls
//! in; the highest finite bound when it falls in `+Inf`).

/// One cumulative bucket: the count of observations at most `upper_bound` (the `le` label).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// The bucket's upper bound, `f64::INFINITY` for `le="+Inf"`.
    pub upper_bound: f64,
    /// Observations at most the bound (cumulative).
    pub count: f64,
}

/// Parses an `le` label: a number, or `+Inf`.
pub fn parse_le(le: &str) -> Option<f64> {
    match le {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => le.parse::<f64>().ok().filter(|bound| !bound.is_nan()),
    }
}

/// The `q` quantile of `buckets` as `histogram_quantile(q, …)` gives it, or `None` where it
/// gives NaN: no `+Inf` bucket, fewer than two buckets, no observations, a NaN count. A `q`
/// below 0 is −∞ and above 1 is +∞, as in PromQL.
pub fn quantile(q: f64, buckets: &[Bucket]) -> Option<f64> {
    if q.is_nan() {
        return None;
    }
    if q < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return Some(f64::INFINITY);
    }
    if buckets
        .iter()
        .any(|b| b.upper_bound.is_nan() || b.count.is_nan())
    {
        return None;
    }
    let mut sorted = buckets.to_vec();
    sorted.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    if sorted.last()?.upper_bound != f64::INFINITY {
        return None;
    }
    // Buckets of the same bound (`le="1"` and `le="1.0"`) count together.
    let mut coalesced: Vec<Bucket> = Vec::with_capacity(sorted.len());
    for bucket in sorted {
        match coalesced.last_mut() {
            Some(last) if last.upper_bound == bucket.upper_bound => last.count += bucket.count,
            _ => coalesced.push(bucket),
        }
    }
    // Counts that fall from one bucket to the next (rates and increases of separately
    // scraped series can) are raised to the running maximum.
    let mut highest = f64::NEG_INFINITY;
    for bucket in &mut coalesced {
        if bucket.count > highest {
            highest = bucket.count;
        } else {
            bucket.count = highest;
        }
    }
    let n = coalesced.len();
    if n < 2 {
        return None;
    }
    let observations = coalesced[n - 1].count;
    if observations == 0.0 || !observations.is_finite() {
        return None;
    }
    let mut rank = q * observations;
    // The first bucket (below `+Inf`) whose count reaches the rank, or `+Inf`'s.
    let b = coalesced[..n - 1]
        .iter()
        .position(|bucket| bucket.count >= rank)
        .unwrap_or(n - 1);
    if b == n - 1 {
        return Some(coalesced[n - 2].upper_bound);
    }
    if b == 0 && coalesced[0].upper_bound <= 0.0 {
        return Some(coalesced[0].upper_bound);
    }
    let mut start = 0.0;
    let end = coalesced[b].upper_bound;
    let mut count = coalesced[b].count;
    if b > 0 {
        start = coalesced[b - 1].upper_bound;
        count -= coalesced[b - 1].count;
        rank -= coalesced[b - 1].count;
    }
    let value = start + (end - start) * (rank / count);
    (!value.is_nan()).then_some(value)
}

/// The total observations of `buckets`: the `+Inf` bucket's count, if there is one.
pub fn observations(buckets: &[Bucket]) -> Option<f64> {
    buckets
        .iter()
        .filter(|b| b.upper_bound == f64::INFINITY)
        .map(|b| b.count)
        .reduce(|a, b| a + b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn buckets(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect()
    }

    #[test]
    fn interpolates_within_the_bucket_of_the_rank() {
        let b = buckets(&[
            (0.1, 50.0),
            (0.2, 90.0),
            (0.5, 100.0),
            (f64::INFINITY, 100.0),
        ]);
        // rank 50 is the top of the first bucket.
        assert_eq!(quantile(0.5, &b), Some(0.1));
        // rank 70: half-way through (0.1, 0.2].
        assert!((quantile(0.7, &b).unwrap() - 0.15).abs() < 1e-12);
        // rank 99: 9 of the 10 in (0.2, 0.5].
        assert!((quantile(0.99, &b).unwrap() - 0.47).abs() < 1e-12);
        // rank 25: half of the first bucket, which starts at 0.
        assert!((quantile(0.25, &b).unwrap() - 0.05).abs() < 1e-12);
    }

    #[test]
    fn edge_cases_follow_promql() {
        let b = buckets(&[(1.0, 1.0), (f64::INFINITY, 10.0)]);
        // The rank falls in +Inf: the highest finite bound.
        assert_eq!(quantile(0.9, &b), Some(1.0));
        assert_eq!(quantile(-0.1, &b), Some(f64::NEG_INFINITY));
        assert_eq!(quantile(1.1, &b), Some(f64::INFINITY));
        assert_eq!(quantile(f64::NAN, &b), None);
        // No +Inf bucket, one bucket, no observations, NaN counts: NaN in PromQL.
        assert_eq!(quantile(0.5, &buckets(&[(1.0, 1.0), (2.0, 2.0)])), None);
        assert_eq!(quantile(0.5, &buckets(&[(f64::INFINITY, 2.0)])), None);
        assert_eq!(
            quantile(0.5, &buckets(&[(1.0, 0.0), (f64::INFINITY, 0.0)])),
            None
        );
        assert_eq!(
            quantile(0.5, &buckets(&[(1.0, f64::NAN), (f64::INFINITY, 1.0)])),
            None
        );
        assert_eq!(quantile(0.5, &[]), None);
        // A first bucket at or below zero is its own bound.
        assert_eq!(
            quantile(
                0.1,
                &buckets(&[(0.0, 5.0), (1.0, 10.0), (f64::INFINITY, 10.0)])
            ),
            Some(0.0)
        );
        // Order does not matter; equal bounds count together; falling counts are raised.
        let shuffled = buckets(&[
            (f64::INFINITY, 100.0),
            (0.5, 100.0),
            (0.1, 50.0),
            (0.2, 90.0),
        ]);
        assert!((quantile(0.7, &shuffled).unwrap() - 0.15).abs() < 1e-12);
        let split = buckets(&[
            (0.1, 25.0),
            (0.1, 25.0),
            (0.2, 90.0),
            (f64::INFINITY, 100.0),
        ]);
        assert_eq!(quantile(0.5, &split), Some(0.1));
        let falling = buckets(&[(0.1, 50.0), (0.2, 40.0), (f64::INFINITY, 100.0)]);
        assert!((quantile(0.45, &falling).unwrap() - 0.09).abs() < 1e-12);
        assert_eq!(quantile(0.9, &falling), Some(0.2));
    }

    #[test]
    fn le_labels_parse() {
        assert_eq!(parse_le("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_le("0.005"), Some(0.005));
        assert_eq!(parse_le("1e-05"), Some(1e-5));
        assert_eq!(parse_le("NaN"), None);
        assert_eq!(parse_le("x"), None);
    }

    /// Cumulative buckets of `observations` at `bounds` (sorted, finite) plus `+Inf`.
    fn histogram_of(bounds: &[f64], observations: &[f64]) -> Vec<Bucket> {
        let mut out: Vec<Bucket> = bounds
            .iter()
            .map(|&bound| Bucket {
                upper_bound: bound,
                count: observations.iter().filter(|&&o| o <= bound).count() as f64,
            })
            .collect();
        out.push(Bucket {
            upper_bound: f64::INFINITY,
            count: observations.len() as f64,
        });
        out
    }

    fn bounds() -> impl Strategy<Value = Vec<f64>> {
        proptest::collection::btree_set(1u32..10_000, 1..20)
            .prop_map(|set| set.into_iter().map(|b| f64::from(b) / 1000.0).collect())
    }

    proptest! {
        /// The estimate lies in the bucket holding the true sample quantile's rank, so it is
        /// never further from the truth than that bucket is wide.
        #[test]
        fn the_estimate_is_in_the_bucket_of_the_true_quantile(
            bounds in bounds(),
            observations in proptest::collection::vec(0u32..12_000, 1..300),
            q in 0.001f64..0.999,
        ) {
            let observations: Vec<f64> = observations.into_iter().map(|o| f64::from(o) / 1000.0).collect();
            let buckets = histogram_of(&bounds, &observations);
            let estimate = quantile(q, &buckets).unwrap();
            let mut sorted = observations.clone();
            sorted.sort_by(f64::total_cmp);
            let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
            let truth = sorted[rank - 1];
            let highest = *bounds.last().unwrap();
            if truth > highest {
                prop_assert_eq!(estimate, highest);
            } else {
                let upper = bounds.iter().copied().find(|&b| truth <= b).unwrap();
                let lower = bounds.iter().copied().rfind(|&b| b < upper).unwrap_or(0.0);
                prop_assert!(lower <= estimate && estimate <= upper, "{} not in [{}, {}]", estimate, lower, upper);
            }
        }

        /// Quantiles never fall as q rises, and bucket order never changes them.
        #[test]
        fn monotone_and_order_free(
            bounds in bounds(),
            observations in proptest::collection::vec(0u32..12_000, 1..200),
            q1 in 0.0f64..=1.0,
            q2 in 0.0f64..=1.0,
            seed in any::<u64>(),
        ) {
            let observations: Vec<f64> = observations.into_iter().map(|o| f64::from(o) / 1000.0).collect();
            let buckets = histogram_of(&bounds, &observations);
            let (low, high) = if q1 <= q2 { (q1, q2) } else { (q2, q1) };
            if let (Some(a), Some(b)) = (quantile(low, &buckets), quantile(high, &buckets)) {
                prop_assert!(a <= b, "q {} → {}, q {} → {}", low, a, high, b);
            }
            let mut shuffled = buckets.clone();
            let len = shuffled.len();
            shuffled.rotate_left((seed as usize) % len);
            if seed % 2 == 0 { shuffled.reverse(); }
            prop_assert_eq!(quantile(high, &shuffled), quantile(high, &buckets));
        }

        /// Any bucket values at all: no panic, and a finite answer stays within the bounds.
        #[test]
        fn never_panics(
            raw in proptest::collection::vec((any::<f64>(), any::<f64>()), 0..12),
            q in any::<f64>(),
        ) {
            let buckets: Vec<Bucket> = raw.into_iter().map(|(upper_bound, count)| Bucket { upper_bound, count }).collect();
            if let Some(value) = quantile(q, &buckets) {
                if (0.0..=1.0).contains(&q) && value.is_finite() {
                    let finite: Vec<f64> = buckets.iter().map(|b| b.upper_bound).filter(|b| b.is_finite()).collect();
                    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max).max(0.0);
                    let min = finite.iter().copied().fold(f64::INFINITY, f64::min).min(0.0);
                    prop_assert!(min <= value && value <= max, "{} not in [{}, {}]", value, min, max);
                }
            }
        }
    }
}
