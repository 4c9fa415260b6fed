//! The lists behind the web page's chat view (a user's groups, a group's packets) and the page itself.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_list_their_groups_and_each_groups_packets_newest_first() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let family = server.group(&alice, &[&bob]).await;
    server.clock.advance_seconds(1);
    let work = server.group(&alice, &[&carol]).await;

    let alices = server.get("/v1/groups?limit=1", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(alices["data"][0]["id"], work.as_str(), "newest first");
    let cursor = alices["next_cursor"].as_str().expect("a second page");
    let rest = server.get(&format!("/v1/groups?limit=1&cursor={cursor}"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(rest["data"][0]["id"], family.as_str());
    assert!(rest["next_cursor"].is_null());
    let bobs = server.get("/v1/groups", &bob.token).await.expect(StatusCode::OK);
    assert_eq!(bobs["data"].as_array().expect("groups").len(), 1, "bob sees only the group he is in");

    let mut sent = Vec::new();
    for total in [1_00, 2_00, 3_00] {
        server.clock.advance_seconds(1);
        sent.push(server.send_packet(&alice, json!({ "kind": "lucky", "group_id": family, "total_amount": total, "shares": 2 })).await);
    }
    server.send_packet(&alice, json!({ "kind": "lucky", "group_id": work, "total_amount": 1_00, "shares": 1 })).await;
    server.post_empty(&format!("/v1/packets/{}/claim", sent[0]), &bob.token).await.expect(StatusCode::OK);

    let page = server.get(&format!("/v1/groups/{family}/packets?limit=2"), &bob.token).await.expect(StatusCode::OK);
    let ids: Vec<&str> = page["data"].as_array().expect("packets").iter().map(|packet| packet["id"].as_str().expect("id")).collect();
    assert_eq!(ids, [sent[2].as_str(), sent[1].as_str()]);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let last = server.get(&format!("/v1/groups/{family}/packets?limit=2&cursor={cursor}"), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(last["data"][0]["id"], sent[0].as_str());
    assert_eq!(last["data"][0]["claims"][0]["user_id"], bob.id.as_str(), "packets come with their claims");
    assert!(last["next_cursor"].is_null());

    server.get(&format!("/v1/groups/{family}/packets"), &carol.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_page_is_served_at_the_root() {
    let server = TestServer::start().await;
    let response = server.client.get(format!("{}/", server.base)).send().await.expect("GET /");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().expect("content type").starts_with("text/html"));
    let mut page = response.text().await.expect("page");
    // The page is a shell; its modules are what talks to the API.
    for asset in hongbao_http::assets::ASSETS {
        page.push_str(&server.client.get(format!("{}/assets/{}", server.base, asset.path)).send().await.expect("an asset").text().await.expect("its text"));
    }
    for route in ["/v1/groups/", "/v1/ops/cases", "/v1/complaints", "/v1/evidence", "/v1/contacts", "/v1/events/stream"] {
        assert!(page.contains(route), "the page uses {route}");
    }
}
