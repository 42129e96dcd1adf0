-- A serve tick creates the messages of the `send` decisions it recorded. Looking for them among
-- every decision without a message was an anti-join over the whole ledger at every tick (0.3 s
-- with a million messages on PostgreSQL, growing with every message sent); the tick now looks
-- only at the sends recorded since it started, by this index. Only sends are in it.
CREATE INDEX decisions_sends_recorded ON decisions (recorded_at) WHERE decision = 'send';
