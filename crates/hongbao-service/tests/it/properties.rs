//! Property tests guarding the money: random sequences of operations, including refused ones, never
//! take a wallet below zero, always keep all accounts summing to zero, keep the hash chain intact, and
//! count each packet's money exactly once (claimed + refunded + in escrow = total), empty every
//! transfer's hold exactly once, and never return more than was paid.

use std::sync::Arc;

use hongbao_core::packet::PacketSpec;
use hongbao_core::returns::ReturnRequestStatus;
use hongbao_core::transfer::{Arrival, Transfer, TransferStatus};
use hongbao_core::{Account, Amount, GroupId, PacketId, PacketStatus, ReturnRequestId, Timestamp, TransferId, TxnNo, UserId};
use hongbao_service::{Config, ManualClock, Op, Outcome, Service};
use hongbao_testkit::TestDatabase;
use proptest::prelude::*;
use proptest::sample::Index;

const USERS: usize = 4;

#[derive(Clone, Debug)]
enum Step {
    TopUp {
        user: usize,
        amount: i64,
    },
    Withdraw {
        user: usize,
        amount: i64,
    },
    Lucky {
        sender: usize,
        total: i64,
        shares: u32,
    },
    Normal {
        sender: usize,
        per_share: i64,
        shares: u32,
    },
    OneToOne {
        sender: usize,
        recipient: usize,
        amount: i64,
        timed: bool,
    },
    Claim {
        packet: Index,
        user: usize,
    },
    Recall {
        packet: Index,
        user: usize,
    },
    Advance {
        seconds: i64,
    },
    Expire,
    Transfer {
        sender: usize,
        recipient: usize,
        amount: i64,
        arrival: usize,
    },
    MoveTransfer {
        transfer: Index,
        user: usize,
        step: usize,
    },
    /// Asks back a paid claim or transfer, as its payer or (to be refused) as someone else.
    AskBack {
        txn: Index,
        as_payer: bool,
        user: usize,
        amount: Option<i64>,
    },
    /// Answers a request, as its recipient or (to be refused) as someone else.
    Answer {
        request: Index,
        as_recipient: bool,
        user: usize,
        accept: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let user = 0..USERS;
    prop_oneof![
        2 => (user.clone(), 1i64..50_000).prop_map(|(user, amount)| Step::TopUp { user, amount }),
        2 => (user.clone(), 1i64..30_000).prop_map(|(user, amount)| Step::Withdraw { user, amount }),
        2 => (user.clone(), 1i64..40_000, 1u32..=5).prop_map(|(sender, total, shares)| Step::Lucky { sender, total, shares }),
        2 => (user.clone(), 1i64..25_000, 1u32..=5).prop_map(|(sender, per_share, shares)| Step::Normal { sender, per_share, shares }),
        2 => (user.clone(), user.clone(), 1i64..25_000, any::<bool>()).prop_map(|(sender, recipient, amount, timed)| Step::OneToOne {
            sender,
            recipient,
            amount,
            timed
        }),
        6 => (any::<Index>(), user.clone()).prop_map(|(packet, user)| Step::Claim { packet, user }),
        2 => (any::<Index>(), user.clone()).prop_map(|(packet, user)| Step::Recall { packet, user }),
        1 => (1i64..20_000).prop_map(|seconds| Step::Advance { seconds }),
        2 => Just(Step::Expire),
        2 => (user.clone(), user.clone(), 1i64..30_000, 0usize..3).prop_map(|(sender, recipient, amount, arrival)| Step::Transfer { sender, recipient, amount, arrival }),
        5 => (any::<Index>(), user.clone(), 0usize..3).prop_map(|(transfer, user, step)| Step::MoveTransfer { transfer, user, step }),
        4 => (any::<Index>(), proptest::bool::weighted(0.8), user.clone(), proptest::option::of(1i64..20_000))
            .prop_map(|(txn, as_payer, user, amount)| Step::AskBack { txn, as_payer, user, amount }),
        4 => (any::<Index>(), proptest::bool::weighted(0.8), user, any::<bool>()).prop_map(|(request, as_recipient, user, accept)| Step::Answer { request, as_recipient, user, accept }),
    ]
}

struct World {
    service: Service,
    clock: ManualClock,
    users: Vec<UserId>,
    group: GroupId,
    packets: Vec<PacketId>,
    transfers: Vec<TransferId>,
    /// Senders of the packets sent so far.
    packet_senders: Vec<(PacketId, UserId)>,
    /// Settled claims and transfers that may be asked back, with their payers.
    paid: Vec<(TxnNo, UserId)>,
    /// Return requests with the users asked to answer them.
    requests: Vec<(ReturnRequestId, UserId)>,
    _database: TestDatabase,
}

async fn world() -> World {
    let database = TestDatabase::new();
    let store = database.store();
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let config = Config { admin_token: Some("admin".into()), evidence_dir: database.evidence_dir(), ..Config::default() };
    let service = Service::start(store.clone(), config, Arc::new(clock.clone())).expect("start").service;
    let mut users = Vec::new();
    for index in 0..USERS {
        match service.execute(Op::CreateUser { name: format!("user{index}") }).await.expect("create user") {
            Outcome::UserCreated { user, .. } => users.push(user.id),
            other => panic!("unexpected {other:?}"),
        }
    }
    for user_id in &users {
        service.execute(Op::TopUp { user_id: user_id.clone(), amount: amount(1_000_00), reference: "start".into() }).await.expect("top up");
    }
    let Outcome::Group(group) =
        service.execute(Op::CreateGroup { owner_id: users[0].clone(), name: "g".into(), member_ids: users.clone() }).await.expect("group")
    else {
        panic!("not a group")
    };
    World {
        service,
        clock,
        users,
        group: group.id,
        packets: Vec::new(),
        transfers: Vec::new(),
        packet_senders: Vec::new(),
        paid: Vec::new(),
        requests: Vec::new(),
        _database: database,
    }
}

fn amount(units: i64) -> Amount {
    Amount::new(units).expect("valid")
}

async fn apply(world: &mut World, step: &Step) {
    let users = &world.users;
    let op = match step {
        Step::TopUp { user, amount: units } => Op::TopUp { user_id: users[*user].clone(), amount: amount(*units), reference: "prop".into() },
        Step::Withdraw { user, amount: units } => Op::Withdraw { user_id: users[*user].clone(), amount: amount(*units), reference: None },
        Step::Lucky { sender, total, shares } => Op::SendPacket {
            sender_id: users[*sender].clone(),
            spec: PacketSpec::Lucky { group_id: world.group.clone(), total_amount: amount(*total), shares: *shares },
            greeting: None,
            confirmation: None,
        },
        Step::Normal { sender, per_share, shares } => Op::SendPacket {
            sender_id: users[*sender].clone(),
            spec: PacketSpec::NormalToGroup { group_id: world.group.clone(), amount_per_share: amount(*per_share), shares: *shares },
            greeting: None,
            confirmation: None,
        },
        Step::OneToOne { sender, recipient, amount: units, timed } => {
            let recipient_id = users[*recipient].clone();
            let spec = if *timed {
                PacketSpec::TimedToUser { recipient_id, total_amount: amount(*units), expires_in_seconds: Some(30) }
            } else {
                PacketSpec::NormalToUser { recipient_id, amount_per_share: amount(*units) }
            };
            Op::SendPacket { sender_id: users[*sender].clone(), spec, greeting: None, confirmation: None }
        }
        Step::Claim { packet, user } | Step::Recall { packet, user } => {
            if world.packets.is_empty() {
                return;
            }
            let packet_id = world.packets[packet.index(world.packets.len())].clone();
            let user_id = users[*user].clone();
            if matches!(step, Step::Claim { .. }) { Op::Claim { packet_id, user_id } } else { Op::Recall { packet_id, user_id } }
        }
        Step::Advance { seconds } => {
            world.clock.advance_seconds(*seconds);
            return;
        }
        Step::Expire => {
            world.service.run_due_timers().await.expect("expiry runs");
            return;
        }
        Step::Transfer { sender, recipient, amount: units, arrival } => Op::SendTransfer {
            sender_id: users[*sender].clone(),
            recipient_id: users[*recipient].clone(),
            amount: amount(*units),
            memo: None,
            arrival: [Arrival::Instant, Arrival::Delay2h, Arrival::Delay24h][*arrival],
            confirmation: None,
        },
        Step::MoveTransfer { transfer, user, step } => {
            if world.transfers.is_empty() {
                return;
            }
            let transfer_id = world.transfers[transfer.index(world.transfers.len())].clone();
            let user_id = users[*user].clone();
            match step {
                0 => Op::AcceptTransfer { transfer_id, user_id },
                1 => Op::ReturnTransfer { transfer_id, user_id },
                _ => Op::CancelTransfer { transfer_id, user_id },
            }
        }
        Step::AskBack { txn, as_payer, user, amount: units } => {
            if world.paid.is_empty() {
                return;
            }
            let (txn_no, payer) = world.paid[txn.index(world.paid.len())].clone();
            let requester_id = if *as_payer { payer } else { users[*user].clone() };
            Op::CreateReturnRequest { requester_id, txn_no, amount: units.map(amount), reason: "prop".into(), respond_within_seconds: Some(3_600) }
        }
        Step::Answer { request, as_recipient, user, accept } => {
            if world.requests.is_empty() {
                return;
            }
            let (request_id, recipient) = world.requests[request.index(world.requests.len())].clone();
            let user_id = if *as_recipient { recipient } else { users[*user].clone() };
            if *accept { Op::AcceptReturnRequest { request_id, user_id } } else { Op::DeclineReturnRequest { request_id, user_id, reason: None } }
        }
    };
    // Refusals are expected (insufficient funds, wrong state, ...); they must change nothing, which the
    // invariants below check after every step.
    match world.service.execute(op).await {
        Ok(Outcome::Packet(view)) if view.packet.status == PacketStatus::Open && !world.packets.contains(&view.packet.id) => {
            world.packet_senders.push((view.packet.id.clone(), view.packet.sender_id.clone()));
            world.packets.push(view.packet.id);
        }
        Ok(Outcome::Claimed { packet_id, claim }) => {
            let sender = world.packet_senders.iter().find(|(id, _)| id == &packet_id).map(|(_, sender)| sender.clone()).expect("a known packet");
            world.paid.push((claim.txn_no, sender));
        }
        Ok(Outcome::Transfer(transfer)) => {
            if transfer.status == TransferStatus::Settled && transfer.txn_nos.len() == 2 && !world.paid.iter().any(|(txn, _)| txn == &transfer.txn_nos[1]) {
                world.paid.push((transfer.txn_nos[1].clone(), transfer.sender_id.clone()));
            }
            if !world.transfers.contains(&transfer.id) {
                world.transfers.push(transfer.id);
            }
        }
        Ok(Outcome::ReturnRequest(request)) if !world.requests.iter().any(|(id, _)| id == &request.id) => {
            world.requests.push((request.id, request.recipient_id))
        }
        _ => {}
    }
}

/// What the invariants look at, read in one go on the service's read pool.
struct Snapshot {
    report: hongbao_service::verify::VerifyReport,
    wallets: Vec<i64>,
    packets: Vec<(hongbao_core::packet::Packet, i64, Vec<hongbao_store::Claim>)>,
    transfers: Vec<(Transfer, i64)>,
    returned: Vec<(TxnNo, i64, i64)>,
}

async fn snapshot(world: &World) -> Snapshot {
    let users = world.users.clone();
    let packet_ids = world.packets.clone();
    let transfer_ids = world.transfers.clone();
    let paid: Vec<TxnNo> = world.paid.iter().map(|(txn_no, _)| txn_no.clone()).collect();
    world
        .service
        .read(move |conn| {
            let report = hongbao_service::verify::verify(conn)?;
            let wallets = users.iter().map(|user| conn.balance(&Account::Wallet(user.clone()))).collect::<Result<_, _>>()?;
            let mut packets = Vec::new();
            for packet_id in &packet_ids {
                let packet = conn.packet(packet_id)?.expect("a sent packet exists");
                let escrow = conn.balance(&Account::PacketEscrow(packet_id.clone()))?;
                packets.push((packet, escrow, conn.claims(packet_id)?));
            }
            let mut transfers = Vec::new();
            for transfer_id in &transfer_ids {
                let transfer = conn.transfer(transfer_id)?.expect("a sent transfer exists");
                transfers.push((transfer, conn.balance(&Account::TransferHold(transfer_id.clone()))?));
            }
            let mut returned = Vec::new();
            for txn_no in &paid {
                let original = conn.journal_entry(txn_no)?.expect("the original exists").txn.amount().minor_units();
                let accepted: i64 = conn
                    .return_requests_for_txn(txn_no)?
                    .iter()
                    .filter(|request| request.status == ReturnRequestStatus::Accepted)
                    .map(|request| request.amount.minor_units())
                    .sum();
                returned.push((txn_no.clone(), original, accepted));
            }
            Ok(Snapshot { report, wallets, packets, transfers, returned })
        })
        .await
        .expect("read the ledger")
}

fn check_invariants(snapshot: &Snapshot) -> Result<(), TestCaseError> {
    for (transfer, hold) in &snapshot.transfers {
        if transfer.status.is_open() {
            prop_assert_eq!(*hold, transfer.amount.minor_units(), "an open transfer's hold holds its amount");
            prop_assert_eq!(transfer.txn_nos.len(), 1);
        } else {
            prop_assert_eq!(*hold, 0, "a finished transfer's hold is empty");
            prop_assert_eq!(transfer.txn_nos.len(), 2, "the hold empties exactly once");
        }
    }
    for (txn_no, original, returned) in &snapshot.returned {
        prop_assert!(returned <= original, "{txn_no}: {returned} returned of {original}");
    }
    prop_assert!(snapshot.report.is_clean(), "verify: {:?}", snapshot.report.discrepancies);
    for balance in &snapshot.wallets {
        prop_assert!(*balance >= 0);
    }
    for (packet, escrow, claims) in &snapshot.packets {
        let claimed: i64 = claims.iter().map(|claim| claim.amount.minor_units()).sum();
        prop_assert_eq!(claimed, packet.claimed_amount.minor_units());
        prop_assert_eq!(claimed + packet.refunded_amount.minor_units() + escrow, packet.total_amount.minor_units());
        let mut claimers: Vec<_> = claims.iter().map(|claim| claim.user_id.clone()).collect();
        claimers.sort();
        claimers.dedup();
        prop_assert_eq!(claimers.len(), claims.len(), "nobody claims twice");
        if packet.status != PacketStatus::Open {
            prop_assert_eq!(*escrow, 0, "a finished packet's escrow is empty");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_keep_the_ledger_sound(steps in proptest::collection::vec(step(), 1..100)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        runtime.block_on(async {
            let mut world = world().await;
            for step in &steps {
                apply(&mut world, step).await;
                check_invariants(&snapshot(&world).await)?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}
