//! The benchmark: hongbao (`hongbao serve`, embedded SQLite, over real HTTP, durable on every answer)
//! against the usual designs on the same machine in the same run — Redis with the common Lua grab
//! (`appendfsync always`, and `everysec` for reference) and PostgreSQL with the textbook row-lock claim
//! transaction — and hongbao on PostgreSQL through three processes. Prints a Markdown table.
//!
//! Run it with `bench/run` (which builds the release binaries first); `--scale 0.1` runs every
//! scenario at a tenth of its size for a quick look.
//!
//! The hot packet is measured twice: from the benchmark's own client (Rust) against every peer, and
//! from C clients, wrk for hongbao and redis-benchmark for Redis, so that the two servers are driven
//! by clients of the same kind. Each run also reports the server's CPU per claim (`/proc/PID/stat`),
//! and a second table judges the run against the targets of issue 15.

mod cpu;
mod load;
mod peers;
mod receipts;
mod server;
mod targets;
mod wrk;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::json;

use crate::cpu::CpuMeter;
use crate::load::{Latencies, closed_loop, open_loop};
use crate::server::{Api, Server, TempDir, verify};
use crate::targets::{ClaimFigures, Measured};

struct Options {
    scale: f64,
    concurrency: usize,
    skip_peers: bool,
    postgres_url: String,
    binary: String,
    output: Option<String>,
    /// Threads of the C clients (wrk and redis-benchmark), the same for both. One by default: with more,
    /// redis-benchmark rounds its elapsed time up to a multiple of 250 ms.
    client_threads: usize,
    /// Which scenarios to run: 1 (with 2), 3, 4, 6, 7, 8 and 9; all but 7 and 8 by default.
    phases: Vec<u32>,
    /// The journal size of phase 7 (receipts and proofs).
    receipt_entries: u64,
}

