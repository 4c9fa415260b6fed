//! Plain-language reports of what a verification showed, for people who are not engineers: a court
//! clerk, a mediator, a police officer, the user.

use std::fmt::Write as _;

use hongbao_core::{Account, TxnKind};

use crate::checkpoint::VerifiedCheckpoint;
use crate::consistency::VerifiedConsistency;
use crate::receipt::VerifiedReceipt;
use crate::text::grouped;

/// What a kind of transaction is, in words.
pub fn describe_kind(kind: TxnKind) -> &'static str {
    match kind {
        TxnKind::TopUp => "top-up: money put into a wallet",
        TxnKind::Withdrawal => "withdrawal: money taken out of a wallet",
        TxnKind::PacketSend => "red packet sent",
        TxnKind::PacketClaim => "red packet claimed",
        TxnKind::PacketRefund => "red packet refunded to its sender",
        TxnKind::TransferSend => "transfer sent",
        TxnKind::TransferSettle => "transfer paid to its recipient",
        TxnKind::TransferRefund => "transfer returned to its sender",
        TxnKind::Return => "money returned on the payer's request",
        TxnKind::CaseRefund => "refund decided in a complaint case",
        TxnKind::Reversal => "reversal of a settled transaction",
    }
}

/// Who an account is, in words.
pub fn describe_account(account: &Account) -> String {
    match account {
        Account::Wallet(user_id) => format!("the wallet of user {user_id}"),
        Account::PacketEscrow(packet_id) => format!("the escrow of red packet {packet_id}"),
        Account::TransferHold(transfer_id) => format!("the hold of transfer {transfer_id}"),
        Account::Funding => "the platform's funding account".to_owned(),
        Account::Payout => "the platform's payout account".to_owned(),
    }
}

/// `minor_units` (fen) as decimal yuan with its currency code, e.g. `12.34 CNY`; the sign is left out.
fn money(minor_units: i64, currency: &str) -> String {
    let units = minor_units.unsigned_abs();
    format!("{}.{:02} {currency}", grouped(units / 100), units % 100)
}

fn checkpoint_line(checkpoint: &VerifiedCheckpoint) -> String {
    let checkpoint = checkpoint.checkpoint();
    format!("{} entries, root hash {}", grouped(checkpoint.size()), checkpoint.root().to_base64())
}

impl VerifiedReceipt {
    /// What the receipt shows and what was checked, in words, amounts in decimal units of `currency` (an
    /// ISO 4217 code such as `CNY`; the ledger keeps integer minor units, 1/100 of the unit).
    pub fn report(&self, currency: &str) -> String {
        let txn = &self.txn;
        let checkpoint = self.checkpoint.checkpoint();
        let key = format!("{}+{}", self.checkpoint.signer_name(), self.checkpoint.signer_id());
        let mut out = String::new();
        let _ = writeln!(out, "RECEIPT VERIFIED");
        let _ = writeln!(out);
        let _ = writeln!(out, "Transaction {}", txn.txn_no());
        let _ = writeln!(out, "  What:       {} ({})", describe_kind(txn.kind()), txn.kind().as_str());
        let _ = writeln!(out, "  Amount:     {}", money(txn.amount().minor_units(), currency));
        let _ = writeln!(out, "  Time:       {} (UTC)", txn.created_at().to_rfc3339());
        for (position, posting) in txn.postings().iter().enumerate() {
            let label = if position == 0 { "  Parties:    " } else { "              " };
            let verb = if posting.amount < 0 { "paid" } else { "received" };
            let _ = writeln!(out, "{label}{} {verb} {}", describe_account(&posting.account), money(posting.amount, currency));
        }
        let related = txn.related();
        if let Some(packet_id) = &related.packet_id {
            let _ = writeln!(out, "  Red packet: {packet_id}");
        }
        if let Some(transfer_id) = &related.transfer_id {
            let _ = writeln!(out, "  Transfer:   {transfer_id}");
        }
        if let Some(corrected) = &related.corrects_txn_no {
            let _ = writeln!(out, "  Corrects:   transaction {corrected}");
        }
        if let Some(request_id) = &related.return_request_id {
            let _ = writeln!(out, "  Request:    return request {request_id}");
        }
        if let Some(memo) = txn.memo() {
            let _ = writeln!(out, "  Memo:       {memo:?}");
        }
        if let Some(reference) = txn.reference() {
            let _ = writeln!(out, "  Reference:  {reference:?}");
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "Where it is recorded");
        let _ = writeln!(out, "  Position:   entry {} of {} in the log", grouped(self.seq), grouped(checkpoint.size()));
        let _ = writeln!(out, "  Log:        {}", checkpoint.origin());
        let _ = writeln!(out, "  Checkpoint: {}", checkpoint_line(&self.checkpoint));
        let _ = writeln!(out, "  Signed by:  key {}, key id {}", self.checkpoint.signer_name(), self.checkpoint.signer_id());
        let _ = writeln!(out);
        let _ = writeln!(out, "What was checked");
        let _ = writeln!(
            out,
            "  1. The checkpoint carries a valid Ed25519 signature by the key {key}, the operator's public key given for this check, and it is for the log {}.",
            checkpoint.origin()
        );
        let _ = writeln!(out, "  2. The entry is entry {} of the log, the position the receipt states.", grouped(self.seq));
        let _ = writeln!(
            out,
            "  3. From the entry's SHA-256 leaf hash {}, the {} hashes of the inclusion proof lead to the checkpoint's root hash (RFC 9162, section 2.1.3.2). Had any byte of the entry been changed since it was logged (the amount, a party, the time), they would not.",
            self.leaf_hash.to_hex(),
            self.proof_len
        );
        let _ = writeln!(out, "  4. The entry's postings sum to zero: every amount paid was received.");
        out
    }
}

impl VerifiedConsistency {
    /// What the consistency check shows and what was checked, in words.
    pub fn report(&self) -> String {
        let old = self.old.checkpoint();
        let mut out = String::new();
        let _ = writeln!(out, "CONSISTENCY VERIFIED");
        let _ = writeln!(out);
        let _ = writeln!(out, "  Log:              {}", old.origin());
        let _ = writeln!(out, "  Kept checkpoint:  {}", checkpoint_line(&self.old));
        let _ = writeln!(out, "  Newer checkpoint: {}", checkpoint_line(&self.new));
        let _ = writeln!(out, "  Signed by:        key {}, key id {}", self.new.signer_name(), self.new.signer_id());
        let _ = writeln!(out);
        let _ = writeln!(out, "What was checked");
        let _ = writeln!(
            out,
            "  1. Both checkpoints carry valid Ed25519 signatures by the key {}+{}, and both are for the log {}.",
            self.new.signer_name(),
            self.new.signer_id(),
            old.origin()
        );
        let _ = writeln!(out, "  2. The newer checkpoint holds at least as many entries as the kept one.");
        let _ = writeln!(
            out,
            "  3. The {} hashes of the consistency proof reproduce the kept checkpoint's root hash and lead to the newer one's (RFC 9162, section 2.1.4.2): the first {} entries are unchanged and in the same order, and the log has only added entries after them.",
            self.proof_len,
            grouped(old.size())
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_decimal_yuan_without_sign() {
        assert_eq!(money(12_34, "CNY"), "12.34 CNY");
        assert_eq!(money(-5, "CNY"), "0.05 CNY");
        assert_eq!(money(1_234_567_00, "CNY"), "1,234,567.00 CNY");
        assert_eq!(money(i64::MIN, "CNY"), "92,233,720,368,547,758.08 CNY");
    }
}
