//! Property tests guarding the money: random sequences of operations, including refused ones, never
//! take a wallet below zero, always keep all accounts summing to zero, keep the hash chain intact, and
//! count each packet's money exactly once (claimed + refunded + in escrow = total), empty every
//! transfer's hold exactly once, and never return more than was paid (through return requests and
//! reversals together).
//!
//! The sequences also take the platform's ways of moving money back: reviewers freeze users (fully or
//! a hold, for a rule or for a case) and lift freezes, users complain about their payments (a system
//! fault complaint refunds unclaimed money at once), reviewers refund complainants out of a case's
//! freeze and resolve cases, and legal officers reverse settled payments with a second officer's
//! approval (the officer who asked is refused, and the refusal changes nothing). On top of the ledger's
//! invariants: a wallet's frozen and available money add up to its balance, a hold never gives out more
//! than it held, a case's refunds are those taken out of its freezes, a resolved case keeps no freeze
//! unless it was referred, and an approved reversal is carried out exactly once.
//!
//! Case work covers what outside testers broke: a case refund corrects one payment of its case and
//! never more than what returns, other case refunds and reversals left of it, so every payment's
//! corrections stay within it; complaints name several payments at once; a guardian's `minor`
//! complaint about a group packet makes everyone who claimed it a respondent, whom a reviewer may
//! freeze and refund from; refunds above a low four-eyes amount wait for a second reviewer; and
//! top-ups near the largest amount meet wallets that may hold no more.
//!
//! The risk policy is the default one but for a stricter velocity rule: a user's second recall, cancel
//! or return request within ten minutes freezes their outgoing money for half an hour, which is part of
//! what the sequences should survive. With the default rule (more than five) it never tripped in
//! sequences this short; with this one it trips in about one sequence of eight, while about as many
//! packets and transfers go out as with the default, since the clock moves on by hours at a time.
//!
//! The sequences lean to where money moved back has gone wrong before: a step that names a payment, a
//! return request or a reversal mostly names the payment the last such step named, or the newest one
//! (`Pick`), and a fifth of each sequence is bursts of corrections of one payment in a random order
//! (`correction_burst`). With picks uniform over the whole history, the reversal bug fixed in 931cfc1
//! (money a reversal moved back asked back again), planted back, was caught in 8 of 23 runs.
//! `.ci/catch-rate` plants it back with `tests/planted/reversal-return-request.patch`, and its half
//! (a return request accepted after a reversal was approved while it waited) with
//! `tests/planted/reversal-while-request-waits.patch`, and runs this test with `HONGBAO_TEST_SEED` 1 to
//! 20: it caught the bug with all 20 seeds and its half with 19 (with 64 cases instead of 128: 20 and
//! 18), and passed without them with all 20. The seed is fixed otherwise, so that CI is deterministic;
//! proptest's persisted failures (`tests/proptest-regressions`) are replayed first.

use std::sync::Arc;

use hongbao_core::cases::{CaseOutcome, Complaint, ComplaintKind};
use hongbao_core::freeze::{Freeze, FreezeCause, FreezeScope};
use hongbao_core::legal::{ApprovalStatus, Reversal};
use hongbao_core::packet::PacketSpec;
use hongbao_core::returns::ReturnRequestStatus;
use hongbao_core::staff::Role;
use hongbao_core::transfer::{Arrival, Transfer, TransferStatus};
use hongbao_core::{
    Account, Amount, ComplaintId, FreezeId, GroupId, PacketId, PacketStatus, ReturnRequestId, ReversalId, Timestamp, TransferId, TxnNo, UserId,
};
use hongbao_service::{Actor, CaseOp, Clock, Config, Decision, ManualClock, Op, Outcome, Service, ServiceError};
use hongbao_store::records::{self, Query};
use hongbao_testkit::TestDatabase;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

const USERS: usize = 4;
const MAX_AMOUNT: i64 = hongbao_core::money::MAX_AMOUNT;

