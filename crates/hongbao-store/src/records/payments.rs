//! The tables of payments: packets with their pre-drawn shares and their claims, transfers and return
//! requests.

use hongbao_core::packet::{Audience, Packet, PacketKind, PacketStatus};
use hongbao_core::returns::{ReturnRequest, ReturnRequestStatus};
use hongbao_core::transfer::{Arrival, Transfer, TransferStatus};
use hongbao_core::{Amount, GroupId, PacketId, ReturnRequestId, Timestamp, TransferId, TxnNo, UserId};

use super::ColumnType::{Int, Text};
use super::{Cell, Fields, Query, Record, Row, Table, ok, owned_row, text};
use crate::{Claim, StoreResult, corrupt};

pub static PACKETS: Table = Table {
    name: "packets",
    columns: &[
        ("id", Text),
        ("kind", Text),
        ("sender_id", Text),
        ("group_id", Text),
        ("recipient_id", Text),
        ("greeting", Text),
        ("total_amount", Int),
        ("shares", Int),
        ("claimed_count", Int),
        ("claimed_amount", Int),
        ("status", Text),
        ("created_at", Int),
        ("expires_at", Int),
        ("finished_at", Int),
        ("refunded_amount", Int),
        ("send_txn_no", Text),
        ("refund_txn_no", Text),
        ("luckiest_user_id", Text),
    ],
    append_only: false,
};

pub fn packet_cells(packet: &Packet) -> [Cell<'_>; 18] {
    [
        Cell::text(packet.id.as_str()),
        Cell::text(packet.kind.as_str()),
        Cell::text(packet.sender_id.as_str()),
        Cell::opt_text(packet.audience.group_id().map(GroupId::as_str)),
        Cell::opt_text(packet.audience.recipient_id().map(UserId::as_str)),
        Cell::text(&packet.greeting),
        Cell::amount(packet.total_amount),
        Cell::Int(i64::from(packet.shares)),
        Cell::Int(i64::from(packet.claimed_count)),
        Cell::amount(packet.claimed_amount),
        Cell::text(packet.status.as_str()),
        Cell::time(packet.created_at),
        Cell::time(packet.expires_at),
        Cell::opt_time(packet.finished_at),
        Cell::amount(packet.refunded_amount),
        Cell::text(packet.send_txn_no.as_str()),
        Cell::opt_text(packet.refund_txn_no.as_ref().map(TxnNo::as_str)),
        Cell::opt_text(packet.luckiest_user_id.as_ref().map(UserId::as_str)),
    ]
}

impl Record for Packet {
    const TABLE: &'static Table = &PACKETS;

    fn to_row(&self) -> Row {
        owned_row(&packet_cells(self))
    }

    fn from_row(row: Row) -> StoreResult<Packet> {
        let mut fields = Fields::new(&PACKETS, row)?;
        let id = fields.parsed(|text| ok(PacketId::parse(text)))?;
        let kind = fields.parsed(PacketKind::parse)?;
        let sender_id = fields.parsed(|text| ok(UserId::parse(text)))?;
        let group_id = fields.opt_parsed(|text| ok(GroupId::parse(text)))?;
        let recipient_id = fields.opt_parsed(|text| ok(UserId::parse(text)))?;
        let audience = match (group_id, recipient_id) {
            (Some(group_id), None) => Audience::Group(group_id),
            (None, Some(recipient_id)) => Audience::User(recipient_id),
            (Some(group_id), Some(recipient_id)) => Audience::GroupMember { group_id, recipient_id },
            (None, None) => return Err(corrupt(format!("packet {id} has no audience"))),
        };
        let (greeting, total_amount) = (fields.text()?, fields.amount()?);
        let mut count = || -> StoreResult<u32> { u32::try_from(fields.int()?).map_err(corrupt) };
        let (shares, claimed_count) = (count()?, count()?);
        Ok(Packet {
            id,
            kind,
            sender_id,
            audience,
            greeting,
            total_amount,
            shares,
            claimed_count,
            claimed_amount: fields.amount()?,
            status: fields.parsed(PacketStatus::parse)?,
            created_at: fields.time()?,
            expires_at: fields.time()?,
            finished_at: fields.opt_time()?,
            refunded_amount: fields.amount()?,
            send_txn_no: fields.parsed(|text| ok(TxnNo::parse(text)))?,
            refund_txn_no: fields.opt_parsed(|text| ok(TxnNo::parse(text)))?,
            luckiest_user_id: fields.opt_parsed(|text| ok(UserId::parse(text)))?,
        })
    }
}

