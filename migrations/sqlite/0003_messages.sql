-- Delivery ledger: the source of truth for every message; queue jobs only carry its id.
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    decision_id     INTEGER NOT NULL UNIQUE REFERENCES decisions (id) ON DELETE CASCADE,
    rule_id         TEXT    NOT NULL,
    customer_id     INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    channel         TEXT    NOT NULL,
    status          TEXT    NOT NULL,  -- queued | sending | sent | delivered | bounced | failed | skipped | expired
    reason          TEXT,              -- why skipped/failed/expired
    attempts        INTEGER NOT NULL DEFAULT 0,
    scheduled_at    INTEGER NOT NULL,  -- send_at of the decision
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,              -- instance holding it while sending
    subject         TEXT,
    body            TEXT    NOT NULL,
    provider_ref    TEXT,              -- Message-ID or provider message id
    last_error_code TEXT,
    last_error      TEXT,
    outcome_unknown BOOLEAN NOT NULL DEFAULT 0,  -- a timeout after DATA: may have arrived
    sent_at         INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX messages_due ON messages (status, next_attempt_at);
CREATE INDEX messages_customer ON messages (customer_id);

CREATE TABLE message_events (
    id         INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    status     TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    detail     TEXT
);
CREATE INDEX message_events_message ON message_events (message_id, at);

-- Running delivery processes; a claim by an instance whose heartbeat stopped is an orphan.
CREATE TABLE instances (
    id           TEXT    PRIMARY KEY,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);

-- Conversion of a send or a held-out decision (first goal event within the goal window).
ALTER TABLE decisions ADD COLUMN converted_at INTEGER;
-- A hard bounce stops email to that address.
ALTER TABLE customers ADD COLUMN email_bounced_at INTEGER;
