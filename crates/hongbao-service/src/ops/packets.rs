//! Red packets: sending (the money goes into the packet's escrow), claiming a pre-drawn share, recall
//! by the sender, and the refund of what is left at expiry.

use hongbao_core::events::EventKind;
use hongbao_core::packet::{self, AudienceFacts, Packet, PacketError, PacketSpec, PacketStatus};
use hongbao_core::risk::Outgoing;
use hongbao_core::risk::VelocityAction;
use hongbao_core::{Account, Amount, LedgerTxn, PacketId, Related, TxnKind, UserId};
use hongbao_store::Claim;

use crate::context::OpContext;
use crate::error::{Conflict, Denied, Resource, ServiceError, ServiceResult};
use crate::outcome::{Outcome, PacketView};

impl OpContext<'_, '_> {
    pub(crate) fn send_packet(&mut self, sender_id: &UserId, spec: &PacketSpec, greeting: Option<&str>, confirmation: Option<&str>) -> ServiceResult<Outcome> {
        let audience = spec.audience();
        let mut facts = AudienceFacts { group_member_count: None, sender_is_member: false, recipient_is_member: false };
        if let Some(group_id) = audience.group_id() {
            // A group the sender is not in is one they cannot see.
            if !self.batch.is_member(group_id, sender_id)? {
                return Err(ServiceError::NotFound(Resource::Group));
            }
            facts.sender_is_member = true;
            facts.group_member_count = Some(self.batch.member_count(group_id)?);
        }
        if let Some(recipient_id) = audience.recipient_id() {
            self.require_user(recipient_id)?;
            if let Some(group_id) = audience.group_id() {
                facts.recipient_is_member = self.batch.is_member(group_id, recipient_id)?;
            }
        }
        let plan = packet::plan_packet(spec, sender_id, greeting, facts, &self.config.limits, self.now, self.rng)?;
        self.require_available(sender_id, plan.total_amount)?;
        // A packet to one person carries the tag of that person; a group packet the group's.
        let tag_target = match (audience.recipient_id(), audience.group_id()) {
            (Some(recipient_id), _) if self.tag_of(sender_id, recipient_id.as_str())?.is_some() => Some(recipient_id.to_string()),
            (_, Some(group_id)) => Some(group_id.to_string()),
            (Some(recipient_id), None) => Some(recipient_id.to_string()),
            (None, None) => None,
        };
        let tag = match &tag_target {
            Some(target) => self.tag_of(sender_id, target)?,
            None => None,
        };
        self.check_limits(sender_id, Outgoing::Packet, plan.total_amount, tag.as_deref())?;
        let terms = format!("packet|{spec:?}|{greeting:?}");
        let total_amount = plan.total_amount;
        let greeting_shown = plan.greeting.clone();
        let summary = |context: &mut Self| context.summary_for(audience.recipient_id(), audience.group_id(), total_amount, Some(greeting_shown));
        if let Some(outcome) = self.confirm(sender_id, &terms, confirmation, summary, total_amount)? {
            return Ok(outcome);
        }
        let packet_id = PacketId::generate(self.now, self.rng);
        let txn_no = self.new_txn_no();
        let related = Related { packet_id: Some(packet_id.clone()), ..Related::default() };
        let txn = LedgerTxn::transfer_between(
            txn_no.clone(),
            TxnKind::PacketSend,
            self.now,
            plan.total_amount,
            Account::Wallet(sender_id.clone()),
            Account::PacketEscrow(packet_id.clone()),
            related,
        );
        self.post(txn, &[sender_id])?;
        let packet = Packet {
            id: packet_id,
            kind: plan.kind,
            sender_id: sender_id.clone(),
            audience: plan.audience,
            greeting: plan.greeting,
            total_amount: plan.total_amount,
            shares: plan.shares.len() as u32,
            claimed_count: 0,
            claimed_amount: Amount::ZERO,
            status: PacketStatus::Open,
            created_at: self.now,
            expires_at: plan.expires_at,
            finished_at: None,
            refunded_amount: Amount::ZERO,
            send_txn_no: txn_no,
            refund_txn_no: None,
            luckiest_user_id: None,
        };
        self.batch.insert_packet(packet.clone(), plan.shares);
        self.effects.packets_sent += 1;
        self.record_outgoing(sender_id, Outgoing::Packet, packet.total_amount, tag.as_deref(), packet.id.as_str())?;
        let data = vec![("kind", packet.kind.as_str().to_owned()), ("total_amount", packet.total_amount.minor_units().to_string())];
        self.notify(sender_id, EventKind::PacketSent, packet.id.as_str(), data.clone())?;
        let mut data = data;
        data.push(("sender_id", sender_id.to_string()));
        if let Some(recipient_id) = packet.audience.recipient_id() {
            self.notify(&recipient_id.clone(), EventKind::PacketReceived, packet.id.as_str(), data.clone())?;
        }
        // Every member of the group hears of a packet sent to it, so that their chat shows it at once.
        if let Some(group_id) = packet.audience.group_id() {
            let group_id = group_id.clone();
            data.push(("group_id", group_id.to_string()));
            let members = self.batch.group(&group_id)?.map(|group| group.member_ids).unwrap_or_default();
            for member in members.iter().filter(|member| *member != sender_id && packet.audience.recipient_id() != Some(*member)) {
                self.notify(member, EventKind::PacketReceived, packet.id.as_str(), data.clone())?;
            }
        }
        Ok(Outcome::Packet(PacketView { packet, claims: Vec::new() }))
    }

