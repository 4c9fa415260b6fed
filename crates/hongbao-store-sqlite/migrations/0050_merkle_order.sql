-- The tree's nodes keyed by the tree size at which each is complete, (idx + 1) << level, then by level.
-- Keyed by level first, the nodes one batch completes were spread over one part of the key per level,
-- and a commit rewrote a page of each (about 15 pages a batch of the hot packet, the most of any
-- table); in this order they are neighbours, and a commit writes one or two. The rows are the same:
-- copied, not changed.
CREATE TABLE merkle_nodes_by_size (
    log_id      INTEGER NOT NULL CHECK (log_id >= 0),
    complete_at INTEGER NOT NULL,
    level       INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx         INTEGER NOT NULL CHECK (idx >= 0),
    hash        BLOB NOT NULL CHECK (length(hash) = 32),
    CHECK (complete_at = (idx + 1) << level),
    PRIMARY KEY (log_id, complete_at, level)
) WITHOUT ROWID;
INSERT INTO merkle_nodes_by_size (log_id, complete_at, level, idx, hash)
    SELECT log_id, (idx + 1) << level, level, idx, hash FROM merkle_nodes ORDER BY log_id, (idx + 1) << level, level;
DROP TABLE merkle_nodes;
ALTER TABLE merkle_nodes_by_size RENAME TO merkle_nodes;
CREATE TRIGGER merkle_nodes_are_append_only_update BEFORE UPDATE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END;
CREATE TRIGGER merkle_nodes_are_append_only_delete BEFORE DELETE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END;
