-- A writer commits its batch without waiting for the disk, so that the writer lock is free for the
-- next batch at once, then commits a write of its own row here with synchronous_commit on: PostgreSQL's
-- log is flushed in order, so once that small commit is on disk the batch is too, and only then are
-- the batch's requests answered. One row per server connection, so that the flushes never wait on
-- each other's row locks.
CREATE TABLE commit_flushes (
    backend_pid INTEGER PRIMARY KEY,
    flushes BIGINT NOT NULL
);
