-- hongbao schema, version 1 (PostgreSQL). Every integer is BIGINT.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- One row, locked by every writer batch of every process for the length of its transaction.
CREATE TABLE writer_lock (id INTEGER PRIMARY KEY CHECK (id = 1));
INSERT INTO writer_lock (id) VALUES (1);

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE groups (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    joined_seq BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_order ON group_members (group_id, joined_seq);

CREATE TABLE packets (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    sender_id        TEXT NOT NULL,
    group_id         TEXT,
    recipient_id     TEXT,
    greeting         TEXT NOT NULL,
    total_amount     BIGINT NOT NULL,
    shares           BIGINT NOT NULL,
    claimed_count    BIGINT NOT NULL,
    claimed_amount   BIGINT NOT NULL,
    status           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    finished_at      BIGINT,
    refunded_amount  BIGINT NOT NULL,
    send_txn_no      TEXT NOT NULL,
    refund_txn_no    TEXT,
    luckiest_user_id TEXT,
    CHECK (claimed_count <= shares AND claimed_amount + refunded_amount <= total_amount)
);
CREATE INDEX packets_open_by_expiry ON packets (expires_at) WHERE status = 'open';

CREATE TABLE packet_shares (
    packet_id TEXT NOT NULL,
    idx       BIGINT NOT NULL,
    amount    BIGINT NOT NULL,
    PRIMARY KEY (packet_id, idx)
);

CREATE TABLE packet_claims (
    packet_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    idx        BIGINT NOT NULL,
    amount     BIGINT NOT NULL,
    txn_no     TEXT NOT NULL,
    claimed_at BIGINT NOT NULL,
    PRIMARY KEY (packet_id, user_id),
    UNIQUE (packet_id, idx)
);

CREATE TABLE journal (
    seq             BIGINT PRIMARY KEY,
    txn_no          TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    amount          BIGINT NOT NULL,
    memo            TEXT,
    reference       TEXT,
    packet_id       TEXT,
    transfer_id     TEXT,
    corrects_txn_no TEXT,
    prev_hash       BYTEA NOT NULL,
    hash            BYTEA NOT NULL
);

CREATE TABLE postings (
    seq     BIGINT NOT NULL,
    idx     BIGINT NOT NULL,
    account TEXT NOT NULL,
    amount  BIGINT NOT NULL,
    PRIMARY KEY (seq, idx)
);
CREATE INDEX postings_by_account ON postings (account, seq);

CREATE TABLE txn_parties (
    seq     BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (seq, user_id)
);

CREATE TABLE balances (
    account TEXT PRIMARY KEY,
    balance BIGINT NOT NULL,
    CHECK (account = 'platform:funding' OR balance >= 0)
);

CREATE TABLE idempotency (
    caller       TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    status       BIGINT NOT NULL,
    body         BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (caller, key)
);

-- Ledger rows are never updated or deleted.
CREATE FUNCTION hongbao_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only';
END;
$$;
CREATE TRIGGER journal_is_append_only BEFORE UPDATE OR DELETE ON journal FOR EACH ROW EXECUTE FUNCTION hongbao_append_only();
CREATE TRIGGER postings_are_append_only BEFORE UPDATE OR DELETE ON postings FOR EACH ROW EXECUTE FUNCTION hongbao_append_only();
