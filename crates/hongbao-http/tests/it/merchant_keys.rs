//! Merchant API keys: allowed and refused addresses over IPv4 and IPv6, scope refusals, the key's own
//! single-transaction and daily limits, and revocation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, TestServer, TestUser};

async fn create_key(server: &TestServer, owner: &TestUser, scopes: &[&str], networks: &[&str], limits: (Option<i64>, Option<i64>)) -> (String, String) {
    let body = json!({
        "user_id": owner.id, "name": "shop", "scopes": scopes, "allowed_cidrs": networks,
        "max_transaction_amount": limits.0, "daily_amount": limits.1,
    });
    let key = server.post("/v1/ops/merchant-keys", ADMIN_TOKEN, body).await.expect(StatusCode::CREATED);
    let secret = key["secret"].as_str().expect("the secret, shown once");
    assert!(secret.starts_with("hbk_"));
    (key["id"].as_str().expect("id").to_owned(), secret.to_owned())
}

async fn call_at(base: &str, method: Method, path: &str, secret: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{base}{path}")).bearer_auth(secret);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_acts_for_its_wallet_within_its_scopes_networks_and_limits() {
    let server = TestServer::start().await;
    let shop = server.funded_user("shop", 500_00).await;
    let customer = server.user("customer").await;
    let (key_id, secret) = create_key(&server, &shop, &["wallet:read", "transfers:write"], &["127.0.0.0/8"], (Some(50_00), Some(80_00))).await;
    let base = server.base.clone();

    let (status, wallet) = call_at(&base, Method::GET, "/v1/wallet", &secret, None).await;
    assert_eq!((status, wallet["user_id"].as_str()), (StatusCode::OK, Some(shop.id.as_str())), "the key acts for its wallet");
    let transfer = |amount: i64| json!({ "recipient_id": customer.id, "amount": amount, "arrival": "instant" });
    assert_eq!(call_at(&base, Method::POST, "/v1/transfers", &secret, Some(transfer(40_00))).await.0, StatusCode::CREATED);
    let (status, problem) = call_at(&base, Method::POST, "/v1/transfers", &secret, Some(transfer(50_01))).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("limit_exceeded")));
    assert!(problem["detail"].as_str().expect("detail").contains("single-transaction limit"), "{problem}");
    let (status, problem) = call_at(&base, Method::POST, "/v1/transfers", &secret, Some(transfer(40_01))).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("limit_exceeded")));
    assert!(problem["detail"].as_str().expect("detail").contains("daily limit"), "{problem}");
    assert_eq!(call_at(&base, Method::POST, "/v1/transfers", &secret, Some(transfer(40_00))).await.0, StatusCode::CREATED, "up to the daily limit exactly");
    // The owner's own token is not held to the key's limits.
    server.post("/v1/transfers", &shop.token, transfer(60_00)).await.expect(StatusCode::CREATED);
    assert_eq!(server.balance(&shop).await, 500_00 - 140_00);

    for (method, path, body) in [
        (Method::POST, "/v1/withdrawals", Some(json!({ "amount": 1_00 }))),
        (Method::GET, "/v1/transactions", None),
        (Method::POST, "/v1/groups", Some(json!({ "name": "g", "member_ids": [] }))),
        (Method::GET, "/v1/ops/cases", None),
    ] {
        let (status, problem) = call_at(&base, method.clone(), path, &secret, body).await;
        assert_eq!((status, problem["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{method} {path} is outside the key's scopes");
    }

    let (_, elsewhere) = create_key(&server, &shop, &["wallet:read"], &["10.0.0.0/8", "2001:db8::/32"], (None, None)).await;
    let (status, problem) = call_at(&base, Method::GET, "/v1/wallet", &elsewhere, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(problem["detail"].as_str().expect("detail").contains("127.0.0.1"), "the refusal names the address: {problem}");

    let keys = server.get("/v1/ops/merchant-keys", ADMIN_TOKEN).await.expect(StatusCode::OK);
    assert!(keys["data"].as_array().expect("keys").iter().all(|key| key["secret"].is_null()), "secrets are never shown again");
    server.post(&format!("/v1/ops/merchant-keys/{key_id}/revoke"), ADMIN_TOKEN, json!({ "reason": "rotated" })).await.expect(StatusCode::OK);
    assert_eq!(call_at(&base, Method::GET, "/v1/wallet", &secret, None).await.0, StatusCode::UNAUTHORIZED, "a revoked key stops at once");
    server
        .post(&format!("/v1/ops/merchant-keys/{key_id}/revoke"), &shop.token, json!({ "reason": "mine" }))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networks_are_matched_over_ipv6_as_well() {
    let server = TestServer::start().await;
    let shop = server.funded_user("shop", 10_00).await;
    let listener = tokio::net::TcpListener::bind("[::1]:0").await.expect("IPv6 loopback");
    let base_v6 = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(hongbao_http::serve(listener, server.service.clone(), server.http.clone(), async move {
        let _ = stopped.await;
    }));

    let (_, v6_only) = create_key(&server, &shop, &["wallet:read"], &["::1/128"], (None, None)).await;
    let (_, v4_only) = create_key(&server, &shop, &["wallet:read"], &["127.0.0.1/32"], (None, None)).await;
    let (_, documentation) = create_key(&server, &shop, &["wallet:read"], &["2001:db8::/32"], (None, None)).await;
    assert_eq!(call_at(&base_v6, Method::GET, "/v1/wallet", &v6_only, None).await.0, StatusCode::OK);
    assert_eq!(call_at(&server.base, Method::GET, "/v1/wallet", &v6_only, None).await.0, StatusCode::FORBIDDEN, "::1/128 does not hold 127.0.0.1");
    assert_eq!(call_at(&base_v6, Method::GET, "/v1/wallet", &v4_only, None).await.0, StatusCode::FORBIDDEN, "127.0.0.1/32 does not hold ::1");
    assert_eq!(call_at(&server.base, Method::GET, "/v1/wallet", &v4_only, None).await.0, StatusCode::OK);
    assert_eq!(call_at(&base_v6, Method::GET, "/v1/wallet", &documentation, None).await.0, StatusCode::FORBIDDEN);
    server
        .post("/v1/ops/merchant-keys", ADMIN_TOKEN, json!({ "user_id": shop.id, "name": "bad", "scopes": ["wallet:read"], "allowed_cidrs": ["::/129"] }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    server
        .post("/v1/ops/merchant-keys", ADMIN_TOKEN, json!({ "user_id": shop.id, "name": "bad", "scopes": ["root"], "allowed_cidrs": ["::1"] }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_client_address_comes_from_x_forwarded_for() {
    let config = hongbao_service::Config {
        trusted_proxies: vec![hongbao_service::merchant::Cidr::parse("127.0.0.0/8").expect("a network")],
        ..hongbao_service::Config::default()
    };
    let server = TestServer::start_with(config).await;
    let shop = server.funded_user("shop", 10_00).await;
    let (_, secret) = create_key(&server, &shop, &["wallet:read"], &["203.0.113.0/24"], (None, None)).await;
    let wallet = |forwarded: Option<&'static str>| {
        let mut request = reqwest::Client::new().get(format!("{}/v1/wallet", server.base)).bearer_auth(&secret);
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        async move { request.send().await.expect("the server answers").status() }
    };
    assert_eq!(wallet(Some("203.0.113.9")).await, StatusCode::OK, "the load balancer's client is in the allowlist");
    assert_eq!(wallet(Some("203.0.113.9, 127.0.0.2")).await, StatusCode::OK, "another trusted hop is skipped");
    assert_eq!(wallet(Some("203.0.113.9, 198.51.100.7")).await, StatusCode::FORBIDDEN, "the hop nearest the proxy decides, not one the client wrote");
    assert_eq!(wallet(None).await, StatusCode::FORBIDDEN, "without the header the proxy itself is the client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_a_proxy_writes_is_read_and_an_unreadable_entry_refuses_an_allowlisted_key() {
    let config = hongbao_service::Config {
        trusted_proxies: vec![hongbao_service::merchant::Cidr::parse("127.0.0.0/8").expect("a network")],
        ..hongbao_service::Config::default()
    };
    let server = TestServer::start_with(config).await;
    let shop = server.funded_user("shop", 10_00).await;
    // One key for the deployment's own network, where the proxy is; one for the client's networks.
    let (_, inside) = create_key(&server, &shop, &["wallet:read"], &["127.0.0.0/8"], (None, None)).await;
    let (_, clients) = create_key(&server, &shop, &["wallet:read"], &["203.0.113.0/24", "2001:db8::/32"], (None, None)).await;
    let wallet = |secret: &str, forwarded: &str| {
        let request = reqwest::Client::new().get(format!("{}/v1/wallet", server.base)).bearer_auth(secret).header("x-forwarded-for", forwarded);
        async move {
            let response = request.send().await.expect("the server answers");
            (response.status(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for forwarded in
        ["203.0.113.9:4711", "\"203.0.113.9\"", "[2001:db8::9]", "[2001:db8::9]:443", " 203.0.113.9 , 127.0.0.2:80", "198.51.100.1, [2001:db8::9]:1"]
    {
        assert_eq!(wallet(&clients, forwarded).await.0, StatusCode::OK, "{forwarded:?} names a client the key allows");
        assert_eq!(wallet(&inside, forwarded).await.0, StatusCode::FORBIDDEN, "{forwarded:?} names a client outside the proxy's network");
    }
    for forwarded in ["unknown", "_hidden", "203.0.113.9:99999", "[2001:db8::9", "203.0.113.9 127.0.0.2", "203.0.113.9, garbage"] {
        for secret in [&inside, &clients] {
            let (status, problem) = wallet(secret, forwarded).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{forwarded:?} leaves the client unknown, and an allowlisted key refuses");
            assert!(problem["detail"].as_str().expect("detail").contains("unknown"), "{problem}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let server = TestServer::start().await;
    let shop = server.funded_user("shop", 10_00).await;
    let (_, secret) = create_key(&server, &shop, &["wallet:read"], &["203.0.113.0/24"], (None, None)).await;
    let status = reqwest::Client::new()
        .get(format!("{}/v1/wallet", server.base))
        .bearer_auth(&secret)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("the server answers")
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN, "a client cannot claim an address by writing a header");
}
