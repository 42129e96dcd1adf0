//! A series' follow-up steps in the pure pipeline: when the next step is due, and every way a
//! series stops.

use rekindle::config::HealthConfig;
use rekindle::domain::MessageStatus;
use rekindle::rules::Rule;
use rekindle::rules::facts::CustomerFacts;
use rekindle::rules::pipeline::{Delivery, Outcome, PastDecision, Policy, Reason, decide};

use crate::rules_support::{customer, rule, ts};

const LAST_VISIT: &str = "2026-05-01T10:00:00Z";

fn series(extra: &str) -> Rule {
    rule(&format!(
        "id = \"wb\"\nname = \"n\"\n{extra}\n[trigger]\ntype = \"inactive\"\ndays = 30\n\
         [[steps]]\nchannel = \"email\"\nsubject = \"s\"\nbody = \"one\"\n\
         [[steps]]\nafter = \"7d\"\nchannel = \"email\"\nfallback = \"sms\"\nsubject = \"s\"\nbody = \"two\"\n\
         [[steps]]\nafter = \"7d\"\nchannel = \"email\"\nsubject = \"s\"\nbody = \"three\"\n\
         [goal]\nevents = [\"visit\"]\nwithin = \"30d\"\n"
    ))
}

fn policy() -> Policy {
    Policy {
        max_messages: 5,
        per: 7 * 86_400,
        quiet_sms: None,
        quiet_email: None,
    }
}

fn lapsed() -> CustomerFacts {
    customer("UTC", &[("visit", LAST_VISIT, "v1")])
}

/// A recorded step: `sent` is when its message went out (None: still queued).
fn step(
    n: u8,
    outcome: Outcome,
    decided: &str,
    delivery: Option<(MessageStatus, Option<&str>)>,
) -> PastDecision {
    let mut p = PastDecision::new(
        "wb",
        rekindle::rules::series::step_key(LAST_VISIT, n),
        outcome,
        ts(decided),
    );
    p.step = n;
    p.delivery = delivery.map(|(status, sent)| Delivery {
        status,
        sent_at: sent.map(ts),
    });
    p
}

fn sent(n: u8, at: &str) -> PastDecision {
    step(n, Outcome::Send, at, Some((MessageStatus::Sent, Some(at))))
}

/// (step, outcome, reason) of each decision of the series rule.
fn run(
    r: &Rule,
    c: &CustomerFacts,
    history: &[PastDecision],
    at: &str,
    p: &Policy,
) -> Vec<(u8, Outcome, Option<Reason>)> {
    decide(
        std::slice::from_ref(r),
        c,
        history,
        ts(at),
        p,
        &HealthConfig::default(),
    )
    .into_iter()
    .map(|d| (d.step, d.outcome, d.reason))
    .collect()
}

#[test]
fn step_one_is_decided_like_a_message_and_the_next_step_waits_for_the_send_plus_after() {
    let r = series("");
    let c = lapsed();
    assert_eq!(
        run(&r, &c, &[], "2026-06-01T00:00:00Z", &policy()),
        [(1, Outcome::Send, None)]
    );
    // Decided but not yet out: no clock yet, however long it waits in the queue.
    let queued = step(
        1,
        Outcome::Send,
        "2026-06-01T00:00:00Z",
        Some((MessageStatus::Queued, None)),
    );
    assert!(run(&r, &c, &[queued], "2026-06-20T00:00:00Z", &policy()).is_empty());
    // Sent on June 2: step 2 is due from June 9 at that hour, not a second earlier.
    let h = [sent(1, "2026-06-02T09:00:00Z")];
    assert!(run(&r, &c, &h, "2026-06-09T08:59:59Z", &policy()).is_empty());
    assert_eq!(
        run(&r, &c, &h, "2026-06-09T09:00:00Z", &policy()),
        [(2, Outcome::Send, None)]
    );
    // Recorded, it is never decided again; step 3 follows its own send.
    let h = [sent(1, "2026-06-02T09:00:00Z"), sent(2, "2026-06-09T10:00:00Z")];
    assert!(run(&r, &c, &h, "2026-06-16T09:59:00Z", &policy()).is_empty());
    assert_eq!(
        run(&r, &c, &h, "2026-06-16T10:00:00Z", &policy()),
        [(3, Outcome::Send, None)]
    );
    // After the last step the series is over.
    let h = [
        sent(1, "2026-06-02T09:00:00Z"),
        sent(2, "2026-06-09T10:00:00Z"),
        sent(3, "2026-06-16T10:00:00Z"),
    ];
    assert!(run(&r, &c, &h, "2026-07-30T00:00:00Z", &policy()).is_empty());
}

