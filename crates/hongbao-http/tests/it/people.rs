//! People and their names: who may see whose name (group members, the parties of a payment, the
//! platform's staff; nobody else), display-name changes, contacts, one-to-one conversations, a user's
//! transfers, the operators' user search, and the names put into answers about groups, packets,
//! transfers and return requests. Both backends, like every suite.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cases::operator;
use crate::harness::{ADMIN_TOKEN, TestServer, TestUser};

async fn named(server: &TestServer, name: &str) -> TestUser {
    server.user(name).await
}

/// The name `viewer` sees for `user`, or the problem code when they may not see it.
async fn name_seen(server: &TestServer, viewer: &str, user: &TestUser) -> Result<String, String> {
    let answer = server.get(&format!("/v1/users/{}", user.id), viewer).await;
    if answer.status == StatusCode::OK {
        assert_eq!(answer.body["id"], user.id.as_str());
        Ok(answer.body["name"].as_str().expect("a name").to_owned())
    } else {
        Err(format!("{} {}", answer.status.as_u16(), answer.code()))
    }
}

fn not_found() -> Result<String, String> {
    Err("404 not_found".into())
}

fn contact_names(contacts: &Value) -> Vec<String> {
    contacts["data"].as_array().expect("contacts").iter().map(|contact| contact["name"].as_str().expect("a name").to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_of_a_group_see_each_others_names_and_strangers_see_nothing() {
    let server = TestServer::start().await;
    let alice = named(&server, "Alice").await;
    let bob = named(&server, "Bob").await;
    let carol = named(&server, "Carol").await;
    let stranger = named(&server, "Mallory").await;
    let group = server.group(&alice, &[&bob]).await;

    assert_eq!(name_seen(&server, &alice.token, &bob).await, Ok("Bob".into()), "a member sees a member");
    assert_eq!(name_seen(&server, &bob.token, &alice).await, Ok("Alice".into()), "both ways");
    assert_eq!(name_seen(&server, &alice.token, &alice).await, Ok("Alice".into()), "everyone sees their own name");
    assert_eq!(name_seen(&server, &stranger.token, &alice).await, not_found(), "a stranger sees nothing");
    assert_eq!(name_seen(&server, &alice.token, &carol).await, not_found(), "nor does a member see someone outside the group");
    assert_eq!(
        name_seen(&server, &alice.token, &TestUser { id: "usr_aaaaaaaaaaaaaaaaaaaa".into(), token: String::new() }).await,
        not_found(),
        "an id of nobody"
    );
    assert_eq!(server.get("/v1/users/not-an-id", &alice.token).await.status, StatusCode::NOT_FOUND);
    assert_eq!(server.call(Method::GET, &format!("/v1/users/{}", bob.id), None, None, &[]).await.status, StatusCode::UNAUTHORIZED);

    // The group's answers carry its members' names.
    let answer = server.get(&format!("/v1/groups/{group}"), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(answer["names"], json!({ alice.id.clone(): "Alice", bob.id.clone(): "Bob" }));
    let listed = server.get("/v1/groups", &bob.token).await.expect(StatusCode::OK);
    assert_eq!(listed["data"][0]["names"][&bob.id], "Bob");
    let created = server.post("/v1/groups", &alice.token, json!({ "name": "another", "member_ids": [] })).await.expect(StatusCode::CREATED);
    assert!(created.get("names").is_none(), "a write answers with the object as changed, without names");

    // Once Bob leaves, Alice and he have no relation left: they no longer see each other.
    server.delete(&format!("/v1/groups/{group}/members/{}", bob.id), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(name_seen(&server, &alice.token, &bob).await, not_found());
    assert_eq!(name_seen(&server, &bob.token, &alice).await, not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parties_of_a_payment_see_each_others_names_and_a_third_party_does_not() {
    let server = TestServer::start().await;
    let alice = server.funded_user("Alice", 100_00).await;
    let bob = named(&server, "Bob").await;
    let carol = named(&server, "Carol").await;
    let dave = named(&server, "Dave").await;
    let erin = named(&server, "Erin").await;

    // A transfer, even before it is accepted.
    let transfer =
        server.post("/v1/transfers", &alice.token, json!({ "recipient_id": bob.id, "amount": 5_00, "arrival": "instant" })).await.expect(StatusCode::CREATED);
    assert_eq!(name_seen(&server, &bob.token, &alice).await, Ok("Alice".into()), "the recipient of a pending transfer");
    assert_eq!(name_seen(&server, &alice.token, &bob).await, Ok("Bob".into()), "its sender");
    let seen = server.get(&format!("/v1/transfers/{}", transfer["id"].as_str().expect("id")), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(seen["names"], json!({ alice.id.clone(): "Alice", bob.id.clone(): "Bob" }));

    // A packet to one person, before and after it is opened.
    let packet = server.send_packet(&alice, json!({ "kind": "normal", "recipient_id": carol.id, "amount_per_share": 1_00 })).await;
    assert_eq!(name_seen(&server, &carol.token, &alice).await, Ok("Alice".into()), "the named recipient of a packet not yet opened");
    server.post_empty(&format!("/v1/packets/{packet}/claim"), &carol.token).await.expect(StatusCode::OK);
    assert_eq!(name_seen(&server, &alice.token, &carol).await, Ok("Carol".into()), "the sender sees the claimer");
    let opened = server.packet(&packet, &alice).await;
    assert_eq!(opened["names"], json!({ alice.id.clone(): "Alice", carol.id.clone(): "Carol" }), "its sender and its claimer");

    // A group packet's claimer who then leaves the group stays a party of that payment.
    let group = server.group(&alice, &[&dave]).await;
    let lucky = server.send_packet(&alice, json!({ "kind": "lucky", "group_id": group, "total_amount": 2_00, "shares": 2 })).await;
    server.post_empty(&format!("/v1/packets/{lucky}/claim"), &dave.token).await.expect(StatusCode::OK);
    server.delete(&format!("/v1/groups/{group}/members/{}", dave.id), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(name_seen(&server, &dave.token, &alice).await, Ok("Alice".into()));
    assert_eq!(name_seen(&server, &alice.token, &dave).await, Ok("Dave".into()));
    let contacts = server.get("/v1/contacts", &alice.token).await.expect(StatusCode::OK);
    let dave_contact = contacts["data"].as_array().expect("contacts").iter().find(|contact| contact["id"] == dave.id.as_str()).cloned();
    assert_eq!(
        dave_contact,
        Some(json!({ "id": dave.id, "name": "Dave", "shares_group": false, "dealt_with": true })),
        "the sender's contacts hold the claimers she paid"
    );

    // Nobody else: Erin has dealt with nobody; Bob and Carol have not dealt with each other.
    for (viewer, user) in [(&erin, &alice), (&erin, &bob), (&bob, &carol), (&carol, &bob), (&bob, &dave), (&alice, &erin)] {
        assert_eq!(name_seen(&server, &viewer.token, user).await, not_found(), "{} may not see {}", viewer.id, user.id);
    }
    // A third party cannot read the transfer or the packet either, so the names there stay with their parties.
    assert_eq!(server.get(&format!("/v1/packets/{packet}"), &erin.token).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_request_and_the_history_name_their_parties_and_staff_may_look_anyone_up() {
    let server = TestServer::start().await;
    let alice = server.funded_user("Alice", 100_00).await;
    let bob = named(&server, "Bob").await;
    let transfer =
        server.post("/v1/transfers", &alice.token, json!({ "recipient_id": bob.id, "amount": 5_00, "arrival": "instant" })).await.expect(StatusCode::CREATED);
    let settled = server.post_empty(&format!("/v1/transfers/{}/accept", transfer["id"].as_str().expect("id")), &bob.token).await.expect(StatusCode::OK);
    let txn_no = settled["txn_nos"][1].as_str().expect("the settlement").to_owned();
    // A user's history names the other party of each transaction, which the user has dealt with.
    let history = server.get("/v1/transactions", &bob.token).await.expect(StatusCode::OK);
    assert_eq!(history["data"][0]["txn_no"], txn_no.as_str());
    assert_eq!(history["data"][0]["names"], json!({ alice.id.clone(): "Alice", bob.id.clone(): "Bob" }));
    let request = server.post("/v1/return-requests", &alice.token, json!({ "txn_no": txn_no, "reason": "paid twice" })).await.expect(StatusCode::CREATED);
    let seen = server.get(&format!("/v1/return-requests/{}", request["id"].as_str().expect("id")), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(seen["names"], json!({ alice.id.clone(): "Alice", bob.id.clone(): "Bob" }));
    let listed = server.get("/v1/return-requests?role=received", &bob.token).await.expect(StatusCode::OK);
    assert_eq!(listed["data"][0]["names"][&alice.id], "Alice");

    let support = operator(&server, "sam", "support").await;
    assert_eq!(name_seen(&server, &support.token, &bob).await, Ok("Bob".into()), "an operator may look a user up");
    assert_eq!(name_seen(&server, ADMIN_TOKEN, &alice).await, Ok("Alice".into()), "so may the admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_changes_their_display_name_and_those_who_see_them_see_the_new_one() {
    let server = TestServer::start().await;
    let alice = named(&server, "Alice").await;
    let bob = named(&server, "Bob").await;
    server.group(&alice, &[&bob]).await;

    let renamed = server.call(Method::PATCH, "/v1/me", Some(&alice.token), Some(json!({ "name": "  Alice Wang  " })), &[]).await.expect(StatusCode::OK);
    assert_eq!(renamed, json!({ "id": alice.id, "name": "Alice Wang" }), "spaces around a name are dropped");
    assert_eq!(server.get("/v1/me", &alice.token).await.expect(StatusCode::OK)["name"], "Alice Wang");
    assert_eq!(name_seen(&server, &bob.token, &alice).await, Ok("Alice Wang".into()));
    let whoami = server.get("/v1/whoami", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(whoami, json!({ "kind": "user", "user": { "id": alice.id, "name": "Alice Wang" } }));

    // Names are checked like every other name: 1 to 64 characters, no control characters or NUL.
    for bad in [
        json!({ "name": "" }),
        json!({ "name": "   " }),
        json!({ "name": "a".repeat(65) }),
        json!({ "name": "tab\tbed" }),
        json!({ "name": "nul\u{0}" }),
        json!({ "name": 7 }),
        json!({ "name": "Alice", "admin": true }),
    ] {
        let answer = server.call(Method::PATCH, "/v1/me", Some(&alice.token), Some(bad.clone()), &[]).await;
        answer.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    }
    assert_eq!(
        server.call(Method::PATCH, "/v1/me", Some(&alice.token), Some(json!({ "name": "名字".repeat(32) })), &[]).await.status,
        StatusCode::OK,
        "64 characters, not bytes"
    );
    server.call(Method::PATCH, "/v1/me", Some(ADMIN_TOKEN), Some(json!({ "name": "root" })), &[]).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_the_people_one_shares_a_group_with_or_has_dealt_with_by_name() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = named(&server, "Bob").await;
    let carol = named(&server, "carol").await;
    let dave = named(&server, "Dave").await;
    let stranger = named(&server, "Mallory").await;
    server.group(&alice, &[&bob]).await;
    server.post("/v1/transfers", &alice.token, json!({ "recipient_id": carol.id, "amount": 1_00, "arrival": "instant" })).await.expect(StatusCode::CREATED);
    server
        .post("/v1/packets", &dave.token, json!({ "kind": "normal", "recipient_id": alice.id, "amount_per_share": 1 }))
        .await
        .expect_error(StatusCode::CONFLICT, "insufficient_funds");

    let contacts = server.get("/v1/contacts", &alice.token).await;
    // Dave has no money: his packet was refused, so he is no contact.
    assert_eq!(contact_names(&contacts.body), ["Bob", "carol"], "by name ignoring case; never the user; nobody unrelated");
    assert_eq!(contacts.body["data"][0], json!({ "id": bob.id, "name": "Bob", "shares_group": true, "dealt_with": false }));
    assert_eq!(contacts.body["data"][1], json!({ "id": carol.id, "name": "carol", "shares_group": false, "dealt_with": true }));
    assert_eq!(contact_names(&server.get("/v1/contacts", &carol.token).await.expect(StatusCode::OK)), ["alice"], "a recipient sees the sender");
    assert!(contact_names(&server.get("/v1/contacts", &stranger.token).await.expect(StatusCode::OK)).is_empty());

    // Pages of one, then the end.
    let first = server.get("/v1/contacts?limit=1", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(contact_names(&first), ["Bob"]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = server.get(&format!("/v1/contacts?limit=1&cursor={cursor}"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(contact_names(&second), ["carol"]);
    assert!(second["next_cursor"].is_null());
    server.get("/v1/contacts?cursor=nonsense", &alice.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    server.get("/v1/contacts", ADMIN_TOKEN).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    let _ = dave;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_to_one_conversation_holds_the_transfers_and_named_packets_between_two_people() {
    let server = TestServer::start().await;
    let alice = server.funded_user("Alice", 100_00).await;
    let bob = server.funded_user("Bob", 100_00).await;
    let carol = named(&server, "Carol").await;
    let group = server.group(&alice, &[&bob, &carol]).await;
    // A millisecond between them, so that newest first is one order.
    let first =
        server.post("/v1/transfers", &alice.token, json!({ "recipient_id": bob.id, "amount": 3_00, "arrival": "instant" })).await.expect(StatusCode::CREATED);
    server.clock.advance_millis(1);
    let packet = server.send_packet(&bob, json!({ "kind": "timed", "recipient_id": alice.id, "total_amount": 2_00 })).await;
    server.clock.advance_millis(1);
    let exclusive = server.send_packet(&alice, json!({ "kind": "exclusive", "group_id": group, "recipient_id": bob.id, "total_amount": 1_00 })).await;
    server.send_packet(&alice, json!({ "kind": "lucky", "group_id": group, "total_amount": 1_00, "shares": 2 })).await;
    server.post("/v1/transfers", &alice.token, json!({ "recipient_id": carol.id, "amount": 1_00, "arrival": "instant" })).await.expect(StatusCode::CREATED);

    let conversation = server.get(&format!("/v1/conversations/{}", bob.id), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(conversation["user"], json!({ "id": bob.id, "name": "Bob" }));
    let kinds: Vec<(&str, &str)> = conversation["data"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| (item["kind"].as_str().expect("kind"), item[item["kind"].as_str().expect("kind")]["id"].as_str().expect("id")))
        .collect();
    assert_eq!(
        kinds,
        [("packet", exclusive.as_str()), ("packet", packet.as_str()), ("transfer", first["id"].as_str().expect("id"))],
        "newest first, nothing of others or the group's lucky packet"
    );
    assert_eq!(conversation["data"][2]["transfer"]["names"][&bob.id], "Bob");
    assert_eq!(conversation["data"][1]["packet"]["names"], json!({ alice.id.clone(): "Alice", bob.id.clone(): "Bob" }));

    let page = server.get(&format!("/v1/conversations/{}?limit=2", bob.id), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(page["data"].as_array().expect("items").len(), 2);
    let rest = server
        .get(&format!("/v1/conversations/{}?limit=2&cursor={}", bob.id, page["next_cursor"].as_str().expect("cursor")), &alice.token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(rest["data"][0]["kind"], "transfer");
    assert!(rest["next_cursor"].is_null());

    let stranger = named(&server, "Mallory").await;
    server.get(&format!("/v1/conversations/{}", alice.id), &stranger.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.get(&format!("/v1/conversations/{}", alice.id), &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_transfers_list_by_role_and_status_with_names() {
    let server = TestServer::start().await;
    let alice = server.funded_user("Alice", 100_00).await;
    let bob = server.funded_user("Bob", 100_00).await;
    // A millisecond between them, so that newest first is one order.
    let waiting =
        server.post("/v1/transfers", &alice.token, json!({ "recipient_id": bob.id, "amount": 1_00, "arrival": "instant" })).await.expect(StatusCode::CREATED);
    server.clock.advance_millis(1);
    let accepted =
        server.post("/v1/transfers", &alice.token, json!({ "recipient_id": bob.id, "amount": 2_00, "arrival": "instant" })).await.expect(StatusCode::CREATED);
    server.post_empty(&format!("/v1/transfers/{}/accept", accepted["id"].as_str().expect("id")), &bob.token).await.expect(StatusCode::OK);
    server.clock.advance_millis(1);
    let back =
        server.post("/v1/transfers", &bob.token, json!({ "recipient_id": alice.id, "amount": 3_00, "arrival": "delay_2h" })).await.expect(StatusCode::CREATED);

    let ids =
        |answer: &Value| answer["data"].as_array().expect("data").iter().map(|transfer| transfer["id"].as_str().expect("id").to_owned()).collect::<Vec<_>>();
    let pending = server.get("/v1/transfers?role=received&status=pending", &bob.token).await.expect(StatusCode::OK);
    assert_eq!(ids(&pending), [waiting["id"].as_str().expect("id")]);
    assert_eq!(pending["data"][0]["names"][&alice.id], "Alice");
    assert_eq!(ids(&server.get("/v1/transfers?role=sent", &bob.token).await.expect(StatusCode::OK)), [back["id"].as_str().expect("id")]);
    let all = server.get("/v1/transfers", &bob.token).await.expect(StatusCode::OK);
    assert_eq!(ids(&all).len(), 3, "both roles, newest first");
    assert_eq!(ids(&all)[0], back["id"].as_str().expect("id"));
    let first = server.get("/v1/transfers?limit=2", &bob.token).await.expect(StatusCode::OK);
    let rest = server.get(&format!("/v1/transfers?limit=2&cursor={}", first["next_cursor"].as_str().expect("cursor")), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(ids(&rest), [waiting["id"].as_str().expect("id")]);
    server.get("/v1/transfers?status=lost", &bob.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    server.get("/v1/transfers?role=both", &bob.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_find_users_by_name_or_id_and_users_may_not() {
    let server = TestServer::start().await;
    let alice = named(&server, "Alice Wang").await;
    let bob = named(&server, "bob_50%").await;
    named(&server, "Wanda").await;
    let support = operator(&server, "sam", "support").await;

    let names = |answer: Value| answer["data"].as_array().expect("data").iter().map(|user| user["name"].as_str().expect("name").to_owned()).collect::<Vec<_>>();
    assert_eq!(
        names(server.get("/v1/ops/users?q=wan", &support.token).await.expect(StatusCode::OK)),
        ["Alice Wang", "Wanda"],
        "anywhere in the name, ignoring case"
    );
    assert_eq!(names(server.get(&format!("/v1/ops/users?q={}", alice.id), &support.token).await.expect(StatusCode::OK)), ["Alice Wang"], "an id");
    let prefix = &alice.id[..alice.id.len() - 2];
    assert_eq!(names(server.get(&format!("/v1/ops/users?q={prefix}"), &support.token).await.expect(StatusCode::OK)), ["Alice Wang"], "the start of an id");
    assert_eq!(names(server.get("/v1/ops/users?q=_50%25", ADMIN_TOKEN).await.expect(StatusCode::OK)), ["bob_50%"], "wildcards match themselves");
    assert!(names(server.get("/v1/ops/users?q=%25", ADMIN_TOKEN).await.expect(StatusCode::OK)).iter().all(|name| name.contains('%')));
    let found = server.get("/v1/ops/users?q=bob", &support.token).await.expect(StatusCode::OK);
    assert_eq!(found["data"][0]["id"], bob.id.as_str());
    assert!(found["data"][0]["created_at"].is_string());
    assert_eq!(names(server.get("/v1/ops/users?q=Wang&limit=1", &support.token).await.expect(StatusCode::OK)).len(), 1);

    server.get("/v1/ops/users?q=Wang", &alice.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    server.get("/v1/ops/users", &support.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    server.get(&format!("/v1/ops/users?q={}", "x".repeat(65)), &support.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_hears_of_a_packet_sent_to_their_group_and_every_claimer_of_the_luckiest() {
    let server = TestServer::start().await;
    let alice = server.funded_user("Alice", 100_00).await;
    let bob = named(&server, "Bob").await;
    let carol = named(&server, "Carol").await;
    let group = server.group(&alice, &[&bob, &carol]).await;
    let packet = server.send_packet(&alice, json!({ "kind": "lucky", "group_id": group, "total_amount": 3_00, "shares": 2 })).await;
    let events_of = |user: &TestUser| {
        let (server, token) = (&server, user.token.clone());
        async move { server.get("/v1/events", &token).await.expect(StatusCode::OK)["data"].as_array().expect("events").clone() }
    };
    for member in [&bob, &carol] {
        let events = events_of(member).await;
        let received = events.iter().find(|event| event["type"] == "packet.received").expect("a member hears of the packet");
        assert_eq!((received["subject_id"].as_str(), received["data"]["group_id"].as_str()), (Some(packet.as_str()), Some(group.as_str())));
        assert_eq!(received["data"]["sender_id"], alice.id.as_str());
    }
    assert!(events_of(&alice).await.iter().all(|event| event["type"] != "packet.received"), "not the sender");
    server.post_empty(&format!("/v1/packets/{packet}/claim"), &bob.token).await.expect(StatusCode::OK);
    server.post_empty(&format!("/v1/packets/{packet}/claim"), &carol.token).await.expect(StatusCode::OK);
    let luckiest = server.packet(&packet, &alice).await["luckiest_user_id"].clone();
    for user in [&alice, &bob, &carol] {
        let events = events_of(user).await;
        let exhausted: Vec<&Value> = events.iter().filter(|event| event["type"] == "packet.exhausted").collect();
        assert_eq!(exhausted.len(), 1, "{} hears once that every share was claimed", user.id);
        assert_eq!(exhausted[0]["data"]["luckiest_user_id"], luckiest);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_groups_names_at_most_a_thousand_members_in_all() {
    let server = TestServer::start().await;
    let owner = named(&server, "Owner").await;
    let others = server.users_concurrently("member", 998, 32).await;
    let group_of = |members: &[TestUser]| {
        let ids: Vec<&str> = members.iter().map(|member| member.id.as_str()).collect();
        json!({ "name": "crowd", "member_ids": ids })
    };
    // Newest first: 3 members, then 500, then 500; the budget of 1,000 runs out at the oldest.
    for members in [&others[..499], &others[499..998], &others[..2]] {
        server.post("/v1/groups", &owner.token, group_of(members)).await.expect(StatusCode::CREATED);
        server.clock.advance_millis(1);
    }
    let groups = server.get("/v1/groups", &owner.token).await.expect(StatusCode::OK);
    let named_counts: Vec<Option<usize>> =
        groups["data"].as_array().expect("groups").iter().map(|group| group["names"].as_object().map(|names| names.len())).collect();
    assert_eq!(named_counts, [Some(3), Some(500), None]);
    let oldest = groups["data"][2]["id"].as_str().expect("id");
    let one = server.get(&format!("/v1/groups/{oldest}"), &owner.token).await.expect(StatusCode::OK);
    assert_eq!(one["names"].as_object().map(|names| names.len()), Some(500), "asked for alone, it has its names");
}
