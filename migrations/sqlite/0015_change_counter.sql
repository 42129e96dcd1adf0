-- A tick finds whom to look at without passing over every customer (SQLite only).
--
-- Before: each customer's `revision` counted their own changes, and a tick compared it with
-- the revision their wake was worked out against — a join of every customer with their wake.
-- Now a customer's revision is the value of one book-wide change counter at their last change
-- (a new customer included), so "changed since the last evaluation" is `revision > the counter
-- read before it began`, an index range. SQLite runs one write transaction at a time, so a
-- counter taken inside a write is committed in the order it was taken: a revision at or below
-- the counter an evaluation read was committed before that evaluation read it. (PostgreSQL
-- commits concurrent writers in any order, so it keeps comparing revisions.)
ALTER TABLE book_generation ADD COLUMN changes INTEGER NOT NULL DEFAULT 0;
UPDATE book_generation SET changes = (SELECT coalesce(max(revision), 0) FROM customers);

-- The counter each scope's last evaluation read before it began (NULL: an evaluation from
-- before this migration; the next one is full).
ALTER TABLE evaluation_scopes ADD COLUMN changes INTEGER;

DROP TRIGGER customers_revision;
CREATE TRIGGER customers_revision AFTER UPDATE OF external_id, name, email, phone, birthday,
    timezone, consent_email, consent_sms, unsubscribed_email_at, unsubscribed_sms_at, attributes,
    tags, email_bounced_at, erased_at, language ON customers
BEGIN
    UPDATE book_generation SET changes = changes + 1 WHERE id = 1;
    UPDATE customers SET revision = (SELECT changes FROM book_generation WHERE id = 1)
    WHERE id = NEW.id;
END;

CREATE TRIGGER customers_new AFTER INSERT ON customers
BEGIN
    UPDATE book_generation SET changes = changes + 1 WHERE id = 1;
    UPDATE customers SET revision = (SELECT changes FROM book_generation WHERE id = 1)
    WHERE id = NEW.id;
END;

DROP TRIGGER events_moved;
CREATE TRIGGER events_moved AFTER UPDATE OF customer_id ON events
WHEN OLD.customer_id <> NEW.customer_id
BEGIN
    UPDATE book_generation SET changes = changes + 1 WHERE id = 1;
    UPDATE customers SET revision = (SELECT changes FROM book_generation WHERE id = 1)
    WHERE id = OLD.customer_id;
END;

CREATE INDEX customers_changed ON customers (revision);
CREATE INDEX customer_wakes_due ON customer_wakes (scope, wake_at);
