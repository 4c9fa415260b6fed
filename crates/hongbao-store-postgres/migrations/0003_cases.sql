-- Operators, evidence, complaints and their cases, freezes, reversals, disclosures, the audit log and
-- the event outbox. The service maps each record to these columns in hongbao-store's `records`.

CREATE TABLE operators (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    disabled_at BIGINT
);

-- The bytes live in the content-addressed evidence store, named by sha256.
CREATE TABLE evidence (
    id           TEXT PRIMARY KEY,
    sha256       TEXT NOT NULL,
    size         BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    label        TEXT,
    uploaded_by  TEXT NOT NULL,
    case_id      TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX evidence_by_case ON evidence (case_id) WHERE case_id IS NOT NULL;

CREATE TABLE complaints (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    complainant_id   TEXT NOT NULL,
    respondent_ids   TEXT NOT NULL,
    txn_nos          TEXT NOT NULL,
    description      TEXT NOT NULL,
    evidence_ids     TEXT NOT NULL,
    missing_evidence TEXT NOT NULL,
    status           TEXT NOT NULL,
    outcome          TEXT,
    assignee_id      TEXT,
    refunded_amount  BIGINT NOT NULL,
    note             TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    due_at           BIGINT NOT NULL,
    open_due_at      BIGINT,
    resolved_at      BIGINT
);
CREATE INDEX complaints_by_complainant ON complaints (complainant_id, created_at, id);
CREATE INDEX complaints_by_status ON complaints (status, created_at, id);
CREATE INDEX complaints_open_by_deadline ON complaints (open_due_at) WHERE open_due_at IS NOT NULL;

CREATE TABLE freezes (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    scope           TEXT NOT NULL,
    amount          BIGINT,
    refunded_amount BIGINT NOT NULL,
    case_id         TEXT,
    rule            TEXT,
    reason          TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    until           BIGINT,
    lifted_at       BIGINT,
    lifted_by       TEXT,
    lift_reason     TEXT,
    active_until    BIGINT,
    CHECK ((case_id IS NULL) <> (rule IS NULL)),
    CHECK (scope = 'full' OR (scope = 'hold' AND amount > 0 AND refunded_amount <= amount))
);
CREATE INDEX freezes_by_user ON freezes (user_id, created_at, id);
CREATE INDEX freezes_active ON freezes (user_id, active_until) WHERE active_until IS NOT NULL;
CREATE INDEX freezes_by_case ON freezes (case_id) WHERE case_id IS NOT NULL;

CREATE TABLE reversals (
    id              TEXT PRIMARY KEY,
    txn_no          TEXT NOT NULL,
    payer_id        TEXT NOT NULL,
    recipient_id    TEXT NOT NULL,
    amount          BIGINT NOT NULL,
    reason          TEXT NOT NULL,
    reference       TEXT NOT NULL,
    reversal_txn_no TEXT,
    status          TEXT NOT NULL,
    requested_by    TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    decided_by      TEXT,
    decided_at      BIGINT,
    decision_reason TEXT,
    CHECK (decided_by IS NULL OR decided_by <> requested_by OR status = 'rejected')
);
CREATE INDEX reversals_by_status ON reversals (status, created_at, id);
CREATE INDEX reversals_by_txn ON reversals (txn_no);

CREATE TABLE disclosures (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    requester       TEXT NOT NULL,
    reference       TEXT NOT NULL,
    reason          TEXT NOT NULL,
    status          TEXT NOT NULL,
    requested_by    TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    decided_by      TEXT,
    decided_at      BIGINT,
    decision_reason TEXT,
    CHECK (decided_by IS NULL OR decided_by <> requested_by OR status = 'rejected')
);
CREATE INDEX disclosures_by_status ON disclosures (status, created_at, id);

-- Every operator action, hash-chained like the journal. Append-only.
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor_id   TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE TRIGGER audit_log_is_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION hongbao_append_only();

-- The outbox: each user's notices, written in the same transaction as the change.
CREATE TABLE events (
    seq        BIGINT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX events_by_user ON events (user_id, seq);

-- The lists of the web page's chat view: a user's groups, and a group's packets.
CREATE INDEX group_members_by_user ON group_members (user_id);
CREATE INDEX packets_by_group ON packets (group_id, created_at, id) WHERE group_id IS NOT NULL;
