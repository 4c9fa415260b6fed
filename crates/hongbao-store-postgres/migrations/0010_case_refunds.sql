-- Case refunds above the policy's four-eyes amount wait here for a second reviewer's approval.
CREATE TABLE case_refunds (
    id              TEXT PRIMARY KEY,
    complaint_id    TEXT NOT NULL,
    freeze_id       TEXT NOT NULL,
    payer_id        TEXT NOT NULL,
    recipient_id    TEXT NOT NULL,
    corrects_txn_no TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    reason          TEXT NOT NULL,
    refund_txn_no   TEXT,
    status          TEXT NOT NULL,
    requested_by    TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    decided_by      TEXT,
    decided_at      BIGINT,
    decision_reason TEXT,
    CHECK (decided_by IS NULL OR decided_by <> requested_by OR status = 'rejected')
);
CREATE INDEX case_refunds_by_status ON case_refunds (status, created_at, id);
CREATE INDEX case_refunds_by_case ON case_refunds (complaint_id);
