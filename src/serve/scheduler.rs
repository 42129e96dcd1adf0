//! Runs each rule on its own schedule, and the health snapshots on theirs. Every tick is
//! claimed in the store before it runs (`rule_runs`), so several instances evaluate it once,
//! and a service that was down runs a missed tick once at start-up — not once per missed tick.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::conversions::ConversionMark;
use crate::domain::Schedule;
use crate::evaluate::{Request, evaluate_each};
use crate::rules::RuleSet;
use crate::store::Store;

/// The scheduled job that stores health snapshots (rule ids cannot contain ':').
pub const HEALTH_JOB: &str = "health:snapshot";

/// One scheduled job and its next tick.
struct Job {
    schedule: Schedule,
    next: i64,
}

/// The next tick of a job, given the latest tick ever claimed for it: a tick missed while
/// the service was down (one or many) comes back as a single tick in the past.
pub fn first_tick(
    schedule: &Schedule,
    last_claimed: Option<i64>,
    now: i64,
    tz: &jiff::tz::TimeZone,
) -> Option<i64> {
    if let Some(last) = last_claimed
        && let Some(missed) = schedule.next_after(last, tz)
        && missed <= now
    {
        return Some(missed);
    }
    schedule.next_after(now, tz)
}

pub struct Scheduler {
    store: Store,
    config: Arc<Config>,
    instance: String,
    rules: watch::Receiver<Option<Arc<RuleSet>>>,
    health: Arc<super::evaluations::EvaluationHealth>,
    /// When this scheduler last created messages for every send decision that had none (a
    /// full pass); `None` until the first, and again after a failed one.
    full_pass_at: Option<i64>,
    /// Where the last conversion pass left off, and when the last full one ran; `None` until
    /// the first.
    conversions: Option<(ConversionMark, i64)>,
}

/// How often a tick looks at the whole ledger for send decisions without a message, rather
/// than only at those it recorded: a tick that died between recording its decisions and
/// creating their messages (here, or on another instance that did not come back) is caught up
/// within this long. A service's first tick always does.
const FULL_PASS_EVERY: i64 = 3600;

/// How often the conversion pass looks at every unconverted decision rather than only at the
/// customers whose answer can have changed: a clock stepped back further than that pass's
/// margin could hide a conversion for this long at most.
const FULL_CONVERSIONS_EVERY: i64 = 86_400;

/// A tick's own decisions are those recorded from its start on; the margin covers a wall clock
/// stepped back meanwhile.
const CLOCK_MARGIN: i64 = 60;

