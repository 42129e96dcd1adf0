//! Incremental revenue of an offer programme: revenue per customer of the contacted group
//! against the held-out group over the same window, with a Welch interval on the difference of
//! the means — honest with unequal variances and café-sized groups (its degrees of freedom
//! shrink with the samples), and "not enough data yet" below `MIN_GROUP` per group.

use serde::Serialize;

use super::{Interval, MIN_GROUP};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OfferReport {
    /// Codes whose message went out.
    pub issued: i64,
    pub redeemed: i64,
    pub redemption_rate: Option<Interval>,
    /// Sum of the redeeming events' amounts.
    pub redeemed_revenue: f64,
    pub currency: String,
    /// Mean revenue per customer in the goal window (or the offer's validity) after the send.
    pub contacted_revenue_per_customer: Option<f64>,
    pub held_out_revenue_per_customer: Option<f64>,
    /// Contacted minus held out, per customer, with its 95 % interval.
    pub incremental_revenue_per_customer: Option<Interval>,
}

/// Welch's 95 % interval for mean(a) − mean(b); `None` below `MIN_GROUP` in either sample.
pub fn welch(a: &[f64], b: &[f64]) -> Option<Interval> {
    if (a.len() as i64) < MIN_GROUP || (b.len() as i64) < MIN_GROUP {
        return None;
    }
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (qa, qb) = (va / na, vb / nb);
    let se = (qa + qb).sqrt();
    let d = ma - mb;
    if se == 0.0 {
        return Some(Interval {
            estimate: d,
            low: d,
            high: d,
        });
    }
    let df = (qa + qb).powi(2) / (qa * qa / (na - 1.0) + qb * qb / (nb - 1.0));
    let half = t975(df) * se;
    Some(Interval {
        estimate: d,
        low: d - half,
        high: d + half,
    })
}

pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Mean and unbiased sample variance.
fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, v)
}

/// The 97.5 % quantile of Student's t with `df` degrees of freedom (Cornish–Fisher expansion
/// around the normal quantile; within 0.2 % of the table from 5 degrees of freedom up).
fn t975(df: f64) -> f64 {
    let z = 1.959_963_984_540_054_f64;
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * df)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df * df)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * df.powi(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_t_quantile_matches_the_table() {
        for (df, t) in [(5.0, 2.5706), (10.0, 2.2281), (30.0, 2.0423), (1000.0, 1.9623)] {
            assert!((t975(df) - t).abs() / t < 0.005, "df {df}: {} vs {t}", t975(df));
        }
    }

    #[test]
    fn welch_matches_a_worked_example_and_needs_enough_data() {
        // Two samples of 10 with means 5 and 3: the difference 2; variances 6.67 and 1.33 give
        // df ≈ 12.5 and t ≈ 2.17.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let b = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0, 4.0, 4.0, 5.0];
        let w = welch(&a, &b).unwrap();
        assert!((w.estimate - 2.0).abs() < 1e-9);
        let se = (mean_var(&a).1 / 10.0 + mean_var(&b).1 / 10.0).sqrt();
        assert!(((w.high - w.estimate) / se - 2.17).abs() < 0.01, "{w:?}");
        assert!(w.low > 0.0 && w.low < 0.2, "{w:?}");
        assert_eq!(welch(&a[..9], &b), None);
    }
}
