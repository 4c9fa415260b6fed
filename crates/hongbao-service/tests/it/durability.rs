//! On PostgreSQL a batch commits without waiting for the disk, so that the writer lock is free at once,
//! and is answered only after a small commit of the writer's own that does wait (`commit_flushes`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use hongbao_core::{Amount, Timestamp};
use hongbao_service::{Config, ManualClock, Op, Outcome, Service};
use hongbao_testkit::{TestDatabase, skip_without_postgres};

const FLUSHES: &str = "SELECT coalesce(sum(flushes), 0)::bigint FROM commit_flushes";

/// A service on the test's database: a process of its own, as far as the database can tell.
fn process(database: &TestDatabase) -> Service {
    let config = Config { admin_token: Some("admin".into()), evidence_dir: database.evidence_dir(), ..Config::default() };
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_800_000_000_000)));
    Service::start(database.store(), config, clock).expect("start").service
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_batch_on_postgres_is_followed_by_its_flush() {
    let Some(server_url) = skip_without_postgres("every_committed_batch_on_postgres_is_followed_by_its_flush") else { return };
    let database = TestDatabase::postgres(&server_url);
    let service = process(&database);
    let batches_before = service.metrics().batches.load(Ordering::Relaxed);
    let flushes_before = database.postgres_query_i64(FLUSHES);

    let mut answers = Vec::new();
    for index in 0..40 {
        let service = service.clone();
        answers.push(tokio::spawn(async move {
            let Outcome::UserCreated { user, .. } = service.execute(Op::CreateUser { name: format!("user{index}") }).await.expect("create") else {
                panic!("not a user")
            };
            service
                .execute(Op::TopUp { user_id: user.id, amount: Amount::new(100).expect("an amount"), reference: format!("top-up-{index}") })
                .await
                .expect("top up");
        }));
    }
    for answer in answers {
        answer.await.expect("the request task");
    }

    let batches = service.metrics().batches.load(Ordering::Relaxed) - batches_before;
    let flushes = database.postgres_query_i64(FLUSHES) - flushes_before;
    assert!(batches > 0);
    assert_eq!(flushes, i64::try_from(batches).expect("a count"), "each answered batch waited for one flush of its own");
}

/// Two services on one PostgreSQL database stand for two processes: a commit of one wakes the other's
/// streams of the users it wrote events for, through LISTEN/NOTIFY, without waiting for their poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_in_one_process_wakes_another_processs_streams_of_its_users() {
    let Some(server_url) = skip_without_postgres("a_commit_in_one_process_wakes_another_processs_streams_of_its_users") else { return };
    let database = TestDatabase::postgres(&server_url);
    let (writing, watching) = (process(&database), process(&database));
    let Outcome::UserCreated { user, .. } = writing.execute(Op::CreateUser { name: "alice".into() }).await.expect("create") else { panic!("not a user") };
    let Outcome::UserCreated { user: other, .. } = writing.execute(Op::CreateUser { name: "bob".into() }).await.expect("create") else { panic!("not a user") };

    let (waker, others) = (watching.event_waker(&user.id), watching.event_waker(&other.id));
    let woken = waker.notified();
    let others_woken = others.notified();
    tokio::pin!(woken, others_woken);
    woken.as_mut().enable();
    others_woken.as_mut().enable();
    // The listener of the watching service may still be connecting: top up until it hears one.
    let mut amount = 100;
    let heard = loop {
        writing
            .execute(Op::TopUp { user_id: user.id.clone(), amount: Amount::new(amount).expect("an amount"), reference: format!("top-up-{amount}") })
            .await
            .expect("top up");
        tokio::select! {
            () = &mut woken => break true,
            () = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
        }
        amount += 1;
        if amount > 100 + 150 {
            break false;
        }
    };
    assert!(heard, "the other process's commit woke alice's stream within 30 s");
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(std::future::Future::poll(others_woken.as_mut(), &mut context).is_pending(), "bob's stream was not woken: none of the events were his");
    assert_eq!(watching.event_poll(), std::time::Duration::from_millis(1_000 * hongbao_service::config::WATCHED_POLL_FACTOR));
}

/// The database can drop the writer's connection (a restart, a failover to a standby): the next batch
/// connects again, instead of every write failing until the process is restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_connects_again_when_the_database_drops_its_connection() {
    let Some(server_url) = skip_without_postgres("the_writer_connects_again_when_the_database_drops_its_connection") else { return };
    let database = TestDatabase::postgres(&server_url);
    let service = process(&database);
    let Outcome::UserCreated { user, .. } = service.execute(Op::CreateUser { name: "alice".into() }).await.expect("create") else { panic!("not a user") };
    // The writer's connection is the one that recorded its flushes.
    let dropped = database.postgres_query_i64("SELECT count(*) FROM commit_flushes WHERE pg_terminate_backend(backend_pid)");
    assert_eq!(dropped, 1, "the writer's connection was dropped");

    let amount = Amount::new(500).expect("an amount");
    service.execute(Op::TopUp { user_id: user.id.clone(), amount, reference: "after the drop".into() }).await.expect("a write after the drop");
    assert_eq!(database.postgres_query_i64("SELECT count(*) FROM commit_flushes"), 2, "the writer flushes on a connection of its own again");
}
