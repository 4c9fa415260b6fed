-- An external reference names one movement of money through the platform's funding or payout
-- account: a retried bank callback finds the top-up or withdrawal its reference already made.
CREATE INDEX journal_references ON journal (kind, reference) WHERE reference IS NOT NULL;
