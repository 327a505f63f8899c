//! Latency samples and their summary (min, mean, percentiles, max), for
//! `ping` and `bench`.
//!
//! Samples go into a histogram allocated once (58 KiB): recording one is a
//! few integer operations and an increment, with no allocation and no
//! sort at the end, however long the run. Nanoseconds below 256 are
//! counted exactly; above, every power of two is cut into 128 buckets, so
//! a percentile (a bucket's midpoint) is within 0.4% of the sample it
//! stands for. Min, max and the mean are exact.

use std::time::Duration;

/// Buckets per power of two above the exact range, as a power of two.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Nanoseconds below this are counted one bucket each.
const EXACT: u64 = 2 * SUB;
/// Powers of two from `EXACT` up to `u64::MAX`.
const BUCKETS: usize = (EXACT + (64 - (SUB_BITS + 1) as u64) * SUB) as usize;

pub struct Latencies {
    counts: Box<[u64]>,
    count: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

/// What a run's latencies come to; all `None` without a sample.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub count: u64,
    pub min: Option<Duration>,
    pub mean: Option<Duration>,
    pub p50: Option<Duration>,
    pub p90: Option<Duration>,
    pub p99: Option<Duration>,
    pub max: Option<Duration>,
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    /// Records one sample (durations over 584 years are taken as that).
    #[inline]
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket(ns)] += 1;
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// How many samples were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn summary(&self) -> Summary {
        if self.count == 0 {
            return Summary::default();
        }
        let mean = self.sum_ns / u128::from(self.count);
        Summary {
            count: self.count,
            min: Some(Duration::from_nanos(self.min_ns)),
            mean: Some(Duration::from_nanos(
                u64::try_from(mean).unwrap_or(u64::MAX),
            )),
            p50: Some(self.percentile(50.0)),
            p90: Some(self.percentile(90.0)),
            p99: Some(self.percentile(99.0)),
            max: Some(Duration::from_nanos(self.max_ns)),
        }
    }

    /// The sample of rank `p`% (nearest rank, counting from the smallest
    /// as 0: `round(p / 100 × (count − 1))`), as its bucket's midpoint
    /// within min..=max. Only with at least one sample.
    fn percentile(&self, p: f64) -> Duration {
        let rank = ((p / 100.0) * (self.count - 1) as f64).round() as u64;
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen > rank {
                let (low, high) = bounds(i);
                let mid = low + (high - low) / 2;
                return Duration::from_nanos(mid.clamp(self.min_ns, self.max_ns));
            }
        }
        Duration::from_nanos(self.max_ns)
    }
}

/// The bucket of `ns`.
#[inline]
fn bucket(ns: u64) -> usize {
    if ns < EXACT {
        return ns as usize;
    }
    // The highest bit set is at `top` (>= SUB_BITS + 1); the next SUB_BITS
    // bits pick one of SUB buckets in that power of two.
    let top = 63 - ns.leading_zeros();
    let shift = top - SUB_BITS;
    let sub = (ns >> shift) - SUB;
    (EXACT + u64::from(top - SUB_BITS - 1) * SUB + sub) as usize
}

/// The smallest and the largest nanoseconds of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < EXACT {
        return (i, i);
    }
    let octave = (i - EXACT) / SUB;
    let sub = (i - EXACT) % SUB;
    let shift = octave + 1;
    let low = (SUB + sub) << shift;
    (low, low + ((1u64 << shift) - 1))
}

/// Milliseconds with three decimals, as `ping` prints them.
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// Microseconds, for the JSON summaries.
pub fn us(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        let mut last = 0;
        for ns in (0..100_000u64).chain([1 << 40, (1 << 40) + 1, u64::MAX - 1, u64::MAX]) {
            let b = bucket(ns);
            assert!(b >= last, "{ns}");
            last = b;
            let (low, high) = bounds(b);
            assert!(low <= ns && ns <= high, "{ns} in {low}..={high}");
            // Within 1/128 of the value: the midpoint is within 0.4%.
            assert!((high - low) as f64 <= ns as f64 / 128.0, "{ns}");
        }
    }

    #[test]
    fn summary_of_known_samples() {
        let mut l = Latencies::new();
        assert_eq!(l.summary().count, 0);
        assert!(l.summary().p50.is_none());
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us));
        }
        let s = l.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.min, Some(Duration::from_micros(1)));
        assert_eq!(s.max, Some(Duration::from_micros(1000)));
        let near = |d: Option<Duration>, us: f64| {
            let got = d.expect("a sample").as_secs_f64() * 1e6;
            assert!((got - us).abs() <= us * 0.004, "{got} vs {us}");
        };
        near(s.mean, 500.5);
        near(s.p50, 501.0); // rank round(0.5 × 999) = 500: the 501st sample
        near(s.p90, 900.0);
        near(s.p99, 990.0);
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let mut l = Latencies::new();
        l.record(Duration::from_nanos(123_456_789));
        let s = l.summary();
        let d = Some(Duration::from_nanos(123_456_789));
        assert_eq!((s.min, s.p50, s.p90, s.p99, s.max), (d, d, d, d, d));
    }
}
