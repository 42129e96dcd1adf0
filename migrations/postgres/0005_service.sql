-- The long-running service: scheduled ticks claimed once across instances, erasure with a
-- hashed suppression list, delivery receipts and engagement (clicks, opens).

-- One row per (rule, scheduled tick): the primary key is what lets several instances share a
-- schedule, and the latest row per rule is how a restarted service finds a missed tick.
CREATE TABLE rule_runs (
    rule_id     TEXT    NOT NULL,
    tick_at     BIGINT NOT NULL,
    instance    TEXT    NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (rule_id, tick_at)
);

-- SHA-256 of an erased customer's normalised address, per channel they had unsubscribed from:
-- a re-created customer with that address stays unsubscribed, without keeping the address.
CREATE TABLE suppressions (
    address_hash TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (address_hash, channel)
);

-- An erased customer keeps an anonymous row so outcome counts survive; nothing personal stays.
ALTER TABLE customers ADD COLUMN erased_at BIGINT;

-- Provider receipts arrive by provider reference (Twilio's SID, a Message-ID).
CREATE INDEX messages_provider_ref ON messages (provider_ref);
CREATE INDEX customers_phone ON customers (phone);

ALTER TABLE messages ADD COLUMN delivered_at BIGINT;
ALTER TABLE messages ADD COLUMN clicked_at BIGINT;
ALTER TABLE messages ADD COLUMN opened_at BIGINT;
