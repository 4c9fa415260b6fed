//! The run judged against the targets of issue 15 (and the earlier ones still standing), as the table
//! BENCHMARKS.md keeps under "Against the targets": each target named, the figures it is judged by,
//! and whether it was met in this run. A target whose phase did not run says so instead of guessing.

use std::fmt::Write as _;

/// Throughput and server cost of one hot-packet run.
#[derive(Clone, Copy)]
pub struct ClaimFigures {
    pub claims_per_second: f64,
    /// The server's CPU per claim, NaN where not measured.
    pub cpu_micros_per_claim: f64,
}

/// What this run measured, phase by phase; `None` where a phase (or the peers) did not run.
#[derive(Default)]
pub struct Measured {
    /// Phase 1, from the benchmark's own client.
    pub hot_packet: Option<ClaimFigures>,
    pub redis_always: Option<ClaimFigures>,
    pub row_lock: Option<f64>,
    /// Phase 1 from C clients: wrk for hongbao, redis-benchmark for Redis.
    pub hot_packet_wrk: Option<ClaimFigures>,
    pub redis_always_benchmark: Option<ClaimFigures>,
    /// Phase 2.
    pub fixed_rate_p99_ms: Option<f64>,
    /// Phase 4: packets swept and refunds per second.
    pub expiry_sweep: Option<(usize, f64)>,
    /// Phase 6: three processes' claims per second, and the row-lock claim's of the same phase.
    pub three_processes: Option<(f64, Option<f64>)>,
    /// Phase 9: claims per second of the write path alone.
    pub write_path: Option<f64>,
    pub peak_rss_mib: Option<f64>,
}

/// The size the expiry sweep's target is set at.
const SWEEP_TARGET_PACKETS: usize = 1_000_000;

pub fn render(measured: &Measured) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Against the targets (issue 15 unless said):\n");
    let _ = writeln!(out, "| target | result in this run | met |");
    let _ = writeln!(out, "|---|---|---|");
    for (target, result, met) in judge(measured) {
        let _ = writeln!(out, "| {target} | {result} | {met} |");
    }
    out
}

fn judge(measured: &Measured) -> Vec<(&'static str, String, String)> {
    let mut rows = Vec::new();

    let cpu_target = "2. server CPU per durable claim ≤ 1.5 × Redis+Lua `always`'s";
    rows.push(match (measured.hot_packet_wrk.and_then(cpu), measured.redis_always_benchmark.and_then(cpu)) {
        (Some(hongbao), Some(redis)) => {
            let ratio = hongbao / redis;
            let also = match (measured.hot_packet.and_then(cpu), measured.redis_always.and_then(cpu)) {
                (Some(hongbao), Some(redis)) => format!(" (Rust client for both: {hongbao:.1} vs {redis:.1} µs, {:.2} ×)", hongbao / redis),
                _ => String::new(),
            };
            (cpu_target, format!("wrk / redis-benchmark: {hongbao:.1} vs {redis:.1} µs a claim, {ratio:.2} ×{also}"), verdict(ratio <= 1.5))
        }
        _ => not_measured(cpu_target, "needs phase 1 with the peers"),
    });

    let wrk_target = "3. hot-packet claims/s with wrk ≥ 1.5 × Redis+Lua `always` (redis-benchmark)";
    rows.push(match (measured.hot_packet_wrk, measured.redis_always_benchmark) {
        (Some(hongbao), Some(redis)) => {
            let ratio = hongbao.claims_per_second / redis.claims_per_second;
            let also = match (measured.hot_packet, measured.redis_always) {
                (Some(hongbao), Some(redis)) => format!(
                    " (Rust client for both: {} vs {}, {:.2} ×)",
                    grouped(hongbao.claims_per_second),
                    grouped(redis.claims_per_second),
                    hongbao.claims_per_second / redis.claims_per_second
                ),
                _ => String::new(),
            };
            (
                wrk_target,
                format!("{} vs {} claims/s, {ratio:.2} ×{also}", grouped(hongbao.claims_per_second), grouped(redis.claims_per_second)),
                verdict(ratio >= 1.5),
            )
        }
        _ => not_measured(wrk_target, "needs phase 1 with the peers"),
    });

    let write_path_target = "4. the write path alone, in process, durable: ≥ 150,000 claims/s on SQLite";
    rows.push(match measured.write_path {
        Some(claims_per_second) => (write_path_target, format!("{} claims/s", grouped(claims_per_second)), verdict(claims_per_second >= 150_000.0)),
        None => not_measured(write_path_target, "phase 9"),
    });

    let latency_target = "5. p99 ≤ 10 ms at half the peak rate, open loop";
    rows.push(match measured.fixed_rate_p99_ms {
        Some(p99) => (latency_target, format!("{p99:.1} ms"), verdict(p99 <= 10.0)),
        None => not_measured(latency_target, "phase 1"),
    });

    let sweep_target = "5. expiry sweep ≥ 50,000 refunds/s at 1,000,000 packets";
    rows.push(match measured.expiry_sweep {
        Some((packets, per_second)) => {
            let met = verdict(per_second >= 50_000.0);
            let met = if packets == SWEEP_TARGET_PACKETS {
                met
            } else {
                format!("{met}, at {} packets, not {}", grouped(packets as f64), grouped(SWEEP_TARGET_PACKETS as f64))
            };
            (sweep_target, format!("{} refunds/s at {} packets", grouped(per_second), grouped(packets as f64)), met)
        }
        None => not_measured(sweep_target, "phase 4"),
    });

    let three_target = "5. three processes on PostgreSQL ≥ 20 × the row-lock claim";
    rows.push(match measured.three_processes {
        Some((three, Some(row_lock))) => {
            let ratio = three / row_lock;
            (three_target, format!("{} vs {} claims/s, {ratio:.1} ×", grouped(three), grouped(row_lock)), verdict(ratio >= 20.0))
        }
        Some((three, None)) => (three_target, format!("{} claims/s; the row-lock claim not run", grouped(three)), "not measured".into()),
        None => not_measured(three_target, "phase 6"),
    });

    rows.push((
        "6. `verify` clean and sums exact after every scenario; each user's claim answered once",
        "yes: every hongbao scenario ends with `verify` and the sums, the wrk run with the script's and the server's counts, \
         the Redis runs with the claimed hash and list, and the run stops at the first failure"
            .into(),
        "yes".into(),
    ));

    let row_lock_target = "hot packet ≥ 30 × the PostgreSQL row-lock claim (earlier)";
    rows.push(match (measured.hot_packet, measured.row_lock) {
        (Some(hongbao), Some(row_lock)) => {
            let ratio = hongbao.claims_per_second / row_lock;
            (row_lock_target, format!("{} vs {} claims/s, {ratio:.1} ×", grouped(hongbao.claims_per_second), grouped(row_lock)), verdict(ratio >= 30.0))
        }
        _ => not_measured(row_lock_target, "needs phase 1 with the peers"),
    });

    let memory_target = "peak RSS < 512 MiB (earlier)";
    rows.push(match measured.peak_rss_mib {
        Some(mib) => (memory_target, format!("{mib:.0} MiB"), verdict(mib < 512.0)),
        None => not_measured(memory_target, "phases 1, 3 or 4"),
    });
    rows
}

