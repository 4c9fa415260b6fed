//! Data-driven tests of the operations over `Service` with the manual clock, in the spirit of
//! rust-analyzer's: each test is a script of one operation per line and the answer it must get,
//! `alice top_up 100.00 => posted top_up 100.00`. A refusal is written as the typed error it is
//! (`refused Transfer(Finished { status: "settled" })`), so a script says which rule refused, not only
//! which HTTP code a client would see.
//!
//! The language: users are created the first time they are named; `T1`, `T2`, … name transfers and
//! `P1`, … packets in the order they were sent, `R1`, … return requests, and `last` the transaction of
//! the line before. Commands:
//! - `<user> top_up|withdraw <amount> [ref=<reference>]`
//! - `<user> transfer <user> <amount> [instant|delay_2h|delay_24h]`, `<user> accept|return|cancel T<n>`
//! - `<user> packet <user> <amount>` (a normal one-to-one packet), `<user> claim|recall P<n>`
//! - `<user> ask_back <txn> <amount> [<seconds>]`, `<user> accept|decline R<n>`
//! - `advance <seconds>` or `advance <n>ms`, `timers` (carries out what is due)
//! - `balance <user> => <amount>`

use std::collections::HashMap;
use std::sync::Arc;

use hongbao_core::packet::PacketSpec;
use hongbao_core::transfer::Arrival;
use hongbao_core::{Amount, PacketId, ReturnRequestId, Timestamp, TransferId, TxnNo, UserId};
use hongbao_service::{Config, ManualClock, Op, Outcome, Service};
use hongbao_testkit::TestDatabase;

struct Script {
    service: Service,
    clock: ManualClock,
    users: HashMap<String, UserId>,
    transfers: Vec<TransferId>,
    packets: Vec<PacketId>,
    requests: Vec<ReturnRequestId>,
    last_txn: Option<TxnNo>,
    references: u32,
    _database: TestDatabase,
}

fn amount(text: &str) -> Amount {
    Amount::parse_decimal(text).unwrap_or_else(|error| panic!("{text:?} is not an amount: {error}"))
}

fn numbered<T: Clone>(list: &[T], name: &str, prefix: char) -> T {
    let index: usize = name.strip_prefix(prefix).and_then(|number| number.parse().ok()).unwrap_or_else(|| panic!("{name} is not {prefix}<n>"));
    list.get(index - 1).unwrap_or_else(|| panic!("there is no {name}")).clone()
}

impl Script {
    async fn new() -> Script {
        let database = TestDatabase::new();
        let config = Config { admin_token: Some("admin".into()), evidence_dir: database.evidence_dir(), ..Config::default() };
        let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
        let service = Service::start(database.store(), config, Arc::new(clock.clone())).expect("start").service;
        Script {
            service,
            clock,
            users: HashMap::new(),
            transfers: Vec::new(),
            packets: Vec::new(),
            requests: Vec::new(),
            last_txn: None,
            references: 0,
            _database: database,
        }
    }

    async fn user(&mut self, name: &str) -> UserId {
        if let Some(id) = self.users.get(name) {
            return id.clone();
        }
        let Ok(Outcome::UserCreated { user, .. }) = self.service.execute(Op::CreateUser { name: name.into() }).await else { panic!("create {name}") };
        self.users.insert(name.to_owned(), user.id.clone());
        user.id
    }

