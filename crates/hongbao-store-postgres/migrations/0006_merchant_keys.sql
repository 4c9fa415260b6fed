-- Merchant and enterprise API keys; the secret is kept only as its SHA-256.
CREATE TABLE merchant_keys (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    name            TEXT NOT NULL,
    secret_hash     TEXT NOT NULL UNIQUE,
    scopes          TEXT NOT NULL,
    allowed_cidrs   TEXT NOT NULL,
    max_transaction BIGINT,
    daily_max       BIGINT,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);
