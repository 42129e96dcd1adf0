//! `health recompute` stores, in one pass, exactly the scores `customers show` explains.

use crate::helpers::{CUSTOMERS_HEADER, EVENTS_HEADER, Workspace, backends, load};

#[tokio::test]
async fn snapshots_match_the_per_customer_breakdown() {
    let at = "2026-06-01T12:00:00Z";
    let at_secs = at.parse::<jiff::Timestamp>().unwrap().as_second();
    for backend in backends() {
        let ws = Workspace::new(backend);
        let mut customers = String::from(CUSTOMERS_HEADER);
        let mut events = String::from(EVENTS_HEADER);
        // A spread of habits: ids sort differently as text and as numbers on purpose.
        for c in 0..40 {
            customers.push_str(&format!("\nc{c},,,,,,,,"));
            let gap_days = 1 + c % 9;
            let visits = c % 7;
            for v in 0..visits {
                let days_ago = 3 + c * 2 + v * gap_days;
                let t = jiff::Timestamp::from_second(at_secs - days_ago * 86_400 + 3600).unwrap();
                events.push_str(&format!("\ne{c}-{v},c{c},visit,{t},,"));
            }
            if c % 5 == 0 {
                events.push_str(&format!("\nf{c},c{c},feedback,2026-05-01T00:00:00Z,,{}", c % 11));
            }
        }
        // Last activity older than the one-year window, and an event after T.
        events.push_str("\nold,c3,visit,2024-01-01T00:00:00Z,,\nlater,c4,visit,2026-07-01T00:00:00Z,,\n");
        customers.push('\n');
        load(&ws, &customers, &events);

        let r = ws.rekindle(&["health", "recompute", "--at", at]);
        assert_eq!(r.code, 0, "{backend:?}: {r:?}");
        assert!(r.stdout.contains("40 customers"), "{r:?}");

        let store = ws.store().await;
        let stored = store.snapshot_scores(at_secs).await.unwrap();
        assert_eq!(stored.len(), 40, "{backend:?}: one snapshot per customer");
        for (id, score, band) in &stored {
            let r = ws.rekindle(&["customers", "show", id, "--at", at, "--format", "json"]);
            let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(v["health"]["score"], *score, "{backend:?} {id}");
            assert_eq!(v["health"]["band"], band.as_str(), "{backend:?} {id}");
        }

        // Recomputing the same instant replaces rather than duplicates.
        assert_eq!(ws.rekindle(&["health", "recompute", "--at", at]).code, 0);
        assert_eq!(
            store.snapshot_scores(at_secs).await.unwrap(),
            stored,
            "{backend:?}"
        );
        store.close().await;
    }
}
