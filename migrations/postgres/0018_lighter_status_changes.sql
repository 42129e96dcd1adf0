-- Every claim and every finish of a message changes its status; on PostgreSQL that work was
-- what bounded delivery (BENCHMARKS.md: ≈ 50 µs of server time per message to claim, ≈ 65 µs to
-- finish). Measured on 20k messages in batches of 64, the parts that paid to remove were, in
-- order: the event row's foreign key (a key-share lock and a lookup of the message row it was
-- written for, by a trigger of that very row), the per-row trigger (one PL/pgSQL call and one
-- INSERT per message), and index entries no query needs.

-- The event rows of one statement's status changes are written by one INSERT from its
-- transition tables. (Transition tables cannot go with `UPDATE OF status`, so the trigger
-- fires on every UPDATE and the join keeps the rows whose status changed.)
DROP TRIGGER messages_status_event ON messages;
DROP FUNCTION rekindle_message_event();

CREATE FUNCTION rekindle_message_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_events (message_id, status, at, detail)
    SELECT n.id, n.status, n.updated_at, n.last_detail
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE o.status IS DISTINCT FROM n.status;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_status_events AFTER UPDATE ON messages
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION rekindle_message_events();

-- Event rows are only ever written by the statements above, for the rows they change, so the
-- foreign key checked nothing that could fail. What it also did, delete a message's history
-- with the message, a trigger does.
ALTER TABLE message_events DROP CONSTRAINT message_events_message_id_fkey;

CREATE FUNCTION rekindle_message_history_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM message_events WHERE message_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_history_gone AFTER DELETE ON messages
REFERENCING OLD TABLE AS gone
FOR EACH STATEMENT EXECUTE FUNCTION rekindle_message_history_gone();

-- Index entries: an UPDATE that changes the status writes a new entry in every index of the
-- table (a partial index only where the new row matches). `messages_due` (status,
-- next_attempt_at) was written twice per message and is read by nothing the partial indexes
-- do not serve: the queue's reads use `messages_queued`, orphan recovery and a stop's
-- hand-back read the claimed rows (`messages_sending`), the minute's failure summary reads
-- recent failures (`messages_failures`). A message has no provider reference until it is sent.
DROP INDEX messages_due;
CREATE INDEX messages_sending ON messages (claimed_by) WHERE status = 'sending';
CREATE INDEX messages_failures ON messages (updated_at) WHERE status IN ('failed', 'bounced');
DROP INDEX messages_provider_ref;
CREATE INDEX messages_provider_ref ON messages (provider_ref) WHERE provider_ref IS NOT NULL;
