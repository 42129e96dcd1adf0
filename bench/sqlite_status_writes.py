#!/usr/bin/env python3
"""What one status change of a message costs SQLite, part by part (BENCHMARKS.md, eleventh
sitting); the SQLite counterpart of bench/pg_status_writes.sh.

    python3 bench/sqlite_status_writes.py [rounds]      # default 3; needs only Python

Builds the ledger's tables with rekindle's own SQLite migrations, 20k queued messages, then
claims them in batches of 64 and finishes them in gatherings of 20 (what the ledger's writer
gathers at 32 attempts in flight), with delivery's statements (src/store/messages.rs), timing
each statement. Each variant takes one more part away; the last writes no history and no
provider-reference index entry at all. Python's SQLite library is not the one rekindle bundles,
so compare the variants with each other, not with rekindle's own timings.
"""

import glob
import json
import os
import sqlite3
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N, CLAIM_BATCH, GATHERING = 20_000, 64, 20

CLAIM = (
    "UPDATE messages SET status = 'sending', attempts = attempts + 1, claimed_by = 'i', updated_at = 2, "
    "last_detail = NULL WHERE id IN (SELECT CAST(j.value AS BIGINT) FROM json_each(?) AS j) "
    "AND +status = 'queued' AND next_attempt_at <= 2000 RETURNING id"
)
FINISH = (
    "UPDATE messages SET status = f.status, reason = f.reason, "
    "provider_ref = COALESCE(f.provider_ref, messages.provider_ref), "
    "last_error_code = COALESCE(f.error_code, messages.last_error_code), "
    "last_error = COALESCE(f.error, messages.last_error), "
    "outcome_unknown = (messages.outcome_unknown OR f.unknown = 1), "
    "next_attempt_at = COALESCE(f.next_attempt_at, messages.next_attempt_at), "
    "sent_at = CASE WHEN f.status = 'sent' THEN f.at ELSE messages.sent_at END, "
    "claimed_by = NULL, updated_at = f.at, last_detail = f.detail "
    "FROM (SELECT CAST(j.value ->> 'id' AS BIGINT) AS id, j.value ->> 'status' AS status, "
    "j.value ->> 'reason' AS reason, j.value ->> 'provider_ref' AS provider_ref, "
    "j.value ->> 'error_code' AS error_code, j.value ->> 'error' AS error, "
    "CAST(j.value ->> 'unknown' AS INTEGER) AS unknown, "
    "CAST(j.value ->> 'next_attempt_at' AS BIGINT) AS next_attempt_at, "
    "CAST(j.value ->> 'at' AS BIGINT) AS at, j.value ->> 'detail' AS detail "
    "FROM json_each(?) AS j) AS f WHERE messages.id = f.id"
)

PARTIAL_INDEXES = """
DROP INDEX messages_due;
CREATE INDEX messages_queued ON messages (next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX messages_sending ON messages (claimed_by) WHERE status = 'sending';
CREATE INDEX messages_failures ON messages (updated_at) WHERE status IN ('failed', 'bounced');
DROP INDEX messages_provider_ref;
CREATE INDEX messages_provider_ref ON messages (provider_ref) WHERE provider_ref IS NOT NULL;
"""
EVENTS_WITHOUT_KEY = """
DROP TRIGGER messages_status_event;
CREATE TABLE events_rebuilt (id INTEGER PRIMARY KEY, message_id INTEGER NOT NULL, status TEXT NOT NULL,
    at INTEGER NOT NULL, detail TEXT);
DROP TABLE message_events;
ALTER TABLE events_rebuilt RENAME TO message_events;
CREATE INDEX message_events_message ON message_events (message_id, at);
CREATE TRIGGER messages_status_event AFTER UPDATE OF status ON messages WHEN OLD.status IS NOT NEW.status
BEGIN
    INSERT INTO message_events (message_id, status, at, detail)
    VALUES (NEW.id, NEW.status, NEW.updated_at, NEW.last_detail);
END;
"""
SMS_REFERENCES_ONLY = """
DROP INDEX messages_provider_ref;
CREATE INDEX messages_provider_ref ON messages (provider_ref) WHERE channel = 'sms';
"""
VARIANTS = [
    ("as migrations 0001-0017 leave it", []),
    ("+ partial indexes (as 0018 on PostgreSQL)", [PARTIAL_INDEXES]),
    ("+ no foreign key on the event rows", [PARTIAL_INDEXES, EVENTS_WITHOUT_KEY]),
    ("+ only SMS references indexed", [PARTIAL_INDEXES, EVENTS_WITHOUT_KEY, SMS_REFERENCES_ONLY]),
    ("no event rows, no reference index (floor)",
     [PARTIAL_INDEXES, "DROP TRIGGER messages_status_event; DROP INDEX messages_provider_ref;"]),
]


def ledger(path, changes):
    """A database as the migrations leave it, with N queued messages, then `changes`."""
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON", "cache_size = -65536"):
        db.execute(f"PRAGMA {pragma}")
    for migration in sorted(glob.glob(os.path.join(ROOT, "migrations", "sqlite", "*.sql"))):
        db.executescript(open(migration).read())
    rows = range(1, N + 1)
    db.execute("BEGIN")
    db.executemany("INSERT INTO customers (id, external_id, created_at, updated_at) VALUES (?, ?, 1, 1)",
                   [(i, f"c{i}") for i in rows])
    db.executemany("INSERT INTO decisions (id, rule_id, customer_id, occurrence_key, decision, decided_at, "
                   "recorded_at) VALUES (?, 'r', ?, 'k', 'send', 1, 1)", [(i, i) for i in rows])
    db.executemany("INSERT INTO messages (id, decision_id, rule_id, customer_id, channel, status, scheduled_at, "
                   "next_attempt_at, created_at, updated_at) VALUES (?, ?, 'r', ?, 'email', 'queued', 1000, 1000, 1, 1)",
                   [(i, i, i) for i in rows])
    db.execute("COMMIT")
    for change in changes:
        db.executescript(change)
    db.execute("ANALYZE")
    return db


def drain(db):
    """Claims and finishes every message as delivery does; returns the two statements' seconds."""
    claims = finishes = 0.0
    for first in range(1, N + 1, CLAIM_BATCH):
        ids = list(range(first, min(first + CLAIM_BATCH, N + 1)))
        started = time.perf_counter()
        db.execute(CLAIM, (json.dumps(ids),)).fetchall()
        claims += time.perf_counter() - started
        for at in range(0, len(ids), GATHERING):
            done = json.dumps([{"id": i, "status": "sent", "reason": None,
                                "provider_ref": f"<rekindle.{i}@bench.example>", "error_code": None,
                                "error": None, "unknown": 0, "next_attempt_at": None, "at": 3, "detail": None}
                               for i in ids[at:at + GATHERING]])
            started = time.perf_counter()
            db.execute(FINISH, (done,))
            finishes += time.perf_counter() - started
    return claims, finishes


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(f"SQLite {sqlite3.sqlite_version}; {N} messages, claims of {CLAIM_BATCH}, finishes of {GATHERING}")
    with tempfile.TemporaryDirectory() as work:
        for r in range(1, rounds + 1):
            print(f"round {r}")
            for i, (name, changes) in enumerate(VARIANTS):
                db = ledger(os.path.join(work, f"ledger-{r}-{i}.db"), changes)
                claims, finishes = drain(db)
                db.close()
                print(f"  {name:44s} claims {claims:.3f} s ({claims / N * 1e6:4.1f} µs/message), "
                      f"finishes {finishes:.3f} s ({finishes / N * 1e6:4.1f} µs/message)", flush=True)


if __name__ == "__main__":
    main()
