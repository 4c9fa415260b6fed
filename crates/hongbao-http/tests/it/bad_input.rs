//! Bad input: malformed JSON, wrong types, unknown fields, missing content types, out-of-range
//! amounts, overlong greetings, unknown ids and packets that break the limits. Each gets a
//! problem+json answer with the right code, and none changes a balance or the journal.

use hongbao_service::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, Answer, TestServer, TestUser};

type LedgerState = (Vec<(String, i64)>, u64);

/// A raw withdrawal body that must be refused: what it is, its content type, its bytes, the status.
type RawCase = (&'static str, Option<&'static str>, &'static [u8], StatusCode);

/// Checks a refused request: its status, its problem code, and that the ledger is as it was.
fn assert_refused(server: &TestServer, before: &LedgerState, what: &str, answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{what}: unexpected answer {:?}", answer.body);
    assert_eq!(answer.code(), code, "{what}: unexpected problem {:?}", answer.body);
    assert_eq!(&server.ledger_state(), before, "{what}: a refused request changed the ledger");
}

/// A JSON request that must be refused: who sends it, where, what, and the expected answer.
struct BadRequest<'a> {
    what: String,
    token: &'a str,
    path: String,
    body: Value,
    status: StatusCode,
    code: &'a str,
}

fn bad<'a>(what: impl Into<String>, token: &'a str, path: impl Into<String>, body: Value, status: StatusCode, code: &'a str) -> BadRequest<'a> {
    BadRequest { what: what.into(), token, path: path.into(), body, status, code }
}

async fn assert_all_refused(server: &TestServer, requests: Vec<BadRequest<'_>>) {
    let before = server.ledger_state();
    for request in requests {
        let answer = server.post(&request.path, request.token, request.body.clone()).await;
        assert_refused(server, &before, &format!("{} ({} {})", request.what, request.path, request.body), &answer, request.status, request.code);
    }
}

/// A funded sender with a group of three: the sender, bob and carol.
async fn sender_with_group(server: &TestServer) -> (TestUser, TestUser, TestUser, String) {
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let group_id = server.group(&alice, &[&bob, &carol]).await;
    (alice, bob, carol, group_id)
}