fn options() -> Result<Options> {
    let mut options = Options {
        scale: 1.0,
        concurrency: 128,
        skip_peers: false,
        postgres_url: "postgres://root@127.0.0.1:5432/test".to_owned(),
        binary: "target/release/hongbao".to_owned(),
        output: None,
        client_threads: 1,
        phases: vec![1, 3, 4, 6, 9],
        receipt_entries: 10_000_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--scale" => options.scale = value()?.parse().context("--scale takes a number")?,
            "--concurrency" => options.concurrency = value()?.parse().context("--concurrency takes a number")?,
            "--skip-peers" => options.skip_peers = true,
            "--postgres" => options.postgres_url = value()?,
            "--binary" => options.binary = value()?,
            "--output" => options.output = Some(value()?),
            "--client-threads" => options.client_threads = value()?.parse().context("--client-threads takes a number")?,
            "--phases" => {
                options.phases =
                    value()?.split(',').map(|phase| phase.trim().parse().context("--phases takes numbers like 1,3,4,6,9")).collect::<Result<_>>()?
            }
            "--receipt-entries" => options.receipt_entries = value()?.parse().context("--receipt-entries takes a number")?,
            "--help" | "-h" => {
                println!(
                    "hongbao-bench [--scale F] [--concurrency N] [--client-threads N] [--skip-peers] [--phases 1,3,4,6,7,8,9] [--receipt-entries N] [--postgres URL] [--binary PATH] [--output FILE]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    ensure!(options.client_threads >= 1, "--client-threads takes a number of at least 1");
    Ok(options)
}

/// One line of the results table.
struct Row {
    scenario: String,
    metric: String,
    hongbao: f64,
    peers: Vec<(String, f64)>,
    /// Whether larger is better (throughput) or smaller (latency, memory).
    higher_is_better: bool,
}

fn scaled(options: &Options, full: usize) -> usize {
    ((full as f64 * options.scale).round() as usize).max(10)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let options = options()?;
    let mut rows: Vec<Row> = Vec::new();
    let mut measured = Measured::default();
    let mut peak_rss_kib = 0u64;
    let machine = machine_description();
    println!("machine: {machine}");

    // 1 and 2: the hot packet, and latency at a fixed half-peak rate.
    let claims = scaled(&options, 100_000);
    if options.phases.contains(&1) {
        let (hot, fixed, rss) = hot_packet(&options, claims).await?;
        peak_rss_kib = peak_rss_kib.max(rss);
        measured.hot_packet = Some(ClaimFigures { claims_per_second: hot.per_second(), cpu_micros_per_claim: hot.cpu_micros_per_claim() });
        measured.fixed_rate_p99_ms = Some(fixed.latencies.percentile_ms(99.0));
        let mut hot_row = Row {
            scenario: format!("1. hot packet, {claims} claims"),
            metric: "claims/s".into(),
            hongbao: hot.per_second(),
            peers: vec![],
            higher_is_better: true,
        };
        let mut cpu_row = Row {
            scenario: format!("1. hot packet, {claims} claims"),
            metric: CPU_METRIC.into(),
            hongbao: hot.cpu_micros_per_claim(),
            peers: vec![],
            higher_is_better: false,
        };
        let mut p50 = Row {
            scenario: "1. hot packet".into(),
            metric: "p50 ms".into(),
            hongbao: hot.latencies.percentile_ms(50.0),
            peers: vec![],
            higher_is_better: false,
        };
        let mut p99 = Row {
            scenario: "1. hot packet".into(),
            metric: "p99 ms".into(),
            hongbao: hot.latencies.percentile_ms(99.0),
            peers: vec![],
            higher_is_better: false,
        };
        let mut p999 = Row {
            scenario: "1. hot packet".into(),
            metric: "p99.9 ms".into(),
            hongbao: hot.latencies.percentile_ms(99.9),
            peers: vec![],
            higher_is_better: false,
        };
        if !options.skip_peers {
            for (name, appendfsync) in [("Redis+Lua always", "always"), ("Redis+Lua everysec", "everysec")] {
                let result = peers::redis_hot_packet(appendfsync, claims, options.concurrency).await.with_context(|| format!("while measuring {name}"))?;
                if appendfsync == "always" {
                    measured.redis_always = Some(ClaimFigures { claims_per_second: result.per_second(), cpu_micros_per_claim: result.cpu_micros_per_claim() });
                }
                hot_row.peers.push((name.into(), result.per_second()));
                cpu_row.peers.push((name.into(), result.cpu_micros_per_claim()));
                p50.peers.push((name.into(), result.latencies.percentile_ms(50.0)));
                p99.peers.push((name.into(), result.latencies.percentile_ms(99.0)));
                p999.peers.push((name.into(), result.latencies.percentile_ms(99.9)));
            }
            let result = peers::postgres_hot_packet(&options.postgres_url, claims, options.concurrency.min(64))
                .await
                .context("while measuring the PostgreSQL row-lock claim")?;
            measured.row_lock = Some(result.per_second());
            hot_row.peers.push(("PostgreSQL row lock".into(), result.per_second()));
            cpu_row.peers.push(("PostgreSQL row lock (its backends)".into(), result.cpu_micros_per_claim()));
            p50.peers.push(("PostgreSQL row lock".into(), result.latencies.percentile_ms(50.0)));
            p99.peers.push(("PostgreSQL row lock".into(), result.latencies.percentile_ms(99.0)));
            p999.peers.push(("PostgreSQL row lock".into(), result.latencies.percentile_ms(99.9)));
        }
        rows.extend([hot_row, cpu_row, p50, p99, p999]);

        // The same hot packet from C clients: wrk for hongbao, redis-benchmark for Redis.
        let threads = options.client_threads;
        let with_wrk = hot_packet_with_wrk(&options, claims).await.context("while measuring the hot packet with wrk")?;
        measured.hot_packet_wrk = Some(ClaimFigures { claims_per_second: with_wrk.per_second(), cpu_micros_per_claim: with_wrk.cpu_micros_per_claim() });
        let scenario =
            format!("1c. hot packet, {claims} claims, C clients: wrk / redis-benchmark, {} connections, {}", options.concurrency, threads_named(threads));
        let mut wrk_row = Row { scenario: scenario.clone(), metric: "claims/s".into(), hongbao: with_wrk.per_second(), peers: vec![], higher_is_better: true };
        let mut wrk_cpu_row = Row { scenario, metric: CPU_METRIC.into(), hongbao: with_wrk.cpu_micros_per_claim(), peers: vec![], higher_is_better: false };
        if !options.skip_peers {
            for (name, appendfsync) in [("Redis+Lua always", "always"), ("Redis+Lua everysec", "everysec")] {
                let result = peers::redis_hot_packet_with_redis_benchmark(appendfsync, claims, options.concurrency, threads)
                    .await
                    .with_context(|| format!("while measuring {name} with redis-benchmark"))?;
                let cpu = cpu::micros_per_claim(Some(result.server_cpu), result.claims);
                if appendfsync == "always" {
                    measured.redis_always_benchmark = Some(ClaimFigures { claims_per_second: result.claims_per_second, cpu_micros_per_claim: cpu });
                }
                wrk_row.peers.push((name.into(), result.claims_per_second));
                wrk_cpu_row.peers.push((name.into(), cpu));
            }
        }
        rows.extend([wrk_row, wrk_cpu_row]);
        rows.push(Row {
            scenario: format!("2. fixed rate {:.0}/s (half the peak)", fixed.rate),
            metric: "p50 / p99 / p99.9 ms".into(),
            hongbao: fixed.latencies.percentile_ms(99.0),
            peers: vec![("p50".into(), fixed.latencies.percentile_ms(50.0)), ("p99.9".into(), fixed.latencies.percentile_ms(99.9))],
            higher_is_better: false,
        });
    }

    // 3: many packets over many groups.
    let groups = scaled(&options, 10_000);
    if options.phases.contains(&3) {
        let (operations_per_second, rss) = many_packets(&options, groups).await?;
        peak_rss_kib = peak_rss_kib.max(rss);
        rows.push(Row {
            scenario: format!("3. sends and claims over {groups} groups"),
            metric: "operations/s".into(),
            hongbao: operations_per_second,
            peers: vec![],
            higher_is_better: true,
        });
    }

    // 4: the expiry sweep.
    let packets = scaled(&options, 1_000_000);
    if options.phases.contains(&4) {
        let (refunds_per_second, rss) = expiry_sweep(&options, packets).await?;
        peak_rss_kib = peak_rss_kib.max(rss);
        measured.expiry_sweep = Some((packets, refunds_per_second));
        rows.push(Row {
            scenario: format!("4. expiry sweep of {packets} packets"),
            metric: "refunds/s".into(),
            hongbao: refunds_per_second,
            peers: vec![],
            higher_is_better: true,
        });
    }

    // 5: memory.
    measured.peak_rss_mib = (peak_rss_kib > 0).then(|| peak_rss_kib as f64 / 1024.0);
    rows.push(Row {
        scenario: "5. peak RSS of the server, all scenarios".into(),
        metric: "MiB".into(),
        hongbao: peak_rss_kib as f64 / 1024.0,
        peers: vec![],
        higher_is_better: false,
    });

    // hongbao on PostgreSQL, three processes, against the textbook claim (issue: several processes).
    if options.phases.contains(&6) {
        let claims = scaled(&options, 20_000);
        let three = postgres_three_processes(&options, claims).await.context("while measuring three processes on PostgreSQL")?;
        let mut peers = Vec::new();
        let mut row_lock = None;
        if !options.skip_peers {
            let textbook = peers::postgres_hot_packet(&options.postgres_url, claims, options.concurrency.min(64)).await?;
            row_lock = Some(textbook.per_second());
            peers.push(("PostgreSQL row lock".into(), textbook.per_second()));
        }
        measured.three_processes = Some((three.per_second(), row_lock));
        rows.push(Row {
            scenario: format!("6. hot packet on PostgreSQL, 3 processes, {claims} claims"),
            metric: "claims/s".into(),
            hongbao: three.per_second(),
            peers,
            higher_is_better: true,
        });
    }

    // 7: receipts and proofs on a journal of ten million entries.
    if options.phases.contains(&7) {
        let figures = tokio::task::spawn_blocking({
            let entries = options.receipt_entries;
            move || receipts::run(entries, 1_000)
        })
        .await
        .context("while measuring receipts")??;
        let scenario = |what: &str| format!("7. {what}, tree of {} entries", figures.entries);
        let row = |scenario: String, metric: &str, value: f64| Row { scenario, metric: metric.into(), hongbao: value, peers: vec![], higher_is_better: false };
        rows.extend([
            row(scenario("build through the store"), "s", figures.build.as_secs_f64()),
            row(scenario("node table on disk"), "MiB", figures.database_bytes as f64 / 1024.0 / 1024.0),
            row(scenario("signed checkpoint (root from stored nodes + Ed25519)"), "µs", figures.checkpoint_micros),
            row(scenario("receipt generation (proof from stored nodes)"), "µs", figures.receipt_micros),
            row(scenario("receipt verification"), "µs", figures.receipt_verify_micros),
            row(scenario("receipt size"), "bytes", figures.receipt_bytes),
            row(scenario("consistency proof generation"), "µs", figures.consistency_micros),
            row(scenario("consistency proof verification"), "µs", figures.consistency_verify_micros),
            row(scenario("consistency proof size"), "bytes", figures.consistency_bytes),
        ]);
    }

    // 8: what checkpoints cost the hot packet: checkpoints every second against none after the first.
    if options.phases.contains(&8) {
        for (label, interval) in
            [("checkpoints off", "86400"), ("checkpoints every 1 s", "1"), ("checkpoints off, again", "86400"), ("checkpoints every 1 s, again", "1")]
        {
            let (hot, made) =
                hot_packet_with_checkpoints(&options, claims, interval).await.with_context(|| format!("while measuring the hot packet, {label}"))?;
            rows.push(Row {
                scenario: format!("8. hot packet, {claims} claims, {label} ({made} checkpoints made)"),
                metric: "claims/s".into(),
                hongbao: hot.per_second(),
                peers: vec![],
                higher_is_better: true,
            });
            rows.push(Row {
                scenario: format!("8. hot packet, {label}"),
                metric: "p99 ms".into(),
                hongbao: hot.latencies.percentile_ms(99.0),
                peers: vec![],
                higher_is_better: false,
            });
        }
    }

    // 9: the write path alone, in process, without HTTP.
    if options.phases.contains(&9) {
        let claims = scaled(&options, 100_000);
        let claims_per_second = write_path(claims).await.context("while measuring the write path alone")?;
        measured.write_path = Some(claims_per_second);
        rows.push(Row {
            scenario: format!("9. write path alone, in process, durable, {claims} claims"),
            metric: "claims/s".into(),
            hongbao: claims_per_second,
            peers: vec![],
            higher_is_better: true,
        });
    }

    let mut table = render(&rows, &machine, &options);
    table.push('\n');
    table.push_str(&targets::render(&measured));
    println!("\n{table}");
    if let Some(path) = &options.output {
        std::fs::write(path, &table).with_context(|| format!("while writing {path}"))?;
    }
    Ok(())
}

fn render(rows: &[Row], machine: &str, options: &Options) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Machine: {machine}. Scale {}; {} concurrent clients.\n", options.scale, options.concurrency);
    let _ = writeln!(out, "| scenario | metric | hongbao | peer | peer value | hongbao / peer |");
    let _ = writeln!(out, "|---|---|---:|---|---:|---:|");
    for row in rows {
        if row.peers.is_empty() {
            let _ = writeln!(out, "| {} | {} | {:.1} | | | |", row.scenario, row.metric, row.hongbao);
        }
        for (name, value) in &row.peers {
            let ratio = if row.higher_is_better { row.hongbao / value } else { value / row.hongbao };
            let ratio = if row.metric.starts_with("p50 /") { String::new() } else { format!("{ratio:.2}") };
            let _ = writeln!(out, "| {} | {} | {:.1} | {name} | {value:.1} | {ratio} |", row.scenario, row.metric, row.hongbao);
        }
    }
    let _ = writeln!(out, "\nRatios are hongbao's advantage: throughput hongbao/peer, latency and CPU peer/hongbao (above 1 means hongbao is better).");
    let _ = writeln!(
        out,
        "Server CPU is the user and system time of the server's processes over the claims (`/proc/PID/stat`), divided by the claims: \
         `hongbao serve`, `redis-server`, or the PostgreSQL backends of the benchmark's connections."
    );
    out
}

/// "1 thread", "2 threads".
pub fn threads_named(threads: usize) -> String {
    if threads == 1 { "1 thread".into() } else { format!("{threads} threads") }
}

fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| info.lines().find(|line| line.starts_with("model name")).map(|line| line.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|cores| cores.get()).unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| info.lines().next().map(|line| line.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0) / 1024 / 1024))
        .unwrap_or(0);
    format!("{cpu}, {cores} cores, {memory} GiB")
}

