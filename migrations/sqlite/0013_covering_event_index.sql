-- Rule evaluation and the owner's report read every event's amount (and score) beside its
-- customer, kind and time. With those two columns in the index, SQLite answers both from the
-- index alone and visits the table only for the few rows whose id or properties are needed
-- (100k customers / 2.8M events: the report's grouped pass 1.5 s → 0.85 s in sqlite3). The
-- index replaces the narrower one, so imports still maintain a single index on events.
DROP INDEX events_customer_kind_time;
CREATE INDEX events_customer_kind_time ON events (customer_id, kind, occurred_at, amount, score);