#[derive(Clone, Debug)]
enum Step {
    /// Names a payment for the steps after it that pick [`Pick::Focus`]; does nothing else.
    Focus {
        txn: Pick,
    },
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
        txn: Pick,
        as_payer: bool,
        user: usize,
        amount: Option<i64>,
    },
    /// Answers a request, as its recipient or (to be refused) as someone else.
    Answer {
        request: Pick,
        as_recipient: bool,
        user: usize,
        accept: bool,
    },
    /// A reviewer freezes a user for a rule: fully or a hold of an amount, for good or for some seconds.
    Freeze {
        user: usize,
        hold: Option<i64>,
        for_seconds: Option<i64>,
    },
    /// A reviewer lifts a freeze: a rule's, a case's or the velocity rule's.
    Lift {
        freeze: Index,
    },
    /// A party to a paid claim or transfer complains about it (`other` or `fraud`, without evidence),
    /// naming a second payment of the same payer too when `also` is set; or the sender of a packet or
    /// transfer reports a system fault about sending it, or complains as a minor's guardian about it.
    Complain {
        txn: Pick,
        as_payer: bool,
        /// 0 and 1: `other`; 2 and 3: `fraud`; 4: `system_fault`; 5: `minor`.
        kind: usize,
        also: Option<Index>,
    },
    /// A reviewer freezes a party a case complains about, for the case.
    CaseFreeze {
        case: Pick,
        respondent: Index,
        hold: Option<i64>,
        for_seconds: Option<i64>,
    },
    /// A reviewer refunds the complainant out of a freeze placed for the case, mostly for a case that is
    /// still open.
    CaseRefund {
        freeze: Pick,
        amount: i64,
        open_case: bool,
        /// Which of the case's payments the refund names, if any.
        txn: Option<Index>,
    },
    /// A reviewer decides a case refund that waits for a second one, or (to be refused, when it
    /// approves) the reviewer who asked.
    DecideCaseRefund {
        refund: Index,
        same_reviewer: bool,
        approve: bool,
    },
    Resolve {
        case: Index,
        outcome: usize,
    },
    /// A legal officer asks to reverse a paid claim or transfer, in full or in part.
    RequestReversal {
        txn: Pick,
        officer: usize,
        amount: Option<i64>,
    },
    /// The other legal officer decides a reversal, or (to be refused, when it approves) the one who asked.
    DecideReversal {
        reversal: Pick,
        same_officer: bool,
        approve: bool,
    },
}

/// Which paid claim or transfer, return request or reversal a step names. The bugs of money moved back
/// live where returns, case refunds and reversals meet on one payment, which picks from an ever longer
/// list rarely reach when they are uniform: so a step mostly names the payment that the last step
/// naming one named (or that payment's newest request or reversal), sometimes the newest, sometimes any.
#[derive(Clone, Debug)]
enum Pick {
    /// The payment the last step named, its newest request or its newest reversal; the newest when
    /// there is none.
    Focus,
    Newest,
    Any(Index),
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![4 => Just(Pick::Focus), 1 => Just(Pick::Newest), 3 => any::<Index>().prop_map(Pick::Any)]
}

fn step() -> impl Strategy<Value = Step> {
    let user = 0..USERS;
    prop_oneof![
        2 => (user.clone(), 1i64..50_000).prop_map(|(user, amount)| Step::TopUp { user, amount }),
        1 => (user.clone(), MAX_AMOUNT - 2_000_000..=MAX_AMOUNT).prop_map(|(user, amount)| Step::TopUp { user, amount }),
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
        4 => (pick(), proptest::bool::weighted(0.8), user.clone(), proptest::option::of(1i64..20_000))
            .prop_map(|(txn, as_payer, user, amount)| Step::AskBack { txn, as_payer, user, amount }),
        4 => (pick(), proptest::bool::weighted(0.8), user.clone(), any::<bool>()).prop_map(|(request, as_recipient, user, accept)| Step::Answer { request, as_recipient, user, accept }),
        2 => (user, proptest::option::weighted(0.75, 1i64..60_000), proptest::option::weighted(0.3, 1i64..120))
            .prop_map(|(user, hold, for_seconds)| Step::Freeze { user, hold, for_seconds }),
        2 => any::<Index>().prop_map(|freeze| Step::Lift { freeze }),
        4 => (pick(), proptest::bool::weighted(0.8), 0usize..6, proptest::option::weighted(0.3, any::<Index>()))
            .prop_map(|(txn, as_payer, kind, also)| Step::Complain { txn, as_payer, kind, also }),
        4 => (pick(), any::<Index>(), proptest::option::weighted(0.85, 1i64..40_000), proptest::option::weighted(0.2, 1i64..120))
            .prop_map(|(case, respondent, hold, for_seconds)| Step::CaseFreeze { case, respondent, hold, for_seconds }),
        6 => (pick(), 1i64..20_000, proptest::bool::weighted(0.8), proptest::option::weighted(0.5, any::<Index>()))
            .prop_map(|(freeze, amount, open_case, txn)| Step::CaseRefund { freeze, amount, open_case, txn }),
        3 => (any::<Index>(), proptest::bool::weighted(0.2), proptest::bool::weighted(0.85))
            .prop_map(|(refund, same_reviewer, approve)| Step::DecideCaseRefund { refund, same_reviewer, approve }),
        2 => (any::<Index>(), 0usize..4).prop_map(|(case, outcome)| Step::Resolve { case, outcome }),
        3 => (pick(), 0usize..2, proptest::option::of(1i64..20_000)).prop_map(|(txn, officer, amount)| Step::RequestReversal { txn, officer, amount }),
        3 => (pick(), proptest::bool::weighted(0.2), proptest::bool::weighted(0.85))
            .prop_map(|(reversal, same_officer, approve)| Step::DecideReversal { reversal, same_officer, approve }),
    ]
}

