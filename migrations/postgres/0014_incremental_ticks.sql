-- Incremental ticks. A scheduled tick evaluates only the customers who changed since the last
-- evaluation of the same rules, or who reach a boundary of their own (`rules::wake`).
--
-- A customer's `revision` grows with every change to them: the trigger below for their own
-- row, the event writes (`store::events`) for their events. Imports too large to mark one by
-- one bump `book_generation` instead, and the next evaluation of every scope is a full one.
ALTER TABLE customers ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION rekindle_customer_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := OLD.revision + 1;
    RETURN NEW;
END
$$;

CREATE TRIGGER customers_revision BEFORE UPDATE ON customers
FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
EXECUTE FUNCTION rekindle_customer_revision();

-- An event moved to another customer changes the one it left too.
CREATE FUNCTION rekindle_event_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE customers SET revision = revision + 1 WHERE id = OLD.customer_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_moved AFTER UPDATE OF customer_id ON events
FOR EACH ROW WHEN (OLD.customer_id <> NEW.customer_id)
EXECUTE FUNCTION rekindle_event_moved();

CREATE TABLE book_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO book_generation (id, generation) VALUES (1, 0);

-- A scope is one set of rules with the settings they were evaluated under (a fingerprint).
CREATE TABLE evaluation_scopes (
    scope        BIGINT PRIMARY KEY,
    evaluated_at BIGINT NOT NULL,
    generation   BIGINT NOT NULL
);

-- When each customer next needs a look in a scope (NULL: only when they change), and their
-- revision when that was worked out.
CREATE TABLE customer_wakes (
    scope       BIGINT NOT NULL,
    customer_id BIGINT NOT NULL,
    revision    BIGINT NOT NULL,
    wake_at     BIGINT,
    PRIMARY KEY (scope, customer_id)
);