    pub(crate) fn is_audience_member(&mut self, packet: &Packet, user_id: &UserId) -> ServiceResult<bool> {
        match packet.audience.group_id() {
            Some(group_id) => Ok(self.batch.is_member(group_id, user_id)?),
            None => Ok(false),
        }
    }

    pub(crate) fn claim(&mut self, packet_id: &PacketId, user_id: &UserId) -> ServiceResult<Outcome> {
        let mut packet = self.batch.packet(packet_id)?.ok_or(ServiceError::NotFound(Resource::Packet))?;
        let is_member = self.is_audience_member(&packet, user_id)?;
        let already_claimed = self.batch.has_claimed(packet_id, user_id)?;
        let checked_at = self.now;
        // PLANTED BUG (b), with the `planted-bugs` feature only: the expiry time is not checked.
        #[cfg(feature = "planted-bugs")]
        let checked_at = crate::planted::claim_checked_at(&self.config.planted_bugs, &packet, checked_at);
        packet.check_claim(user_id, is_member, already_claimed, checked_at).map_err(ServiceError::Packet)?;
        let index = packet.claimed_count;
        let amount = self.batch.share(packet_id, index)?;
        let txn_no = self.new_txn_no();
        let related = Related { packet_id: Some(packet_id.clone()), ..Related::default() };
        let txn = LedgerTxn::transfer_between(
            txn_no.clone(),
            TxnKind::PacketClaim,
            self.now,
            amount,
            Account::PacketEscrow(packet_id.clone()),
            Account::Wallet(user_id.clone()),
            related,
        );
        let sender_id = packet.sender_id.clone();
        self.post(txn, &[user_id, &sender_id])?;
        let claim = Claim { user_id: user_id.clone(), amount, claimed_at: self.now, txn_no };
        self.batch.insert_claim(packet_id, index, claim.clone());
        let data = vec![("amount", amount.minor_units().to_string()), ("txn_no", claim.txn_no.to_string())];
        self.notify(user_id, EventKind::PacketClaimed, packet_id.as_str(), data)?;
        if packet.record_claim(amount, self.now) {
            let claims = self.batch.claims(packet_id)?;
            packet.luckiest_user_id = packet::luckiest(claims.iter().map(|claim| (&claim.user_id, claim.amount))).cloned();
            let mut data = vec![("claimed_amount", packet.claimed_amount.minor_units().to_string())];
            if let Some(luckiest) = &packet.luckiest_user_id {
                data.push(("luckiest_user_id", luckiest.to_string()));
            }
            // Everyone who opened a group's packet learns who was luckiest, as the sender does.
            if packet.audience.group_id().is_some() {
                for claimer in claims.iter().map(|claim| &claim.user_id).filter(|claimer| **claimer != sender_id) {
                    self.notify(claimer, EventKind::PacketExhausted, packet_id.as_str(), data.clone())?;
                }
            }
            self.notify(&sender_id, EventKind::PacketExhausted, packet_id.as_str(), data)?;
        }
        self.batch.update_packet(packet);
        self.effects.packets_claimed += 1;
        Ok(Outcome::Claimed { packet_id: packet_id.clone(), claim })
    }

    pub(crate) fn recall(&mut self, packet_id: &PacketId, user_id: &UserId) -> ServiceResult<Outcome> {
        let packet = self.batch.packet(packet_id)?.ok_or(ServiceError::NotFound(Resource::Packet))?;
        let is_member = self.is_audience_member(&packet, user_id)?;
        if !packet.visible_to(user_id, is_member) {
            return Err(ServiceError::NotFound(Resource::Packet));
        }
        let refund = match packet.recall(user_id, self.now) {
            Ok(refund) => refund,
            Err(PacketError::NotSender) => return Err(Denied::NotSender.into()),
            Err(error) => return Err(Conflict::NotRecallable(error).into()),
        };
        let packet = self.refund(packet, refund)?;
        self.record_velocity(user_id, VelocityAction::Recall)?;
        let claims = self.batch.claims(&packet.id)?;
        Ok(Outcome::Packet(PacketView { packet, claims }))
    }

    pub(crate) fn expire(&mut self, packet_id: &PacketId) -> ServiceResult<Outcome> {
        let Some(packet) = self.batch.packet(packet_id)? else { return Ok(Outcome::Nothing) };
        match packet.expire(self.now) {
            Ok(refund) => Ok(Outcome::Expired(self.refund(packet, refund)?)),
            Err(_) => Ok(Outcome::Nothing),
        }
    }
}
