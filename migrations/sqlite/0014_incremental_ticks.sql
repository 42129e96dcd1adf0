-- Incremental ticks. A scheduled tick evaluates only the customers who changed since the last
-- evaluation of the same rules, or who reach a boundary of their own (`rules::wake`).
--
-- A customer's `revision` grows with every change to them: the trigger below for their own
-- row, the event writes (`store::events`) for their events. Imports too large to mark one by
-- one bump `book_generation` instead, and the next evaluation of every scope is a full one.
ALTER TABLE customers ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER customers_revision AFTER UPDATE OF external_id, name, email, phone, birthday,
    timezone, consent_email, consent_sms, unsubscribed_email_at, unsubscribed_sms_at, attributes,
    tags, email_bounced_at, erased_at, language ON customers
BEGIN
    UPDATE customers SET revision = OLD.revision + 1 WHERE id = NEW.id;
END;

-- An event moved to another customer changes the one it left too.
CREATE TRIGGER events_moved AFTER UPDATE OF customer_id ON events
WHEN OLD.customer_id <> NEW.customer_id
BEGIN
    UPDATE customers SET revision = revision + 1 WHERE id = OLD.customer_id;
END;

CREATE TABLE book_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO book_generation (id, generation) VALUES (1, 0);

-- A scope is one set of rules with the settings they were evaluated under (a fingerprint).
CREATE TABLE evaluation_scopes (
    scope        INTEGER PRIMARY KEY,
    evaluated_at INTEGER NOT NULL,
    generation   INTEGER NOT NULL
);

-- When each customer next needs a look in a scope (NULL: only when they change), and their
-- revision when that was worked out.
CREATE TABLE customer_wakes (
    scope       INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    revision    INTEGER NOT NULL,
    wake_at     INTEGER,
    PRIMARY KEY (scope, customer_id)
) WITHOUT ROWID;
