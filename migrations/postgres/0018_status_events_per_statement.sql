-- The status events of a statement's messages are written by one INSERT at the end of the
-- statement instead of one per row: the per-row trigger of 0006 ran a PL/pgSQL call and an
-- INSERT for every message, a quarter of the time of a finish that ends a batch of sixteen
-- (0.23 of 0.94 ms, BENCHMARKS.md). A trigger with transition tables cannot name the column
-- it watches, so it runs after every UPDATE of `messages` and keeps the rows whose status
-- changed, as the old one's WHEN did.
DROP TRIGGER messages_status_event ON messages;
DROP FUNCTION rekindle_message_event();

CREATE FUNCTION rekindle_message_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_events (message_id, status, at, detail)
    SELECT n.id, n.status, n.updated_at, n.last_detail
    FROM changed_new n JOIN changed_old o ON o.id = n.id
    WHERE o.status IS DISTINCT FROM n.status
    ORDER BY n.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_status_events AFTER UPDATE ON messages
REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new
FOR EACH STATEMENT EXECUTE FUNCTION rekindle_message_events();