fn wall() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl Scheduler {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        instance: String,
        rules: watch::Receiver<Option<Arc<RuleSet>>>,
        health: Arc<super::evaluations::EvaluationHealth>,
    ) -> Scheduler {
        Scheduler {
            store,
            config,
            instance,
            rules,
            health,
            full_pass_at: None,
            conversions: None,
        }
    }

    pub async fn run(mut self, stop: CancellationToken) {
        let tz = self.config.default_timezone.tz().clone();
        let mut jobs: HashMap<String, Job> = HashMap::new();
        let last = match self.store.last_ticks().await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the schedule history; missed ticks are not caught up");
                HashMap::new()
            }
        };
        loop {
            let set = self.rules.borrow_and_update().clone();
            self.sync_jobs(&mut jobs, set.as_deref(), &last, &tz);
            let wake = jobs.values().map(|j| j.next).min();
            let sleep = wake.map_or(Duration::from_secs(3600), |w| {
                Duration::from_secs(u64::try_from(w - wall()).unwrap_or(0))
            });
            tokio::select! {
                () = stop.cancelled() => return,
                changed = self.rules.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    continue;
                }
                () = tokio::time::sleep(sleep) => {}
            }
            // Sleeping is in whole seconds; a tick is only run once its instant has passed.
            let now = wall();
            let due: Vec<(String, i64)> = jobs
                .iter()
                .filter(|(_, j)| j.next <= now)
                .map(|(id, j)| (id.clone(), j.next))
                .collect();
            if due.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let mut claimed = Vec::new();
            for (id, tick) in &due {
                if let Some(job) = jobs.get_mut(id) {
                    job.next = job.schedule.next_after(now, &tz).unwrap_or(i64::MAX);
                }
                match self.store.claim_tick(id, *tick, &self.instance, now).await {
                    Ok(true) => claimed.push((id.clone(), *tick)),
                    Ok(false) => tracing::debug!(job = %id, tick, "tick taken by another instance"),
                    Err(e) => {
                        tracing::error!(job = %id, error = %e, "cannot claim a scheduled tick; skipped")
                    }
                }
            }
            if let Some(set) = set {
                // Stopping does not wait for a tick: a first pass over a large book takes
                // minutes, longer than the grace period and systemd's stop timeout. Whatever
                // the tick stored is whole (a decision, a customer's wake, a message batch),
                // as after a crash; what differs is that its claims are given back, so the
                // next start runs it again as a missed tick.
                let stopped = tokio::select! {
                    () = self.run_ticks(&set, &claimed, now) => false,
                    () = stop.cancelled() => true,
                };
                if stopped {
                    self.give_back(&claimed).await;
                    return;
                }
            }
        }
    }

    /// Brings the job table in line with the enabled rules: new rules and changed schedules
    /// get their next tick, removed or disabled rules are dropped.
    fn sync_jobs(
        &self,
        jobs: &mut HashMap<String, Job>,
        set: Option<&RuleSet>,
        last: &HashMap<String, i64>,
        tz: &jiff::tz::TimeZone,
    ) {
        let mut wanted: Vec<(String, Schedule)> = Vec::new();
        wanted.push((HEALTH_JOB.to_string(), self.config.serve.health_schedule.clone()));
        if let Some(set) = set {
            wanted.extend(
                set.rules
                    .iter()
                    .filter(|r| r.enabled)
                    .map(|r| (r.id.clone(), r.schedule.clone())),
            );
        }
        jobs.retain(|id, _| wanted.iter().any(|(w, _)| w == id));
        let now = wall();
        for (id, schedule) in wanted {
            let same = jobs
                .get(&id)
                .is_some_and(|j| j.schedule.source == schedule.source);
            if !same && let Some(next) = first_tick(&schedule, last.get(&id).copied(), now, tz) {
                jobs.insert(id, Job { schedule, next });
            }
        }
    }

    /// Gives back the claims of ticks abandoned unfinished, so that a restart catches them up.
    async fn give_back(&self, claimed: &[(String, i64)]) {
        for (id, tick) in claimed {
            match self.store.release_tick(id, *tick).await {
                Ok(()) => {
                    tracing::info!(job = %id, tick, "stopping in the middle of a tick: left for the next start")
                }
                Err(e) => {
                    tracing::warn!(job = %id, error = %e, "cannot give back an unfinished tick; it waits for the next one")
                }
            }
        }
    }

    async fn run_ticks(&mut self, set: &RuleSet, claimed: &[(String, i64)], now: i64) {
        let rule_ids: Vec<String> = claimed
            .iter()
            .filter(|(id, _)| id != HEALTH_JOB)
            .map(|(id, _)| id.clone())
            .collect();
        if !rule_ids.is_empty() {
            self.evaluate(set, &rule_ids, now).await;
        }
        if claimed.iter().any(|(id, _)| id == HEALTH_JOB) {
            match crate::recompute::recompute_health(&self.store, &self.config.health, now).await {
                Ok(r) => tracing::info!(customers = r.customers, "health snapshots stored"),
                Err(e) => tracing::error!(error = %e, "health snapshots failed"),
            }
        }
        for (id, tick) in claimed {
            if let Err(e) = self.store.finish_tick(id, *tick, wall()).await {
                tracing::warn!(job = %id, error = %e, "cannot record the end of a tick");
            }
        }
    }

    /// Evaluates the due rules together (one pass; the frequency cap sees all of them), turns
    /// new sends into queued messages and marks conversions.
    async fn evaluate(&mut self, set: &RuleSet, rule_ids: &[String], now: i64) {
        let started = Instant::now();
        let request = Request {
            at: now,
            only: rule_ids,
            record: true,
            samples_per_rule: 0,
            imagined: None,
            customer: None,
            // A tick looks only at who changed or is due since the rules' last tick.
            incremental: true,
        };
        // Counted as they are made, never kept: a tick's memory does not grow with the book.
        let mut counts: HashMap<(String, &'static str, &'static str), u64> = HashMap::new();
        let result = evaluate_each(&self.store, &self.config, set, &request, &mut |d| {
            let reason = d.reason.map_or("", |r| r.as_str());
            *counts.entry((d.rule, d.decision.as_str(), reason)).or_default() += 1;
            Ok(())
        })
        .await;
        let seconds = started.elapsed().as_secs_f64();
        for id in rule_ids {
            let outcome = if result.is_ok() { "ok" } else { "error" };
            metrics::counter!(crate::metrics::EVALUATIONS, "rule" => id.clone(), "result" => outcome)
                .increment(1);
            metrics::histogram!(crate::metrics::EVALUATION_SECONDS, "rule" => id.clone()).record(seconds);
        }
        let evaluation = match result {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(rules = ?rule_ids, error = %e, "evaluation failed");
                self.health.failed(&e.to_string());
                return;
            }
        };
        for ((rule, decision, reason), n) in counts {
            metrics::counter!(crate::metrics::DECISIONS, "rule" => rule, "decision" => decision, "reason" => reason)
                .increment(n);
        }
        let since = match self.full_pass_at {
            Some(at) if now - at < FULL_PASS_EVERY => Some(now - CLOCK_MARGIN),
            _ => None,
        };
        // A tick whose decisions never become messages, or whose conversions are not marked,
        // has failed as surely as one that could not decide: readiness says so rather than
        // only the log.
        let mut failure = None;
        let queued = match self.store.materialize_messages(now, since).await {
            Ok(n) => {
                if since.is_none() {
                    self.full_pass_at = Some(now);
                }
                n
            }
            Err(e) => {
                // The next tick looks at the whole ledger again.
                self.full_pass_at = None;
                tracing::error!(error = %e, "queueing messages failed; the next tick retries");
                failure = Some(format!("queueing messages failed: {e}"));
                0
            }
        };
        let last = self
            .conversions
            .as_ref()
            .filter(|(_, full_at)| now - full_at < FULL_CONVERSIONS_EVERY);
        let conversions_started = Instant::now();
        let pass = crate::conversions::mark_since(&self.store, set, now, last.map(|(mark, _)| mark)).await;
        let conversion_seconds = conversions_started.elapsed().as_secs_f64();
        let (converted, converted_among) = match pass {
            Ok((pass, mark)) => {
                let full_at = match (pass.customers, last) {
                    (Some(_), Some((_, full_at))) => *full_at,
                    _ => now,
                };
                self.conversions = Some((mark, full_at));
                (pass.converted, pass.customers)
            }
            Err(e) => {
                // The mark stays: the next pass looks at everything since the last good one.
                tracing::error!(error = %e, "marking conversions failed; the next tick retries");
                failure.get_or_insert(format!("marking conversions failed: {e}"));
                (0, None)
            }
        };
        match failure {
            Some(f) => self.health.failed(&f),
            None => self.health.succeeded(),
        }
        tracing::info!(
            rules = ?rule_ids,
            customers = evaluation.customers,
            incremental = evaluation.incremental,
            decisions = evaluation.decided,
            recorded = evaluation.recorded,
            queued,
            converted,
            converted_among,
            seconds,
            conversion_seconds,
            tick_seconds = started.elapsed().as_secs_f64(),
            "evaluated"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downtime_yields_one_catch_up_tick_then_the_schedule() {
        let tz = jiff::tz::TimeZone::UTC;
        let hourly = Schedule::parse("0 * * * *").unwrap();
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_second();
        let now = t("2026-06-01T10:20:00Z");
        // Last ran at 06:00; 07:00, 08:00, 09:00 and 10:00 were missed: one tick, the first missed.
        assert_eq!(
            first_tick(&hourly, Some(t("2026-06-01T06:00:00Z")), now, &tz),
            Some(t("2026-06-01T07:00:00Z"))
        );
        // Ran at 10:00: nothing missed.
        assert_eq!(
            first_tick(&hourly, Some(t("2026-06-01T10:00:00Z")), now, &tz),
            Some(t("2026-06-01T11:00:00Z"))
        );
        // Never ran: no catch-up, the next tick.
        assert_eq!(
            first_tick(&hourly, None, now, &tz),
            Some(t("2026-06-01T11:00:00Z"))
        );
    }
}
