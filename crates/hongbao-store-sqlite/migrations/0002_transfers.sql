-- Transfers, return requests, and the journal's link to return requests.

ALTER TABLE journal ADD COLUMN return_request_id TEXT;

CREATE TABLE transfers (
    id           TEXT PRIMARY KEY,
    sender_id    TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    amount       INTEGER NOT NULL,
    memo         TEXT,
    arrival      TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    arrives_at   INTEGER NOT NULL,
    accept_by    INTEGER NOT NULL,
    accepted_at  INTEGER,
    settled_at   INTEGER,
    finished_at  INTEGER,
    -- The transaction numbers of the transfer, comma-separated, in order.
    txn_nos      TEXT NOT NULL,
    -- When the clock next has something to do: accept_by while pending, arrives_at once accepted.
    due_at       INTEGER
) WITHOUT ROWID;
CREATE INDEX transfers_due ON transfers (due_at) WHERE due_at IS NOT NULL;

CREATE TABLE return_requests (
    id             TEXT PRIMARY KEY,
    txn_no         TEXT NOT NULL,
    requester_id   TEXT NOT NULL,
    recipient_id   TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    reason         TEXT NOT NULL,
    status         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    respond_by     INTEGER NOT NULL,
    responded_at   INTEGER,
    decline_reason TEXT,
    return_txn_no  TEXT
) WITHOUT ROWID;
CREATE INDEX return_requests_by_txn ON return_requests (txn_no, created_at);
CREATE INDEX return_requests_by_requester ON return_requests (requester_id, created_at, id);
CREATE INDEX return_requests_by_recipient ON return_requests (recipient_id, created_at, id);
CREATE INDEX return_requests_pending ON return_requests (respond_by) WHERE status = 'pending';