/// A burst of steps that move money back, all about one payment: one picked first, then asked back,
/// answered, complained about, reversed and decided on in a random order, the way the bugs of money
/// moved back twice were found (a reversal approved while a return request waited, a return after a
/// reversal). Refused steps among them are as welcome as the others.
fn correction_burst() -> impl Strategy<Value = Vec<Step>> {
    let correction = prop_oneof![
        3 => (proptest::bool::weighted(0.9), proptest::option::of(1i64..20_000))
            .prop_map(|(as_payer, amount)| Step::AskBack { txn: Pick::Focus, as_payer, user: 0, amount }),
        3 => (proptest::bool::weighted(0.9), proptest::bool::weighted(0.75))
            .prop_map(|(as_recipient, accept)| Step::Answer { request: Pick::Focus, as_recipient, user: 1, accept }),
        2 => (0usize..2, proptest::option::of(1i64..20_000)).prop_map(|(officer, amount)| Step::RequestReversal { txn: Pick::Focus, officer, amount }),
        2 => (proptest::bool::weighted(0.1), proptest::bool::weighted(0.9))
            .prop_map(|(same_officer, approve)| Step::DecideReversal { reversal: Pick::Focus, same_officer, approve }),
        1 => (proptest::bool::weighted(0.8), 0usize..4).prop_map(|(as_payer, kind)| Step::Complain { txn: Pick::Focus, as_payer, kind, also: None }),
        1 => (any::<Index>(), proptest::option::weighted(0.85, 1i64..40_000))
            .prop_map(|(respondent, hold)| Step::CaseFreeze { case: Pick::Focus, respondent, hold, for_seconds: None }),
        1 => (1i64..20_000).prop_map(|amount| Step::CaseRefund { freeze: Pick::Focus, amount, open_case: true, txn: None }),
    ];
    (pick(), proptest::collection::vec(correction, 2..8)).prop_map(|(txn, corrections)| std::iter::once(Step::Focus { txn }).chain(corrections).collect())
}

/// A sequence of single steps and, one time in five, a burst of corrections of one payment.
fn steps() -> impl Strategy<Value = Vec<Step>> {
    let part = prop_oneof![4 => step().prop_map(|step| vec![step]), 1 => correction_burst()];
    proptest::collection::vec(part, 1..60).prop_map(|parts| parts.into_iter().flatten().collect())
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
    /// Settled claims and transfers that may be asked back, with their payers and recipients.
    paid: Vec<(TxnNo, UserId, UserId)>,
    /// Return requests with the users asked to answer them and the payments they ask back.
    requests: Vec<(ReturnRequestId, UserId, TxnNo)>,
    /// The payment the last step that named one named: what [`Pick::Focus`] names.
    focus: Option<TxnNo>,
    /// Packet and transfer sends with their senders, which a system fault complaint may name.
    sent: Vec<(TxnNo, UserId)>,
    reviewer: Actor,
    /// A second reviewer, who approves the first one's large case refunds.
    second_reviewer: Actor,
    /// Case refunds that waited for a second reviewer, with whether they still wait.
    case_refunds: Vec<(hongbao_core::CaseRefundId, bool)>,
    /// Two legal officers: one asks for a reversal, the other approves it.
    legal: [Actor; 2],
    /// Cases with the parties they complain about and whether they are resolved.
    cases: Vec<(ComplaintId, Vec<UserId>, bool)>,
    /// The payments each case names.
    case_txns: Vec<(ComplaintId, Vec<TxnNo>)>,
    /// Freezes placed so far, by reviewers and by the velocity rule, in the order they appeared.
    freezes: Vec<FreezeId>,
    /// Freezes placed for cases, with their cases.
    case_freezes: Vec<(ComplaintId, FreezeId)>,
    /// Reversals with the officer who asked (an index into `legal`), whether they wait for a decision,
    /// and the payments they reverse.
    reversals: Vec<(ReversalId, usize, bool, TxnNo)>,
    _database: TestDatabase,
}

impl World {
    /// The paid claim or transfer a step picks, which becomes the focus.
    fn pick_paid(&mut self, pick: &Pick) -> Option<(TxnNo, UserId, UserId)> {
        let newest = self.paid.last()?.clone();
        let chosen = match pick {
            Pick::Focus => self.focus.as_ref().and_then(|focus| self.paid.iter().find(|(txn_no, ..)| txn_no == focus)).cloned().unwrap_or(newest),
            Pick::Newest => newest,
            Pick::Any(index) => self.paid[index.index(self.paid.len())].clone(),
        };
        self.focus = Some(chosen.0.clone());
        Some(chosen)
    }

    /// Where in a list of things about cases (cases, their freezes) a step's pick falls: for
    /// [`Pick::Focus`], the newest about a case that names the focus payment.
    fn pick_case<T>(&self, pick: &Pick, list: &[T], case_of: impl Fn(&T) -> &ComplaintId) -> Option<usize> {
        let newest = list.len().checked_sub(1)?;
        let names_focus = |item: &T| {
            self.case_txns
                .iter()
                .any(|(complaint_id, txn_nos)| complaint_id == case_of(item) && self.focus.as_ref().is_some_and(|focus| txn_nos.contains(focus)))
        };
        Some(match pick {
            Pick::Focus => list.iter().rposition(names_focus).unwrap_or(newest),
            Pick::Newest => newest,
            Pick::Any(index) => index.index(list.len()),
        })
    }

