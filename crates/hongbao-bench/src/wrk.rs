//! Claims driven by wrk (C + LuaJIT) with `bench/wrk-claim.lua`, which gives every request its own
//! user's token, so that hongbao is measured with a client of the same kind as redis-benchmark (C) is
//! for Redis; the benchmark's own client (Rust, reqwest) costs more CPU per request on the same cores.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

/// The script, built into the binary so that the benchmark runs from any directory.
const SCRIPT: &str = include_str!("../../../bench/wrk-claim.lua");

/// What the script counted: answers by kind, the claimed amounts and the time from the first claim
/// sent to the last answered.
#[derive(Debug, PartialEq)]
pub struct WrkReport {
    pub ok: usize,
    pub conflict: usize,
    pub other: usize,
    pub unfinished_threads: usize,
    pub amount: i64,
    pub elapsed: Duration,
}

/// Claims the packet at `claim_url` once with each token, from `connections` connections on `threads`
/// threads. `directory` receives the token file and the script.
pub async fn claim_each_once(claim_url: &str, tokens: &[String], connections: usize, threads: usize, directory: &Path) -> Result<WrkReport> {
    ensure!(threads >= 1 && tokens.len() >= threads, "wrk needs at least as many tokens ({}) as threads ({threads})", tokens.len());
    let connections = connections.max(threads);
    let tokens_path = directory.join("wrk-tokens.txt");
    let script_path = directory.join("wrk-claim.lua");
    let mut lines = tokens.join("\n");
    lines.push('\n');
    std::fs::write(&tokens_path, lines).context("while writing the tokens for wrk")?;
    std::fs::write(&script_path, SCRIPT).context("while writing the wrk script")?;
    // -d only bounds the run: the script ends it once every claim is answered. Generous, so that only
    // a lost answer (which leaves a thread waiting) runs into it.
    let limit_seconds = 120 + tokens.len() / 200;
    let output = tokio::process::Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string(), "-d", &format!("{limit_seconds}s"), "--timeout", "10s", "-s"])
        .arg(&script_path)
        .arg(claim_url)
        .arg("--")
        .arg(&tokens_path)
        .arg(threads.to_string())
        .kill_on_drop(true)
        .output()
        .await
        .context("while running wrk (install it with apt-get install wrk)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(output.status.success(), "wrk failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    let Some(line) = stdout.lines().find(|line| line.starts_with("hongbao-wrk ")) else {
        bail!("wrk printed no report; its output: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    };
    parse_report(line)
}

fn parse_report(line: &str) -> Result<WrkReport> {
    let field = |name: &str| -> Result<i64> {
        let value = line
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .with_context(|| format!("the wrk report has no {name}: {line}"))?;
        value.parse().with_context(|| format!("the wrk report's {name} is not a number: {line}"))
    };
    let count = |name: &str| -> Result<usize> { usize::try_from(field(name)?).with_context(|| format!("the wrk report's {name} is negative")) };
    let elapsed_micros = u64::try_from(field("elapsed_us")?).context("the wrk report's elapsed_us is negative")?;
    Ok(WrkReport {
        ok: count("ok")?,
        conflict: count("conflict")?,
        other: count("other")?,
        unfinished_threads: count("unfinished")?,
        amount: field("amount")?,
        elapsed: Duration::from_micros(elapsed_micros),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_line_is_read_field_by_field() {
        let report = parse_report("hongbao-wrk ok=5000 conflict=1 other=2 unfinished=0 amount=500000 elapsed_us=812345").expect("a report");
        assert_eq!(report, WrkReport { ok: 5000, conflict: 1, other: 2, unfinished_threads: 0, amount: 500_000, elapsed: Duration::from_micros(812_345) });
    }

    #[test]
    fn a_report_missing_a_field_is_refused() {
        let error = parse_report("hongbao-wrk ok=5000 conflict=0 other=0 amount=1 elapsed_us=2").expect_err("no unfinished");
        assert!(error.to_string().contains("unfinished"), "{error}");
    }
}