fn cpu(figures: ClaimFigures) -> Option<f64> {
    figures.cpu_micros_per_claim.is_finite().then_some(figures.cpu_micros_per_claim)
}

fn verdict(met: bool) -> String {
    if met { "yes".into() } else { "no".into() }
}

fn not_measured(target: &'static str, needs: &str) -> (&'static str, String, String) {
    (target, format!("not run ({needs})"), "not measured".into())
}

/// A figure rounded to a whole number, with thousands separated by commas, as BENCHMARKS.md writes them.
fn grouped(value: f64) -> String {
    if !value.is_finite() {
        return "—".into();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if value < -0.5 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_grouped_by_thousands() {
        assert_eq!(grouped(14_065.4), "14,065");
        assert_eq!(grouped(999.6), "1,000");
        assert_eq!(grouped(150_000.0), "150,000");
        assert_eq!(grouped(1_000_000.0), "1,000,000");
        assert_eq!(grouped(f64::NAN), "—");
    }

    #[test]
    fn the_issue_figures_miss_their_targets() {
        // The figures the issue opens with: 14,065 vs 40,214 claims/s, 77 vs 14 µs a claim.
        let measured = Measured {
            hot_packet_wrk: Some(ClaimFigures { claims_per_second: 14_065.0, cpu_micros_per_claim: 77.0 }),
            redis_always_benchmark: Some(ClaimFigures { claims_per_second: 40_214.0, cpu_micros_per_claim: 14.0 }),
            ..Measured::default()
        };
        let table = render(&measured);
        assert!(
            table.contains("| 2. server CPU per durable claim ≤ 1.5 × Redis+Lua `always`'s | wrk / redis-benchmark: 77.0 vs 14.0 µs a claim, 5.50 × | no |"),
            "{table}"
        );
        assert!(table.contains("14,065 vs 40,214 claims/s, 0.35 × | no |"), "{table}");
        assert!(table.contains("| 4. the write path alone, in process, durable: ≥ 150,000 claims/s on SQLite | not run (phase 9) | not measured |"), "{table}");
    }

    #[test]
    fn a_sweep_smaller_than_the_target_says_so() {
        let measured = Measured { expiry_sweep: Some((50_000, 60_000.0)), ..Measured::default() };
        assert!(render(&measured).contains("| 60,000 refunds/s at 50,000 packets | yes, at 50,000 packets, not 1,000,000 |"));
    }
}