    /// Where in a list of things about payments (requests, reversals) a step's pick falls; the payment
    /// of the one picked becomes the focus.
    fn pick_about<T>(&mut self, pick: &Pick, list: &[T], txn_of: impl Fn(&T) -> &TxnNo) -> Option<usize> {
        let newest = list.len().checked_sub(1)?;
        let chosen = match pick {
            Pick::Focus => self.focus.as_ref().and_then(|focus| list.iter().rposition(|item| txn_of(item) == focus)).unwrap_or(newest),
            Pick::Newest => newest,
            Pick::Any(index) => index.index(list.len()),
        };
        self.focus = Some(txn_of(&list[chosen]).clone());
        Some(chosen)
    }

    /// Takes note of freezes that appeared, whoever placed them: a step places at most one, so their
    /// order here does not depend on the order of their random ids.
    fn note_freezes(&mut self, snapshot: &Snapshot) {
        for freeze in &snapshot.freezes {
            if !self.freezes.contains(&freeze.id) {
                if let FreezeCause::Case(complaint_id) = &freeze.cause {
                    self.case_freezes.push((complaint_id.clone(), freeze.id.clone()));
                }
                self.freezes.push(freeze.id.clone());
            }
        }
    }
}

async fn operator(service: &Service, name: &str, role: Role) -> Actor {
    match service.execute(Op::Case(CaseOp::CreateOperator { name: name.into(), role })).await.expect("create operator") {
        Outcome::OperatorCreated { operator, .. } => Actor::Operator(operator),
        other => panic!("unexpected {other:?}"),
    }
}

async fn world() -> World {
    let database = TestDatabase::new();
    let store = database.store();
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let config = Config {
        admin_token: Some("admin".into()),
        evidence_dir: database.evidence_dir(),
        // The velocity rule trips at two recalls, cancels or return requests in ten minutes instead of
        // six, so that its freezes happen in sequences this short; the rest of the policy is the default.
        policy_text: Some("[velocity]\nmax_actions = 1\n[case_refunds]\napproval_above = \"100.00\"\n".into()),
        ..Config::default()
    };
    let service = Service::start(store.clone(), config, Arc::new(clock.clone())).expect("start").service;
    let mut users = Vec::new();
    for index in 0..USERS {
        match service.execute(Op::CreateUser { name: format!("user{index}") }).await.expect("create user") {
            Outcome::UserCreated { user, .. } => users.push(user.id),
            other => panic!("unexpected {other:?}"),
        }
    }
    for user_id in &users {
        service.execute(Op::TopUp { user_id: user_id.clone(), amount: amount(1_000_00), reference: format!("start-{user_id}") }).await.expect("top up");
    }
    let Outcome::Group(group) =
        service.execute(Op::CreateGroup { owner_id: users[0].clone(), name: "g".into(), member_ids: users.clone() }).await.expect("group")
    else {
        panic!("not a group")
    };
    let reviewer = operator(&service, "reviewer", Role::Reviewer).await;
    let second_reviewer = operator(&service, "second reviewer", Role::Reviewer).await;
    let legal = [operator(&service, "legal one", Role::Legal).await, operator(&service, "legal two", Role::Legal).await];
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
        focus: None,
        sent: Vec::new(),
        reviewer,
        second_reviewer,
        case_refunds: Vec::new(),
        legal,
        cases: Vec::new(),
        case_txns: Vec::new(),
        freezes: Vec::new(),
        case_freezes: Vec::new(),
        reversals: Vec::new(),
        _database: database,
    }
}

fn amount(units: i64) -> Amount {
    Amount::new(units).expect("valid")
}

/// Whether an error is a refusal that random operations run into (and that must change nothing),
/// rather than a failure of the service.
fn is_refusal(error: &ServiceError) -> bool {
    error.is_refusal()
}

fn reason() -> String {
    "prop".into()
}

