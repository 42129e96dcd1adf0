//! Whether scheduled evaluations keep failing: a failing evaluation used to show only as an
//! error line in the log while `/readyz` stayed 200, so nothing told operations that no rule
//! was running. The scheduler records each outcome here; `/readyz` and a gauge read it.

use std::sync::Mutex;

/// After this many failed evaluations in a row the service reports itself not ready.
pub const FAILURES_BEFORE_UNREADY: u32 = 3;

#[derive(Debug, Default)]
pub struct EvaluationHealth {
    state: Mutex<State>,
}

#[derive(Debug, Default, Clone)]
struct State {
    failures_in_a_row: u32,
    last_error: Option<String>,
}

impl EvaluationHealth {
    pub fn succeeded(&self) {
        let mut s = self.state.lock().expect("never poisoned: no panics while held");
        *s = State::default();
        metrics::gauge!(crate::metrics::EVALUATION_FAILURES_IN_A_ROW).set(0.0);
    }

    pub fn failed(&self, error: &str) {
        let mut s = self.state.lock().expect("never poisoned: no panics while held");
        s.failures_in_a_row += 1;
        s.last_error = Some(error.to_string());
        metrics::gauge!(crate::metrics::EVALUATION_FAILURES_IN_A_ROW).set(f64::from(s.failures_in_a_row));
    }

    /// `Some(explanation)` once evaluations have failed too often in a row.
    pub fn problem(&self) -> Option<String> {
        let s = self
            .state
            .lock()
            .expect("never poisoned: no panics while held")
            .clone();
        (s.failures_in_a_row >= FAILURES_BEFORE_UNREADY).then(|| {
            format!(
                "the last {} scheduled evaluations failed: {}",
                s.failures_in_a_row,
                s.last_error.unwrap_or_default()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_failures_in_a_row_are_a_problem_until_one_succeeds() {
        let h = EvaluationHealth::default();
        h.failed("boom");
        h.failed("boom");
        assert_eq!(h.problem(), None);
        h.failed("value out of range");
        assert_eq!(
            h.problem().as_deref(),
            Some("the last 3 scheduled evaluations failed: value out of range")
        );
        h.succeeded();
        assert_eq!(h.problem(), None);
    }
}
