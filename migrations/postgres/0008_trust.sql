-- Erased rows are marked by erased_at alone. Their external id becomes one no import or API
-- request can ever name (ids with control characters are refused at every edge), so neither a
-- customer called "erased:10" nor a PUT to an anonymised row can collide with an erasure.
UPDATE customers SET external_id = chr(1) || 'erased ' || id WHERE erased_at IS NOT NULL;

-- Hashes of an erased customer's addresses (never the addresses): an unsubscribe through a
-- link in a message sent before the erasure still reaches the suppression list.
ALTER TABLE customers ADD COLUMN erased_email_hash TEXT;
ALTER TABLE customers ADD COLUMN erased_phone_hash TEXT;

-- Amounts are bounded at the edge (|amount| < 1e12); older rows outside that range are not
-- money anyone spent and made sums overflow, so they are dropped.
UPDATE events SET amount = NULL WHERE abs(amount) >= 1e12;

-- Why an address is suppressed (unsubscribed, bounced, imported from another tool), for the
-- export that carries the list to a new store or tool.
ALTER TABLE suppressions ADD COLUMN reason TEXT NOT NULL DEFAULT 'unsubscribed';

-- The URLs of a message that become tracked click links, in order (a JSON array): only those
-- written in the rule's own template text, never one that came from customer data. NULL on
-- rows written before this column existed (their links keep working as they were sent).
ALTER TABLE decisions ADD COLUMN links TEXT;
ALTER TABLE messages ADD COLUMN links TEXT;

-- `rekindle store copy` writes one row per copy into the target: an interrupted copy from the
-- same source resumes instead of being refused as a non-empty target.
CREATE TABLE store_copies (
    source      TEXT   PRIMARY KEY,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT
);
