-- hongbao schema, version 1 (SQLite).

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE groups (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE group_members (
    group_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    joined_seq INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_members_order ON group_members (group_id, joined_seq);

CREATE TABLE packets (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    sender_id        TEXT NOT NULL,
    group_id         TEXT,
    recipient_id     TEXT,
    greeting         TEXT NOT NULL,
    total_amount     INTEGER NOT NULL,
    shares           INTEGER NOT NULL,
    claimed_count    INTEGER NOT NULL,
    claimed_amount   INTEGER NOT NULL,
    status           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    refunded_amount  INTEGER NOT NULL,
    send_txn_no      TEXT NOT NULL,
    refund_txn_no    TEXT,
    luckiest_user_id TEXT,
    CHECK (claimed_count <= shares AND claimed_amount + refunded_amount <= total_amount)
) WITHOUT ROWID;
CREATE INDEX packets_open_by_expiry ON packets (expires_at) WHERE status = 'open';

-- Shares are drawn when the packet is sent; the n-th claim takes share n.
CREATE TABLE packet_shares (
    packet_id TEXT NOT NULL,
    idx       INTEGER NOT NULL,
    amount    INTEGER NOT NULL,
    PRIMARY KEY (packet_id, idx)
) WITHOUT ROWID;

-- The primary key makes a second claim by the same user impossible; the unique index makes two claims
-- of the same share impossible.
CREATE TABLE packet_claims (
    packet_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    idx        INTEGER NOT NULL,
    amount     INTEGER NOT NULL,
    txn_no     TEXT NOT NULL,
    claimed_at INTEGER NOT NULL,
    PRIMARY KEY (packet_id, user_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX packet_claims_by_index ON packet_claims (packet_id, idx);

-- The journal: one row per ledger transaction, hash-chained. Append-only.
CREATE TABLE journal (
    seq             INTEGER PRIMARY KEY,
    txn_no          TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    amount          INTEGER NOT NULL,
    memo            TEXT,
    reference       TEXT,
    packet_id       TEXT,
    transfer_id     TEXT,
    corrects_txn_no TEXT,
    prev_hash       BLOB NOT NULL,
    hash            BLOB NOT NULL
);

CREATE TABLE postings (
    seq     INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    account TEXT NOT NULL,
    amount  INTEGER NOT NULL,
    PRIMARY KEY (seq, idx)
) WITHOUT ROWID;
CREATE INDEX postings_by_account ON postings (account, seq);

CREATE TABLE txn_parties (
    seq     INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (seq, user_id)
) WITHOUT ROWID;

-- Balances are a projection of the postings, kept in the same transaction; verify recomputes them.
CREATE TABLE balances (
    account TEXT PRIMARY KEY,
    balance INTEGER NOT NULL,
    CHECK (account = 'platform:funding' OR balance >= 0)
) WITHOUT ROWID;

CREATE TABLE idempotency (
    caller       TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (caller, key)
) WITHOUT ROWID;

-- Ledger rows are never updated or deleted.
CREATE TRIGGER journal_is_append_only_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END;
CREATE TRIGGER journal_is_append_only_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END;
CREATE TRIGGER postings_are_append_only_update BEFORE UPDATE ON postings
BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END;
CREATE TRIGGER postings_are_append_only_delete BEFORE DELETE ON postings
BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END;
