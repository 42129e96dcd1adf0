-- Win-back series: a rule's follow-up steps are decisions like step 1, with their own
-- occurrence key (the series' key + "#step<N>") and their step number here.
ALTER TABLE decisions ADD COLUMN step INTEGER NOT NULL DEFAULT 1;

-- Personal offer codes, one per series (rule, customer, occurrence). Reserved with the first
-- send decision of the series that carries it (decision_id); issued when that decision's
-- message goes out (messages.sent_at): until then it cannot be redeemed.
CREATE TABLE offers (
    id              INTEGER PRIMARY KEY,
    code            TEXT    NOT NULL UNIQUE,
    rule_id         TEXT    NOT NULL,
    customer_id     INTEGER  NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    occurrence_key  TEXT    NOT NULL,   -- the series' occurrence: its step 1 key
    decision_id     INTEGER  NOT NULL REFERENCES decisions (id) ON DELETE CASCADE,
    percent         REAL,
    amount          REAL,
    currency        TEXT,
    reserved_at     INTEGER  NOT NULL,
    expires_at      INTEGER  NOT NULL,   -- the end of the expiry day in the customer's zone
    redeemed_at     INTEGER,
    redeemed_event  TEXT,               -- the redeeming event's external id, if any
    redeemed_amount REAL,
    UNIQUE (rule_id, customer_id, occurrence_key)
);
CREATE INDEX offers_decision ON offers (decision_id);
