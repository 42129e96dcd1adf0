-- The feeder reads the oldest due messages, `ORDER BY next_attempt_at, id LIMIT n`, every few
-- dozen milliseconds while a backlog drains. `messages_due` cannot give that order (PostgreSQL
-- B-trees carry no row order as SQLite's carry the rowid), so each read sorted every queued row
-- after a sequential scan of the table: 20k queued emails took 165 scans of 20k rows. This
-- index holds only queued rows, in the order read; sent rows leave it.
CREATE INDEX messages_queued ON messages (next_attempt_at, id) WHERE status = 'queued';
