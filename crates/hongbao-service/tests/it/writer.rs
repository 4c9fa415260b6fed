//! The writer's failure branches, reached with a store that fails on cue, on the backend the
//! environment selects: a batch of many jobs loses only the job the database refuses, whether the
//! refusal comes at a read or at the commit; a failed `begin`, a failed prefetch and a commit whose
//! outcome is lost are answered as such, and the next batch goes on.

use std::sync::Arc;

use hongbao_core::{Account, Amount, LedgerTxn, Timestamp, TxnKind, UserId};
use hongbao_service::{Config, Idempotency, ManualClock, Op, Outcome, Rendered, Reply, Service, ServiceError};
use hongbao_testkit::TestDatabase;
use hongbao_testkit::faults::{Faults, FaultyStore};

struct Fixture {
    service: Service,
    faults: Arc<Faults>,
    _database: TestDatabase,
}

fn start() -> Fixture {
    let database = TestDatabase::new();
    let (store, faults) = FaultyStore::new(database.store());
    let config = Config { admin_token: Some("admin".into()), evidence_dir: database.evidence_dir(), ..Config::default() };
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_800_000_000_000)));
    let service = Service::start(store, config, clock).expect("start").service;
    Fixture { service, faults, _database: database }
}

fn amount(minor_units: i64) -> Amount {
    Amount::new(minor_units).expect("an amount")
}

async fn new_user(service: &Service, name: &str) -> UserId {
    match service.execute(Op::CreateUser { name: name.into() }).await.expect("create a user") {
        Outcome::UserCreated { user, .. } => user.id,
        other => panic!("not a user: {other:?}"),
    }
}

fn top_up(user_id: &UserId, minor_units: i64, reference: &str) -> Op {
    Op::TopUp { user_id: user_id.clone(), amount: amount(minor_units), reference: reference.into() }
}

async fn balance(service: &Service, user_id: &UserId) -> i64 {
    service.wallet(user_id).await.expect("a wallet").balance.minor_units()
}

fn is_poisoned(txn: &LedgerTxn) -> bool {
    txn.kind() == TxnKind::TopUp && txn.reference().is_some_and(|reference| reference.starts_with("poison"))
}

