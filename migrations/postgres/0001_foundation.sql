-- Instants are Unix seconds (UTC) in BIGINT columns: the same representation on both backends.
CREATE TABLE customers (
    id                    BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id           TEXT    NOT NULL UNIQUE,
    name                  TEXT,
    email                 TEXT,
    phone                 TEXT,
    birthday              TEXT,              -- YYYY-MM-DD or --MM-DD
    timezone              TEXT,              -- IANA name; NULL = configured default
    consent_email         BOOLEAN NOT NULL DEFAULT FALSE,
    consent_sms           BOOLEAN NOT NULL DEFAULT FALSE,
    unsubscribed_email_at BIGINT,            -- owned by the service, never by imports
    unsubscribed_sms_at   BIGINT,
    attributes            TEXT    NOT NULL DEFAULT '{}',  -- JSON object of strings
    tags                  TEXT    NOT NULL DEFAULT '[]',  -- JSON array of strings
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL
);

CREATE TABLE events (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id TEXT    NOT NULL UNIQUE,
    customer_id BIGINT  NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    occurred_at BIGINT  NOT NULL,
    amount      DOUBLE PRECISION,
    score       DOUBLE PRECISION,
    properties  TEXT    NOT NULL DEFAULT '{}',
    created_at  BIGINT  NOT NULL
);
-- Per customer and kind, in time order: latest/first/count per kind, one customer's history.
CREATE INDEX events_customer_kind_time ON events (customer_id, kind, occurred_at);
-- A kind within a time window: "appointments that ended two hours ago".
CREATE INDEX events_kind_time ON events (kind, occurred_at);

CREATE TABLE health_snapshots (
    customer_id     BIGINT  NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    as_of           BIGINT  NOT NULL,
    score           BIGINT  NOT NULL,
    band            TEXT    NOT NULL,
    recency         DOUBLE PRECISION NOT NULL,
    frequency       DOUBLE PRECISION NOT NULL,
    feedback        DOUBLE PRECISION NOT NULL,
    cadence_days    DOUBLE PRECISION NOT NULL,
    days_since_last DOUBLE PRECISION,
    computed_at     BIGINT  NOT NULL,
    PRIMARY KEY (customer_id, as_of)
);
CREATE INDEX health_snapshots_as_of ON health_snapshots (as_of);
