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

/// A provider's error text with addresses and phone numbers masked: SMTP replies often quote
/// the recipient (`550 5.1.1 <ann@example.com>: user unknown`), and the failure summary goes to
/// logs read by people who need the reason, not the customer.
pub fn mask_personal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let core = word.trim_matches(|c: char| "<>()[],;:\"'".contains(c));
        let is_address = core.contains('@') && core.rsplit('@').next().is_some_and(|d| d.contains('.'));
        let digits = core.chars().filter(char::is_ascii_digit).count();
        let is_number = core.starts_with('+') && digits >= 8;
        if is_address || is_number {
            // The domain stays: which provider refuses is what operations need to know.
            let masked = match core.rsplit_once('@') {
                Some((_, domain)) if is_address => format!("…@{domain}"),
                _ => "<number>".to_string(),
            };
            out.push_str(&word.replace(core, &masked));
        } else {
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_numbers_are_masked_and_the_reason_stays() {
        assert_eq!(
            mask_personal("550 5.1.1 <ann@example.com>: user unknown"),
            "550 5.1.1 <…@example.com>: user unknown"
        );
        assert_eq!(
            mask_personal("21211 invalid 'To' number +36301234567"),
            "21211 invalid 'To' number <number>"
        );
        assert_eq!(
            mask_personal("451 4.7.1 greylisted (example.test)"),
            "451 4.7.1 greylisted (example.test)"
        );
    }

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
