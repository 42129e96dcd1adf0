//! Whether a failed attempt is worth repeating, and when.

/// Why an attempt failed, in the terms the ledger needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Try again later: 4xx replies, connection errors, timeouts, HTTP 5xx and 429.
    Transient {
        code: Option<String>,
        message: String,
        /// The provider asked for this many seconds (HTTP `Retry-After`).
        retry_after: Option<i64>,
        /// The server may have accepted the message (a timeout after the end of DATA).
        outcome_unknown: bool,
        /// At most this many attempts for this kind of failure (fewer than the default).
        retry_limit: Option<u32>,
    },
    /// Retrying cannot help: SMTP 5xx, HTTP 4xx, invalid numbers.
    Permanent {
        code: Option<String>,
        message: String,
        /// The address does not exist: stop emailing it.
        hard_bounce: bool,
        /// The recipient opted out at the provider (SMS STOP): unsubscribe them.
        opt_out: bool,
    },
}

impl Failure {
    /// A transient failure with no code, no `Retry-After` and the default number of tries.
    /// `outcome_unknown` when the message may have arrived (a timeout after sending).
    pub fn transient(message: impl Into<String>, outcome_unknown: bool) -> Failure {
        Failure::Transient {
            code: None,
            message: message.into(),
            retry_after: None,
            outcome_unknown,
            retry_limit: None,
        }
    }
}

/// First retry after 2 minutes, each later one 2.6× further: 2 m, 5 m, 14 m, 35 m, 1.5 h, 4 h,
/// 10 h — eight attempts span about 17 hours. Capped at 12 h; `jitter` in [0, 1) spreads
/// retries ±20 % so a provider outage does not end in a thundering herd.
pub fn backoff_seconds(failed_attempts: u32, jitter: f64) -> i64 {
    let exponent = failed_attempts.saturating_sub(1).min(20) as i32;
    let base = (120.0 * 2.6_f64.powi(exponent)).min(12.0 * 3600.0);
    (base * (0.8 + 0.4 * jitter.clamp(0.0, 1.0))).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_spans_most_of_a_day() {
        let plain: Vec<i64> = (1..8).map(|n| backoff_seconds(n, 0.5)).collect();
        assert!(plain.windows(2).all(|w| w[1] > w[0]), "{plain:?}");
        let total: i64 = plain.iter().sum();
        assert!((12 * 3600..24 * 3600).contains(&total), "{total}");
        assert_eq!(backoff_seconds(1, 0.0), 96);
        assert_eq!(backoff_seconds(1, 1.0), 144);
        assert_eq!(backoff_seconds(40, 0.5), 12 * 3600);
    }
}
