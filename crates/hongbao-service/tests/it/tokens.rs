//! Authentication of tokens this process has not cached: a crowd of lookups answered together must
//! still give each token its own user, and nobody for an unknown token.

use std::sync::Arc;

use hongbao_core::Timestamp;
use hongbao_service::{Config, ManualClock, Op, Outcome, Principal, Service};
use hongbao_testkit::TestDatabase;

fn config(database: &TestDatabase) -> Config {
    Config { admin_token: Some("admin".into()), evidence_dir: database.evidence_dir(), ..Config::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_uncached_tokens_each_finds_its_own_user() {
    let database = TestDatabase::new();
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_800_000_000_000)));
    let first = Service::start(database.store(), config(&database), clock.clone()).expect("start").service;
    let mut users = Vec::new();
    for index in 0..200 {
        match first.execute(Op::CreateUser { name: format!("user{index}") }).await.expect("create user") {
            Outcome::UserCreated { user, token } => users.push((user, token)),
            other => panic!("unexpected {other:?}"),
        }
    }
    drop(first);

    // A second process on the same database has seen none of these tokens.
    let second = Service::start(database.store(), config(&database), clock).expect("start").service;
    let mut lookups = Vec::new();
    for (index, (user, token)) in users.iter().enumerate() {
        let service = second.clone();
        let token = token.clone();
        lookups.push((Some(user.clone()), tokio::spawn(async move { service.authenticate(&token).await })));
        if index % 20 == 0 {
            let service = second.clone();
            let unknown = format!("hbt_unknown{index}");
            lookups.push((None, tokio::spawn(async move { service.authenticate(&unknown).await })));
        }
    }
    for (expected, lookup) in lookups {
        let found = lookup.await.expect("the lookup task").expect("a lookup");
        match (expected, found) {
            (Some(user), Some(Principal::User(found))) => assert_eq!(found, user),
            (None, None) => {}
            (expected, found) => panic!("expected {expected:?}, found {found:?}"),
        }
    }
    // Now cached: the same answers without a read.
    let (user, token) = &users[7];
    assert!(matches!(second.authenticate(token).await.expect("a lookup"), Some(Principal::User(found)) if &found == user));
}
