//! Why messages failed, said per failure class for people: `run --once` prints it and the
//! service logs it, so nobody has to open the database to learn that a provider greylists.

use crate::domain::MessageStatus;
use crate::store::FailureCount;

/// One line per failure class: `12 waiting to retry: 451 4.7.1 greylisted …`. Providers'
/// error texts can quote the recipient; addresses and numbers are masked, so the lines may go
/// to logs at info level.
pub fn failure_lines(counts: &[FailureCount]) -> Vec<String> {
    counts
        .iter()
        .map(|f| {
            format!(
                "{} {}: {}",
                f.count,
                status_words(f.status),
                super::retry::mask_personal(&f.error)
            )
        })
        .collect()
}

fn status_words(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Queued => "waiting to retry",
        other => other.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_is_counted_in_words_without_the_address() {
        let counts = [
            FailureCount {
                status: MessageStatus::Queued,
                error: "451 4.7.1 greylisted (example.test)".into(),
                count: 12,
            },
            FailureCount {
                status: MessageStatus::Failed,
                error: "550 5.1.1 <ann@example.com>: user unknown".into(),
                count: 3,
            },
        ];
        assert_eq!(
            failure_lines(&counts),
            [
                "12 waiting to retry: 451 4.7.1 greylisted (example.test)",
                "3 failed: 550 5.1.1 <…@example.com>: user unknown"
            ]
        );
    }
}
