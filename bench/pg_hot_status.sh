#!/usr/bin/env bash
# Whether PostgreSQL's status changes of a message would get cheaper if they could be made in
# place (HOT: no indexed column changes, room on the page), and what a separate queue table
# would add (BENCHMARKS.md, eleventh sitting). Same tables and statements as
# bench/pg_status_writes.sh (migration 0018's statement trigger), three variants:
#   as shipped: migration 0018's partial indexes, which every status change touches;
#   queue table beside the ledger: the ledger without them (fillfactor 80, so an update can
#     stay on its page), due-ness and claims in a narrow `message_queue` table beside it;
#   the ledger alone, no indexes: the same without the queue table's statements (the floor).
#
#     bash bench/pg_hot_status.sh [rounds]      # default 3; needs psql and PostgreSQL
#
# Prints, per variant and round, the server time of the 313 claims and the 313 finishes, and
# how many of the 40,000 row updates PostgreSQL made in place.
set -euo pipefail
ROUNDS="${1:-3}"
ADMIN="${REKINDLE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
DB="${ADMIN%/*}/rekindle_bench_hot"
psql -q "$ADMIN" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS rekindle_bench_hot WITH (FORCE)" -c "CREATE DATABASE rekindle_bench_hot"
setup() { # $1: the ledger's fillfactor, $2: its indexes beyond the primary and foreign keys'
cat <<SQL | psql -q -v ON_ERROR_STOP=1 "$DB" >/dev/null
SET client_min_messages = warning;
DROP TABLE IF EXISTS message_events, messages, customers, decisions, message_queue CASCADE;
DROP FUNCTION IF EXISTS statement_events CASCADE;
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
    delivered_at BIGINT, clicked_at BIGINT, opened_at BIGINT, last_detail TEXT) WITH (fillfactor = $1);
CREATE INDEX messages_customer ON messages (customer_id);
CREATE TABLE message_events (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id BIGINT NOT NULL, status TEXT NOT NULL, at BIGINT NOT NULL, detail TEXT);
CREATE INDEX message_events_message ON message_events (message_id, at);
CREATE FUNCTION statement_events() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    INSERT INTO message_events (message_id, status, at, detail)
    SELECT n.id, n.status, n.updated_at, n.last_detail FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE o.status IS DISTINCT FROM n.status;
    RETURN NULL;
END \$\$;
CREATE TRIGGER e AFTER UPDATE ON messages REFERENCING OLD TABLE AS old_rows
NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION statement_events();
INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 20000) g;
INSERT INTO decisions (customer_id) SELECT g FROM generate_series(1, 20000) g;
INSERT INTO messages (decision_id, rule_id, customer_id, channel, status, scheduled_at, next_attempt_at, created_at, updated_at)
  SELECT g, 'r', g, 'email', 'queued', 1000, 1000, 1, 1 FROM generate_series(1, 20000) g;
CREATE TABLE message_queue (message_id BIGINT PRIMARY KEY, next_attempt_at BIGINT NOT NULL, claimed_by TEXT);
INSERT INTO message_queue SELECT id, next_attempt_at, NULL FROM messages;
CREATE INDEX message_queue_due ON message_queue (next_attempt_at, message_id);
$2
VACUUM ANALYZE;
SQL
}
run() { # $1, $2: the queue table's statements before each claim and each finish
  local sql out
  sql=$(cat <<SQL
DO \$\$
DECLARE b INT; ids TEXT; fin TEXT; t0 timestamptz; tc interval := '0'; tf interval := '0';
BEGIN
  FOR b IN 0..312 LOOP
    SELECT json_agg(g)::text INTO ids FROM generate_series(b * 64 + 1, LEAST(b * 64 + 64, 20000)) g;
    t0 := clock_timestamp();
    $1
    UPDATE messages SET status = 'sending', attempts = attempts + 1, claimed_by = 'i', updated_at = 2, last_detail = NULL
      WHERE id IN (SELECT CAST(j.value AS BIGINT) FROM json_array_elements_text(ids::json) AS j)
      AND status = 'queued' AND next_attempt_at <= 2000;
    tc := tc + (clock_timestamp() - t0);
    SELECT json_agg(json_build_object('id', g, 'status', 'sent', 'provider_ref', '<' || g || '@x>', 'at', 3, 'unknown', 0))::text
      INTO fin FROM generate_series(b * 64 + 1, LEAST(b * 64 + 64, 20000)) g;
    t0 := clock_timestamp();
    $2
    UPDATE messages SET status = f.status, reason = f.reason, provider_ref = COALESCE(f.provider_ref, messages.provider_ref),
      outcome_unknown = (messages.outcome_unknown OR f.unknown = 1),
      sent_at = CASE WHEN f.status = 'sent' THEN f.at ELSE messages.sent_at END,
      claimed_by = NULL, updated_at = f.at, last_detail = NULL
      FROM (SELECT CAST(j.value ->> 'id' AS BIGINT) AS id, j.value ->> 'status' AS status, j.value ->> 'reason' AS reason,
            j.value ->> 'provider_ref' AS provider_ref, CAST(j.value ->> 'unknown' AS INTEGER) AS unknown,
            CAST(j.value ->> 'at' AS BIGINT) AS at FROM json_array_elements(fin::json) AS j) AS f
      WHERE messages.id = f.id;
    tf := tf + (clock_timestamp() - t0);
  END LOOP;
  RAISE NOTICE 'claims % s, finishes % s', round(extract(epoch FROM tc), 2), round(extract(epoch FROM tf), 2);
END \$\$;
SQL
)
  out=$(echo "$sql" | psql -q -v ON_ERROR_STOP=1 "$DB" 2>&1) || { echo "$out" >&2; exit 1; }
  printf '%s, ' "$(echo "$out" | grep -o 'claims.*')"
  # The statistics collector reports a moment later.
  psql -At "$DB" -c "SELECT pg_sleep(0.6)" -c "SELECT n_tup_hot_upd || ' of ' || n_tup_upd || ' updates in place' FROM pg_stat_user_tables WHERE relname = 'messages'" | tail -1
}
SHIPPED="CREATE INDEX messages_queued ON messages (next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX messages_sending ON messages (claimed_by) WHERE status = 'sending';
CREATE INDEX messages_failures ON messages (updated_at) WHERE status IN ('failed', 'bounced');
CREATE INDEX messages_provider_ref ON messages (provider_ref) WHERE provider_ref IS NOT NULL;"
QCLAIM="UPDATE message_queue SET claimed_by = 'i' WHERE message_id IN (SELECT CAST(j.value AS BIGINT) FROM json_array_elements_text(ids::json) AS j) AND claimed_by IS NULL AND next_attempt_at <= 2000;"
QFIN="DELETE FROM message_queue WHERE message_id IN (SELECT CAST(j.value ->> 'id' AS BIGINT) FROM json_array_elements(fin::json) AS j);"
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r"
  setup 100 "$SHIPPED"; echo "  as shipped (0018):           $(run "" "")"
  setup 80 ""; echo "  queue table beside the ledger: $(run "$QCLAIM" "$QFIN")"
  setup 80 ""; echo "  the ledger alone, no indexes: $(run "" "")"
done
psql -q "$ADMIN" -c "DROP DATABASE rekindle_bench_hot WITH (FORCE)"