const BAD_REQUEST: StatusCode = StatusCode::BAD_REQUEST;
const VALIDATION: &str = "validation_failed";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_and_content_types_are_refused() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    let before = server.ledger_state();
    let raw_cases: [RawCase; 9] = [
        ("truncated JSON", Some("application/json"), b"{\"amount\": ", BAD_REQUEST),
        ("not JSON at all", Some("application/json"), b"amount=100", BAD_REQUEST),
        ("an array instead of an object", Some("application/json"), b"[100]", BAD_REQUEST),
        ("an empty body", Some("application/json"), b"", BAD_REQUEST),
        ("trailing garbage", Some("application/json"), b"{\"amount\": 100} {", BAD_REQUEST),
        ("an amount past i64", Some("application/json"), b"{\"amount\": 9223372036854775808}", BAD_REQUEST),
        ("an amount in exponent form", Some("application/json"), b"{\"amount\": 1e2}", BAD_REQUEST),
        ("no content type", None, b"{\"amount\": 100}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("a text content type", Some("text/plain"), b"{\"amount\": 100}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ];
    for (what, content_type, body, status) in raw_cases {
        let path = "/v1/withdrawals";
        let answer = match content_type {
            Some(content_type) => server.post_bytes(path, &alice.token, Some(content_type), body.to_vec()).await,
            None => server.post_bytes(path, &alice.token, None, body.to_vec()).await,
        };
        assert_refused(&server, &before, what, &answer, status, VALIDATION);
    }
    let missing_type_on_a_packet =
        server.post_bytes("/v1/packets", &alice.token, None, br#"{"kind":"normal","recipient_id":"usr_x","amount_per_share":100}"#.to_vec()).await;
    assert_refused(&server, &before, "a packet without a content type", &missing_type_on_a_packet, StatusCode::UNSUPPORTED_MEDIA_TYPE, VALIDATION);
    let oversized = server
        .post_bytes_alone(
            "/v1/withdrawals",
            &alice.token,
            "application/json",
            format!("{{\"amount\": 100, \"reference\": \"{}\"}}", "x".repeat(9 << 20)).into_bytes(),
        )
        .await;
    match oversized {
        Some(oversized) => {
            assert_refused(&server, &before, "a body over the size limit", &oversized, StatusCode::PAYLOAD_TOO_LARGE, VALIDATION);
            assert_eq!(oversized.headers.get("connection").and_then(|value| value.to_str().ok()), Some("close"), "the unread connection is closed");
        }
        // The answer was lost to the reset of the connection the server closed; nothing may have changed.
        None => assert_eq!(server.ledger_state(), before, "a body over the size limit changed the ledger"),
    }
    assert_eq!(server.balance(&alice).await, 10_00);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_and_unknown_fields_are_refused() {
    let server = TestServer::start().await;
    let (alice, bob, _carol, group_id) = sender_with_group(&server).await;
    let members_path = format!("/v1/groups/{group_id}/members");
    let group_before = server.get(&format!("/v1/groups/{group_id}"), &alice.token).await.expect(StatusCode::OK);
    let token = alice.token.as_str();
    assert_all_refused(
        &server,
        vec![
            bad("a string amount", token, "/v1/withdrawals", json!({ "amount": "100" }), BAD_REQUEST, VALIDATION),
            bad("a float amount", token, "/v1/withdrawals", json!({ "amount": 12.5 }), BAD_REQUEST, VALIDATION),
            bad("a whole float amount", token, "/v1/withdrawals", json!({ "amount": 100.0 }), BAD_REQUEST, VALIDATION),
            bad("a boolean amount", token, "/v1/withdrawals", json!({ "amount": true }), BAD_REQUEST, VALIDATION),
            bad("a null amount", token, "/v1/withdrawals", json!({ "amount": null }), BAD_REQUEST, VALIDATION),
            bad("a missing amount", token, "/v1/withdrawals", json!({ "reference": "r" }), BAD_REQUEST, VALIDATION),
            bad("an unknown field", token, "/v1/withdrawals", json!({ "amount": 100, "currency": "USD" }), BAD_REQUEST, VALIDATION),
            bad("a numeric reference", token, "/v1/withdrawals", json!({ "amount": 100, "reference": 7 }), BAD_REQUEST, VALIDATION),
            bad("a string top-up amount", ADMIN_TOKEN, "/v1/top-ups", json!({ "user_id": bob.id, "amount": "100", "reference": "r" }), BAD_REQUEST, VALIDATION),
            bad("a numeric user id", ADMIN_TOKEN, "/v1/top-ups", json!({ "user_id": 5, "amount": 100, "reference": "r" }), BAD_REQUEST, VALIDATION),
            bad("a top-up without reference", ADMIN_TOKEN, "/v1/top-ups", json!({ "user_id": bob.id, "amount": 100 }), BAD_REQUEST, VALIDATION),
            bad(
                "a top-up with an empty reference",
                ADMIN_TOKEN,
                "/v1/top-ups",
                json!({ "user_id": bob.id, "amount": 100, "reference": "" }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a top-up with an unknown field",
                ADMIN_TOKEN,
                "/v1/top-ups",
                json!({ "user_id": bob.id, "amount": 100, "reference": "r", "note": "x" }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad("a numeric user name", ADMIN_TOKEN, "/v1/users", json!({ "name": 5 }), BAD_REQUEST, VALIDATION),
            bad("a user with an unknown field", ADMIN_TOKEN, "/v1/users", json!({ "name": "eve", "admin": true }), BAD_REQUEST, VALIDATION),
            bad("member ids as a string", token, "/v1/groups", json!({ "name": "g", "member_ids": bob.id }), BAD_REQUEST, VALIDATION),
            bad("a group with an unknown field", token, "/v1/groups", json!({ "name": "g", "member_ids": [], "owner_id": bob.id }), BAD_REQUEST, VALIDATION),
            bad("a member without user id", token, members_path.clone(), json!({}), BAD_REQUEST, VALIDATION),
            bad("a member with an unknown field", token, members_path.clone(), json!({ "user_id": bob.id, "role": "owner" }), BAD_REQUEST, VALIDATION),
            bad(
                "string shares",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 300, "shares": "3" }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a float total",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 12.5, "shares": 3 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a boolean amount per share",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": true }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad("a numeric kind", token, "/v1/packets", json!({ "kind": 1, "recipient_id": bob.id, "amount_per_share": 100 }), BAD_REQUEST, VALIDATION),
            bad(
                "a numeric greeting",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 100, "greeting": 8 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a packet with an unknown field",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 100, "message": "hi" }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad("a packet without kind", token, "/v1/packets", json!({ "recipient_id": bob.id, "amount_per_share": 100 }), BAD_REQUEST, VALIDATION),
        ],
    )
    .await;
    assert_eq!(server.get(&format!("/v1/groups/{group_id}"), &alice.token).await.expect(StatusCode::OK), group_before, "the group is unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_zero_fractional_and_huge_amounts_are_refused() {
    let server = TestServer::start().await;
    let (alice, bob, _carol, group_id) = sender_with_group(&server).await;
    let token = alice.token.as_str();
    let past_limit = 1_000_000_000_001_i64;
    let past_i64 = json!(u64::MAX);
    let mut requests = Vec::new();
    for (what, amount) in [
        ("negative", json!(-100)),
        ("zero", json!(0)),
        ("fractional", json!(0.5)),
        ("over 10^12", json!(past_limit)),
        ("past i64", past_i64.clone()),
        ("i64 minimum", json!(i64::MIN)),
    ] {
        let what = format!("{what} amount");
        requests.push(bad(
            what.as_str(),
            ADMIN_TOKEN,
            "/v1/top-ups",
            json!({ "user_id": alice.id, "amount": amount, "reference": "r" }),
            BAD_REQUEST,
            VALIDATION,
        ));
        requests.push(bad(what.as_str(), token, "/v1/withdrawals", json!({ "amount": amount }), BAD_REQUEST, VALIDATION));
        requests.push(bad(
            what.as_str(),
            token,
            "/v1/packets",
            json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": amount }),
            BAD_REQUEST,
            VALIDATION,
        ));
        requests.push(bad(
            what.as_str(),
            token,
            "/v1/packets",
            json!({ "kind": "normal", "group_id": group_id, "amount_per_share": amount, "shares": 2 }),
            BAD_REQUEST,
            VALIDATION,
        ));
        requests.push(bad(
            what.as_str(),
            token,
            "/v1/packets",
            json!({ "kind": "lucky", "group_id": group_id, "total_amount": amount, "shares": 2 }),
            BAD_REQUEST,
            VALIDATION,
        ));
        requests.push(bad(
            what.as_str(),
            token,
            "/v1/packets",
            json!({ "kind": "timed", "recipient_id": bob.id, "total_amount": amount }),
            BAD_REQUEST,
            VALIDATION,
        ));
        requests.push(bad(
            what.as_str(),
            token,
            "/v1/packets",
            json!({ "kind": "exclusive", "group_id": group_id, "recipient_id": bob.id, "total_amount": amount }),
            BAD_REQUEST,
            VALIDATION,
        ));
    }
    assert_all_refused(&server, requests).await;

    // 10^12 itself is the largest amount accepted; it does not overflow anything.
    server
        .post("/v1/top-ups", ADMIN_TOKEN, json!({ "user_id": bob.id, "amount": 1_000_000_000_000_i64, "reference": "the most" }))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(server.balance(&bob).await, 1_000_000_000_000);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_outside_the_limits_are_refused() {
    let server = TestServer::start().await;
    let (alice, bob, carol, group_id) = sender_with_group(&server).await;
    let members = server.users_concurrently("member", 100, 16).await;
    let big_group_id = server.group(&alice, &members.iter().collect::<Vec<_>>()).await;
    let token = alice.token.as_str();
    let ascii_101 = "a".repeat(101);
    let cjk_101 = "福".repeat(101);
    assert_all_refused(
        &server,
        vec![
            bad(
                "a greeting of 101 characters",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 100, "greeting": ascii_101 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a greeting of 101 CJK characters",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 300, "shares": 3, "greeting": cjk_101 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "more shares than members",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 400, "shares": 4 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "more normal shares than members",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "group_id": group_id, "amount_per_share": 100, "shares": 4 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "more timed shares than members",
                token,
                "/v1/packets",
                json!({ "kind": "timed", "group_id": group_id, "total_amount": 400, "shares": 4 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "101 shares in a group of 101",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": big_group_id, "total_amount": 101_00, "shares": 101 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "101 normal shares in a group of 101",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "group_id": big_group_id, "amount_per_share": 100, "shares": 101 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "zero shares",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 300, "shares": 0 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "negative shares",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 300, "shares": -1 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "shares past u32",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 300, "shares": 1_i64 << 40 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a normal share over 200.00",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 200_01 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "normal group shares over 200.00",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "group_id": group_id, "amount_per_share": 200_01, "shares": 2 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a lucky single share over 200.00",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 200_01, "shares": 1 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "lucky shares that must average over 200.00",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 600_01, "shares": 3 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "lucky shares under 0.01",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 2, "shares": 3 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "an exclusive packet over 200.00",
                token,
                "/v1/packets",
                json!({ "kind": "exclusive", "group_id": group_id, "recipient_id": bob.id, "total_amount": 200_01 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a timed one-to-one packet over 200.00",
                token,
                "/v1/packets",
                json!({ "kind": "timed", "recipient_id": bob.id, "total_amount": 200_01 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a countdown of 9 s",
                token,
                "/v1/packets",
                json!({ "kind": "timed", "recipient_id": bob.id, "total_amount": 100, "expires_in_seconds": 9 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a countdown of 24 h + 1 s",
                token,
                "/v1/packets",
                json!({ "kind": "timed", "group_id": group_id, "total_amount": 200, "shares": 2, "expires_in_seconds": 86_401 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a countdown of 0 s",
                token,
                "/v1/packets",
                json!({ "kind": "timed", "recipient_id": bob.id, "total_amount": 100, "expires_in_seconds": 0 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a negative countdown",
                token,
                "/v1/packets",
                json!({ "kind": "timed", "recipient_id": bob.id, "total_amount": 100, "expires_in_seconds": -60 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a countdown of i64::MAX",
                token,
                "/v1/packets",
                json!({ "kind": "timed", "recipient_id": bob.id, "total_amount": 100, "expires_in_seconds": i64::MAX }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a lucky packet with amount_per_share",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 300, "shares": 3, "amount_per_share": 100 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a lucky packet with a countdown",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 300, "shares": 3, "expires_in_seconds": 60 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a lucky packet to a recipient",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "recipient_id": bob.id, "total_amount": 300, "shares": 1 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a lucky packet without shares",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 300 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a normal packet with total_amount",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 100, "total_amount": 100 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a normal packet with a countdown",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "group_id": group_id, "amount_per_share": 100, "shares": 2, "expires_in_seconds": 60 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a normal packet to a user with 2 shares",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 100, "shares": 2 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a normal group packet without shares",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "group_id": group_id, "amount_per_share": 100 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a normal packet to a group and a user",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "group_id": group_id, "recipient_id": bob.id, "amount_per_share": 100, "shares": 1 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad("a normal packet to nobody", token, "/v1/packets", json!({ "kind": "normal", "amount_per_share": 100 }), BAD_REQUEST, VALIDATION),
            bad(
                "a timed packet with amount_per_share",
                token,
                "/v1/packets",
                json!({ "kind": "timed", "recipient_id": bob.id, "total_amount": 100, "amount_per_share": 100 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a timed one-to-one packet with 2 shares",
                token,
                "/v1/packets",
                json!({ "kind": "timed", "recipient_id": bob.id, "total_amount": 200, "shares": 2 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "an exclusive packet with 2 shares",
                token,
                "/v1/packets",
                json!({ "kind": "exclusive", "group_id": group_id, "recipient_id": bob.id, "total_amount": 200, "shares": 2 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "an exclusive packet with a countdown",
                token,
                "/v1/packets",
                json!({ "kind": "exclusive", "group_id": group_id, "recipient_id": bob.id, "total_amount": 200, "expires_in_seconds": 60 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "an exclusive packet with amount_per_share",
                token,
                "/v1/packets",
                json!({ "kind": "exclusive", "group_id": group_id, "recipient_id": carol.id, "amount_per_share": 200 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "an exclusive packet without recipient",
                token,
                "/v1/packets",
                json!({ "kind": "exclusive", "group_id": group_id, "total_amount": 200 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad("an unknown kind", token, "/v1/packets", json!({ "kind": "mystery", "recipient_id": bob.id, "total_amount": 100 }), BAD_REQUEST, VALIDATION),
            bad(
                "a packet to oneself",
                token,
                "/v1/packets",
                json!({ "kind": "timed", "recipient_id": alice.id, "total_amount": 100 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a packet beyond the balance",
                bob.token.as_str(),
                "/v1/packets",
                json!({ "kind": "normal", "recipient_id": carol.id, "amount_per_share": 1 }),
                StatusCode::CONFLICT,
                "insufficient_funds",
            ),
        ],
    )
    .await;

    // At the limits everything is accepted: 100 CJK characters, 100 shares, 200.00 a share, 10 s and 24 h.
    let cjk_100 = "福".repeat(100);
    let accepted = server
        .post("/v1/packets", token, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 200_00, "greeting": cjk_100 }))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(accepted["greeting"].as_str().map(|greeting| greeting.chars().count()), Some(100));
    server
        .post("/v1/packets", token, json!({ "kind": "lucky", "group_id": big_group_id, "total_amount": 100_00, "shares": 100 }))
        .await
        .expect(StatusCode::CREATED);
    server
        .post("/v1/packets", token, json!({ "kind": "timed", "recipient_id": bob.id, "total_amount": 100, "expires_in_seconds": 10 }))
        .await
        .expect(StatusCode::CREATED);
    server
        .post("/v1/packets", token, json!({ "kind": "timed", "recipient_id": bob.id, "total_amount": 100, "expires_in_seconds": 86_400 }))
        .await
        .expect(StatusCode::CREATED);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_ids_are_refused() {
    let server = TestServer::start().await;
    let (alice, bob, _carol, group_id) = sender_with_group(&server).await;
    let token = alice.token.as_str();
    let group_before = server.get(&format!("/v1/groups/{group_id}"), token).await.expect(StatusCode::OK);
    let not_found = StatusCode::NOT_FOUND;
    assert_all_refused(
        &server,
        vec![
            bad(
                "a top-up to a user nobody has",
                ADMIN_TOKEN,
                "/v1/top-ups",
                json!({ "user_id": "usr_nobodyhasthisid", "amount": 100, "reference": "r" }),
                not_found,
                "not_found",
            ),
            bad(
                "a top-up to a malformed user id",
                ADMIN_TOKEN,
                "/v1/top-ups",
                json!({ "user_id": "nobody", "amount": 100, "reference": "r" }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad("a top-up to a group id", ADMIN_TOKEN, "/v1/top-ups", json!({ "user_id": group_id, "amount": 100, "reference": "r" }), BAD_REQUEST, VALIDATION),
            bad(
                "a packet to a user nobody has",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "recipient_id": "usr_nobodyhasthisid", "amount_per_share": 100 }),
                not_found,
                "not_found",
            ),
            bad(
                "a packet to a malformed user id",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "recipient_id": "bob", "amount_per_share": 100 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a packet to a group nobody has",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": "grp_nobodyhasthisid", "total_amount": 200, "shares": 2 }),
                not_found,
                "not_found",
            ),
            bad(
                "a packet to a malformed group id",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": "family", "total_amount": 200, "shares": 2 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "an exclusive packet to a user nobody has",
                token,
                "/v1/packets",
                json!({ "kind": "exclusive", "group_id": group_id, "recipient_id": "usr_nobodyhasthisid", "total_amount": 200 }),
                not_found,
                "not_found",
            ),
            bad(
                "a group with a member nobody has",
                token,
                "/v1/groups",
                json!({ "name": "g", "member_ids": [bob.id, "usr_nobodyhasthisid"] }),
                not_found,
                "not_found",
            ),
            bad("a group with a malformed member", token, "/v1/groups", json!({ "name": "g", "member_ids": ["bob"] }), BAD_REQUEST, VALIDATION),
            bad(
                "adding a member nobody has",
                token,
                format!("/v1/groups/{group_id}/members"),
                json!({ "user_id": "usr_nobodyhasthisid" }),
                not_found,
                "not_found",
            ),
            bad("adding a malformed member", token, format!("/v1/groups/{group_id}/members"), json!({ "user_id": "Bob!" }), BAD_REQUEST, VALIDATION),
            bad("adding to a group nobody has", token, "/v1/groups/grp_nobodyhasthisid/members", json!({ "user_id": bob.id }), not_found, "not_found"),
            bad("adding to a malformed group id", token, "/v1/groups/family/members", json!({ "user_id": bob.id }), not_found, "not_found"),
        ],
    )
    .await;
    let before = server.ledger_state();
    for (what, answer) in [
        ("claiming a packet nobody has", server.post_empty("/v1/packets/pkt_nobodyhasthisid/claim", token).await),
        ("claiming a malformed packet id", server.post_empty("/v1/packets/not-a-packet/claim", token).await),
        ("recalling a packet nobody has", server.post_empty("/v1/packets/pkt_nobodyhasthisid/recall", token).await),
        ("recalling a malformed packet id", server.post_empty("/v1/packets/PKT_X/recall", token).await),
        ("reading a packet nobody has", server.get("/v1/packets/pkt_nobodyhasthisid", token).await),
        ("reading a malformed packet id", server.get("/v1/packets/not-a-packet", token).await),
        ("reading a group nobody has", server.get("/v1/groups/grp_nobodyhasthisid", token).await),
        ("reading a malformed group id", server.get("/v1/groups/family", token).await),
        ("reading a transaction nobody has", server.get("/v1/transactions/txn_nobodyhasthisid", token).await),
        ("removing a member nobody has", server.delete(&format!("/v1/groups/{group_id}/members/usr_nobodyhasthisid"), token).await),
        ("removing a malformed member", server.delete(&format!("/v1/groups/{group_id}/members/bob"), token).await),
        ("removing from a group nobody has", server.delete(&format!("/v1/groups/grp_nobodyhasthisid/members/{}", bob.id), token).await),
    ] {
        assert_refused(&server, &before, what, &answer, not_found, "not_found");
    }
    assert_eq!(server.get(&format!("/v1/groups/{group_id}"), token).await.expect(StatusCode::OK), group_before, "the group is unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_beyond_the_member_limit_are_refused() {
    let server = TestServer::start_with(Config { max_group_members: 3, ..Config::default() }).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let dave = server.user("dave").await;
    let before = server.ledger_state();
    let too_big = server.post("/v1/groups", &alice.token, json!({ "name": "too big", "member_ids": [bob.id, carol.id, dave.id] })).await;
    assert_refused(&server, &before, "a group of 4 with a limit of 3", &too_big, BAD_REQUEST, VALIDATION);
    let group_id = server.group(&alice, &[&bob, &carol]).await;
    let one_more = server.post(&format!("/v1/groups/{group_id}/members"), &alice.token, json!({ "user_id": dave.id })).await;
    assert_refused(&server, &before, "a fourth member with a limit of 3", &one_more, BAD_REQUEST, VALIDATION);
    let group = server.get(&format!("/v1/groups/{group_id}"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(group["member_ids"].as_array().expect("member ids").len(), 3);
    // The owner counts as a member, and listing them again does not count twice.
    server
        .post("/v1/groups", &alice.token, json!({ "name": "just right", "member_ids": [alice.id, bob.id, bob.id, carol.id] }))
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_packet_limits_are_enforced() {
    let limits = hongbao_core::PacketLimits {
        max_shares: 3,
        max_share: hongbao_core::Amount::new(10_00).expect("a valid amount"),
        timed_min_seconds: 30,
        ..hongbao_core::PacketLimits::default()
    };
    let server = TestServer::start_with(Config { limits, ..Config::default() }).await;
    let (alice, bob, carol, group_id) = sender_with_group(&server).await;
    let dave = server.user("dave").await;
    server.post(&format!("/v1/groups/{group_id}/members"), &alice.token, json!({ "user_id": dave.id })).await.expect(StatusCode::OK);
    let token = alice.token.as_str();
    assert_all_refused(
        &server,
        vec![
            bad(
                "4 shares with a limit of 3",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 4_00, "shares": 4 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a share over a limit of 10.00",
                token,
                "/v1/packets",
                json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 10_01 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "lucky shares over a limit of 10.00",
                token,
                "/v1/packets",
                json!({ "kind": "lucky", "group_id": group_id, "total_amount": 20_01, "shares": 2 }),
                BAD_REQUEST,
                VALIDATION,
            ),
            bad(
                "a countdown under a minimum of 30 s",
                token,
                "/v1/packets",
                json!({ "kind": "timed", "recipient_id": carol.id, "total_amount": 1_00, "expires_in_seconds": 29 }),
                BAD_REQUEST,
                VALIDATION,
            ),
        ],
    )
    .await;
    server.post("/v1/packets", token, json!({ "kind": "lucky", "group_id": group_id, "total_amount": 30_00, "shares": 3 })).await.expect(StatusCode::CREATED);
    server
        .post("/v1/packets", token, json!({ "kind": "timed", "recipient_id": carol.id, "total_amount": 1_00, "expires_in_seconds": 30 }))
        .await
        .expect(StatusCode::CREATED);
}