/// Applies a step; answers whether it was refused, which must have changed nothing.
async fn apply(world: &mut World, step: &Step) -> Result<bool, TestCaseError> {
    let users = world.users.clone();
    let mut expect_forbidden = false;
    let op = match step {
        Step::TopUp { user, amount: units } => {
            Op::TopUp { user_id: users[*user].clone(), amount: amount(*units), reference: format!("prop-{}", hongbao_service::random_u64()) }
        }
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
                return Ok(false);
            }
            let packet_id = world.packets[packet.index(world.packets.len())].clone();
            let user_id = users[*user].clone();
            if matches!(step, Step::Claim { .. }) { Op::Claim { packet_id, user_id } } else { Op::Recall { packet_id, user_id } }
        }
        Step::Focus { txn } => {
            world.pick_paid(txn);
            return Ok(false);
        }
        Step::Advance { seconds } => {
            world.clock.advance_seconds(*seconds);
            return Ok(false);
        }
        Step::Expire => {
            world.service.run_due_timers().await.expect("expiry runs");
            return Ok(false);
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
                return Ok(false);
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
            let Some((txn_no, payer, _)) = world.pick_paid(txn) else { return Ok(false) };
            let requester_id = if *as_payer { payer } else { users[*user].clone() };
            Op::CreateReturnRequest { requester_id, txn_no, amount: units.map(amount), reason: "prop".into(), respond_within_seconds: Some(3_600) }
        }
        Step::Answer { request, as_recipient, user, accept } => {
            let requests = world.requests.clone();
            let Some(chosen) = world.pick_about(request, &requests, |(.., txn_no)| txn_no) else { return Ok(false) };
            let (request_id, recipient, _) = requests[chosen].clone();
            let user_id = if *as_recipient { recipient } else { users[*user].clone() };
            if *accept { Op::AcceptReturnRequest { request_id, user_id } } else { Op::DeclineReturnRequest { request_id, user_id, reason: None } }
        }
        Step::Freeze { user, hold, for_seconds } => Op::Case(CaseOp::PlaceFreeze {
            actor: world.reviewer.clone(),
            user_id: users[*user].clone(),
            amount: hold.map(amount),
            until: for_seconds.map(|seconds| world.clock.now().plus_seconds(seconds)),
            cause: FreezeCause::Rule("prop".into()),
            reason: reason(),
        }),
        Step::Lift { freeze } => {
            if world.freezes.is_empty() {
                return Ok(false);
            }
            let freeze_id = world.freezes[freeze.index(world.freezes.len())].clone();
            Op::Case(CaseOp::LiftFreeze { actor: world.reviewer.clone(), freeze_id, reason: reason() })
        }
        Step::Complain { txn, as_payer, kind, also } => {
            let (kind, mut txn_nos, complainant_id) = if *kind < 4 {
                let Some((txn_no, payer, recipient)) = world.pick_paid(txn) else { return Ok(false) };
                let kind = if *kind < 2 { ComplaintKind::Other } else { ComplaintKind::Fraud };
                (kind, vec![txn_no], if *as_payer { payer } else { recipient })
            } else {
                if world.sent.is_empty() {
                    return Ok(false);
                }
                let sent = match txn {
                    Pick::Any(index) => index.index(world.sent.len()),
                    Pick::Focus | Pick::Newest => world.sent.len() - 1,
                };
                let (txn_no, sender) = world.sent[sent].clone();
                // A guardian complains about what a minor sent: a packet's claimers are its respondents.
                (if *kind == 4 { ComplaintKind::SystemFault } else { ComplaintKind::Minor }, vec![txn_no], sender)
            };
            // A second payment of the same payer: a case over several payments.
            if let Some(also) = also {
                let theirs: Vec<TxnNo> = world
                    .paid
                    .iter()
                    .filter(|(_, payer, _)| payer == &complainant_id)
                    .map(|(txn_no, ..)| txn_no.clone())
                    .chain(world.sent.iter().filter(|(_, sender)| sender == &complainant_id).map(|(txn_no, _)| txn_no.clone()))
                    .collect();
                if !theirs.is_empty() {
                    txn_nos.push(theirs[also.index(theirs.len())].clone());
                }
            }
            Op::Case(CaseOp::SubmitComplaint { complainant_id, kind, txn_nos, description: "prop".into(), evidence_ids: Vec::new() })
        }
        Step::CaseFreeze { case, respondent, hold, for_seconds } => {
            // Freezing for a resolved case is refused; open cases are where the money moves.
            let open: Vec<_> = world.cases.iter().filter(|(.., resolved)| !resolved).cloned().collect();
            let Some(chosen) = world.pick_case(case, &open, |(complaint_id, ..)| complaint_id) else { return Ok(false) };
            let (complaint_id, respondents, _) = open[chosen].clone();
            // A case about one's own packet has nobody to freeze; freezing someone for it is refused.
            let user_id =
                if respondents.is_empty() { users[respondent.index(users.len())].clone() } else { respondents[respondent.index(respondents.len())].clone() };
            Op::Case(CaseOp::PlaceFreeze {
                actor: world.reviewer.clone(),
                user_id,
                amount: hold.map(amount),
                until: for_seconds.map(|seconds| world.clock.now().plus_seconds(seconds)),
                cause: FreezeCause::Case(complaint_id),
                reason: reason(),
            })
        }
        Step::CaseRefund { freeze, amount: units, open_case, txn } => {
            let is_open = |complaint_id: &ComplaintId| world.cases.iter().any(|(id, _, resolved)| id == complaint_id && !resolved);
            let freezes: Vec<_> = world.case_freezes.iter().filter(|(complaint_id, _)| !open_case || is_open(complaint_id)).cloned().collect();
            let Some(chosen) = world.pick_case(freeze, &freezes, |(complaint_id, _)| complaint_id) else { return Ok(false) };
            let (complaint_id, freeze_id) = freezes[chosen].clone();
            // Name one of the case's payments, or one of anybody's (to be refused unless it is the case's).
            let txn_no = txn.map(|txn| {
                let of_case = world.case_txns.iter().find(|(id, _)| id == &complaint_id).map(|(_, txns)| txns.clone()).unwrap_or_default();
                let candidates: Vec<TxnNo> = of_case.into_iter().chain(world.paid.iter().map(|(txn_no, ..)| txn_no.clone())).collect();
                candidates[txn.index(candidates.len())].clone()
            });
            Op::Case(CaseOp::RefundFromFreeze { actor: world.reviewer.clone(), complaint_id, freeze_id, amount: amount(*units), reason: reason(), txn_no })
        }
        Step::DecideCaseRefund { refund, same_reviewer, approve } => {
            if world.case_refunds.is_empty() {
                return Ok(false);
            }
            let (refund_id, pending) = world.case_refunds[refund.index(world.case_refunds.len())].clone();
            // The reviewer who asked may withdraw the refund but never approve it.
            expect_forbidden = *same_reviewer && *approve && pending;
            let actor = if *same_reviewer { world.reviewer.clone() } else { world.second_reviewer.clone() };
            let decision = if *approve { Decision::Approve } else { Decision::Reject };
            Op::Case(CaseOp::DecideCaseRefund { actor, refund_id, decision, reason: reason() })
        }
        Step::Resolve { case, outcome } => {
            if world.cases.is_empty() {
                return Ok(false);
            }
            let complaint_id = world.cases[case.index(world.cases.len())].0.clone();
            let outcome = [CaseOutcome::Refunded, CaseOutcome::PartiallyRefunded, CaseOutcome::Rejected, CaseOutcome::Referred][*outcome];
            Op::Case(CaseOp::Resolve { actor: world.reviewer.clone(), complaint_id, outcome, reason: reason() })
        }
        Step::RequestReversal { txn, officer, amount: units } => {
            let Some((txn_no, ..)) = world.pick_paid(txn) else { return Ok(false) };
            Op::Case(CaseOp::RequestReversal {
                actor: world.legal[*officer].clone(),
                txn_no,
                amount: units.map(amount),
                reason: reason(),
                reference: "court order".into(),
            })
        }
        Step::DecideReversal { reversal, same_officer, approve } => {
            let reversals = world.reversals.clone();
            let Some(chosen) = world.pick_about(reversal, &reversals, |(.., txn_no)| txn_no) else { return Ok(false) };
            let (reversal_id, asker, pending, _) = reversals[chosen].clone();
            let officer = if *same_officer { asker } else { 1 - asker };
            // The officer who asked may withdraw the request but never approve it.
            expect_forbidden = *same_officer && *approve && pending;
            let decision = if *approve { Decision::Approve } else { Decision::Reject };
            Op::Case(CaseOp::DecideReversal { actor: world.legal[officer].clone(), reversal_id, decision, reason: reason() })
        }
    };
    let result = world.service.execute(op).await;
    if expect_forbidden {
        prop_assert!(
            matches!(result, Err(ServiceError::Approval(hongbao_core::legal::ApprovalError::SameOfficer))),
            "the one who asked approved their own request: {result:?}"
        );
        return Ok(true);
    }
    // Refusals are expected (insufficient funds, wrong state, a frozen wallet, ...); they must change
    // nothing, which the caller checks along with the invariants. Any other error is a failure.
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(error) => {
            prop_assert!(is_refusal(&error), "{step:?} failed: {error:?}");
            return Ok(true);
        }
    };
    match outcome {
        Outcome::Packet(view) if view.packet.status == PacketStatus::Open && !world.packets.contains(&view.packet.id) => {
            world.packet_senders.push((view.packet.id.clone(), view.packet.sender_id.clone()));
            world.sent.push((view.packet.send_txn_no.clone(), view.packet.sender_id.clone()));
            world.packets.push(view.packet.id);
        }
        Outcome::Claimed { packet_id, claim } => {
            let sender = world.packet_senders.iter().find(|(id, _)| id == &packet_id).map(|(_, sender)| sender.clone()).expect("a known packet");
            world.paid.push((claim.txn_no, sender, claim.user_id));
        }
        Outcome::Transfer(transfer) => {
            if transfer.status == TransferStatus::Settled && transfer.txn_nos.len() == 2 && !world.paid.iter().any(|(txn, ..)| txn == &transfer.txn_nos[1]) {
                world.paid.push((transfer.txn_nos[1].clone(), transfer.sender_id.clone(), transfer.recipient_id.clone()));
            }
            if !world.transfers.contains(&transfer.id) {
                world.sent.push((transfer.txn_nos[0].clone(), transfer.sender_id.clone()));
                world.transfers.push(transfer.id);
            }
        }
        Outcome::ReturnRequest(request) if !world.requests.iter().any(|(id, ..)| id == &request.id) => {
            world.requests.push((request.id, request.recipient_id, request.txn_no))
        }
        Outcome::Complaint(complaint) => {
            let resolved = complaint.status.is_resolved();
            match world.cases.iter_mut().find(|(id, ..)| id == &complaint.id) {
                Some(known) => known.2 = resolved,
                None => {
                    world.case_txns.push((complaint.id.clone(), complaint.txn_nos.clone()));
                    world.cases.push((complaint.id, complaint.respondent_ids, resolved));
                }
            }
        }
        Outcome::CaseRefund(refund) => {
            let pending = refund.approval.status == ApprovalStatus::Pending;
            match world.case_refunds.iter_mut().find(|(id, _)| id == &refund.id) {
                Some(known) => known.1 = pending,
                None => world.case_refunds.push((refund.id, pending)),
            }
        }
        Outcome::Reversal(reversal) => {
            let pending = reversal.approval.status == ApprovalStatus::Pending;
            match world.reversals.iter_mut().find(|(id, ..)| id == &reversal.id) {
                Some(known) => known.2 = pending,
                None => {
                    let asker = world.legal.iter().position(|officer| officer.id() == reversal.approval.requested_by.to_string()).expect("one of ours");
                    world.reversals.push((reversal.id, asker, pending, reversal.txn_no));
                }
            }
        }
        _ => {}
    }
    Ok(false)
}

