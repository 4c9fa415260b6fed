//! Property tests guarding the money: random sequences of operations, including refused ones, never
//! take a wallet below zero, always keep all accounts summing to zero, keep the hash chain intact, and
//! count each packet's money exactly once (claimed + refunded + in escrow = total).

use std::sync::Arc;

use hongbao_core::packet::PacketSpec;
use hongbao_core::{Account, Amount, GroupId, PacketId, PacketStatus, Timestamp, UserId};
use hongbao_service::{Config, ManualClock, Op, Outcome, Service};
use hongbao_testkit::TestDatabase;
use proptest::prelude::*;

const USERS: usize = 4;

#[derive(Clone, Debug)]
enum Step {
    TopUp { user: usize, amount: i64 },
    Withdraw { user: usize, amount: i64 },
    Lucky { sender: usize, total: i64, shares: u32 },
    Normal { sender: usize, per_share: i64, shares: u32 },
    OneToOne { sender: usize, recipient: usize, amount: i64, timed: bool },
    Claim { packet: usize, user: usize },
    Recall { packet: usize, user: usize },
    Advance { seconds: i64 },
    Expire,
}

fn step() -> impl Strategy<Value = Step> {
    let user = 0..USERS;
    prop_oneof![
        (user.clone(), 1i64..50_000).prop_map(|(user, amount)| Step::TopUp { user, amount }),
        (user.clone(), 1i64..30_000).prop_map(|(user, amount)| Step::Withdraw { user, amount }),
        (user.clone(), 1i64..40_000, 1u32..=5).prop_map(|(sender, total, shares)| Step::Lucky { sender, total, shares }),
        (user.clone(), 1i64..25_000, 1u32..=5).prop_map(|(sender, per_share, shares)| Step::Normal { sender, per_share, shares }),
        (user.clone(), user.clone(), 1i64..25_000, any::<bool>()).prop_map(|(sender, recipient, amount, timed)| Step::OneToOne {
            sender,
            recipient,
            amount,
            timed
        }),
        (0usize..16, user.clone()).prop_map(|(packet, user)| Step::Claim { packet, user }),
        (0usize..16, user.clone()).prop_map(|(packet, user)| Step::Claim { packet, user }),
        (0usize..16, user).prop_map(|(packet, user)| Step::Recall { packet, user }),
        (1i64..100_000).prop_map(|seconds| Step::Advance { seconds }),
        Just(Step::Expire),
    ]
}

struct World {
    service: Service,
    clock: ManualClock,
    users: Vec<UserId>,
    group: GroupId,
    packets: Vec<PacketId>,
    _database: TestDatabase,
}

async fn world() -> World {
    let database = TestDatabase::new();
    let store = database.store();
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let config = Config { admin_token: Some("admin".into()), ..Config::default() };
    let service = Service::start(store.clone(), config, Arc::new(clock.clone())).expect("start").service;
    let mut users = Vec::new();
    for index in 0..USERS {
        match service.execute(Op::CreateUser { name: format!("user{index}") }).await.expect("create user") {
            Outcome::UserCreated { user, .. } => users.push(user.id),
            other => panic!("unexpected {other:?}"),
        }
    }
    let Outcome::Group(group) =
        service.execute(Op::CreateGroup { owner_id: users[0].clone(), name: "g".into(), member_ids: users.clone() }).await.expect("group")
    else {
        panic!("not a group")
    };
    World { service, clock, users, group: group.id, packets: Vec::new(), _database: database }
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
        },
        Step::Normal { sender, per_share, shares } => Op::SendPacket {
            sender_id: users[*sender].clone(),
            spec: PacketSpec::NormalToGroup { group_id: world.group.clone(), amount_per_share: amount(*per_share), shares: *shares },
            greeting: None,
        },
        Step::OneToOne { sender, recipient, amount: units, timed } => {
            let recipient_id = users[*recipient].clone();
            let spec = if *timed {
                PacketSpec::TimedToUser { recipient_id, total_amount: amount(*units), expires_in_seconds: Some(30) }
            } else {
                PacketSpec::NormalToUser { recipient_id, amount_per_share: amount(*units) }
            };
            Op::SendPacket { sender_id: users[*sender].clone(), spec, greeting: None }
        }
        Step::Claim { packet, user } | Step::Recall { packet, user } => {
            let Some(packet_id) = world.packets.get(*packet).cloned() else { return };
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
    };
    // Refusals are expected (insufficient funds, wrong state, ...); they must change nothing, which the
    // invariants below check after every step.
    if let Ok(Outcome::Packet(view)) = world.service.execute(op).await
        && view.packet.status == PacketStatus::Open
        && !world.packets.contains(&view.packet.id)
    {
        world.packets.push(view.packet.id);
    }
}

/// What the invariants look at, read in one go on the service's read pool.
struct Snapshot {
    report: hongbao_service::verify::VerifyReport,
    wallets: Vec<i64>,
    packets: Vec<(hongbao_core::packet::Packet, i64, Vec<hongbao_store::Claim>)>,
}

async fn snapshot(world: &World) -> Snapshot {
    let users = world.users.clone();
    let packet_ids = world.packets.clone();
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
            Ok(Snapshot { report, wallets, packets })
        })
        .await
        .expect("read the ledger")
}

fn check_invariants(snapshot: &Snapshot) -> Result<(), TestCaseError> {
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
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_keep_the_ledger_sound(steps in proptest::collection::vec(step(), 1..60)) {
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
