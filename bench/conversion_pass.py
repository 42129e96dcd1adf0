#!/usr/bin/env python3
"""One conversion pass on PostgreSQL, full against incremental (BENCHMARKS.md, thirteenth
sitting), with the statements src/store/outcomes.rs and src/store/changes.rs issue, copied here
by hand (keep them in step).

The book: `rekindle generate --customers 1000000 --seed 7 --until 2026-11-01T00:00:00Z`, its
first 10M events (`head -n 10000001 events.csv`), imported into an empty database; then

    python3 bench/conversion_pass.py ledger DB      # a year's ledger: 1.26M sent step-1 messages,
                                                    # 140k held out, over the five goal rules
    python3 bench/conversion_pass.py time DB 2026-10-15T11:10:00Z

`time` runs three rounds of: the full pass (every goal rule's UPDATE and the offer rule's
redemption UPDATE over every unconverted decision), then the incremental pass of a tick ten
minutes after the last (the change mark, the changed customers, the customers with activity
dated into the time since with the hour's margin, and the same UPDATEs restricted to them).
Each pass runs in a transaction that is rolled back, so the rounds see the same ledger.
"""
import subprocess, sys, time

LEDGER = """
CREATE TEMP TABLE syn AS
SELECT r.rule_id, i, 1 + ((i::bigint * 7919) % 1000000) AS customer_id,
       1761955200 + (i::bigint * 31536000 / r.n) AS decided_at
FROM (VALUES ('win-back-30d', 1000000), ('overdue-regular', 100000), ('at-risk-health', 100000),
             ('birthday', 100000), ('welcome-first-booking', 100000)) AS r(rule_id, n),
     LATERAL generate_series(0, r.n - 1) AS i;
INSERT INTO decisions (rule_id, customer_id, occurrence_key, decision, channel, decided_at, recorded_at, subject, body, step)
SELECT rule_id, customer_id, 'syn' || i, CASE WHEN i % 10 = 0 THEN 'held_out' ELSE 'send' END,
       'email', decided_at, decided_at, 'Hi', 'Hello', 1 FROM syn;
INSERT INTO messages (decision_id, rule_id, customer_id, channel, status, scheduled_at, next_attempt_at, sent_at,
                      created_at, updated_at, attempts)
SELECT id, rule_id, customer_id, 'email', 'sent', decided_at, decided_at, decided_at + 3600, decided_at, decided_at + 3600, 1
FROM decisions WHERE decision = 'send' AND occurrence_key LIKE 'syn%';
-- Every real message gets its history row when it is created; so do these.
INSERT INTO message_events (message_id, status, at) SELECT id, 'queued', created_at FROM messages
WHERE decision_id IN (SELECT id FROM decisions WHERE occurrence_key LIKE 'syn%');
ANALYZE;
"""

if len(sys.argv) == 3 and sys.argv[1] == "ledger":
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", sys.argv[2]],
                   input=LEDGER, check=True, text=True)
    sys.exit(0)
if len(sys.argv) != 4 or sys.argv[1] != "time":
    sys.exit(__doc__)
DB = sys.argv[2]
UNTIL = int(subprocess.run(["date", "-d", sys.argv[3], "+%s"], check=True, capture_output=True, text=True).stdout)
LAST = UNTIL - 600  # the previous tick ten minutes earlier
GOALS = [("win-back-30d", ["visit"], 30*86400), ("overdue-regular", ["visit"], 14*86400),
         ("at-risk-health", ["visit", "purchase"], 30*86400), ("birthday", ["visit"], 7*86400),
         ("welcome-first-booking", ["visit"], 14*86400)]
OFFERS = ["win-back-30d"]
BASE = ("(CASE WHEN decisions.decision = 'held_out' THEN decisions.decided_at "
        "ELSE (SELECT m.sent_at FROM messages m WHERE m.decision_id = decisions.id) END)")
def conv(rule, kinds, within, only):
    k = ", ".join(f"'{x}'" for x in kinds)
    o = f" AND decisions.customer_id = ANY('{{{only}}}'::bigint[])" if only is not None else ""
    return (f"UPDATE decisions SET converted_at = (SELECT min(e.occurred_at) FROM events e "
            f"WHERE e.customer_id = decisions.customer_id AND e.kind IN ({k}) "
            f"AND e.occurred_at > {BASE} AND e.occurred_at <= {BASE} + {within} AND e.occurred_at <= {UNTIL}) "
            f"WHERE rule_id = '{rule}' AND step = 1 AND converted_at IS NULL{o} AND (decision = 'held_out' OR (decision = 'send' AND "
            f"EXISTS (SELECT 1 FROM messages m WHERE m.decision_id = decisions.id AND m.sent_at IS NOT NULL))) "
            f"AND EXISTS (SELECT 1 FROM events e WHERE e.customer_id = decisions.customer_id AND e.kind IN ({k}) "
            f"AND e.occurred_at > {BASE} AND e.occurred_at <= {BASE} + {within} AND e.occurred_at <= {UNTIL})")
def redeem(rule, only):
    R = ("(SELECT o.redeemed_at FROM offers o WHERE o.rule_id = decisions.rule_id "
         f"AND o.customer_id = decisions.customer_id AND o.occurrence_key = decisions.occurrence_key AND o.redeemed_at <= {UNTIL})")
    o = f" AND decisions.customer_id = ANY('{{{only}}}'::bigint[])" if only is not None else ""
    return (f"UPDATE decisions SET converted_at = {R} WHERE rule_id = '{rule}' AND step = 1 AND decision = 'send' "
            f"AND converted_at IS NULL{o} AND {R} IS NOT NULL")
def psql(sql):
    return subprocess.run(["psql", "-qAt", "-h", "127.0.0.1", "-U", "postgres", DB, "-c", sql],
                          check=True, capture_output=True, text=True).stdout
def timed(stmts):
    script = "BEGIN;\n" + "".join(f"SELECT clock_timestamp();\n{s};\n" for s in stmts) + "SELECT clock_timestamp();\nROLLBACK;\n"
    t = time.time()
    subprocess.run(["psql", "-qAt", "-h", "127.0.0.1", "-U", "postgres", DB], input=script, check=True,
                   capture_output=True, text=True)
    return time.time() - t
for rnd in range(3):
    full = timed([conv(*g, None) for g in GOALS] + [redeem(r, None) for r in OFFERS])
    t = time.time()
    mark = psql("SELECT generation, pg_snapshot_xmin(pg_current_snapshot())::text::bigint FROM book_generation WHERE id = 1")
    changed = psql("SELECT id FROM customers WHERE changed_xid >= 0").split()
    kinds = "'visit','purchase'"
    active = psql(f"SELECT customer_id FROM events WHERE occurred_at > {LAST - 3600} AND occurred_at <= {UNTIL} "
                  f"AND kind = ANY(ARRAY[{kinds}]) UNION SELECT customer_id FROM offers WHERE redeemed_at > {LAST - 3600} "
                  f"AND redeemed_at <= {UNTIL}").split()
    only = ",".join(sorted(set(changed + active), key=int))
    inc = timed([conv(*g, only) for g in GOALS] + [redeem(r, only) for r in OFFERS]) + (time.time() - t)
    print(f"round {rnd}: full pass {full:.2f} s, incremental pass {inc:.3f} s ({len(set(changed + active))} customers)", flush=True)
