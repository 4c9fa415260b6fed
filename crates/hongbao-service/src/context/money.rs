//! How money of a payment reaches its recipients and comes back: the legs of a payment that
//! corrections name, what is left of one to give back, moving a transfer's hold, and refunding a
//! packet's escrow. Shared by the features that move money back (packets, transfers, returns, cases).

use hongbao_core::events::EventKind;
use hongbao_core::packet::{Packet, Refund};
use hongbao_core::transfer::{HoldRelease, Transfer, TransferStatus};
use hongbao_core::{Account, Amount, LedgerTxn, Related, TxnKind, TxnNo, UserId};
use hongbao_store::JournalEntry;

use crate::context::OpContext;
use crate::error::ServiceResult;

/// One way the money of a payment reached a recipient: who paid whom how much, and the transaction
/// that brought it (a claim or a settlement), which every correction of it names. Returns, case
/// refunds and reversals together never move back more than `amount`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentLeg {
    pub payer: UserId,
    pub recipient: UserId,
    pub amount: Amount,
    pub txn_no: TxnNo,
}

impl OpContext<'_, '_> {
    /// The ways the money of a payment reached its recipients: for a claim or a settlement, itself; for
    /// a packet sent, each claim of it; for a transfer sent, its settlement once settled. Money still
    /// in an escrow or a hold reached nobody yet, and other transactions are no payment.
    pub(crate) fn payment_legs(&mut self, entry: &JournalEntry) -> ServiceResult<Vec<PaymentLeg>> {
        let related = entry.txn.related();
        match entry.txn.kind() {
            TxnKind::PacketClaim | TxnKind::TransferSettle => {
                let Some((payer, recipient)) = self.payer_and_recipient(entry)? else { return Ok(Vec::new()) };
                Ok(vec![PaymentLeg { payer, recipient, amount: entry.txn.amount(), txn_no: entry.txn.txn_no().clone() }])
            }
            TxnKind::PacketSend => {
                let packet_id = related.packet_id.as_ref().ok_or_else(|| hongbao_store::corrupt("a packet send without its packet"))?;
                let packet = self.batch.packet(packet_id)?.ok_or_else(|| hongbao_store::corrupt(format!("a send of missing packet {packet_id}")))?;
                let claims = self.batch.claims(packet_id)?;
                Ok(claims
                    .into_iter()
                    .map(|claim| PaymentLeg { payer: packet.sender_id.clone(), recipient: claim.user_id, amount: claim.amount, txn_no: claim.txn_no })
                    .collect())
            }
            TxnKind::TransferSend => {
                let transfer_id = related.transfer_id.as_ref().ok_or_else(|| hongbao_store::corrupt("a transfer send without its transfer"))?;
                let transfer = self.batch.transfer(transfer_id)?.ok_or_else(|| hongbao_store::corrupt(format!("a send of missing transfer {transfer_id}")))?;
                match (transfer.status, transfer.txn_nos.get(1)) {
                    (TransferStatus::Settled, Some(settlement)) => Ok(vec![PaymentLeg {
                        payer: transfer.sender_id,
                        recipient: transfer.recipient_id,
                        amount: transfer.amount,
                        txn_no: settlement.clone(),
                    }]),
                    _ => Ok(Vec::new()),
                }
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The payer and the recipient of a settled claim or transfer; `None` for other transactions.
    pub(crate) fn payer_and_recipient(&mut self, entry: &JournalEntry) -> ServiceResult<Option<(UserId, UserId)>> {
        let related = entry.txn.related();
        match entry.txn.kind() {
            TxnKind::PacketClaim => {
                let packet_id = related.packet_id.as_ref().ok_or_else(|| hongbao_store::corrupt("a claim without its packet"))?;
                let packet = self.batch.packet(packet_id)?.ok_or_else(|| hongbao_store::corrupt(format!("claim of missing packet {packet_id}")))?;
                let claimer = entry
                    .txn
                    .postings()
                    .iter()
                    .find_map(|posting| match &posting.account {
                        Account::Wallet(user) if posting.amount > 0 => Some(user.clone()),
                        _ => None,
                    })
                    .ok_or_else(|| hongbao_store::corrupt("a claim that credits no wallet"))?;
                Ok(Some((packet.sender_id, claimer)))
            }
            TxnKind::TransferSettle => {
                let transfer_id = related.transfer_id.as_ref().ok_or_else(|| hongbao_store::corrupt("a settlement without its transfer"))?;
                let transfer =
                    self.batch.transfer(transfer_id)?.ok_or_else(|| hongbao_store::corrupt(format!("settlement of missing transfer {transfer_id}")))?;
                Ok(Some((transfer.sender_id, transfer.recipient_id)))
            }
            _ => Ok(None),
        }
    }

    /// How much of a settled transaction is still in its recipient's hands: its amount less what the
    /// journal's corrections of it (returns, case refunds, reversals) have moved back.
    pub(crate) fn uncorrected(&mut self, entry: &JournalEntry) -> ServiceResult<Amount> {
        let corrected = self.batch.corrected_amount(entry.txn.txn_no())?;
        let left = Amount::new((entry.txn.amount().minor_units() - corrected).max(0)).unwrap_or(Amount::ZERO);
        // PLANTED BUG (a), with the `planted-bugs` feature only: forgets the corrections.
        #[cfg(feature = "planted-bugs")]
        let left = crate::planted::uncorrected(&self.config.planted_bugs, entry.txn.amount(), left);
        Ok(left)
    }

    /// Moves the hold's money where the transfer's step sent it, recording the transaction number.
    pub(crate) fn release_hold(&mut self, transfer: &mut Transfer, release: HoldRelease) -> ServiceResult<()> {
        let (kind, to) = match release {
            HoldRelease::Keep => return Ok(()),
            HoldRelease::Settle => (TxnKind::TransferSettle, transfer.recipient_id.clone()),
            HoldRelease::Refund => (TxnKind::TransferRefund, transfer.sender_id.clone()),
        };
        let txn_no = self.new_txn_no();
        let related = Related { transfer_id: Some(transfer.id.clone()), ..Related::default() };
        let txn = LedgerTxn::transfer_between(
            txn_no.clone(),
            kind,
            self.now,
            transfer.amount,
            Account::TransferHold(transfer.id.clone()),
            Account::Wallet(to),
            related,
        )
        .with_memo(transfer.memo.clone());
        let (sender_id, recipient_id) = (transfer.sender_id.clone(), transfer.recipient_id.clone());
        self.post(txn, &[&sender_id, &recipient_id])?;
        transfer.txn_nos.push(txn_no);
        Ok(())
    }

    /// Moves a finishing packet's remainder back to its sender and records it.
    pub(crate) fn refund(&mut self, mut packet: Packet, refund: Refund) -> ServiceResult<Packet> {
        let refund_txn_no = if refund.amount.is_zero() {
            None
        } else {
            let txn_no = self.new_txn_no();
            let related = Related { packet_id: Some(packet.id.clone()), ..Related::default() };
            let txn = LedgerTxn::transfer_between(
                txn_no.clone(),
                TxnKind::PacketRefund,
                self.now,
                refund.amount,
                Account::PacketEscrow(packet.id.clone()),
                Account::Wallet(packet.sender_id.clone()),
                related,
            );
            let sender_id = packet.sender_id.clone();
            self.post(txn, &[&sender_id])?;
            Some(txn_no)
        };
        packet.record_refund(&refund, refund_txn_no, self.now);
        self.batch.update_packet(packet.clone());
        self.effects.packets_refunded += 1;
        let data = vec![("status", packet.status.as_str().to_owned()), ("refunded_amount", packet.refunded_amount.minor_units().to_string())];
        self.notify(&packet.sender_id.clone(), EventKind::PacketRefunded, packet.id.as_str(), data)?;
        Ok(packet)
    }

    /// Tells both parties of a transfer's new state.
    pub(crate) fn notify_transfer(&mut self, transfer: &Transfer) -> ServiceResult<()> {
        let kind = match transfer.status {
            TransferStatus::Pending => EventKind::TransferCreated,
            TransferStatus::Accepted => EventKind::TransferAccepted,
            TransferStatus::Settled => EventKind::TransferSettled,
            TransferStatus::Returned => EventKind::TransferReturned,
            TransferStatus::Cancelled => EventKind::TransferCancelled,
            TransferStatus::Expired => EventKind::TransferExpired,
        };
        let data = vec![
            ("amount", transfer.amount.minor_units().to_string()),
            ("sender_id", transfer.sender_id.to_string()),
            ("recipient_id", transfer.recipient_id.to_string()),
            ("status", transfer.status.as_str().to_owned()),
        ];
        self.notify(&transfer.sender_id, kind, transfer.id.as_str(), data.clone())?;
        self.notify(&transfer.recipient_id, kind, transfer.id.as_str(), data)
    }
}