/// The metric of the rows of server CPU per claim.
const CPU_METRIC: &str = "server CPU µs/claim";

pub struct Throughput {
    pub completed: usize,
    pub elapsed: Duration,
    pub latencies: Latencies,
    /// The CPU the server's processes used over the claims, where measured.
    pub server_cpu: Option<Duration>,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }

    /// The server's CPU per claim in microseconds, NaN where not measured.
    pub fn cpu_micros_per_claim(&self) -> f64 {
        cpu::micros_per_claim(self.server_cpu, self.completed)
    }
}

struct FixedRate {
    rate: f64,
    latencies: Latencies,
}

/// A group of `members` users owned by a funded sender, with a packet of `shares` shares.
async fn setup_packet(api: &Api, members: &[(String, String)], shares: usize) -> Result<(String, String, i64)> {
    let (sender_id, sender_token) = api.user("sender").await?;
    let total = shares as i64 * 100;
    api.top_up(&sender_id, total).await?;
    let member_ids: Vec<&str> = members.iter().map(|(id, _)| id.as_str()).collect();
    let group_id = api.create_group(&sender_token, &member_ids).await?;
    let packet =
        api.post(&sender_token, "/v1/packets", Some(json!({ "kind": "lucky", "group_id": group_id, "total_amount": total, "shares": shares }))).await?;
    ensure!(packet.0 == 201, "sending the packet failed: {}", packet.1);
    Ok((packet.1["id"].as_str().context("packet id")?.to_owned(), sender_token, total))
}

