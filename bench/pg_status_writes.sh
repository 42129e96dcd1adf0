#!/usr/bin/env bash
# What one status change of a message costs PostgreSQL, part by part (BENCHMARKS.md, eighth
# sitting). Builds the delivery ledger's tables as migrations 0001-0017 left them, with 20k
# queued messages, then claims them in batches of 64 and finishes them in the same batches,
# as delivery does, with the server's clock around each statement. Each variant removes one
# more part; the fifth writes no event rows at all (the floor). The last two (eleventh sitting)
# ask what updates PostgreSQL could make in place would save: the ledger of 0018 without its
# partial indexes (fillfactor 80, so an update can stay on its page), once with the queue's
# due-ness and claims in a narrow `message_queue` table beside it, once alone.
#
#     bash bench/pg_status_writes.sh [rounds]      # default 3; needs psql and PostgreSQL
#
# Prints, per variant and round, the server time of the 313 claims and the 313 finishes, and
# how many of the 40,000 row updates PostgreSQL made in place.
set -euo pipefail
ROUNDS="${1:-3}"
ADMIN="${REKINDLE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
DB="${ADMIN%/*}/rekindle_bench_status_writes"
psql -q -v ON_ERROR_STOP=1 "$ADMIN" -c "SET client_min_messages = warning" \
  -c "DROP DATABASE IF EXISTS rekindle_bench_status_writes WITH (FORCE)" -c "CREATE DATABASE rekindle_bench_status_writes"

tables() { # $1: the event rows' reference to their message ("" for none), $2: fillfactor
  cat <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS message_events, messages, customers, decisions CASCADE;
DROP FUNCTION IF EXISTS row_event, statement_events CASCADE;
CREATE TABLE customers (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT);
CREATE TABLE decisions (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id BIGINT);
CREATE TABLE messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    decision_id BIGINT NOT NULL UNIQUE REFERENCES decisions (id) ON DELETE CASCADE,
    rule_id TEXT NOT NULL, customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    channel TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, attempts BIGINT NOT NULL DEFAULT 0,
    scheduled_at BIGINT NOT NULL, next_attempt_at BIGINT NOT NULL, claimed_by TEXT,
    provider_ref TEXT, last_error_code TEXT, last_error TEXT, outcome_unknown BOOLEAN NOT NULL DEFAULT FALSE,
    sent_at BIGINT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
    delivered_at BIGINT, clicked_at BIGINT, opened_at BIGINT, last_detail TEXT) WITH (fillfactor = ${2:-100});
CREATE INDEX messages_customer ON messages (customer_id);
CREATE TABLE message_events (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id BIGINT NOT NULL $1, status TEXT NOT NULL, at BIGINT NOT NULL, detail TEXT);
CREATE INDEX message_events_message ON message_events (message_id, at);
CREATE FUNCTION row_event() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    INSERT INTO message_events (message_id, status, at, detail) VALUES (NEW.id, NEW.status, NEW.updated_at, NEW.last_detail);
    RETURN NULL;
END \$\$;
CREATE FUNCTION statement_events() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    INSERT INTO message_events (message_id, status, at, detail)
    SELECT n.id, n.status, n.updated_at, n.last_detail FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE o.status IS DISTINCT FROM n.status;
    RETURN NULL;
END \$\$;
INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 20000) g;
INSERT INTO decisions (customer_id) SELECT g FROM generate_series(1, 20000) g;
INSERT INTO messages (decision_id, rule_id, customer_id, channel, status, scheduled_at, next_attempt_at, created_at, updated_at)
  SELECT g, 'r', g, 'email', 'queued', 1000, 1000, 1, 1 FROM generate_series(1, 20000) g;
SQL
}
QUEUED="CREATE INDEX messages_queued ON messages (next_attempt_at, id) WHERE status = 'queued';"
OLD_INDEXES="$QUEUED
CREATE INDEX messages_due ON messages (status, next_attempt_at);
CREATE INDEX messages_provider_ref ON messages (provider_ref);"
NEW_INDEXES="$QUEUED
CREATE INDEX messages_sending ON messages (claimed_by) WHERE status = 'sending';
CREATE INDEX messages_failures ON messages (updated_at) WHERE status IN ('failed', 'bounced');
CREATE INDEX messages_provider_ref ON messages (provider_ref) WHERE provider_ref IS NOT NULL;"
ROW_TRIGGER="CREATE TRIGGER e AFTER UPDATE OF status ON messages FOR EACH ROW
WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION row_event();"
STATEMENT_TRIGGER="CREATE TRIGGER e AFTER UPDATE ON messages REFERENCING OLD TABLE AS old_rows
NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION statement_events();"
FK="REFERENCES messages (id) ON DELETE CASCADE"
QUEUE_TABLE="CREATE TABLE message_queue (message_id BIGINT PRIMARY KEY, next_attempt_at BIGINT NOT NULL, claimed_by TEXT);
INSERT INTO message_queue SELECT id, next_attempt_at, NULL FROM messages;
CREATE INDEX message_queue_due ON message_queue (next_attempt_at, message_id);"
QUEUE_CLAIM="UPDATE message_queue SET claimed_by = 'i' WHERE message_id IN
      (SELECT CAST(j.value AS BIGINT) FROM json_array_elements_text(ids::json) AS j) AND claimed_by IS NULL AND next_attempt_at <= 2000;"