/// Sends every op while the writer waits to begin, so that they all form one batch, and returns each
/// answer in order.
// The gate is held across awaits on purpose: it is the writer thread that waits on it, never a task.
#[allow(clippy::await_holding_lock)]
async fn in_one_batch(fixture: &Fixture, ops: Vec<Op>) -> Vec<Result<Outcome, ServiceError>> {
    let held = fixture.faults.hold_begins();
    let mut answers = Vec::new();
    for op in ops {
        let service = fixture.service.clone();
        answers.push(tokio::spawn(async move { service.execute(op).await }));
    }
    // The writer takes the first job and waits at `begin`; the rest queue behind it.
    while fixture.service.queued_jobs() + 1 < answers.len() {
        tokio::task::yield_now().await;
    }
    drop(held);
    let mut results = Vec::new();
    for answer in answers {
        results.push(answer.await.expect("the request task"));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_the_database_refuses_fails_only_the_jobs_it_refuses() {
    let fixture = start();
    let users = [new_user(&fixture.service, "alice").await, new_user(&fixture.service, "bob").await];
    fixture.faults.refuse_commits_when(|changes| changes.journal.iter().any(|(entry, _)| is_poisoned(&entry.txn)));
    let batches_before = fixture.service.metrics().batches.load(std::sync::atomic::Ordering::Relaxed);

    // Forty top-ups in one batch, every eighth poisoned: the database refuses any batch that holds one.
    let ops = (0..40).map(|index| top_up(&users[index % 2], 100, &format!("{}-{index}", if index % 8 == 3 { "poison" } else { "bank" }))).collect();
    let results = in_one_batch(&fixture, ops).await;

    for (index, result) in results.iter().enumerate() {
        if index % 8 == 3 {
            assert!(matches!(result, Err(ServiceError::Internal(_))), "poisoned job {index}: {result:?}");
        } else {
            assert!(matches!(result, Ok(Outcome::Posted(_))), "good job {index}: {result:?}");
        }
    }
    assert_eq!(balance(&fixture.service, &users[0]).await + balance(&fixture.service, &users[1]).await, 35 * 100);
    assert!(fixture.faults.refused() >= 5, "the poisoned jobs were refused at the commit");
    let batches = fixture.service.metrics().batches.load(std::sync::atomic::Ordering::Relaxed) - batches_before;
    assert!(batches < 35, "the good jobs committed in batches, not one by one: {batches}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_the_database_fails_fails_only_its_job() {
    let fixture = start();
    let (alice, bob) = (new_user(&fixture.service, "alice").await, new_user(&fixture.service, "bob").await);
    fixture.service.execute(top_up(&alice, 1_000, "bank-a")).await.expect("top up");
    fixture.service.execute(top_up(&bob, 1_000, "bank-b")).await.expect("top up");
    fixture.faults.fail_balance_reads_of(Account::Wallet(bob.clone()));

    let withdraw = |user_id: &UserId| Op::Withdraw { user_id: user_id.clone(), amount: amount(100), reference: None };
    let ops = vec![withdraw(&alice), withdraw(&bob), withdraw(&alice), top_up(&alice, 50, "bank-c")];
    let results = in_one_batch(&fixture, ops).await;

    assert!(matches!(results[0], Ok(Outcome::Posted(_))), "{:?}", results[0]);
    assert!(matches!(results[1], Err(ServiceError::Internal(_))), "{:?}", results[1]);
    assert!(matches!(results[2], Ok(Outcome::Posted(_))), "{:?}", results[2]);
    assert!(matches!(results[3], Ok(Outcome::Posted(_))), "{:?}", results[3]);
    assert_eq!(balance(&fixture.service, &alice).await, 1_000 - 200 + 50);
    assert_eq!(balance(&fixture.service, &bob).await, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_begin_fails_its_batch_and_the_next_one_goes_on() {
    let fixture = start();
    let alice = new_user(&fixture.service, "alice").await;
    // The writer's connection fails to begin, and so does the new one it opens.
    fixture.faults.fail_begins(2);
    let refused = fixture.service.execute(top_up(&alice, 100, "bank-1")).await;
    assert!(matches!(refused, Err(ServiceError::Internal(_))), "{refused:?}");
    fixture.service.execute(top_up(&alice, 100, "bank-2")).await.expect("the next batch");
    assert_eq!(balance(&fixture.service, &alice).await, 100);

    // One failure only: the writer connects again and the batch goes through.
    fixture.faults.fail_begins(1);
    fixture.service.execute(top_up(&alice, 100, "bank-3")).await.expect("a batch on a new connection");
    assert_eq!(balance(&fixture.service, &alice).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_not_granted_in_time_answers_busy_at_once_and_the_next_batch_goes_on() {
    let fixture = start();
    let alice = new_user(&fixture.service, "alice").await;
    // Another process held the write lock past the lock timeout: the batch is answered busy, not
    // retried on a new connection behind the same holder, and nothing of it is applied.
    fixture.faults.time_out_begins(1);
    let refused = fixture.service.execute(top_up(&alice, 100, "bank-1")).await;
    assert!(matches!(refused, Err(ServiceError::Busy)), "{refused:?}");
    assert_eq!(balance(&fixture.service, &alice).await, 0);
    fixture.service.execute(top_up(&alice, 100, "bank-1")).await.expect("the retry, in the next batch");
    assert_eq!(balance(&fixture.service, &alice).await, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_prefetch_fails_its_batch_and_the_next_one_goes_on() {
    let fixture = start();
    let (alice, bob) = (new_user(&fixture.service, "alice").await, new_user(&fixture.service, "bob").await);
    fixture.service.execute(top_up(&alice, 1_000, "bank-1")).await.expect("top up");
    let spec = hongbao_core::packet::PacketSpec::NormalToUser { recipient_id: bob.clone(), amount_per_share: amount(100) };
    let Outcome::Packet(view) = fixture.service.execute(Op::SendPacket { sender_id: alice, spec, greeting: None, confirmation: None }).await.expect("send")
    else {
        panic!("not a packet")
    };
    // A claim makes the writer prefetch its packet.
    fixture.faults.fail_prefetches(1);
    let claim = Op::Claim { packet_id: view.packet.id.clone(), user_id: bob.clone() };
    let refused = fixture.service.execute(claim.clone()).await;
    assert!(matches!(refused, Err(ServiceError::Internal(_))), "{refused:?}");
    assert_eq!(balance(&fixture.service, &bob).await, 0, "nothing of the failed batch was applied");
    fixture.service.execute(claim).await.expect("the claim, again");
    assert_eq!(balance(&fixture.service, &bob).await, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_outcome_is_lost_is_answered_as_unknown_and_its_key_tells_the_outcome() {
    let fixture = start();
    let alice = new_user(&fixture.service, "alice").await;
    let key = || Idempotency { caller: "admin".into(), key: "top-up-1".into(), request_hash: [1; 32] };
    let render = || -> hongbao_service::Render { Box::new(|_: &Outcome| Rendered { status: 201, body: b"posted".to_vec(), replay_body: None }) };

    fixture.faults.lose_commit_outcomes(1);
    let answer = fixture.service.submit(top_up(&alice, 100, "bank-1"), Some(key()), Some(render())).await;
    let Err(ServiceError::Internal(detail)) = answer else { panic!("not an unknown outcome: {answer:?}") };
    assert!(detail.contains("may have been applied"), "{detail}");

    // The commit did happen: the repeat with the key finds the first answer and does nothing again.
    let again = fixture.service.submit(top_up(&alice, 100, "bank-1"), Some(key()), Some(render())).await.expect("the repeat");
    assert!(matches!(again, Reply::Replayed(Rendered { status: 201, .. })), "{again:?}");
    assert_eq!(balance(&fixture.service, &alice).await, 100);
}