    /// Runs one line and describes its answer.
    async fn line(&mut self, words: &[&str]) -> String {
        match words {
            ["advance", time] => {
                match time.strip_suffix("ms") {
                    Some(millis) => self.clock.advance_millis(millis.parse().expect("milliseconds")),
                    None => self.clock.advance_seconds(time.parse().expect("seconds")),
                }
                return "ok".into();
            }
            ["timers"] => return format!("{} carried out", self.service.run_due_timers().await.expect("the timers")),
            ["balance", user] => {
                let user = self.user(user).await;
                return self.service.wallet(&user).await.expect("a wallet").balance.to_string();
            }
            _ => {}
        }
        let user = self.user(words[0]).await;
        let op = match &words[1..] {
            ["top_up", units, rest @ ..] | ["withdraw", units, rest @ ..] => {
                self.references += 1;
                let reference = rest.iter().find_map(|word| word.strip_prefix("ref=")).map_or_else(|| format!("script-{}", self.references), str::to_owned);
                if words[1] == "top_up" {
                    Op::TopUp { user_id: user, amount: amount(units), reference }
                } else {
                    Op::Withdraw { user_id: user, amount: amount(units), reference: Some(reference) }
                }
            }
            ["transfer", to, units, rest @ ..] => {
                let arrival = rest.first().map_or(Arrival::Instant, |text| Arrival::parse(text).expect("an arrival"));
                let recipient_id = self.user(to).await;
                Op::SendTransfer { sender_id: user, recipient_id, amount: amount(units), memo: None, arrival, confirmation: None }
            }
            [step @ ("accept" | "return" | "cancel"), name] if name.starts_with('T') => {
                let transfer_id = numbered(&self.transfers, name, 'T');
                match *step {
                    "accept" => Op::AcceptTransfer { transfer_id, user_id: user },
                    "return" => Op::ReturnTransfer { transfer_id, user_id: user },
                    _ => Op::CancelTransfer { transfer_id, user_id: user },
                }
            }
            ["packet", to, units] => {
                let recipient_id = self.user(to).await;
                Op::SendPacket {
                    sender_id: user,
                    spec: PacketSpec::NormalToUser { recipient_id, amount_per_share: amount(units) },
                    greeting: None,
                    confirmation: None,
                }
            }
            ["claim", name] => Op::Claim { packet_id: numbered(&self.packets, name, 'P'), user_id: user },
            ["recall", name] => Op::Recall { packet_id: numbered(&self.packets, name, 'P'), user_id: user },
            ["ask_back", "last", units, rest @ ..] => Op::CreateReturnRequest {
                requester_id: user,
                txn_no: self.last_txn.clone().expect("a transaction on the line before"),
                amount: Some(amount(units)),
                reason: "script".into(),
                respond_within_seconds: rest.first().map(|seconds| seconds.parse().expect("seconds")),
            },
            [step @ ("accept" | "decline"), name] if name.starts_with('R') => {
                let request_id = numbered(&self.requests, name, 'R');
                if *step == "accept" {
                    Op::AcceptReturnRequest { request_id, user_id: user }
                } else {
                    Op::DeclineReturnRequest { request_id, user_id: user, reason: None }
                }
            }
            other => panic!("a line the script language does not know: {other:?}"),
        };
        match self.service.execute(op).await {
            Err(error) => format!("refused {error:?}"),
            Ok(Outcome::Posted(entry)) => {
                self.last_txn = Some(entry.txn.txn_no().clone());
                format!("posted {} {}", entry.txn.kind().as_str(), entry.txn.amount())
            }
            Ok(Outcome::Transfer(transfer)) => {
                if !self.transfers.contains(&transfer.id) {
                    self.transfers.push(transfer.id.clone());
                }
                self.last_txn = transfer.txn_nos.last().cloned();
                format!("transfer {}", transfer.status.as_str())
            }
            Ok(Outcome::Packet(view)) => {
                if !self.packets.contains(&view.packet.id) {
                    self.packets.push(view.packet.id.clone());
                }
                format!("packet {}", view.packet.status.as_str())
            }
            Ok(Outcome::Claimed { claim, .. }) => {
                self.last_txn = Some(claim.txn_no.clone());
                format!("claimed {}", claim.amount)
            }
            Ok(Outcome::ReturnRequest(request)) => {
                if !self.requests.contains(&request.id) {
                    self.requests.push(request.id.clone());
                }
                format!("request {}", request.status.as_str())
            }
            Ok(other) => format!("{other:?}"),
        }
    }
}

