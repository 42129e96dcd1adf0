-- Instants are Unix seconds (UTC) in INTEGER columns: the same representation on both backends.
CREATE TABLE customers (
    id                    INTEGER PRIMARY KEY,
    external_id           TEXT    NOT NULL UNIQUE,
    name                  TEXT,
    email                 TEXT,
    phone                 TEXT,
    birthday              TEXT,              -- YYYY-MM-DD or --MM-DD
    timezone              TEXT,              -- IANA name; NULL = configured default
    consent_email         BOOLEAN NOT NULL DEFAULT 0,
    consent_sms           BOOLEAN NOT NULL DEFAULT 0,
    unsubscribed_email_at INTEGER,           -- owned by the service, never by imports
    unsubscribed_sms_at   INTEGER,
    attributes            TEXT    NOT NULL DEFAULT '{}',  -- JSON object of strings
    tags                  TEXT    NOT NULL DEFAULT '[]',  -- JSON array of strings
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    external_id TEXT    NOT NULL UNIQUE,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    occurred_at INTEGER NOT NULL,
    amount      REAL,
    score       REAL,
    properties  TEXT    NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL
);
-- Per customer and kind, in time order: latest/first/count per kind, one customer's history.
CREATE INDEX events_customer_kind_time ON events (customer_id, kind, occurred_at);
-- A kind within a time window: "appointments that ended two hours ago".
CREATE INDEX events_kind_time ON events (kind, occurred_at);

CREATE TABLE health_snapshots (
    customer_id     INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    as_of           INTEGER NOT NULL,
    score           INTEGER NOT NULL,
    band            TEXT    NOT NULL,
    recency         REAL    NOT NULL,
    frequency       REAL    NOT NULL,
    feedback        REAL    NOT NULL,
    cadence_days    REAL    NOT NULL,
    days_since_last REAL,
    computed_at     INTEGER NOT NULL,
    PRIMARY KEY (customer_id, as_of)
);
CREATE INDEX health_snapshots_as_of ON health_snapshots (as_of);