/// What claims, recalls and expiry change of a packet, by its id: every batch on a hot packet updates
/// this, so it is written alone rather than as the whole row.
pub static PACKET_PROGRESS: Table = Table {
    name: "packets",
    columns: &[
        ("id", Text),
        ("claimed_count", Int),
        ("claimed_amount", Int),
        ("status", Text),
        ("finished_at", Int),
        ("refunded_amount", Int),
        ("refund_txn_no", Text),
        ("luckiest_user_id", Text),
    ],
    append_only: false,
};

pub fn packet_progress_cells(packet: &Packet) -> [Cell<'_>; 8] {
    [
        Cell::text(packet.id.as_str()),
        Cell::Int(i64::from(packet.claimed_count)),
        Cell::amount(packet.claimed_amount),
        Cell::text(packet.status.as_str()),
        Cell::opt_time(packet.finished_at),
        Cell::amount(packet.refunded_amount),
        Cell::opt_text(packet.refund_txn_no.as_ref().map(TxnNo::as_str)),
        Cell::opt_text(packet.luckiest_user_id.as_ref().map(UserId::as_str)),
    ]
}

/// A packet's pre-drawn shares, in claim order.
pub static PACKET_SHARES: Table = Table { name: "packet_shares", columns: &[("packet_id", Text), ("idx", Int), ("amount", Int)], append_only: false };

pub fn share_cells(packet_id: &PacketId, index: usize, share: Amount) -> [Cell<'_>; 3] {
    [Cell::text(packet_id.as_str()), Cell::Int(index as i64), Cell::amount(share)]
}

/// A packet's shares in claim order.
pub fn shares_of(packet_id: &PacketId) -> Query {
    Query::all(&PACKET_SHARES, u32::MAX).equal("packet_id", text(packet_id)).ordered_by(&["idx"])
}

pub fn share_from_row(row: Row) -> StoreResult<Amount> {
    let mut fields = Fields::new(&PACKET_SHARES, row)?;
    fields.skip();
    fields.skip();
    fields.amount()
}

pub static PACKET_CLAIMS: Table = Table {
    name: "packet_claims",
    columns: &[("packet_id", Text), ("user_id", Text), ("idx", Int), ("amount", Int), ("txn_no", Text), ("claimed_at", Int)],
    append_only: false,
};

/// A claim's row: the packet, and the index of the share it took.
pub fn claim_cells<'a>(packet_id: &'a PacketId, index: u32, claim: &'a Claim) -> [Cell<'a>; 6] {
    [
        Cell::text(packet_id.as_str()),
        Cell::text(claim.user_id.as_str()),
        Cell::Int(i64::from(index)),
        Cell::amount(claim.amount),
        Cell::text(claim.txn_no.as_str()),
        Cell::time(claim.claimed_at),
    ]
}

/// A packet's claims in claim order.
pub fn claims_of(packet_id: &PacketId) -> Query {
    Query::all(&PACKET_CLAIMS, u32::MAX).equal("packet_id", text(packet_id)).ordered_by(&["idx"])
}

/// The columns [`claim_from_columns`] reads, in its order.
pub const CLAIM_COLUMNS: &str = "user_id, amount, claimed_at, txn_no";

/// A claim from its columns [`CLAIM_COLUMNS`], borrowed from the result row. The last claim of a
/// packet reads all its claims (to find the luckiest), which on a hot packet is every claim so far:
/// a backend reads these in place rather than as a row of owned values. Read as rows through
/// [`claim_from_row`], that read cost about a quarter more, some 2,000 instructions more per claim of
/// the write-path benchmark (callgrind, 20,000 claims); read in place, a claim costs less than before
/// the mapping moved here.
pub fn claim_from_columns(user_id: &str, amount: i64, claimed_at: i64, txn_no: &str) -> StoreResult<Claim> {
    Ok(Claim {
        user_id: UserId::parse(user_id).map_err(|_| corrupt(format!("packet_claims: user {user_id:?}")))?,
        amount: Amount::new(amount).map_err(|_| corrupt(format!("packet_claims: amount {amount}")))?,
        claimed_at: Timestamp::from_millis(claimed_at),
        txn_no: TxnNo::parse(txn_no).map_err(|_| corrupt(format!("packet_claims: transaction {txn_no:?}")))?,
    })
}

pub fn claim_from_row(row: Row) -> StoreResult<Claim> {
    let mut fields = Fields::new(&PACKET_CLAIMS, row)?;
    fields.skip();
    let user_id = fields.parsed(|text| ok(UserId::parse(text)))?;
    fields.skip();
    let amount = fields.amount()?;
    let txn_no = fields.parsed(|text| ok(TxnNo::parse(text)))?;
    Ok(Claim { user_id, amount, claimed_at: fields.time()?, txn_no })
}