QUEUE_FINISH="DELETE FROM message_queue WHERE message_id IN (SELECT CAST(j.value ->> 'id' AS BIGINT) FROM json_array_elements(fin::json) AS j);"

# The statements of src/store/messages.rs (claim_messages, finish_messages), 64 at a time.
WORK=$(cat <<'SQL'
DO $$
DECLARE b INT; ids TEXT; fin TEXT; t0 timestamptz; tc interval := '0'; tf interval := '0';
BEGIN
  FOR b IN 0..312 LOOP
    SELECT json_agg(g)::text INTO ids FROM generate_series(b * 64 + 1, LEAST(b * 64 + 64, 20000)) g;
    t0 := clock_timestamp();
    -- before each claim --
    UPDATE messages SET status = 'sending', attempts = attempts + 1, claimed_by = 'i', updated_at = 2, last_detail = NULL
      WHERE id IN (SELECT CAST(j.value AS BIGINT) FROM json_array_elements_text(ids::json) AS j)
      AND status = 'queued' AND next_attempt_at <= 2000;
    tc := tc + (clock_timestamp() - t0);
    SELECT json_agg(json_build_object('id', g, 'status', 'sent', 'provider_ref', '<' || g || '@x>', 'at', 3, 'unknown', 0))::text
      INTO fin FROM generate_series(b * 64 + 1, LEAST(b * 64 + 64, 20000)) g;
    t0 := clock_timestamp();
    -- before each finish --
    UPDATE messages SET status = f.status, reason = f.reason, provider_ref = COALESCE(f.provider_ref, messages.provider_ref),
      outcome_unknown = (messages.outcome_unknown OR f.unknown = 1),
      sent_at = CASE WHEN f.status = 'sent' THEN f.at ELSE messages.sent_at END,
      claimed_by = NULL, updated_at = f.at, last_detail = NULL
      FROM json_to_recordset(fin::json) AS f(id BIGINT, status TEXT, reason TEXT, provider_ref TEXT, unknown INTEGER, at BIGINT)
      WHERE messages.id = f.id;
    tf := tf + (clock_timestamp() - t0);
  END LOOP;
  RAISE NOTICE 'claims % s, finishes % s', round(extract(epoch FROM tc), 2), round(extract(epoch FROM tf), 2);
END $$;
SQL
)

variant() { # name, event reference, indexes, trigger[, fillfactor, before each claim, before each finish]
  # A failed set-up or run stops the script with the server's message, not an empty line.
  { tables "$2" "${5:-100}"; echo "$3"; echo "$4"; echo "VACUUM ANALYZE;"; } | psql -q -v ON_ERROR_STOP=1 "$DB" >/dev/null
  local work=${WORK/-- before each claim --/${6:-}} out
  work=${work/-- before each finish --/${7:-}}
  out=$(echo "$work" | psql -q -v ON_ERROR_STOP=1 "$DB" 2>&1) || { echo "$out" >&2; exit 1; }
  # The statistics collector reports the updates made in place a moment later.
  printf '%-44s %s, %s\n' "$1" "$(echo "$out" | grep -o 'claims.*')" "$(psql -At "$DB" -c "SELECT pg_sleep(0.6)" \
    -c "SELECT n_tup_hot_upd || ' of ' || n_tup_upd || ' in place' FROM pg_stat_user_tables WHERE relname = 'messages'" | tail -1)"
}
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r"
  variant "0017: row trigger, foreign key, old indexes" "$FK" "$OLD_INDEXES" "$ROW_TRIGGER"
  variant "+ partial indexes" "$FK" "$NEW_INDEXES" "$ROW_TRIGGER"
  variant "+ no foreign key" "" "$NEW_INDEXES" "$ROW_TRIGGER"
  variant "+ statement trigger (0018)" "" "$NEW_INDEXES" "$STATEMENT_TRIGGER"
  variant "no event rows at all (floor)" "" "$NEW_INDEXES" ""
  variant "0018, a queue table beside it, no indexes" "" "$QUEUE_TABLE" "$STATEMENT_TRIGGER" 80 "$QUEUE_CLAIM" "$QUEUE_FINISH"
  variant "0018 without indexes, alone (floor)" "" "" "$STATEMENT_TRIGGER" 80
done
psql -q "$ADMIN" -c "DROP DATABASE rekindle_bench_status_writes WITH (FORCE)"
