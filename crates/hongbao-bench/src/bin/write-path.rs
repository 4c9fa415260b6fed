//! The write path alone: claims of one hot packet submitted straight to the service (no HTTP, no
//! JSON, no authentication), durable on SQLite (`synchronous=FULL`) as every answer is, with the risk
//! checks, events and ledger rows of each claim as the server makes them. It prints claims per second;
//! run under `valgrind --tool=callgrind` with a fixed `--claims` it gives a repeatable instruction
//! count per claim, the regression guard BENCHMARKS.md records.
//!
//! `cargo run --release -p hongbao-bench --bin write-path -- --claims 100000 [--in-flight 4096] [--observed] [--setup-only] [--no-verify]`
//!
//! `--observed` wraps each claim as a user's first request from a new device, as the benchmark's HTTP
//! client makes it (`Op::Observed`): the sighting is read and written in the claim's own batch.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use hongbao_core::packet::PacketSpec;
use hongbao_core::{Amount, Timestamp, UserId};
use hongbao_service::{Config, ManualClock, Op, Outcome, RiskOp, Service};

struct Options {
    claims: usize,
    in_flight: usize,
    observed: bool,
    /// Sets everything up and stops before the claims: run under callgrind with and without it, the
    /// difference divided by `claims` is the instruction count of one claim.
    setup_only: bool,
    /// Skips `verify` after the claims (for instruction counts of the claims alone).
    no_verify: bool,
}

fn options() -> Result<Options> {
    let mut options = Options { claims: 100_000, in_flight: 4_096, observed: false, setup_only: false, no_verify: false };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--claims" => options.claims = value()?.parse().context("--claims takes a number")?,
            "--in-flight" => options.in_flight = value()?.parse().context("--in-flight takes a number")?,
            "--observed" => options.observed = true,
            "--setup-only" => options.setup_only = true,
            "--no-verify" => options.no_verify = true,
            other => bail!("unknown argument {other}; see the module docs"),
        }
    }
    Ok(options)
}

/// The server's allocator, so that the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let options = options()?;
    let directory = std::env::temp_dir().join(format!("hongbao-write-path-{}", std::process::id()));
    std::fs::create_dir_all(&directory)?;
    let store = Arc::new(hongbao_store_sqlite::SqliteStore::from_url(&format!("sqlite://{}", directory.join("bench.db").display()))?);
    let shares = u32::try_from(options.claims).context("too many claims")?;
    let mut config = Config { admin_token: Some("bench".into()), evidence_dir: directory.join("evidence"), ..Config::default() };
    config.limits.max_shares = shares;
    config.max_group_members = shares + 1;
    // A policy that lets one sender fund a packet of any size in this run.
    config.policy_text = Some("[limits]\nper_transaction_max = \"10000000000.00\"\ndaily_outgoing_max = \"10000000000.00\"\n[confirmation]\nthreshold = \"10000000000.00\"\n[alerts]\nlarge_transaction = \"10000000000.00\"\n".into());
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_800_000_000_000)));
    let service = Service::start(store, config, clock).context("starting the service")?.service;

    let user = |outcome: Outcome| match outcome {
        Outcome::UserCreated { user, .. } => Ok(user.id),
        other => bail!("not a user: {other:?}"),
    };
    let sender = user(service.execute(Op::CreateUser { name: "sender".into() }).await?)?;
    let mut claimers: Vec<UserId> = Vec::with_capacity(options.claims);
    let mut creating = tokio::task::JoinSet::new();
    for index in 0..options.claims {
        let service = service.clone();
        creating.spawn(async move { service.execute(Op::CreateUser { name: format!("claimer{index}") }).await });
        if creating.len() >= options.in_flight {
            claimers.push(user(creating.join_next().await.context("a task")???)?);
        }
    }
    while let Some(created) = creating.join_next().await {
        claimers.push(user(created??)?);
    }
    let total = Amount::new(i64::from(shares)).context("the total")?;
    service.execute(Op::TopUp { user_id: sender.clone(), amount: total, reference: "bench".into() }).await?;
    let Outcome::Group(group) = service.execute(Op::CreateGroup { owner_id: sender.clone(), name: "hot".into(), member_ids: claimers.clone() }).await? else {
        bail!("not a group")
    };
    let spec = PacketSpec::NormalToGroup { group_id: group.id, amount_per_share: Amount::new(1).context("a fen")?, shares };
    let Outcome::Packet(view) = service.execute(Op::SendPacket { sender_id: sender, spec, greeting: None, confirmation: None }).await? else {
        bail!("not a packet")
    };
    let packet_id = view.packet.id;
    if options.setup_only {
        println!("set up for {} claims; no claim made", options.claims);
        drop(service);
        let _ = std::fs::remove_dir_all(&directory);
        return Ok(());
    }

    let batches_before = service.metrics().batches.load(std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let mut claiming = tokio::task::JoinSet::new();
    let mut claimed = 0usize;
    for (index, user_id) in claimers.into_iter().enumerate() {
        let claim = Op::Claim { packet_id: packet_id.clone(), user_id: user_id.clone() };
        let op = if options.observed {
            let observation = RiskOp::ObserveClient { user_id, device: Some(format!("device-{index}")), address: Some("127.0.0.1".into()) };
            Op::Observed { observation, op: Box::new(claim) }
        } else {
            claim
        };
        let service = service.clone();
        claiming.spawn(async move { service.execute(op).await });
        if claiming.len() >= options.in_flight {
            claimed += usize::from(matches!(claiming.join_next().await.context("a task")??, Ok(Outcome::Claimed { .. })));
        }
    }
    while let Some(answer) = claiming.join_next().await {
        claimed += usize::from(matches!(answer?, Ok(Outcome::Claimed { .. })));
    }
    let elapsed = started.elapsed();
    let batches = service.metrics().batches.load(std::sync::atomic::Ordering::Relaxed) - batches_before;
    let report = if options.no_verify {
        "not run".to_owned()
    } else {
        let report = service.read(|conn| Ok(hongbao_service::verify::verify(conn)?)).await?;
        if !report.is_clean() {
            bail!("verify: {report}");
        }
        report.to_string()
    };
    println!(
        "{claimed} claims in {:.3} s: {:.0} claims/s, durable (SQLite synchronous=FULL), in {batches} commits; verify: {report}",
        elapsed.as_secs_f64(),
        claimed as f64 / elapsed.as_secs_f64()
    );
    drop(service);
    let _ = std::fs::remove_dir_all(&directory);
    if claimed != options.claims {
        bail!("{claimed} of {} claims succeeded", options.claims);
    }
    Ok(())
}
