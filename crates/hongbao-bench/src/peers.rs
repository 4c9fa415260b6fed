//! The peers, each started or prepared by the benchmark itself and measured with the same number of
//! claims and clients as hongbao:
//! - Redis with the common Lua grab: an atomic pop of a pre-split share, a per-packet claimed hash and a
//!   claim log, with `appendonly yes` and `appendfsync always` (durable like hongbao) or `everysec`;
//! - PostgreSQL with the textbook claim transaction: lock the packet row, take a share, insert the claim,
//!   credit the wallet, `synchronous_commit` on.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::Throughput;
use crate::cpu::CpuMeter;
use crate::load::closed_loop;
use crate::server::TempDir;

const GRAB: &str = r#"
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return -1 end
local share = redis.call('LPOP', KEYS[1])
if not share then return -2 end
redis.call('HSET', KEYS[2], ARGV[1], share)
redis.call('RPUSH', KEYS[3], ARGV[1] .. ':' .. share)
return tonumber(share)
"#;

/// A minimal RESP client: one connection, one command at a time.
struct Redis {
    reader: BufReader<TcpStream>,
}

#[derive(Debug)]
enum Reply {
    Simple,
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array,
}

impl Redis {
    async fn connect(port: u16) -> Result<Redis> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.context("while connecting to Redis")?;
        stream.set_nodelay(true)?;
        Ok(Redis { reader: BufReader::new(stream) })
    }

    async fn command(&mut self, args: &[&[u8]]) -> Result<Reply> {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&request).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let line = line.trim_end();
        ensure!(!line.is_empty(), "Redis closed the connection");
        let (kind, rest) = line.split_at(1);
        Ok(match kind {
            "+" => Reply::Simple,
            "-" => bail!("Redis error: {rest}"),
            ":" => Reply::Integer(rest.parse()?),
            "$" => {
                let length: i64 = rest.parse()?;
                if length < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut data = vec![0; length as usize + 2];
                    self.reader.read_exact(&mut data).await?;
                    data.truncate(length as usize);
                    Reply::Bulk(Some(data))
                }
            }
            "*" => Reply::Array,
            other => bail!("unexpected Redis reply {other}{rest}"),
        })
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Splits `total` into `shares` shares by the double-mean rule, as the Redis design pre-splits them.
fn pre_split(total: i64, shares: usize) -> Vec<i64> {
    let mut remaining = total;
    let mut split = Vec::with_capacity(shares);
    for taken in 0..shares {
        let left = (shares - taken) as i64;
        if left == 1 {
            split.push(remaining);
            break;
        }
        let highest = (2 * remaining / left - 1).max(1).min(remaining - (left - 1));
        let share = 1 + (rand::random::<u64>() % highest as u64) as i64;
        split.push(share);
        remaining -= share;
    }
    split
}

/// A Redis server started for one run, with the packet's pre-split shares pushed and the grab script
/// loaded; stopped and its data directory removed when dropped.
struct RedisPacket {
    server: tokio::process::Child,
    port: u16,
    admin: Redis,
    sha: Vec<u8>,
    total: i64,
    _directory: TempDir,
}

