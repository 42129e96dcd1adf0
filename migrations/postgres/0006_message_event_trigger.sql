-- Every status change of a message writes its event row inside the same statement, so a
-- delivery attempt costs one statement to claim and one to finish (the event inserts used to
-- double the database round trips). `last_detail` carries the event's detail.
ALTER TABLE messages ADD COLUMN last_detail TEXT;

CREATE FUNCTION rekindle_message_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_events (message_id, status, at, detail)
    VALUES (NEW.id, NEW.status, NEW.updated_at, NEW.last_detail);
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_status_event AFTER UPDATE OF status ON messages
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION rekindle_message_event();