#[test]
fn a_visit_after_step_one_ends_the_series() {
    let r = series("");
    let mut c = customer(
        "UTC",
        &[
            ("visit", LAST_VISIT, "v1"),
            ("visit", "2026-06-05T12:00:00Z", "v2"),
        ],
    );
    let h = [sent(1, "2026-06-02T09:00:00Z")];
    assert!(run(&r, &c, &h, "2026-06-09T09:00:00Z", &policy()).is_empty());
    // Also once they lapse again: that is a new occurrence (step 1 of a new series), not step 2.
    let d = run(&r, &c, &h, "2026-07-10T00:00:00Z", &policy());
    assert_eq!(d, [(1, Outcome::Send, None)]);
    // Feedback is neither the goal nor activity: the series goes on.
    c = customer(
        "UTC",
        &[
            ("visit", LAST_VISIT, "v1"),
            ("feedback", "2026-06-05T12:00:00Z", "f1"),
        ],
    );
    assert_eq!(
        run(&r, &c, &h, "2026-06-09T09:00:00Z", &policy()),
        [(2, Outcome::Send, None)]
    );
}

#[test]
fn a_redeemed_offer_ends_the_series() {
    let r = series("");
    let mut first = sent(1, "2026-06-02T09:00:00Z");
    first.redeemed_at = Some(ts("2026-06-04T09:00:00Z"));
    assert!(run(&r, &lapsed(), &[first], "2026-06-09T09:00:00Z", &policy()).is_empty());
}

#[test]
fn a_bounce_or_failure_ends_the_series_and_a_skip_starts_the_clock_when_decided() {
    let r = series("");
    let c = lapsed();
    for status in [MessageStatus::Bounced, MessageStatus::Failed] {
        let h = [step(
            1,
            Outcome::Send,
            "2026-06-02T09:00:00Z",
            Some((status, None)),
        )];
        assert!(
            run(&r, &c, &h, "2026-06-20T00:00:00Z", &policy()).is_empty(),
            "{status:?}"
        );
    }
    // Skipped when decided (no consent then), or at delivery: step 2 counts from the decision.
    for h in [
        step(1, Outcome::Skipped, "2026-06-02T09:00:00Z", None),
        step(
            1,
            Outcome::Send,
            "2026-06-02T09:00:00Z",
            Some((MessageStatus::Skipped, None)),
        ),
    ] {
        assert!(
            run(
                &r,
                &c,
                std::slice::from_ref(&h),
                "2026-06-09T08:00:00Z",
                &policy()
            )
            .is_empty()
        );
        assert_eq!(
            run(&r, &c, &[h], "2026-06-09T09:00:00Z", &policy()),
            [(2, Outcome::Send, None)]
        );
    }
}

#[test]
fn unsubscribed_from_every_channel_of_the_step_ends_the_series_without_a_decision() {
    let r = series("");
    let h = [sent(1, "2026-06-02T09:00:00Z")];
    // Step 2 is email with an SMS fallback: unsubscribed from email only, the SMS goes.
    let mut c = lapsed();
    c.phone = Some("+36301234567".into());
    c.consent_sms = true;
    c.unsubscribed_email = true;
    assert_eq!(
        run(&r, &c, &h, "2026-06-09T09:00:00Z", &policy())
            .into_iter()
            .map(|(s, o, _)| (s, o))
            .collect::<Vec<_>>(),
        [(2, Outcome::Send)]
    );
    c.unsubscribed_sms = true;
    assert!(run(&r, &c, &h, "2026-06-09T09:00:00Z", &policy()).is_empty());
    // No consent is not a "no": the step is recorded as skipped and the series goes on.
    let mut c = lapsed();
    c.consent_email = false;
    assert_eq!(
        run(&r, &c, &h, "2026-06-09T09:00:00Z", &policy()),
        [(2, Outcome::Skipped, Some(Reason::NoConsent))]
    );
}

#[test]
fn the_frequency_cap_defers_a_step_and_held_out_customers_get_no_steps() {
    let r = series("");
    let h = [sent(1, "2026-06-02T09:00:00Z")];
    let tight = Policy {
        max_messages: 1,
        ..policy()
    };
    let mut with_other = h.to_vec();
    with_other.push(PastDecision::new(
        "other",
        "k",
        Outcome::Send,
        ts("2026-06-08T00:00:00Z"),
    ));
    assert_eq!(
        run(&r, &lapsed(), &with_other, "2026-06-09T09:00:00Z", &tight),
        [(2, Outcome::Deferred, Some(Reason::FrequencyCap))]
    );
    // A week later the cap has room again and the deferred step goes.
    assert_eq!(
        run(&r, &lapsed(), &with_other, "2026-06-15T09:00:00Z", &tight),
        [(2, Outcome::Send, None)]
    );
    let held = step(1, Outcome::HeldOut, "2026-06-02T09:00:00Z", None);
    assert!(run(&r, &lapsed(), &[held], "2026-07-01T00:00:00Z", &policy()).is_empty());
}
