-- The journal as a transparency log (RFC 9162): the hashes of the complete subtrees of each log's
-- Merkle tree, written with the journal entries they cover, in the same transaction, and never changed.
CREATE TABLE merkle_nodes (
    log_id INTEGER NOT NULL CHECK (log_id >= 0),
    level  SMALLINT NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx    BIGINT NOT NULL CHECK (idx >= 0),
    hash   BYTEA NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (log_id, level, idx)
);
CREATE TRIGGER merkle_nodes_are_append_only BEFORE UPDATE OR DELETE ON merkle_nodes FOR EACH ROW EXECUTE FUNCTION hongbao_append_only();

-- Signed checkpoints (C2SP tlog-checkpoint) of those trees, as published.
CREATE TABLE checkpoints (
    seq         BIGINT PRIMARY KEY,
    log_id      BIGINT NOT NULL CHECK (log_id >= 0),
    size        BIGINT NOT NULL CHECK (size >= 0),
    root        TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    signed_note TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (log_id, size, key_id)
);
CREATE INDEX checkpoints_by_log_size ON checkpoints (log_id, size);
CREATE TRIGGER checkpoints_are_append_only BEFORE UPDATE OR DELETE ON checkpoints FOR EACH ROW EXECUTE FUNCTION hongbao_append_only();

-- Every key that signs or signed checkpoints, so that rotation keeps old checkpoints verifiable.
CREATE TABLE log_keys (
    verifier_key TEXT PRIMARY KEY,
    key_id       TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX log_keys_by_key_id ON log_keys (key_id);
CREATE TRIGGER log_keys_are_append_only BEFORE UPDATE OR DELETE ON log_keys FOR EACH ROW EXECUTE FUNCTION hongbao_append_only();
