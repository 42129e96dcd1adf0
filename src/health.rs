//! The customer health score: pure arithmetic over a customer's events as of an instant T.
//!
//! ```text
//! days_since_last = (T − last activity ≤ T) in days          (no activity → recency 0)
//! cadence_days    = median gap between activities in (T−365d, T], needs ≥ 2 gaps,
//!                   else default_cadence_days; clamped to [1, 365]
//! recency         = clamp(1 − max(0, days_since_last − cadence) / (2 × cadence), 0, 1)
//! frequency       = clamp(activities in (T−90d, T] × cadence / 90, 0, 1)
//! feedback        = latest scored `feedback` in (T−365d, T] / 10, or 0.5 when there is none
//! score           = round(100 × (w_r × recency + w_f × frequency + w_fb × feedback))
//! ```
//! The inputs are gathered by [`Facts::observe`], so the one-customer path (`customers show`)
//! and the streaming pass over every customer (`health recompute`) share one definition.

use serde::{Deserialize, Serialize};

pub const DAY_SECONDS: i64 = 86_400;
/// How far back cadence and feedback look.
pub const YEAR_WINDOW: i64 = 365 * DAY_SECONDS;
/// How far back frequency counts.
pub const FREQUENCY_WINDOW: i64 = 90 * DAY_SECONDS;

/// The `[health]` settings: which kinds are activity, the cadence assumed without history, and
/// the weights. They live with the score they shape (the configuration re-exports them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Event kinds that count as activity; unset means every kind except `feedback`.
    pub activity_events: Option<Vec<String>>,
    /// Cadence used when a customer has fewer than two gaps between activities in a year.
    pub default_cadence_days: f64,
    pub weights: HealthWeights,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthWeights {
    pub recency: f64,
    pub frequency: f64,
    pub feedback: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            activity_events: None,
            default_cadence_days: 30.0,
            weights: HealthWeights::default(),
        }
    }
}

impl Default for HealthWeights {
    fn default() -> Self {
        HealthWeights {
            recency: 0.5,
            frequency: 0.3,
            feedback: 0.2,
        }
    }
}

impl HealthConfig {
    /// Whether an event of this kind counts as activity for health and inactivity.
    pub fn is_activity(&self, kind: &str) -> bool {
        match &self.activity_events {
            Some(kinds) => kinds.iter().any(|k| k == kind),
            None => kind != "feedback",
        }
    }
}

/// The kind that carries feedback / NPS answers in its score.
pub const FEEDBACK_KIND: &str = "feedback";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    Healthy,
    AtRisk,
    Critical,
}

impl Band {
    /// The lowest scores of at-risk and of healthy.
    pub const THRESHOLDS: [u8; 2] = [40, 70];

    pub fn of(score: u8) -> Band {
        let [at_risk, healthy] = Band::THRESHOLDS;
        if score >= healthy {
            Band::Healthy
        } else if score >= at_risk {
            Band::AtRisk
        } else {
            Band::Critical
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Band::Healthy => "healthy",
            Band::AtRisk => "at_risk",
            Band::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Band> {
        [Band::Healthy, Band::AtRisk, Band::Critical]
            .into_iter()
            .find(|b| b.as_str() == s)
    }
}

/// A score with every component that produced it, so a marketer can see why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub score: u8,
    pub band: Band,
    pub recency: f64,
    pub frequency: f64,
    pub feedback: f64,
    pub cadence_days: f64,
    /// `None` when the customer has no activity at or before T.
    pub days_since_last: Option<f64>,
}

/// What the score needs to know about one customer, gathered event by event.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    at: i64,
    last_activity: Option<i64>,
    recent_activity: Vec<i64>,
    latest_feedback: Option<(i64, f64)>,
}

impl Facts {
    /// Facts as of `at` (Unix seconds); events after `at` are ignored by `observe`.
    pub fn new(at: i64) -> Facts {
        Facts {
            at,
            ..Facts::default()
        }
    }

    /// Forgets the previous customer but keeps the allocation (the streaming pass reuses one).
    pub fn reset(&mut self) {
        self.last_activity = None;
        self.recent_activity.clear();
        self.latest_feedback = None;
    }

    /// Feeds one event; order does not matter.
    pub fn observe(&mut self, cfg: &HealthConfig, kind: &str, time: i64, score: Option<f64>) {
        if cfg.is_activity(kind) {
            self.observe_activity(time);
        }
        if kind == FEEDBACK_KIND
            && let Some(score) = score
        {
            self.observe_feedback(time, score);
        }
    }

    /// One activity at any time; only those at or before T count, and only the last year's
    /// for cadence and frequency.
    pub fn observe_activity(&mut self, time: i64) {
        if time > self.at {
            return;
        }
        self.last_activity = self.last_activity.max(Some(time));
        if time > self.at - YEAR_WINDOW {
            self.recent_activity.push(time);
        }
    }

    /// The latest activity when it is known without the individual events (an aggregate).
    pub fn observe_last_activity(&mut self, time: i64) {
        if time <= self.at {
            self.last_activity = self.last_activity.max(Some(time));
        }
    }

    /// One scored feedback answer; the latest within the last year counts.
    pub fn observe_feedback(&mut self, time: i64, score: f64) {
        if time > self.at || time <= self.at - YEAR_WINDOW {
            return;
        }
        // Latest wins; on a tie of instants the higher score, so input order never matters.
        let newer = match self.latest_feedback {
            None => true,
            Some((t, s)) => time > t || (time == t && score > s),
        };
        if newer {
            self.latest_feedback = Some((time, score));
        }
    }

