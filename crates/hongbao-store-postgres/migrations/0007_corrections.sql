-- Returns, case refunds and reversals name the transaction they correct; what is left of a payment
-- to give back is its amount less their sum.
CREATE INDEX journal_corrections ON journal (corrects_txn_no) WHERE corrects_txn_no IS NOT NULL;
