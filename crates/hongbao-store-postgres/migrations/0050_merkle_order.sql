-- The tree's nodes keyed by the tree size at which each is complete, (idx + 1) << level, then by level,
-- as on SQLite: the nodes one batch completes are neighbours in the primary key, where keyed by level
-- first they were spread over one part of it per level. The rows are the same: copied, not changed.
CREATE TABLE merkle_nodes_by_size (
    log_id      INTEGER NOT NULL CHECK (log_id >= 0),
    complete_at BIGINT NOT NULL,
    level       SMALLINT NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx         BIGINT NOT NULL CHECK (idx >= 0),
    hash        BYTEA NOT NULL CHECK (length(hash) = 32),
    CHECK (complete_at = (idx + 1) << level),
    PRIMARY KEY (log_id, complete_at, level)
);
INSERT INTO merkle_nodes_by_size (log_id, complete_at, level, idx, hash)
    SELECT log_id, (idx + 1) << level, level, idx, hash FROM merkle_nodes ORDER BY log_id, (idx + 1) << level, level;
DROP TABLE merkle_nodes;
ALTER TABLE merkle_nodes_by_size RENAME TO merkle_nodes;
ALTER TABLE merkle_nodes RENAME CONSTRAINT merkle_nodes_by_size_pkey TO merkle_nodes_pkey;
CREATE TRIGGER merkle_nodes_are_append_only BEFORE UPDATE OR DELETE ON merkle_nodes FOR EACH ROW EXECUTE FUNCTION hongbao_append_only();