    pub fn assess(&mut self, cfg: &HealthConfig) -> Health {
        let curve = self.curve(cfg);
        let days_since_last = curve.days_since_last(self.at);
        let recency = curve.recency(self.at);
        let score = curve.score(self.at);
        Health {
            score,
            band: Band::of(score),
            recency: round4(recency),
            frequency: round4(curve.frequency),
            feedback: round4(curve.feedback),
            cadence_days: round4(curve.cadence),
            days_since_last: days_since_last.map(round4),
        }
    }

    /// The score as time moves on from T with nothing new happening: only recency changes,
    /// until an activity or a feedback answer leaves one of the windows (`until`).
    pub fn curve(&mut self, cfg: &HealthConfig) -> ScoreCurve {
        self.recent_activity.sort_unstable();
        let cadence = cadence_days(&self.recent_activity, cfg.default_cadence_days);
        let since = self.at - FREQUENCY_WINDOW;
        let in_90 = self.recent_activity.iter().filter(|t| **t > since).count();
        let frequency = (in_90 as f64 * cadence / 90.0).clamp(0.0, 1.0);
        let feedback = self.latest_feedback.map_or(0.5, |(_, s)| s / 10.0);
        // The first activity to leave the 90 days, the oldest to leave the year (cadence), the
        // feedback answer to leave the year.
        let until = [
            self.recent_activity
                .iter()
                .find(|t| **t > since)
                .map(|t| t + FREQUENCY_WINDOW),
            self.recent_activity.first().map(|t| t + YEAR_WINDOW),
            self.latest_feedback.map(|(t, _)| t + YEAR_WINDOW),
        ]
        .into_iter()
        .flatten()
        .min();
        ScoreCurve {
            last_activity: self.last_activity,
            cadence,
            frequency,
            feedback,
            weights: cfg.weights,
            until,
        }
    }
}

/// A customer's score as a function of time between T and `until`, when nothing new happens:
/// what incremental evaluation uses to find when a health threshold is crossed. `assess` reads
/// its score from here, so the two cannot disagree.
#[derive(Debug, Clone, Copy)]
pub struct ScoreCurve {
    last_activity: Option<i64>,
    cadence: f64,
    frequency: f64,
    feedback: f64,
    weights: HealthWeights,
    /// The first instant after T at which an input leaves its window (the curve no longer holds).
    pub until: Option<i64>,
}

impl ScoreCurve {
    fn days_since_last(&self, at: i64) -> Option<f64> {
        self.last_activity.map(|t| (at - t) as f64 / DAY_SECONDS as f64)
    }

    fn recency(&self, at: i64) -> f64 {
        match self.days_since_last(at) {
            None => 0.0,
            Some(d) => (1.0 - (d - self.cadence).max(0.0) / (2.0 * self.cadence)).clamp(0.0, 1.0),
        }
    }

    /// The score at `at`; never increases with `at` (recency only decays).
    pub fn score(&self, at: i64) -> u8 {
        let w = self.weights;
        let raw = w.recency * self.recency(at) + w.frequency * self.frequency + w.feedback * self.feedback;
        // The epsilon keeps x.5 from rounding down when floating point lands on x.4999….
        (100.0 * raw + 1e-9).round().clamp(0.0, 100.0) as u8
    }
}

/// Median gap in days between consecutive (sorted) activity times, when there are at least
/// two gaps; otherwise the default. Clamped to [1, 365].
pub fn cadence_days(sorted_times: &[i64], default: f64) -> f64 {
    if sorted_times.len() < 3 {
        return default.clamp(1.0, 365.0);
    }
    let mut gaps: Vec<i64> = sorted_times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    let n = gaps.len();
    let median = if n % 2 == 1 {
        gaps[n / 2] as f64
    } else {
        (gaps[n / 2 - 1] + gaps[n / 2]) as f64 / 2.0
    };
    (median / DAY_SECONDS as f64).clamp(1.0, 365.0)
}

/// Four decimals are plenty for reading and keep JSON free of 0.30000000000000004.
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cadence_is_the_median_gap_and_needs_two_gaps() {
        let d = DAY_SECONDS;
        assert_eq!(cadence_days(&[0, 7 * d], 30.0), 30.0, "one gap is not a habit");
        assert_eq!(
            cadence_days(&[0, 2 * d, 10 * d], 30.0),
            5.0,
            "mean of the middle two of an even count"
        );
        assert_eq!(cadence_days(&[0, 2 * d, 4 * d, 20 * d], 30.0), 2.0);
        assert_eq!(cadence_days(&[0, 60, 120], 30.0), 1.0, "clamped to a day");
    }

    #[test]
    fn events_after_t_and_old_feedback_do_not_count() {
        let cfg = HealthConfig::default();
        let at = 1000 * DAY_SECONDS;
        let mut f = Facts::new(at);
        f.observe(&cfg, "visit", at + 1, None);
        f.observe(&cfg, FEEDBACK_KIND, at - YEAR_WINDOW, Some(0.0));
        let h = f.assess(&cfg);
        assert_eq!(h.days_since_last, None);
        assert_eq!(
            h.feedback, 0.5,
            "feedback exactly 365 days old is outside (T-365d, T]"
        );
    }
}
