-- Bounds on what users can make the server keep: unattached evidence is found by when it was made
-- (null once attached) and removed after its time; each user's uploads are counted for a quota;
-- idempotency records are found by age and deleted once expired.
ALTER TABLE evidence ADD COLUMN unattached_at BIGINT;
UPDATE evidence SET unattached_at = created_at WHERE case_id IS NULL;
CREATE INDEX evidence_unattached ON evidence (unattached_at, id) WHERE unattached_at IS NOT NULL;
CREATE INDEX evidence_by_sha256 ON evidence (sha256);

CREATE TABLE evidence_usage (
    id    TEXT PRIMARY KEY,
    bytes BIGINT NOT NULL CHECK (bytes >= 0),
    files BIGINT NOT NULL CHECK (files >= 0)
);
INSERT INTO evidence_usage (id, bytes, files) SELECT uploaded_by, SUM(GREATEST(size, 4096)), COUNT(*) FROM evidence GROUP BY uploaded_by;

CREATE INDEX idempotency_by_age ON idempotency (created_at);