/// What the invariants look at, read in one go on the service's read pool.
struct Snapshot {
    now: Timestamp,
    report: hongbao_service::verify::VerifyReport,
    wallets: Vec<i64>,
    packets: Vec<(hongbao_core::packet::Packet, i64, Vec<hongbao_store::Claim>)>,
    transfers: Vec<(Transfer, i64)>,
    /// Each paid claim or transfer: what was paid, what accepted return requests gave back, what
    /// approved reversals did, and what the journal's corrections of it (returns, case refunds and
    /// reversals) moved back in all.
    returned: Vec<(TxnNo, i64, i64, i64, i64)>,
    case_refunds: Vec<hongbao_core::legal::CaseRefund>,
    complaints: Vec<Complaint>,
    freezes: Vec<Freeze>,
    reversals: Vec<Reversal>,
}

impl Snapshot {
    /// Whether nothing a refusal could have touched differs from `before`.
    fn unchanged_since(&self, before: &Snapshot) -> bool {
        (self.report.entries, self.report.audit_entries) == (before.report.entries, before.report.audit_entries)
            && self.wallets == before.wallets
            && self.complaints == before.complaints
            && self.freezes == before.freezes
            && self.reversals == before.reversals
            && self.case_refunds == before.case_refunds
    }
}

async fn snapshot(world: &World) -> Snapshot {
    let now = world.clock.now();
    let users = world.users.clone();
    let packet_ids = world.packets.clone();
    let transfer_ids = world.transfers.clone();
    let paid: Vec<TxnNo> = world.paid.iter().map(|(txn_no, ..)| txn_no.clone()).collect();
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
            let complaints: Vec<Complaint> = records::list(conn, &Query::newest_first(&records::COMPLAINTS, 10_000))?;
            let freezes: Vec<Freeze> = records::list(conn, &Query::newest_first(&records::FREEZES, 10_000))?;
            let reversals: Vec<Reversal> = records::list(conn, &Query::newest_first(&records::REVERSALS, 10_000))?;
            let case_refunds: Vec<hongbao_core::legal::CaseRefund> = records::list(conn, &Query::newest_first(&records::CASE_REFUNDS, 10_000))?;
            let mut returned = Vec::new();
            for txn_no in &paid {
                let original = conn.journal_entry(txn_no)?.expect("the original exists").txn.amount().minor_units();
                let accepted: i64 = conn
                    .return_requests_for_txn(txn_no)?
                    .iter()
                    .filter(|request| request.status == ReturnRequestStatus::Accepted)
                    .map(|request| request.amount.minor_units())
                    .sum();
                let reversed: i64 = reversals
                    .iter()
                    .filter(|reversal| &reversal.txn_no == txn_no && reversal.approval.status == ApprovalStatus::Approved)
                    .map(|reversal| reversal.amount.minor_units())
                    .sum();
                returned.push((txn_no.clone(), original, accepted, reversed, conn.corrected_amount(txn_no)?));
            }
            Ok(Snapshot { now, report, wallets, packets, transfers, returned, complaints, freezes, reversals, case_refunds })
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
    for (txn_no, original, accepted, reversed, corrected) in &snapshot.returned {
        prop_assert!(accepted + reversed <= *corrected, "{txn_no}: the journal's corrections include every return and reversal");
        prop_assert!(corrected <= original, "{txn_no}: {corrected} given back of a payment of {original} ({accepted} returned, {reversed} reversed)");
    }
    for refund in &snapshot.case_refunds {
        let approved = refund.approval.status == ApprovalStatus::Approved;
        prop_assert_eq!(refund.refund_txn_no.is_some(), approved, "{}: carried out once approved, and only then", refund.id);
        if approved {
            prop_assert_ne!(refund.approval.decided_by.as_ref(), Some(&refund.approval.requested_by), "{}: approved by the reviewer who asked", refund.id);
        }
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
    for freeze in &snapshot.freezes {
        if let FreezeScope::Hold(held) = freeze.scope {
            prop_assert!(freeze.refunded_amount <= held, "{}: {} refunded out of a hold of {held}", freeze.id, freeze.refunded_amount);
        }
        if !matches!(freeze.cause, FreezeCause::Case(_)) {
            prop_assert!(freeze.refunded_amount.is_zero(), "{}: a rule's freeze refunded {}", freeze.id, freeze.refunded_amount);
        }
    }
    for complaint in &snapshot.complaints {
        let of_case = || snapshot.freezes.iter().filter(|freeze| freeze.cause == FreezeCause::Case(complaint.id.clone()));
        // A system fault's automatic refund recalls packets and cancels transfers instead.
        if complaint.kind != ComplaintKind::SystemFault {
            let refunded: i64 = of_case().map(|freeze| freeze.refunded_amount.minor_units()).sum();
            prop_assert_eq!(complaint.refunded_amount.minor_units(), refunded, "{}: a case refunds out of its freezes", complaint.id);
        }
        if complaint.status.is_resolved() && complaint.status.outcome() != Some(CaseOutcome::Referred) {
            prop_assert!(of_case().all(|freeze| !freeze.is_active(snapshot.now)), "{}: resolved as {:?} with a freeze left", complaint.id, complaint.status);
        }
    }
    for reversal in &snapshot.reversals {
        let approved = reversal.approval.status == ApprovalStatus::Approved;
        prop_assert_eq!(reversal.reversal_txn_no.is_some(), approved, "{}: carried out once approved, and only then", reversal.id);
        prop_assert!(reversal.approval.status == ApprovalStatus::Pending || reversal.approval.decided_by.is_some());
        if approved {
            prop_assert_ne!(reversal.approval.decided_by.as_ref(), Some(&reversal.approval.requested_by), "{}: approved by the officer who asked", reversal.id);
        }
    }
    Ok(())
}

/// What the service shows of each wallet agrees with the ledger, and its frozen and available parts
/// add up to its balance.
async fn check_wallets(world: &World, snapshot: &Snapshot) -> Result<(), TestCaseError> {
    for (user, balance) in world.users.iter().zip(&snapshot.wallets) {
        let wallet = world.service.wallet(user).await.expect("read the wallet");
        prop_assert_eq!(wallet.balance.minor_units(), *balance);
        prop_assert_eq!(wallet.available.checked_add(wallet.frozen), Some(wallet.balance), "{}: {:?}", user, wallet);
        prop_assert!(wallet.available <= wallet.balance && wallet.frozen <= wallet.balance, "{}: {:?}", user, wallet);
    }
    Ok(())
}

/// Runs the steps on a fresh world, checking the invariants after each one and that refused steps
/// changed nothing.
fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut world = world().await;
        let mut before = snapshot(&world).await;
        for step in steps {
            let refused = apply(&mut world, step).await?;
            let after = snapshot(&world).await;
            check_invariants(&after)?;
            // What a wallet shows follows from its balance, its freezes and the time alone.
            if after.wallets != before.wallets || after.freezes != before.freezes || after.now != before.now {
                check_wallets(&world, &after).await?;
            }
            if refused {
                prop_assert!(after.unchanged_since(&before), "the refused {:?} changed something", step);
            }
            world.note_freezes(&after);
            before = after;
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        rng_seed: proptest::test_runner::RngSeed::Fixed(hongbao_testkit::test_seed(20261129)),
        ..ProptestConfig::default()
    })]
    #[test]
    fn random_operations_keep_the_ledger_sound(steps in steps()) {
        run(&steps)?;
    }
}

/// An index into a list of one.
fn first() -> Index {
    any::<Index>().new_tree(&mut TestRunner::deterministic()).expect("an index").current()
}

/// A claim that two legal officers reversed in full is not given back once more through a return
/// request, which would pay its sender twice: the shortest sequence the property test found to break
/// this.
#[test]
fn a_reversed_claim_is_not_given_back_twice() {
    let steps = [
        Step::Lucky { sender: 2, total: 3, shares: 1 },
        Step::Claim { packet: first(), user: 0 },
        Step::RequestReversal { txn: Pick::Newest, officer: 0, amount: None },
        Step::DecideReversal { reversal: Pick::Newest, same_officer: false, approve: true },
        Step::AskBack { txn: Pick::Newest, as_payer: true, user: 0, amount: None },
        Step::Answer { request: Pick::Newest, as_recipient: true, user: 0, accept: true },
    ];
    run(&steps).expect("the invariants hold");
}