impl RedisPacket {
    async fn start(appendfsync: &str, claims: usize) -> Result<RedisPacket> {
        let directory = TempDir::new()?;
        let port = free_port()?;
        let server = tokio::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(directory.path())
            .args(["--appendonly", "yes", "--appendfsync", appendfsync, "--save", "", "--daemonize", "no", "--logfile", ""])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("while starting redis-server (install it with apt-get install redis-server)")?;
        let mut admin = loop {
            match Redis::connect(port).await {
                Ok(connection) => break connection,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let total = claims as i64 * 100;
        for chunk in pre_split(total, claims).chunks(1_000) {
            let values: Vec<Vec<u8>> = chunk.iter().map(|share| share.to_string().into_bytes()).collect();
            let mut args: Vec<&[u8]> = vec![b"RPUSH", b"packet:shares"];
            args.extend(values.iter().map(Vec::as_slice));
            admin.command(&args).await?;
        }
        let Reply::Bulk(Some(sha)) = admin.command(&[b"SCRIPT", b"LOAD", GRAB.as_bytes()]).await? else { bail!("SCRIPT LOAD gave no sha") };
        Ok(RedisPacket { server, port, admin, sha, total, _directory: directory })
    }

    fn pid(&self) -> Result<u32> {
        self.server.id().context("redis-server has exited")
    }

    /// Checks on the server that exactly `claims` distinct users claimed, every share was taken once
    /// and the claimed shares sum to the total.
    async fn check_claimed_once(&mut self, claims: usize) -> Result<()> {
        let integer = |reply: Reply, what: &str| match reply {
            Reply::Integer(value) => Ok(value),
            other => bail!("{what} answered {other:?}"),
        };
        let claimers = integer(self.admin.command(&[b"HLEN", b"packet:claimed"]).await?, "HLEN")?;
        let left = integer(self.admin.command(&[b"LLEN", b"packet:shares"]).await?, "LLEN")?;
        let logged = integer(self.admin.command(&[b"LLEN", b"packet:log"]).await?, "LLEN")?;
        let claimed = integer(self.admin.command(&[b"EVAL", SUM_CLAIMED.as_bytes(), b"1", b"packet:claimed"]).await?, "the sum of the claims")?;
        ensure!(
            claimers == claims as i64 && left == 0 && logged == claims as i64 && claimed == self.total,
            "Redis: {claimers} claimers, {logged} logged, {left} shares left and {claimed} claimed, for {claims} claims of {}",
            self.total
        );
        Ok(())
    }

    async fn stop(mut self) {
        let _ = self.admin.command(&[b"SHUTDOWN", b"NOSAVE"]).await;
        let _ = self.server.kill().await;
    }
}

/// Sums the claimed shares in the packet's claimed hash, on the server.
const SUM_CLAIMED: &str = "local sum = 0 for _, share in ipairs(redis.call('HVALS', KEYS[1])) do sum = sum + tonumber(share) end return sum";

/// The hot packet on Redis from the benchmark's own client (Rust, one RESP connection per client).
pub async fn redis_hot_packet(appendfsync: &str, claims: usize, clients: usize) -> Result<Throughput> {
    let mut redis = RedisPacket::start(appendfsync, claims).await?;
    let port = redis.port;
    let sha: Arc<Vec<u8>> = Arc::new(redis.sha.clone());
    println!("   Redis+Lua ({appendfsync}): {claims} claims by {clients} clients");
    let connections: Arc<Vec<tokio::sync::Mutex<Redis>>> = Arc::new({
        let mut connections = Vec::with_capacity(clients);
        for _ in 0..clients {
            connections.push(tokio::sync::Mutex::new(Redis::connect(port).await?));
        }
        connections
    });
    let meter = CpuMeter::start(&[redis.pid()?])?;
    let (elapsed, latencies, amounts) = closed_loop(claims, clients, move |index| {
        let connections = connections.clone();
        let sha = sha.clone();
        async move {
            // Each request takes any free connection; there are as many as clients.
            let mut connection = loop {
                if let Some(connection) = connections.iter().find_map(|connection| connection.try_lock().ok()) {
                    break connection;
                }
                tokio::task::yield_now().await;
            };
            let user = format!("user{index}");
            match connection.command(&[b"EVALSHA", &sha, b"3", b"packet:shares", b"packet:claimed", b"packet:log", user.as_bytes()]).await? {
                Reply::Integer(amount) if amount > 0 => Ok(amount),
                other => bail!("grab answered {other:?}"),
            }
        }
    })
    .await?;
    let server_cpu = meter.used()?;
    ensure!(amounts.iter().sum::<i64>() == redis.total, "Redis claims do not sum to the total");
    redis.check_claimed_once(claims).await?;
    let result = Throughput { completed: amounts.len(), elapsed, latencies, server_cpu: Some(server_cpu) };
    println!(
        "   {:.0} claims/s, p99 {:.2} ms, server CPU {:.1} µs a claim",
        result.per_second(),
        result.latencies.percentile_ms(99.0),
        result.cpu_micros_per_claim()
    );
    redis.stop().await;
    Ok(result)
}

/// What redis-benchmark measured of the hot packet.
pub struct RedisBenchmarkRun {
    pub claims_per_second: f64,
    pub server_cpu: Duration,
    pub claims: usize,
}

/// The hot packet on Redis from redis-benchmark (C), as hongbao is driven by wrk: `clients`
/// connections on `threads` threads, each request a grab by a random user. Two random numbers of
/// 2^31 each make the user, so that two requests of one run share a user with a chance of about
/// claims² / 2^63; a shared user would show as a claim missing in the check after the run.
pub async fn redis_hot_packet_with_redis_benchmark(appendfsync: &str, claims: usize, clients: usize, threads: usize) -> Result<RedisBenchmarkRun> {
    let mut redis = RedisPacket::start(appendfsync, claims).await?;
    let sha = String::from_utf8(redis.sha.clone()).context("the script's sha is not text")?;
    println!("   Redis+Lua ({appendfsync}) from redis-benchmark: {claims} claims by {clients} clients on {}", crate::threads_named(threads));
    let mut command = tokio::process::Command::new("redis-benchmark");
    command.args(["-h", "127.0.0.1", "-p", &redis.port.to_string(), "-c", &clients.to_string(), "-n", &claims.to_string()]);
    if threads > 1 {
        // In its threaded mode redis-benchmark notices that the last request is answered only at its
        // 250 ms progress timer (showThroughput in redis-benchmark.c), so its elapsed time is rounded up
        // to the next 250 ms; with one thread it stops at the last answer.
        println!("   (redis-benchmark on {threads} threads: its claims/s is understated by up to 250 ms over the run)");
        command.args(["--threads", &threads.to_string()]);
    }
    let meter = CpuMeter::start(&[redis.pid()?])?;
    let output = command
        .args(["-r", "2147483647", "--csv"])
        .args(["EVALSHA", &sha, "3", "packet:shares", "packet:claimed", "packet:log", "user:__rand_int____rand_int__"])
        .kill_on_drop(true)
        .output()
        .await
        .context("while running redis-benchmark (it comes with redis-tools)")?;
    let server_cpu = meter.used()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(output.status.success(), "redis-benchmark failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    let claims_per_second = requests_per_second(&stdout)?;
    redis.check_claimed_once(claims).await?;
    let run = RedisBenchmarkRun { claims_per_second, server_cpu, claims };
    println!("   {claims_per_second:.0} claims/s, server CPU {:.1} µs a claim", crate::cpu::micros_per_claim(Some(server_cpu), claims));
    redis.stop().await;
    Ok(run)
}

/// The `rps` column of redis-benchmark's `--csv` output (a header line, then one line per test).
fn requests_per_second(csv: &str) -> Result<f64> {
    let mut lines = csv.lines().filter(|line| line.starts_with('"'));
    let header = lines.next().context("redis-benchmark printed no CSV header")?;
    let column = header.split(',').position(|name| name == "\"rps\"").with_context(|| format!("no rps column in {header}"))?;
    let row = lines.next().context("redis-benchmark printed no result")?;
    // The test's name (the command) is quoted and holds no comma; the figures follow it.
    let value = row.split(',').nth(column).with_context(|| format!("no rps in {row}"))?;
    value.trim_matches('"').parse().with_context(|| format!("rps is not a number in {row}"))
}

pub async fn fresh_schema(server_url: &str) -> Result<String> {
    let schema = format!("hongbao_bench_{:016x}", rand::random::<u64>());
    let (client, connection) = tokio_postgres::connect(server_url, tokio_postgres::NoTls).await.context("while connecting to PostgreSQL")?;
    tokio::spawn(connection);
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await?;
    Ok(schema)
}

pub async fn drop_schema(server_url: &str, schema: &str) -> Result<()> {
    let (client, connection) = tokio_postgres::connect(server_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await?;
    Ok(())
}

pub async fn postgres_hot_packet(server_url: &str, claims: usize, clients: usize) -> Result<Throughput> {
    let schema = fresh_schema(server_url).await?;
    let url = format!("{server_url}?options=-c%20search_path%3D{schema}");
    let (setup, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let total = claims as i64 * 100;
    setup
        .batch_execute(
            "SET synchronous_commit = on;
             CREATE TABLE packets (id BIGINT PRIMARY KEY, remaining_count BIGINT NOT NULL, remaining_amount BIGINT NOT NULL);
             CREATE TABLE shares (packet_id BIGINT NOT NULL, idx BIGINT NOT NULL, amount BIGINT NOT NULL, PRIMARY KEY (packet_id, idx));
             CREATE TABLE claims (packet_id BIGINT NOT NULL, user_id BIGINT NOT NULL, amount BIGINT NOT NULL, PRIMARY KEY (packet_id, user_id));
             CREATE TABLE wallets (user_id BIGINT PRIMARY KEY, balance BIGINT NOT NULL);",
        )
        .await?;
    let split = pre_split(total, claims);
    let indexes: Vec<i64> = (0..claims as i64).collect();
    setup.execute("INSERT INTO packets VALUES (1, $1, $2)", &[&(claims as i64), &total]).await?;
    setup.execute("INSERT INTO shares SELECT 1, i, a FROM UNNEST($1::bigint[], $2::bigint[]) AS s(i, a)", &[&indexes, &split]).await?;
    setup.execute("INSERT INTO wallets SELECT i, 0 FROM UNNEST($1::bigint[]) AS w(i)", &[&indexes]).await?;
    println!("   PostgreSQL row-lock claim: {claims} claims by {clients} clients");
    let mut connections = Vec::with_capacity(clients);
    // The server process of each connection (the `pid` of its row in pg_stat_activity): their CPU is the
    // claim's server CPU.
    let mut backend_pids = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute("SET synchronous_commit = on").await?;
        let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
        backend_pids.push(u32::try_from(pid).context("a backend's pid is negative")?);
        connections.push(tokio::sync::Mutex::new(client));
    }
    let connections = Arc::new(connections);
    // Kept open until the CPU is read: a connection closed ends its backend, and its /proc entry with it.
    let open_connections = connections.clone();
    // PostgreSQL's own processes (WAL writer, checkpointer, background writer...) work for every
    // session of the server, not only this one's: reported beside the backends, not added to them.
    let background_pids: Vec<u32> = setup
        .query("SELECT pid FROM pg_stat_activity WHERE backend_type NOT IN ('client backend', 'autovacuum worker')", &[])
        .await?
        .iter()
        .filter_map(|row| u32::try_from(row.get::<_, i32>(0)).ok())
        .collect();
    let backends_meter =
        CpuMeter::start(&backend_pids).inspect_err(|error| println!("   the server CPU of the PostgreSQL row-lock claim is not measured: {error:#}")).ok();
    let background_meter = CpuMeter::start(&background_pids).ok();
    let (elapsed, latencies, amounts) = closed_loop(claims, clients, move |index| {
        let connections = connections.clone();
        async move {
            let mut client = loop {
                if let Some(client) = connections.iter().find_map(|client| client.try_lock().ok()) {
                    break client;
                }
                tokio::task::yield_now().await;
            };
            let transaction = client.transaction().await?;
            let row = transaction.query_one("SELECT remaining_count, remaining_amount FROM packets WHERE id = 1 FOR UPDATE", &[]).await?;
            let remaining: i64 = row.get(0);
            ensure!(remaining > 0, "the packet ran out");
            let share_index = 0i64.max(claims as i64 - remaining);
            let amount: i64 = transaction.query_one("SELECT amount FROM shares WHERE packet_id = 1 AND idx = $1", &[&share_index]).await?.get(0);
            let user = index as i64;
            transaction.execute("INSERT INTO claims VALUES (1, $1, $2)", &[&user, &amount]).await?;
            transaction.execute("UPDATE wallets SET balance = balance + $2 WHERE user_id = $1", &[&user, &amount]).await?;
            transaction
                .execute("UPDATE packets SET remaining_count = remaining_count - 1, remaining_amount = remaining_amount - $1 WHERE id = 1", &[&amount])
                .await?;
            transaction.commit().await?;
            Ok(amount)
        }
    })
    .await?;
    let backends_used = backends_meter.map(|meter| meter.used()).transpose()?;
    // A background process may have ended meanwhile (an autovacuum launcher restarting): then say nothing.
    let background_used = background_meter.and_then(|meter| meter.used().ok());
    drop(open_connections);
    ensure!(amounts.iter().sum::<i64>() == total, "PostgreSQL claims do not sum to the total");
    let result = Throughput { completed: amounts.len(), elapsed, latencies, server_cpu: backends_used };
    println!(
        "   {:.0} claims/s, p99 {:.2} ms, server CPU {:.1} µs a claim in the {} backends",
        result.per_second(),
        result.latencies.percentile_ms(99.0),
        result.cpu_micros_per_claim(),
        backend_pids.len()
    );
    if let Some(background) = background_used {
        println!(
            "   PostgreSQL's {} background processes used {:.1} µs a claim meanwhile (not counted above)",
            background_pids.len(),
            crate::cpu::micros_per_claim(Some(background), result.completed)
        );
    }
    drop(setup);
    drop_schema(server_url, &schema).await?;
    Ok(result)
}
