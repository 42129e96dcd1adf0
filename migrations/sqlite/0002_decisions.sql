-- What rule evaluation decided, once per (rule, customer, occurrence).
CREATE TABLE decisions (
    id             INTEGER PRIMARY KEY,
    rule_id        TEXT    NOT NULL,
    customer_id    INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    occurrence_key TEXT    NOT NULL,
    decision       TEXT    NOT NULL,   -- send | held_out | suppressed | skipped
    reason         TEXT,
    channel        TEXT,
    send_at        INTEGER,
    decided_at     INTEGER NOT NULL,   -- the evaluation instant T
    recorded_at    INTEGER NOT NULL,   -- wall clock
    subject        TEXT,               -- rendered when decided: what was decided is what goes out
    body           TEXT,
    UNIQUE (rule_id, customer_id, occurrence_key)
);
CREATE INDEX decisions_customer_time ON decisions (customer_id, decided_at);