pub static TRANSFERS: Table = Table {
    name: "transfers",
    columns: &[
        ("id", Text),
        ("sender_id", Text),
        ("recipient_id", Text),
        ("amount", Int),
        ("memo", Text),
        ("arrival", Text),
        ("status", Text),
        ("created_at", Int),
        ("arrives_at", Int),
        ("accept_by", Int),
        ("accepted_at", Int),
        ("settled_at", Int),
        ("finished_at", Int),
        // The transaction numbers of the transfer, comma-separated, in order.
        ("txn_nos", Text),
        // When the clock next has something to do, so that due transfers are one indexed range.
        ("due_at", Int),
    ],
    append_only: false,
};

impl Record for Transfer {
    const TABLE: &'static Table = &TRANSFERS;

    fn to_row(&self) -> Row {
        let txn_nos: Vec<&str> = self.txn_nos.iter().map(TxnNo::as_str).collect();
        owned_row(&[
            Cell::text(self.id.as_str()),
            Cell::text(self.sender_id.as_str()),
            Cell::text(self.recipient_id.as_str()),
            Cell::amount(self.amount),
            Cell::opt_text(self.memo.as_deref()),
            Cell::text(self.arrival.as_str()),
            Cell::text(self.status.as_str()),
            Cell::time(self.created_at),
            Cell::time(self.arrives_at),
            Cell::time(self.accept_by),
            Cell::opt_time(self.accepted_at),
            Cell::opt_time(self.settled_at),
            Cell::opt_time(self.finished_at),
            Cell::owned(txn_nos.join(",")),
            Cell::opt_time(self.next_deadline()),
        ])
    }

    fn from_row(row: Row) -> StoreResult<Transfer> {
        let mut fields = Fields::new(&TRANSFERS, row)?;
        let transfer = Transfer {
            id: fields.parsed(|text| ok(TransferId::parse(text)))?,
            sender_id: fields.parsed(|text| ok(UserId::parse(text)))?,
            recipient_id: fields.parsed(|text| ok(UserId::parse(text)))?,
            amount: fields.amount()?,
            memo: fields.opt_text()?,
            arrival: fields.parsed(Arrival::parse)?,
            status: fields.parsed(TransferStatus::parse)?,
            created_at: fields.time()?,
            arrives_at: fields.time()?,
            accept_by: fields.time()?,
            accepted_at: fields.opt_time()?,
            settled_at: fields.opt_time()?,
            finished_at: fields.opt_time()?,
            txn_nos: fields.list(|text| ok(TxnNo::parse(text)))?,
        };
        fields.skip();
        Ok(transfer)
    }
}

pub static RETURN_REQUESTS: Table = Table {
    name: "return_requests",
    columns: &[
        ("id", Text),
        ("txn_no", Text),
        ("requester_id", Text),
        ("recipient_id", Text),
        ("amount", Int),
        ("reason", Text),
        ("status", Text),
        ("created_at", Int),
        ("respond_by", Int),
        ("responded_at", Int),
        ("decline_reason", Text),
        ("return_txn_no", Text),
    ],
    append_only: false,
};

impl Record for ReturnRequest {
    const TABLE: &'static Table = &RETURN_REQUESTS;

    fn to_row(&self) -> Row {
        owned_row(&[
            Cell::text(self.id.as_str()),
            Cell::text(self.txn_no.as_str()),
            Cell::text(self.requester_id.as_str()),
            Cell::text(self.recipient_id.as_str()),
            Cell::amount(self.amount),
            Cell::text(&self.reason),
            Cell::text(self.status.as_str()),
            Cell::time(self.created_at),
            Cell::time(self.respond_by),
            Cell::opt_time(self.responded_at),
            Cell::opt_text(self.decline_reason.as_deref()),
            Cell::opt_text(self.return_txn_no.as_ref().map(TxnNo::as_str)),
        ])
    }

    fn from_row(row: Row) -> StoreResult<ReturnRequest> {
        let mut fields = Fields::new(&RETURN_REQUESTS, row)?;
        Ok(ReturnRequest {
            id: fields.parsed(|text| ok(ReturnRequestId::parse(text)))?,
            txn_no: fields.parsed(|text| ok(TxnNo::parse(text)))?,
            requester_id: fields.parsed(|text| ok(UserId::parse(text)))?,
            recipient_id: fields.parsed(|text| ok(UserId::parse(text)))?,
            amount: fields.amount()?,
            reason: fields.text()?,
            status: fields.parsed(ReturnRequestStatus::parse)?,
            created_at: fields.time()?,
            respond_by: fields.time()?,
            responded_at: fields.opt_time()?,
            decline_reason: fields.opt_text()?,
            return_txn_no: fields.opt_parsed(|text| ok(TxnNo::parse(text)))?,
        })
    }
}

/// Every request made about one original transaction, oldest first.
pub fn return_requests_for_txn(txn_no: &TxnNo) -> Query {
    Query::all(&RETURN_REQUESTS, u32::MAX).equal("txn_no", text(txn_no)).ordered_by(&["created_at", "id"])
}
