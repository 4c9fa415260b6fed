//! The CPU time server processes used during a phase, read from `/proc/PID/stat` (user plus system
//! time of the whole process, every thread included, in clock ticks), so that each design's server
//! cost per claim can be set beside its throughput: throughput on a shared two-core machine moves with
//! the load, CPU per claim much less.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, ensure};

/// Clock ticks per second of `/proc/PID/stat`'s times (`USER_HZ`), asked of `getconf` once: reading
/// `sysconf` directly would need `unsafe`, which the workspace forbids.
fn ticks_per_second() -> Result<u64> {
    static TICKS: OnceLock<u64> = OnceLock::new();
    if let Some(ticks) = TICKS.get() {
        return Ok(*ticks);
    }
    let output = std::process::Command::new("getconf").arg("CLK_TCK").output().context("while running getconf CLK_TCK")?;
    ensure!(output.status.success(), "getconf CLK_TCK failed");
    let ticks: u64 = String::from_utf8_lossy(&output.stdout).trim().parse().context("getconf CLK_TCK printed no number")?;
    ensure!(ticks > 0, "getconf CLK_TCK printed 0");
    Ok(*TICKS.get_or_init(|| ticks))
}

/// User plus system time of process `pid` so far, threads included (and threads that have exited).
pub fn process_time(pid: u32) -> Result<Duration> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("while reading /proc/{pid}/stat (is the process on this machine?)"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its last ')'.
    let after_name = &stat[stat.rfind(')').with_context(|| format!("/proc/{pid}/stat has no command name"))? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3 of the whole line, so utime (14) and stime (15) are 11 and 12 here.
    let field = |index: usize, name: &str| -> Result<u64> {
        fields
            .get(index)
            .with_context(|| format!("/proc/{pid}/stat has no {name}"))?
            .parse()
            .with_context(|| format!("/proc/{pid}/stat: {name} is not a number"))
    };
    let ticks = field(11, "utime")? + field(12, "stime")?;
    let per_second = ticks_per_second()?;
    Ok(Duration::from_micros(ticks * 1_000_000 / per_second))
}

/// The CPU time of a set of processes from one moment on.
pub struct CpuMeter {
    pids: Vec<u32>,
    before: Duration,
}

impl CpuMeter {
    pub fn start(pids: &[u32]) -> Result<CpuMeter> {
        ensure!(!pids.is_empty(), "no process to measure");
        Ok(CpuMeter { pids: pids.to_vec(), before: total_time(pids)? })
    }

    /// CPU time the processes used since `start`.
    pub fn used(&self) -> Result<Duration> {
        Ok(total_time(&self.pids)?.saturating_sub(self.before))
    }
}

fn total_time(pids: &[u32]) -> Result<Duration> {
    pids.iter().map(|pid| process_time(*pid)).sum()
}

/// Microseconds of CPU per claim, or NaN when it was not measured.
pub fn micros_per_claim(used: Option<Duration>, claims: usize) -> f64 {
    match used {
        Some(used) if claims > 0 => used.as_secs_f64() * 1e6 / claims as f64,
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_uses_cpu_time() {
        let meter = CpuMeter::start(&[std::process::id()]).expect("this process has a /proc entry");
        // Spin until the clock-tick resolution (10 ms at USER_HZ = 100) shows some use.
        let started = std::time::Instant::now();
        let mut spins = 0u64;
        while meter.used().expect("still readable") == Duration::ZERO {
            spins = spins.wrapping_add(std::hint::black_box(1));
            assert!(started.elapsed() < Duration::from_secs(10), "no CPU time seen after 10 s of spinning");
        }
        assert!(spins > 0);
    }

    #[test]
    fn nothing_measured_is_not_a_number() {
        assert!(micros_per_claim(None, 10).is_nan());
        assert!(micros_per_claim(Some(Duration::from_millis(1)), 0).is_nan());
        assert_eq!(micros_per_claim(Some(Duration::from_millis(1)), 10), 100.0);
    }
}
