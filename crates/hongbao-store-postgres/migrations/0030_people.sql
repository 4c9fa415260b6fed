-- People: who a user has dealt with, for names and contacts, and their transfers as lists. Transfers by
-- either party; packets by their sender (whose claimers they paid), and packets sent to one user by name
-- (one-to-one and exclusive) by their recipient.

CREATE INDEX transfers_by_sender ON transfers (sender_id, created_at, id);
CREATE INDEX transfers_by_recipient ON transfers (recipient_id, created_at, id);
CREATE INDEX packets_by_recipient ON packets (recipient_id, created_at, id) WHERE recipient_id IS NOT NULL;
CREATE INDEX packets_by_sender ON packets (sender_id, created_at, id);
