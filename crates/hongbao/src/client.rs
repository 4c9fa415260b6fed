//! Client commands for people, against a running server: balance, packets, transfers, return
//! requests, history, tags, complaints with evidence, and events. Amounts are typed as decimals (`12.34`) and parsed exactly; answers are printed
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
        /// Confirm a large packet without being asked.
        #[arg(long)]
        yes: bool,
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
        /// Confirm a large transfer without being asked.
        #[arg(long)]
        yes: bool,
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
    /// Tag a contact or a group (family, friends, work, strangers, or your own); its limits apply.
    Tag { target_id: String, tag: String },
    /// Remove a tag.
    Untag { target_id: String },
    /// File a complaint (投诉), uploading the evidence files first.
    Complain {
        /// fraud, minor, system_fault or other.
        #[arg(long)]
        kind: String,
        /// A transaction the complaint is about; repeat for more.
        #[arg(long = "txn")]
        txn_nos: Vec<String>,
        #[arg(long)]
        description: String,
        /// A file of evidence (image, video, PDF or text); repeat for more.
        #[arg(long = "evidence")]
        files: Vec<std::path::PathBuf>,
        /// What the files show: chat_record, guardian_identity, guardianship_document, operation_recording, log, other.
        #[arg(long)]
        label: Option<String>,
    },
    /// Your complaints and where they stand.
    Complaints,
    /// Your notifications, newest first; with --follow, live as they happen.
    Events {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        follow: bool,
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
        self.answer(response)
    }

    /// A POST that may need confirming: a large payment's first answer is 409 `confirmation_required`
    /// with what to confirm; the same request with its token goes through.
    fn post_confirmed(&self, path: &str, body: Value, yes: bool) -> Result<Value> {
        let url = format!("{}{path}", self.connection.server.trim_end_matches('/'));
        let response = self.http.post(&url).bearer_auth(&self.token).json(&body).send().with_context(|| format!("while calling {url}"))?;
        if response.status() != reqwest::StatusCode::CONFLICT {
            return self.answer(response);
        }
        let problem: Value = response.json().unwrap_or(Value::Null);
        if problem["code"] != "confirmation_required" {
            bail!("{} ({}): {}", text(&problem["title"]), text(&problem["code"]), text(&problem["detail"]));
        }
        let summary = &problem["confirmation"];
        let audience = match summary["audience_size"].as_u64() {
            Some(size) => format!("the group {} ({}, {size} members)", text(&summary["audience_name"]), text(&summary["audience_id"])),
            None => format!("{} ({})", text(&summary["audience_name"]), text(&summary["audience_id"])),
        };
        let memo = summary["memo"].as_str().map(|memo| format!(" \"{memo}\"")).unwrap_or_default();
        eprintln!("confirm: {} to {audience}{memo}; the confirmation expires at {}", money(&summary["amount"]), text(&summary["expires_at"]));
        if !yes {
            eprint!("send it? type yes: ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).context("while reading the answer")?;
            if line.trim() != "yes" {
                bail!("not confirmed; nothing was sent");
            }
        }
        let token = text(&summary["token"]).to_owned();
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .header("confirmation-token", token)
            .json(&body)
            .send()
            .with_context(|| format!("while calling {url}"))?;
        self.answer(response)
    }

    fn answer(&self, response: reqwest::blocking::Response) -> Result<Value> {
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{} ({}): {}", text(&body["title"]), text(&body["code"]), text(&body["detail"]));
        }
        Ok(body)
    }

    /// Uploads one file of evidence; its type is told by its extension and checked by the server.
    fn upload(&self, path: &std::path::Path, label: Option<&str>) -> Result<Value> {
        let url = format!("{}/v1/evidence", self.connection.server.trim_end_matches('/'));
        let mut form = reqwest::blocking::multipart::Form::new().file("file", path).with_context(|| format!("while reading {}", path.display()))?;
        if let Some(label) = label {
            form = form.text("label", label.to_owned());
        }
        let response = self.http.post(&url).bearer_auth(&self.token).multipart(form).send().with_context(|| format!("while uploading {}", path.display()))?;
        self.answer(response)
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
        ClientCommand::SendPacket { kind, group, to, amount: amount_text, shares, expires_in, greeting, yes } => {
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
            let packet = client.post_confirmed("/v1/packets", body, yes)?;
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
        ClientCommand::Transfer { to, amount: amount_text, memo, arrival, yes } => {
            let body = json!({ "recipient_id": to, "amount": amount(&amount_text)?, "memo": memo, "arrival": arrival });
            let transfer = client.post_confirmed("/v1/transfers", body, yes)?;
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
        ClientCommand::Tag { target_id, tag } => {
            let tag = client.call(reqwest::Method::PUT, &format!("/v1/tags/{target_id}"), Some(json!({ "tag": tag })))?;
            let summary = format!("{} is tagged {}", text(&tag["target_id"]), text(&tag["tag"]));
            (tag, summary)
        }
        ClientCommand::Untag { target_id } => {
            client.call(reqwest::Method::DELETE, &format!("/v1/tags/{target_id}"), None)?;
            (Value::Null, format!("{target_id} is no longer tagged"))
        }
        ClientCommand::Complain { kind, txn_nos, description, files, label } => {
            let mut evidence_ids = Vec::new();
            for file in &files {
                let evidence = client.upload(file, label.as_deref())?;
                eprintln!(
                    "uploaded {} as {} ({}, sha256 {})",
                    file.display(),
                    text(&evidence["id"]),
                    text(&evidence["content_type"]),
                    text(&evidence["sha256"])
                );
                evidence_ids.push(text(&evidence["id"]).to_owned());
            }
            let body = json!({ "kind": kind, "txn_nos": txn_nos, "description": description, "evidence_ids": evidence_ids });
            let complaint = client.post("/v1/complaints", Some(body))?;
            let summary = describe_complaint(&complaint);
            (complaint, summary)
        }
        ClientCommand::Complaints => {
            let list = client.get("/v1/complaints")?;
            let summary =
                list["data"].as_array().map(|complaints| complaints.iter().map(describe_complaint).collect::<Vec<_>>().join("\n")).unwrap_or_default();
            (list, if summary.is_empty() { "no complaints".to_owned() } else { summary })
        }
        ClientCommand::Events { limit, follow: false } => {
            let list = client.get(&format!("/v1/events?limit={limit}"))?;
            let lines: Vec<String> = list["data"].as_array().into_iter().flatten().map(describe_event).collect();
            (list, if lines.is_empty() { "no events".to_owned() } else { lines.join("\n") })
        }
        ClientCommand::Events { follow: true, .. } => return follow_events(&client, connection.json),
    };
    if connection.json {
        println!("{}", serde_json::to_string_pretty(&answer).context("while printing JSON")?);
    } else {
        println!("{summary}");
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_complaint(complaint: &Value) -> String {
    let outcome = complaint["outcome"].as_str().map(|outcome| format!(" ({outcome})")).unwrap_or_default();
    let missing: Vec<&str> = complaint["missing_evidence"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let missing = if missing.is_empty() { String::new() } else { format!("; still needs {}", missing.join(", ")) };
    let overdue = if complaint["overdue"] == true { "; overdue" } else { "" };
    format!(
        "complaint {} ({}): {}{outcome}, refunded {}, due {}{missing}{overdue}",
        text(&complaint["id"]),
        text(&complaint["kind"]),
        text(&complaint["status"]),
        money(&complaint["refunded_amount"]),
        text(&complaint["due_at"]),
    )
}

fn describe_event(event: &Value) -> String {
    let data: Vec<String> = event["data"].as_object().into_iter().flatten().map(|(name, value)| format!("{name}={}", text(value))).collect();
    format!("{}  {:<24} {}  {}", text(&event["created_at"]), text(&event["type"]), text(&event["subject_id"]), data.join(" "))
}

/// Prints events as the server streams them, resuming after the last one seen if the connection drops.
fn follow_events(client: &Client, json: bool) -> Result<ExitCode> {
    use std::io::BufRead;
    let url = format!("{}/v1/events/stream", client.connection.server.trim_end_matches('/'));
    let streaming = reqwest::blocking::Client::builder().build().context("while creating the HTTP client")?;
    let mut last_id: Option<String> = None;
    loop {
        let mut request = streaming.get(&url).bearer_auth(&client.token);
        if let Some(id) = &last_id {
            request = request.header("last-event-id", id.as_str());
        }
        let response = match request.send() {
            Ok(response) if response.status().is_success() => response,
            Ok(response) => return client.answer(response).map(|_| ExitCode::FAILURE),
            Err(error) => {
                eprintln!("the stream dropped ({error}); reconnecting");
                std::thread::sleep(Duration::from_secs(2));
                continue;
            }
        };
        for line in std::io::BufReader::new(response).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("id:") {
                last_id = Some(id.trim().to_owned());
            } else if let Some(data) = line.strip_prefix("data:") {
                let event: Value = serde_json::from_str(data.trim()).unwrap_or(Value::Null);
                println!("{}", if json { event.to_string() } else { describe_event(&event) });
            }
        }
        eprintln!("the stream ended; reconnecting");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Accept, return and cancel differ only in the path's last word.
fn transfer_step(client: &Client, transfer_id: &str, step: &str) -> Result<(Value, String)> {
    let transfer = client.post(&format!("/v1/transfers/{transfer_id}/{step}"), None)?;
    let summary = describe_transfer(&transfer);
    Ok((transfer, summary))
}