/// Claims the packet once per user; checks exactly `users.len()` succeed and the amounts sum to `total`.
async fn claim_all(bases: &[String], packet_id: &str, users: Arc<Vec<(String, String)>>, total: Option<i64>, concurrency: usize) -> Result<Throughput> {
    let apis: Vec<Api> = bases.iter().map(|base| Api::new(base, concurrency)).collect();
    let path = format!("/v1/packets/{packet_id}/claim");
    let count = users.len();
    let (elapsed, latencies, results) = closed_loop(count, concurrency, move |index| {
        let api = apis[index % apis.len()].clone();
        let token = users[index].1.clone();
        let path = path.clone();
        async move {
            let (status, body) = api.post(&token, &path, None).await?;
            ensure!(status == 200, "claim answered {status}: {body}");
            body["amount"].as_i64().context("claim amount")
        }
    })
    .await?;
    let claimed: i64 = results.iter().sum();
    if let Some(total) = total {
        ensure!(claimed == total, "claims sum to {claimed}, not {total}");
    }
    Ok(Throughput { completed: results.len(), elapsed, latencies, server_cpu: None })
}

/// Limits that let one packet have a share for every member of a group of any size the benchmark uses,
/// and connections enough for the open-loop client of phase 2: it opens one for every claim in flight,
/// and a stall of 75 ms at 7,000 claims a second is past the default of 512, which the
/// server then refuses (503 `too_many_connections`, as it should).
fn hot_packet_settings() -> [(&'static str, String); 3] {
    [("HONGBAO_MAX_SHARES", "1000000".to_owned()), ("HONGBAO_MAX_GROUP_MEMBERS", "2000000".to_owned()), ("HONGBAO_MAX_CONNECTIONS", "30000".to_owned())]
}

async fn hot_packet(options: &Options, claims: usize) -> Result<(Throughput, FixedRate, u64)> {
    let dir = TempDir::new()?;
    let url = dir.sqlite_url();
    let server = Server::start(&options.binary, &url, &hot_packet_settings()).await?;
    let api = Api::new(&server.base, options.concurrency);
    println!("1. hot packet: creating {claims} users and a {claims}-share lucky packet");
    let users = api.users(claims * 2, options.concurrency).await?;
    let first: Arc<Vec<(String, String)>> = Arc::new(users[..claims].to_vec());
    let second: Arc<Vec<(String, String)>> = Arc::new(users[claims..].to_vec());
    let (packet_id, _, total) = setup_packet(&api, &first, claims).await?;
    println!("1. hot packet: {claims} claims by {} clients", options.concurrency);
    let meter = CpuMeter::start(&[server.pid()?])?;
    let mut hot = claim_all(std::slice::from_ref(&server.base), &packet_id, first, Some(total), options.concurrency).await?;
    hot.server_cpu = Some(meter.used()?);
    println!("   {:.0} claims/s, p99 {:.2} ms, server CPU {:.1} µs a claim", hot.per_second(), hot.latencies.percentile_ms(99.0), hot.cpu_micros_per_claim());

    // 2: a second packet claimed at half the measured peak, open loop.
    let rate = hot.per_second() / 2.0;
    let fixed_claims = second.len().min((rate * 20.0) as usize).max(10);
    let (packet_id, _, _) = setup_packet(&api, &second[..fixed_claims], fixed_claims).await?;
    println!("2. fixed rate: {fixed_claims} claims at {rate:.0}/s");
    let path = format!("/v1/packets/{packet_id}/claim");
    let fixed_api = api.clone();
    let latencies = open_loop(fixed_claims, rate, move |index| {
        let api = fixed_api.clone();
        let token = second[index].1.clone();
        let path = path.clone();
        async move {
            let (status, body) = api.post(&token, &path, None).await?;
            ensure!(status == 200, "claim answered {status}: {body}");
            Ok(())
        }
    })
    .await?;
    println!("   p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms", latencies.percentile_ms(50.0), latencies.percentile_ms(99.0), latencies.percentile_ms(99.9));
    // The server's own view of the same claims (both phases), to tell its stalls from the client's.
    let metrics = reqwest::get(format!("{}/metrics", server.base)).await?.text().await?;
    let bucket = |le: &str| -> u64 {
        let prefix = format!("hongbao_http_request_duration_seconds_bucket{{method=\"POST\",route=\"/v1/packets/{{id}}/claim\",le=\"{le}\"}} ");
        metrics.lines().find_map(|line| line.strip_prefix(prefix.as_str())?.parse().ok()).unwrap_or(0)
    };
    let all = bucket("+Inf").max(1);
    println!(
        "   server-side, all claims so far: {:.2}% within 10 ms, {:.2}% within 50 ms, {:.3}% over 100 ms",
        bucket("0.01") as f64 * 100.0 / all as f64,
        bucket("0.05") as f64 * 100.0 / all as f64,
        (all - bucket("0.1")) as f64 * 100.0 / all as f64
    );
    let rss = server.peak_rss_kib();
    server.stop().await;
    verify(&options.binary, &url)?;
    Ok((hot, FixedRate { rate, latencies }, rss))
}

/// The hot packet of phase 1 on a fresh server, claimed by wrk with `bench/wrk-claim.lua`: every user
/// once, with their own token. Checked from both sides: the script's count of answers and their amounts,
/// then the server's packet (claimed count, amount and each claimer once), its count of answers, and
/// `verify`.
async fn hot_packet_with_wrk(options: &Options, claims: usize) -> Result<Throughput> {
    let dir = TempDir::new()?;
    let url = dir.sqlite_url();
    let server = Server::start(&options.binary, &url, &hot_packet_settings()).await?;
    let api = Api::new(&server.base, options.concurrency);
    println!("1c. hot packet with wrk: creating {claims} users and a {claims}-share lucky packet");
    let users = api.users(claims, options.concurrency).await?;
    let (packet_id, sender_token, total) = setup_packet(&api, &users, claims).await?;
    let tokens: Vec<String> = users.iter().map(|(_, token)| token.clone()).collect();
    let threads = options.client_threads.min(claims);
    println!("1c. hot packet with wrk: {claims} claims by {} connections on {}", options.concurrency, threads_named(threads));
    let claim_url = format!("{}/v1/packets/{packet_id}/claim", server.base);
    let meter = CpuMeter::start(&[server.pid()?])?;
    let report = wrk::claim_each_once(&claim_url, &tokens, options.concurrency, threads, dir.path()).await?;
    let server_cpu = meter.used()?;
    ensure!(
        report.ok == claims && report.conflict == 0 && report.other == 0 && report.unfinished_threads == 0,
        "wrk: of {claims} claims {} answered 200, {} 409 and {} otherwise; {} threads did not finish",
        report.ok,
        report.conflict,
        report.other,
        report.unfinished_threads
    );
    ensure!(report.amount == total, "wrk's claims sum to {}, not {total}", report.amount);
    let packet = api.get(&sender_token, &format!("/v1/packets/{packet_id}")).await?;
    let claimers: HashSet<&str> =
        packet["claims"].as_array().context("the packet lists no claims")?.iter().filter_map(|claim| claim["user_id"].as_str()).collect();
    let users_ids: HashSet<&str> = users.iter().map(|(id, _)| id.as_str()).collect();
    ensure!(
        packet["claimed_count"].as_u64() == Some(claims as u64) && packet["claimed_amount"].as_i64() == Some(total) && claimers == users_ids,
        "the server's packet after wrk: {} claimed of {claims}, {} of {total}, {} distinct claimers",
        packet["claimed_count"],
        packet["claimed_amount"],
        claimers.len()
    );
    let answered = |status: &str| format!("hongbao_http_requests_total{{method=\"POST\",route=\"/v1/packets/{{id}}/claim\",status=\"{status}\"}}");
    let answered_ok = server.metric(&answered("200")).await?;
    let answered_conflict = server.metric(&answered("409")).await.unwrap_or(0);
    ensure!(answered_ok == claims as u64 && answered_conflict == 0, "the server answered {answered_ok} claims 200 and {answered_conflict} 409, of {claims}");
    let result = Throughput { completed: report.ok, elapsed: report.elapsed, latencies: Latencies::default(), server_cpu: Some(server_cpu) };
    println!(
        "   {:.0} claims/s, server CPU {:.1} µs a claim; each of the {claims} users claimed once (wrk and the server agree)",
        result.per_second(),
        result.cpu_micros_per_claim()
    );
    server.stop().await;
    verify(&options.binary, &url)?;
    Ok(result)
}

/// Phase 9: the write path alone, in process, durable on SQLite, without HTTP: the `write-path` binary
/// built beside this one, which checks its own claims and runs `verify`. Returns its claims per second.
async fn write_path(claims: usize) -> Result<f64> {
    let binary = std::env::current_exe().context("the benchmark's own path")?.with_file_name("write-path");
    println!("9. write path alone: {claims} claims in process ({})", binary.display());
    let output = tokio::process::Command::new(&binary)
        .args(["--claims", &claims.to_string()])
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("while running {} (build it with cargo build --release -p hongbao-bench)", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(output.status.success(), "write-path failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    println!("   {}", stdout.trim());
    // Its report reads "... : 123456 claims/s, ...": the figure is the word before the first "claims/s".
    let before = stdout.split(" claims/s").next().filter(|before| before.len() < stdout.len()).context("write-path printed no claims/s")?;
    before.split_whitespace().last().context("write-path printed no figure")?.parse().with_context(|| format!("write-path's figure is not a number: {stdout}"))
}

/// The hot packet of phase 1 on a fresh server whose periodic checkpoints come every `interval`
/// seconds; returns the claims' throughput and how many checkpoints were made.
async fn hot_packet_with_checkpoints(options: &Options, claims: usize, interval: &str) -> Result<(Throughput, usize)> {
    let dir = TempDir::new()?;
    let url = dir.sqlite_url();
    let settings = [
        ("HONGBAO_MAX_SHARES", "1000000".to_owned()),
        ("HONGBAO_MAX_GROUP_MEMBERS", "2000000".to_owned()),
        ("HONGBAO_CHECKPOINT_INTERVAL_SECONDS", interval.to_owned()),
    ];
    let server = Server::start(&options.binary, &url, &settings).await?;
    let api = Api::new(&server.base, options.concurrency);
    let users = api.users(claims, options.concurrency).await?;
    let (packet_id, _, total) = setup_packet(&api, &users, claims).await?;
    let hot = claim_all(std::slice::from_ref(&server.base), &packet_id, users, Some(total), options.concurrency).await?;
    println!("8. hot packet, checkpoint interval {interval} s: {:.0} claims/s, p99 {:.2} ms", hot.per_second(), hot.latencies.percentile_ms(99.0));
    let listed = api.get(server::ADMIN_TOKEN, "/v1/journal/checkpoints?limit=200").await?;
    let made = listed["data"].as_array().map_or(0, Vec::len);
    server.stop().await;
    verify(&options.binary, &url)?;
    Ok((hot, made))
}

async fn many_packets(options: &Options, groups: usize) -> Result<(f64, u64)> {
    const MEMBERS: usize = 4;
    let dir = TempDir::new()?;
    let url = dir.sqlite_url();
    let server = Server::start(&options.binary, &url, &[]).await?;
    let api = Api::new(&server.base, options.concurrency);
    println!("3. many packets: {groups} groups of {} users", MEMBERS + 1);
    let users = api.users(groups * (MEMBERS + 1), options.concurrency).await?;
    for (sender_id, _) in users.iter().step_by(MEMBERS + 1) {
        api.top_up(sender_id, 10_00).await?;
    }
    let (group_api, group_users) = (api.clone(), users.clone());
    let (_, _, group_ids) = closed_loop(groups, options.concurrency, move |group| {
        let (api, users) = (group_api.clone(), group_users.clone());
        let owner = users[group * (MEMBERS + 1)].1.clone();
        let members: Vec<String> = users[group * (MEMBERS + 1) + 1..(group + 1) * (MEMBERS + 1)].iter().map(|(id, _)| id.clone()).collect();
        async move {
            let members: Vec<&str> = members.iter().map(String::as_str).collect();
            api.create_group(&owner, &members).await
        }
    })
    .await?;
    // Each group: its owner sends a lucky packet, then its members claim it.
    let started = Instant::now();
    let group_ids = Arc::new(group_ids);
    let (send_api, send_users) = (api.clone(), users.clone());
    let (_, _, packet_ids) = closed_loop(groups, options.concurrency, move |group| {
        let (api, users) = (send_api.clone(), send_users.clone());
        let owner = users[group * (MEMBERS + 1)].1.clone();
        let group_id = group_ids[group].clone();
        async move {
            let (status, body) =
                api.post(&owner, "/v1/packets", Some(json!({ "kind": "lucky", "group_id": group_id, "total_amount": 4_00, "shares": MEMBERS }))).await?;
            ensure!(status == 201, "send answered {status}: {body}");
            Ok(body["id"].as_str().context("packet id")?.to_owned())
        }
    })
    .await?;
    let packet_ids = Arc::new(packet_ids);
    let (claim_api, claim_users) = (api.clone(), users.clone());
    let (_, _, amounts) = closed_loop(groups * MEMBERS, options.concurrency, move |index| {
        let (api, users) = (claim_api.clone(), claim_users.clone());
        let group = index % groups;
        let member = index / groups;
        let token = users[group * (MEMBERS + 1) + 1 + member].1.clone();
        let path = format!("/v1/packets/{}/claim", packet_ids[group]);
        async move {
            let (status, body) = api.post(&token, &path, None).await?;
            ensure!(status == 200, "claim answered {status}: {body}");
            body["amount"].as_i64().context("claim amount")
        }
    })
    .await?;
    let elapsed = started.elapsed();
    ensure!(amounts.iter().sum::<i64>() == groups as i64 * 4_00, "claims do not sum to the packets' totals");
    let operations = groups + groups * MEMBERS;
    let per_second = operations as f64 / elapsed.as_secs_f64();
    println!("   {operations} operations in {:.1} s: {per_second:.0}/s", elapsed.as_secs_f64());
    let rss = server.peak_rss_kib();
    server.stop().await;
    verify(&options.binary, &url)?;
    Ok((per_second, rss))
}

async fn expiry_sweep(options: &Options, packets: usize) -> Result<(f64, u64)> {
    // Measure how fast packets are sent, on a database of its own, so that the lifetime outlasts
    // sending them all.
    let probe_dir = TempDir::new()?;
    let probe = Server::start(&options.binary, &probe_dir.sqlite_url(), &[]).await?;
    let probe_count = 2_000.min(packets);
    let probe_elapsed = send_packets(&Api::new(&probe.base, options.concurrency), probe_count, options.concurrency).await?;
    probe.stop().await;
    drop(probe_dir);
    let estimate = probe_elapsed.as_secs_f64() / probe_count as f64 * packets as f64;
    let ttl = (estimate * 1.6 + 15.0).ceil() as u64;
    println!("4. expiry sweep: sending {packets} packets with a {ttl} s lifetime (about {estimate:.0} s to send)");

    let dir = TempDir::new()?;
    let url = dir.sqlite_url();
    let settings = [("HONGBAO_PACKET_TTL_SECONDS", ttl.to_string())];
    let server = Server::start(&options.binary, &url, &settings).await?;
    let api = Api::new(&server.base, options.concurrency);
    let sending_started = Instant::now();
    send_packets(&api, packets, options.concurrency).await?;
    let sent_in = sending_started.elapsed();
    let mut rss = server.peak_rss_kib();
    // Stop the server before anything expires; start it once everything is overdue. It refunds every
    // overdue packet as it starts: all of them at once.
    server.stop().await;
    ensure!(sent_in.as_secs() < ttl, "sending took {} s, longer than the {ttl} s lifetime", sent_in.as_secs());
    let wait = Duration::from_secs(ttl) + Duration::from_secs(2) - sent_in;
    println!("   sent in {:.0} s; waiting {:.0} s until every packet is overdue", sent_in.as_secs_f64(), wait.as_secs_f64());
    tokio::time::sleep(wait).await;
    let sweep_started = Instant::now();
    let server = Server::start(&options.binary, &url, &settings).await?;
    loop {
        let refunded = server.metric("hongbao_packets_refunded_total").await?;
        if refunded as usize >= packets {
            break;
        }
        ensure!(sweep_started.elapsed() < Duration::from_secs(3_600), "the sweep did not finish in an hour ({refunded} refunded)");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = sweep_started.elapsed();
    let per_second = packets as f64 / elapsed.as_secs_f64();
    println!("   {packets} refunds in {:.1} s: {per_second:.0}/s", elapsed.as_secs_f64());
    rss = rss.max(server.peak_rss_kib());
    server.stop().await;
    verify(&options.binary, &url)?;
    Ok((per_second, rss))
}

/// Sends `count` one-to-one packets of 0.01 from one funded user to another; returns how long it took.
async fn send_packets(api: &Api, count: usize, concurrency: usize) -> Result<Duration> {
    let users = api.users(2, 2).await?;
    let (sender_id, sender_token) = users[0].clone();
    let recipient_id = users[1].0.clone();
    api.top_up(&sender_id, count as i64).await?;
    let send_api = api.clone();
    let (elapsed, _, _) = closed_loop(count, concurrency, move |_| {
        let (api, token, recipient) = (send_api.clone(), sender_token.clone(), recipient_id.clone());
        async move {
            let (status, body) = api.post(&token, "/v1/packets", Some(json!({ "kind": "normal", "recipient_id": recipient, "amount_per_share": 1 }))).await?;
            ensure!(status == 201, "send answered {status}: {body}");
            Ok(())
        }
    })
    .await?;
    Ok(elapsed)
}

async fn postgres_three_processes(options: &Options, claims: usize) -> Result<Throughput> {
    let schema = peers::fresh_schema(&options.postgres_url).await?;
    let url = format!("{}?options=-c%20search_path%3D{schema}", options.postgres_url);
    // On PostgreSQL the servers' key files would default to the working directory (the repository, under
    // bench/run); the three share one pair in a directory of their own, removed afterwards.
    let keys = TempDir::new()?;
    let mut settings = hot_packet_settings().to_vec();
    settings.push(("HONGBAO_SECRET_KEY_FILE", keys.path().join("hongbao-secret.key").display().to_string()));
    settings.push(("HONGBAO_LOG_KEY_FILE", keys.path().join("hongbao-log.key").display().to_string()));
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(Server::start(&options.binary, &url, &settings).await?);
    }
    let bases: Vec<String> = servers.iter().map(|server| server.base.clone()).collect();
    let api = Api::new(&bases[0], options.concurrency);
    println!("6. PostgreSQL, three processes: {claims} users and a {claims}-share packet");
    let users = api.users(claims, options.concurrency).await?;
    let (packet_id, _, total) = setup_packet(&api, &users, claims).await?;
    println!("   claiming through {} processes", bases.len());
    let result = claim_all(&bases, &packet_id, users.clone(), Some(total), options.concurrency).await?;
    println!("   {:.0} claims/s through three processes", result.per_second());
    let (mut commits, mut operations) = (0, 0);
    for server in &servers {
        commits += server.metric("hongbao_writer_commits_total").await?;
        operations += server.metric("hongbao_writer_operations_total").await?;
    }
    println!("   {commits} commits carried {operations} operations (the set-up included)");
    let distinct: HashSet<usize> = (0..users.len()).collect();
    ensure!(distinct.len() == result.completed);
    for server in servers {
        server.stop().await;
    }
    verify(&options.binary, &url)?;
    peers::drop_schema(&options.postgres_url, &schema).await?;
    Ok(result)
}
