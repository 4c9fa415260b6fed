//! Client commands for people, against a running server: balance, packets, transfers, return
//! requests and history. Amounts are typed as decimals (`12.34`) and parsed exactly; answers are printed
//! for people, or as the server's JSON with `--json`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hongbao_core::Amount;
use serde_json::{Value, json};

#[derive(Args, Clone)]
pub struct Connection {
    /// The server's base URL.
    #[arg(long, global = true, env = "HONGBAO_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Your bearer token.
    #[arg(long, global = true, env = "HONGBAO_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the server's JSON instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Clone)]
pub enum ClientCommand {
    /// Show your wallet.
    Balance,
    /// Credit a user's wallet from the platform's funding account (admin token).
    TopUp {
        #[arg(long)]
        user: String,
        /// e.g. 100.00
        #[arg(long)]
        amount: String,
        /// The platform's external reference.
        #[arg(long)]
        reference: String,
    },
    /// Create a group; you are its owner and a member.
    CreateGroup {
        #[arg(long)]
        name: String,
        /// A member's user id; repeat for more.
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// Send a red packet to a group (`--group`) or one person (`--to`).
    SendPacket {
        /// normal, lucky, timed or exclusive.
        #[arg(long, default_value = "lucky")]
        kind: String,
        #[arg(long)]
        group: Option<String>,
        /// The one recipient (normal or timed), or the named member (exclusive).
        #[arg(long)]
        to: Option<String>,
        /// The total (lucky, timed, exclusive) or the amount per share (normal), e.g. 12.34.
        #[arg(long)]
        amount: String,
        #[arg(long)]
        shares: Option<u32>,
        /// Timed packets: the countdown in seconds.
        #[arg(long)]
        expires_in: Option<i64>,
        #[arg(long)]
        greeting: Option<String>,
    },
    /// Claim (抢) a share of a packet.
    Claim { packet_id: String },
    /// Show a packet.
    Packet { packet_id: String },
    /// Send money to someone (转账).
    Transfer {
        #[arg(long)]
        to: String,
        /// e.g. 12.34
        #[arg(long)]
        amount: String,
        #[arg(long)]
        memo: Option<String>,
        /// instant, delay_2h or delay_24h.
        #[arg(long, default_value = "instant")]
        arrival: String,
    },
    /// Accept a transfer sent to you.
    Accept { transfer_id: String },
    /// Give back a transfer sent to you, before it settles (退还).
    Return { transfer_id: String },
    /// Cancel a delayed transfer you sent, before it settles.
    Cancel { transfer_id: String },
    /// Ask the recipient of a settled claim or transfer to give it back (协商退还).
    RequestReturn {
        txn_no: String,
        #[arg(long)]
        reason: String,
        /// Part of it, e.g. 5.00; all of it when absent.
        #[arg(long)]
        amount: Option<String>,
        /// Seconds the recipient has to answer (default 72 h).
        #[arg(long)]
        within: Option<i64>,
    },
    /// List return requests: those you sent, or those you received.
    ReturnRequests {
        #[arg(long)]
        role: Option<String>,
    },
    /// Accept a return request made to you.
    AcceptReturn { request_id: String },
    /// Decline a return request made to you.
    DeclineReturn {
        request_id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Your transactions, newest first.
    History {
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

struct Client {
    http: reqwest::blocking::Client,
    connection: Connection,
    token: String,
}

fn amount(text: &str) -> Result<i64> {
    Ok(Amount::parse_decimal(text).with_context(|| format!("while reading the amount {text:?}"))?.minor_units())
}

fn money(value: &Value) -> String {
    match value.as_i64() {
        Some(units) if units < 0 => format!("-{}", Amount::new(-units).map(|amount| amount.to_string()).unwrap_or_default()),
        Some(units) => Amount::new(units).map(|amount| amount.to_string()).unwrap_or_default(),
        None => "?".to_owned(),
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}

impl Client {
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.connection.server.trim_end_matches('/'));
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().with_context(|| format!("while calling {url}"))?;
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{} ({}): {}", text(&body["title"]), text(&body["code"]), text(&body["detail"]));
        }
        Ok(body)
    }

    fn get(&self, path: &str) -> Result<Value> {
        self.call(reqwest::Method::GET, path, None)
    }

    fn post(&self, path: &str, body: Option<Value>) -> Result<Value> {
        self.call(reqwest::Method::POST, path, body)
    }
}

fn describe_transfer(transfer: &Value) -> String {
    format!(
        "transfer {}: {} from {} to {}, {} ({}), accept by {}, arrives {}",
        text(&transfer["id"]),
        money(&transfer["amount"]),
        text(&transfer["sender_id"]),
        text(&transfer["recipient_id"]),
        text(&transfer["status"]),
        text(&transfer["arrival"]),
        text(&transfer["accept_by"]),
        text(&transfer["arrives_at"]),
    )
}

fn describe_packet(packet: &Value) -> String {
    let mut lines = vec![format!(
        "packet {} ({}, {}): {} in {} shares, {} claimed for {}, {} left; expires {}",
        text(&packet["id"]),
        text(&packet["kind"]),
        text(&packet["status"]),
        money(&packet["total_amount"]),
        packet["shares"],
        packet["claimed_count"],
        money(&packet["claimed_amount"]),
        money(&packet["remaining_amount"]),
        text(&packet["expires_at"]),
    )];
    for claim in packet["claims"].as_array().into_iter().flatten() {
        let luckiest = if claim["user_id"] == packet["luckiest_user_id"] { "  手气最佳" } else { "" };
        lines.push(format!("  {} {} at {}{luckiest}", text(&claim["user_id"]), money(&claim["amount"]), text(&claim["claimed_at"])));
    }
    lines.join("\n")
}

fn describe_request(request: &Value) -> String {
    format!(
        "return request {}: {} of {} from {} to {}, {} (answer by {}): {}",
        text(&request["id"]),
        money(&request["amount"]),
        text(&request["txn_no"]),
        text(&request["recipient_id"]),
        text(&request["requester_id"]),
        text(&request["status"]),
        text(&request["respond_by"]),
        text(&request["reason"]),
    )
}

/// Runs a client command; prints the answer and returns the exit code.
pub fn run(connection: Connection, command: ClientCommand) -> Result<ExitCode> {
    let Some(token) = connection.token.clone() else { bail!("a token is needed: pass --token or set HONGBAO_TOKEN") };
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().context("while creating the HTTP client")?;
    let client = Client { http, connection: connection.clone(), token };
    let (answer, summary) = match command {
        ClientCommand::Balance => {
            let wallet = client.get("/v1/wallet")?;
            let summary = format!(
                "balance {} {} (available {}, frozen {})",
                money(&wallet["balance"]),
                text(&wallet["currency"]),
                money(&wallet["available"]),
                money(&wallet["frozen"])
            );
            (wallet, summary)
        }
        ClientCommand::TopUp { user, amount: amount_text, reference } => {
            let transaction = client.post("/v1/top-ups", Some(json!({ "user_id": user, "amount": amount(&amount_text)?, "reference": reference })))?;
            let summary = format!("topped up {} for {} (transaction {})", money(&transaction["amount"]), user, text(&transaction["txn_no"]));
            (transaction, summary)
        }
        ClientCommand::CreateGroup { name, members } => {
            let group = client.post("/v1/groups", Some(json!({ "name": name, "member_ids": members })))?;
            let member_count = group["member_ids"].as_array().map_or(0, Vec::len);
            let summary = format!("group {} ({}): {member_count} members", text(&group["id"]), text(&group["name"]));
            (group, summary)
        }
        ClientCommand::SendPacket { kind, group, to, amount: amount_text, shares, expires_in, greeting } => {
            let units = amount(&amount_text)?;
            let mut body = json!({ "kind": kind });
            if let Some(group) = group {
                body["group_id"] = json!(group);
            }
            if let Some(to) = to {
                body["recipient_id"] = json!(to);
            }
            if kind == "normal" {
                body["amount_per_share"] = json!(units);
            } else {
                body["total_amount"] = json!(units);
            }
            if let Some(shares) = shares {
                body["shares"] = json!(shares);
            }
            if let Some(seconds) = expires_in {
                body["expires_in_seconds"] = json!(seconds);
            }
            if let Some(greeting) = greeting {
                body["greeting"] = json!(greeting);
            }
            let packet = client.post("/v1/packets", Some(body))?;
            let summary = describe_packet(&packet);
            (packet, summary)
        }
        ClientCommand::Claim { packet_id } => {
            let claim = client.post(&format!("/v1/packets/{packet_id}/claim"), None)?;
            let summary = format!("claimed {} from packet {} (transaction {})", money(&claim["amount"]), text(&claim["packet_id"]), text(&claim["txn_no"]));
            (claim, summary)
        }
        ClientCommand::Packet { packet_id } => {
            let packet = client.get(&format!("/v1/packets/{packet_id}"))?;
            let summary = describe_packet(&packet);
            (packet, summary)
        }
        ClientCommand::Transfer { to, amount: amount_text, memo, arrival } => {
            let body = json!({ "recipient_id": to, "amount": amount(&amount_text)?, "memo": memo, "arrival": arrival });
            let transfer = client.post("/v1/transfers", Some(body))?;
            let summary = describe_transfer(&transfer);
            (transfer, summary)
        }
        ClientCommand::Accept { transfer_id } => transfer_step(&client, &transfer_id, "accept")?,
        ClientCommand::Return { transfer_id } => transfer_step(&client, &transfer_id, "return")?,
        ClientCommand::Cancel { transfer_id } => transfer_step(&client, &transfer_id, "cancel")?,
        ClientCommand::RequestReturn { txn_no, reason, amount: amount_text, within } => {
            let mut body = json!({ "txn_no": txn_no, "reason": reason });
            if let Some(amount_text) = amount_text {
                body["amount"] = json!(amount(&amount_text)?);
            }
            if let Some(within) = within {
                body["respond_within_seconds"] = json!(within);
            }
            let request = client.post("/v1/return-requests", Some(body))?;
            let summary = describe_request(&request);
            (request, summary)
        }
        ClientCommand::ReturnRequests { role } => {
            let path = match role {
                Some(role) => format!("/v1/return-requests?role={role}"),
                None => "/v1/return-requests".to_owned(),
            };
            let list = client.get(&path)?;
            let summary = list["data"].as_array().map(|requests| requests.iter().map(describe_request).collect::<Vec<_>>().join("\n")).unwrap_or_default();
            (list, if summary.is_empty() { "no return requests".to_owned() } else { summary })
        }
        ClientCommand::AcceptReturn { request_id } => {
            let request = client.post(&format!("/v1/return-requests/{request_id}/accept"), None)?;
            let summary = describe_request(&request);
            (request, summary)
        }
        ClientCommand::DeclineReturn { request_id, reason } => {
            let request = client.post(&format!("/v1/return-requests/{request_id}/decline"), Some(json!({ "reason": reason })))?;
            let summary = describe_request(&request);
            (request, summary)
        }
        ClientCommand::History { limit } => {
            let list = client.get(&format!("/v1/transactions?limit={limit}"))?;
            let lines: Vec<String> = list["data"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|transaction| {
                    format!(
                        "{}  {:>12}  {:<16} {}",
                        text(&transaction["created_at"]),
                        money(&transaction["wallet_delta"]),
                        text(&transaction["kind"]),
                        text(&transaction["txn_no"])
                    )
                })
                .collect();
            (list, if lines.is_empty() { "no transactions".to_owned() } else { lines.join("\n") })
        }
    };
    if connection.json {
        println!("{}", serde_json::to_string_pretty(&answer).context("while printing JSON")?);
    } else {
        println!("{summary}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Accept, return and cancel differ only in the path's last word.
fn transfer_step(client: &Client, transfer_id: &str, step: &str) -> Result<(Value, String)> {
    let transfer = client.post(&format!("/v1/transfers/{transfer_id}/{step}"), None)?;
    let summary = describe_transfer(&transfer);
    Ok((transfer, summary))
}
