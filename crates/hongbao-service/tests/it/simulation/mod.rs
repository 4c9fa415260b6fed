//! A deterministic simulation of the whole service: the service layer over the storage trait, with a
//! manual clock and seeded randomness, driven by many simulated users and operators through random
//! operations, with storage faults, crashes, restarts and clock jumps, and checked after every step
//! against a simple model (`model.rs`).
//!
//! One seed decides everything: the simulation's own choices (`StdRng` from the seed), the service's
//! randomness (`Config::random_seed`, a seed derived from it at each start), the clock (a
//! `ManualClock` that moves only when a step moves it) and the faults. The writer takes one job per
//! batch (`Config::max_batch` 1), so which commit a fault hits does not depend on thread timing. A
//! failure names its seed and step, and `HONGBAO_SIM_SEED=<seed>` runs that seed alone, exactly again.
//!
//! Settings, from the environment:
//! - `HONGBAO_SIM_SEED`: run this one seed only (a replay);
//! - `HONGBAO_SIM_SEEDS`: how many seeds (default 10 on SQLite, 3 on PostgreSQL), starting at
//!   `HONGBAO_SIM_FIRST_SEED` (default 1);
//! - `HONGBAO_SIM_STEPS`: steps per seed (default 200);
//! - `HONGBAO_SIM_TRACE`: print every step as it is taken (a failure prints the last 25 anyway).
//!
//! The backend is the one the environment selects, like every test here: PostgreSQL when
//! `HONGBAO_TEST_POSTGRES_URL` is set, else SQLite.

mod model;
mod world;

#[cfg(feature = "planted-bugs")]
mod planted;

pub use world::Failure;

/// What one run of the simulation uses.
#[derive(Clone, Debug)]
pub struct Settings {
    pub seeds: Vec<u64>,
    pub steps: usize,
    /// The bugs switched on (tests built with `planted-bugs` only).
    #[cfg(feature = "planted-bugs")]
    pub planted_bugs: Vec<hongbao_service::planted::PlantedBug>,
}

fn variable(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(text.trim().parse().unwrap_or_else(|_| panic!("{name} must be a whole number, not {text:?}")))
}

impl Settings {
    /// The seeds and steps the environment asks for.
    pub fn from_environment() -> Settings {
        let steps = variable("HONGBAO_SIM_STEPS").map_or(200, |steps| steps as usize);
        let seeds = match variable("HONGBAO_SIM_SEED") {
            Some(seed) => vec![seed],
            None => {
                let default_count = if hongbao_testkit::postgres_url().is_some() { 3 } else { 10 };
                let count = variable("HONGBAO_SIM_SEEDS").unwrap_or(default_count);
                let first = variable("HONGBAO_SIM_FIRST_SEED").unwrap_or(1);
                (first..first + count).collect()
            }
        };
        Settings {
            seeds,
            steps,
            #[cfg(feature = "planted-bugs")]
            planted_bugs: Vec::new(),
        }
    }
}

/// Runs every seed in turn and stops at the first failure.
pub fn run(settings: &Settings) -> Result<Vec<world::Summary>, Failure> {
    let mut summaries = Vec::new();
    for &seed in &settings.seeds {
        summaries.push(run_seed(settings, seed)?);
    }
    Ok(summaries)
}

/// Runs one seed on a fresh database and a runtime of its own.
pub fn run_seed(settings: &Settings, seed: u64) -> Result<world::Summary, Failure> {
    // Said before anything runs, past the harness's capture: a writer that panics aborts the whole
    // test process, and the seed must still be known.
    {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "simulation: seed {seed}, {} steps (HONGBAO_SIM_SEED={seed} replays it)", settings.steps);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    runtime.block_on(world::Sim::run(settings, seed))
}

#[test]
fn simulation_of_random_operations_with_faults_keeps_the_model() {
    let settings = Settings::from_environment();
    match run(&settings) {
        Ok(summaries) => {
            for summary in &summaries {
                eprintln!("{summary}");
            }
            // Every run must have done something of each kind, or the simulation proves little.
            let total = summaries.iter().fold(world::Summary::default(), |total, summary| total.plus(summary));
            assert!(total.acknowledged > 0 && total.refused > 0, "no operation went through or none was refused: {total}");
            if settings.steps >= 200 && settings.seeds.len() >= 3 {
                assert!(total.faults > 0 && total.crashes > 0 && total.restarts > 0, "no fault, crash or restart happened: {total}");
                assert!(total.expired_packets + total.settled_transfers > 0, "no deadline fired: {total}");
            }
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// A seed replays exactly: the same seed twice gives the same journal, to the last hash, and the
/// same trace of answers.
#[test]
fn simulation_replays_a_seed_exactly() {
    let mut settings = Settings::from_environment();
    settings.seeds = vec![7];
    settings.steps = 80;
    let first = run(&settings).unwrap_or_else(|failure| panic!("{failure}"));
    let second = run(&settings).unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(first[0].journal_head, second[0].journal_head, "the journal's head differs between two runs of seed 7");
    assert_eq!(first[0].trace_digest, second[0].trace_digest, "the answers differ between two runs of seed 7");
    assert!(first[0].journal_len > 10, "seed 7 wrote little: {}", first[0]);
}