impl Script {
    /// An answer with its random ids told by name: a user's by the name the script gave it, a
    /// transaction number as `txn_…`.
    fn named(&self, mut answer: String) -> String {
        for (name, id) in &self.users {
            answer = answer.replace(id.as_str(), name);
        }
        let mut out = String::with_capacity(answer.len());
        let mut rest = answer.as_str();
        while let Some(start) = rest.find("txn_") {
            out.push_str(&rest[..start + 4]);
            let after = &rest[start + 4..];
            let end = after.find(|char: char| !char.is_ascii_alphanumeric()).unwrap_or(after.len());
            // Generated numbers have twenty characters after the prefix; a field name such as
            // `txn_no` is left alone.
            if end >= 20 {
                out.push('…');
                rest = &after[end..];
            } else {
                rest = after;
            }
        }
        out.push_str(rest);
        out
    }
}

/// Runs a script and checks each line's answer; on a difference, shows every line as it went.
async fn check(script: &str) {
    let mut runner = Script::new().await;
    let mut transcript = String::new();
    let mut failed = false;
    for line in script.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')) {
        let (command, expected) = line.split_once("=>").map_or((line, None), |(command, expected)| (command.trim(), Some(expected.trim())));
        let words: Vec<&str> = command.split_whitespace().collect();
        let answer = runner.line(&words).await;
        let answer = runner.named(answer);
        let differs = expected.is_some_and(|expected| expected != answer);
        failed |= differs;
        transcript.push_str(&format!("{command} => {answer}{}\n", if differs { "    <-- expected otherwise" } else { "" }));
    }
    assert!(!failed, "the script went otherwise:\n{transcript}");
    let report = runner.service.read(|conn| Ok(hongbao_service::verify::verify(conn)?)).await.expect("verify");
    assert!(report.is_clean(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallets_and_external_references() {
    check(
        r#"
        alice top_up 100.00 ref=bank-1   => posted top_up 100.00
        # A retried bank callback is the same top-up; another user or amount under it is refused.
        alice top_up 100.00 ref=bank-1   => posted top_up 100.00
        bob top_up 100.00 ref=bank-1     => refused ReferenceReused { kind: "top_up", reference: "bank-1", txn_no: TxnNo("txn_…") }
        alice withdraw 30.00             => posted withdrawal 30.00
        alice withdraw 80.00             => refused InsufficientFunds { needed: Amount(8000), available: Amount(7000) }
        balance alice                    => 70.00
        # No wallet holds more than 10^12 minor units.
        alice top_up 9999999930.01       => refused BalanceLimit { account: "wallet:alice" }
        alice top_up 9999999930.00       => posted top_up 9999999930.00
        balance alice                    => 10000000000.00
        "#,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_transfer_keeps_to_its_deadlines_to_the_millisecond() {
    check(
        r#"
        alice top_up 100.00                  => posted top_up 100.00
        alice transfer bob 10.00 delay_2h    => transfer pending
        bob accept T1                        => transfer accepted
        advance 7199999ms                    => ok
        alice cancel T1                      => transfer cancelled
        alice transfer bob 10.00 delay_2h    => transfer pending
        bob accept T2                        => transfer accepted
        advance 7200001ms                    => ok
        # Past the arrival, before the timer: settled, whatever the stored state.
        alice cancel T2                      => refused Transfer(Finished { status: "settled" })
        bob return T2                        => refused Transfer(Finished { status: "settled" })
        timers                               => 1 carried out
        balance bob                          => 10.00
        balance alice                        => 90.00
        "#,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_is_given_back_at_most_once() {
    check(
        r#"
        alice top_up 100.00              => posted top_up 100.00
        bob top_up 5.00                  => posted top_up 5.00
        alice packet bob 20.00           => packet open
        bob claim P1                     => claimed 20.00
        alice ask_back last 15.00        => request pending
        bob accept R1                    => request accepted
        alice ask_back last 6.00         => refused Return(AmountTooLarge { max: Amount(500) })
        balance alice                    => 95.00
        balance bob                      => 10.00
        "#,
    )
    .await;
}
