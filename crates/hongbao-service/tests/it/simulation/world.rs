//! The simulated world: users, groups and operators over one service, the random steps they take, the
//! faults injected into them, restarts, clock jumps and the scheduler's ticks.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use hongbao_core::cases::{CaseOutcome, ComplaintKind};
use hongbao_core::freeze::FreezeCause;
use hongbao_core::legal::ApprovalStatus;
use hongbao_core::packet::PacketSpec;
use hongbao_core::returns::ReturnRequestStatus;
use hongbao_core::staff::Role;
use hongbao_core::transfer::{Arrival, TransferStatus};
use hongbao_core::{Amount, GroupId, PacketStatus, Timestamp, TxnKind, TxnNo, UserId};
use hongbao_service::{Actor, CaseOp, Clock, Config, Decision, Idempotency, ManualClock, Op, Outcome, Rendered, Reply, RiskOp, Service, ServiceError};
use hongbao_store::Store;
use hongbao_testkit::TestDatabase;
use hongbao_testkit::faults::{Crash, Faults, FaultyStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use super::Settings;
use super::model::{Model, Snapshot};

const USERS: usize = 6;
const START: i64 = 1_800_000_000_000;
/// The last steps a failure shows.
const TRACE_SHOWN: usize = 25;

/// Risk policies an operator puts in force now and then. They are strict so that their rules are met
/// in runs this short: the velocity rule trips at the third recall, cancel or return request in ten
/// minutes, large payments need confirming and case refunds above a low amount a second reviewer.
const POLICIES: [&str; 4] = [
    "[velocity]\nmax_actions = 2\n[confirmation]\nthreshold = \"300.00\"\n[case_refunds]\napproval_above = \"50.00\"\n",
    "[limits]\nper_transaction_max = \"250.00\"\ndaily_packet_count = 25\n[velocity]\nmax_actions = 4\n",
    "[limits]\ndaily_outgoing_max = \"900.00\"\n[confirmation]\nthreshold = \"150.00\"\nttl_seconds = 60\n",
    "[alerts]\nlarge_transaction = \"100.00\"\n[case_refunds]\napproval_above = \"20.00\"\n",
];

/// Why a seed failed: where, what, and the steps that led there.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub step: usize,
    pub what: String,
    pub trace: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the simulation failed with seed {} at step {}: {}", self.seed, self.step, self.what)?;
        writeln!(f, "replay it: HONGBAO_SIM_SEED={} cargo test -p hongbao-service --test it simulation", self.seed)?;
        writeln!(f, "the last steps:")?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// What one seed did, for the test's report and its checks that the run exercised something.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub seed: u64,
    pub steps: usize,
    pub acknowledged: usize,
    pub refused: usize,
    pub faults: usize,
    pub crashes: usize,
    pub restarts: usize,
    pub expired_packets: usize,
    pub settled_transfers: usize,
    pub journal_len: u64,
    pub journal_head: String,
    /// A hash of every step's answer, to compare two runs of one seed.
    pub trace_digest: String,
}

impl Summary {
    pub fn plus(&self, other: &Summary) -> Summary {
        Summary {
            seed: 0,
            steps: self.steps + other.steps,
            acknowledged: self.acknowledged + other.acknowledged,
            refused: self.refused + other.refused,
            faults: self.faults + other.faults,
            crashes: self.crashes + other.crashes,
            restarts: self.restarts + other.restarts,
            expired_packets: self.expired_packets + other.expired_packets,
            settled_transfers: self.settled_transfers + other.settled_transfers,
            journal_len: self.journal_len + other.journal_len,
            journal_head: String::new(),
            trace_digest: String::new(),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}: {} steps, {} acknowledged, {} refused, {} faults, {} crashes, {} restarts, {} packets expired, {} transfers settled, {} journal entries",
            self.seed,
            self.steps,
            self.acknowledged,
            self.refused,
            self.faults,
            self.crashes,
            self.restarts,
            self.expired_packets,
            self.settled_transfers,
            self.journal_len
        )
    }
}

/// A storage fault the simulation injects into one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The database refuses the commit: nothing applied, and the answer says so.
    RefusedCommit,
    /// `begin` fails, on the writer's connection and on a new one.
    FailedBegin,
    /// The write lock is not granted in time: answered busy.
    LockTimeout,
    /// The batch's first reads fail.
    FailedPrefetch,
    /// The commit happens but its outcome is lost: the answer says it may have been applied.
    LostOutcome,
    /// The process dies at the commit, before or after it; the simulation restarts it.
    Crash(Crash),
}

impl Fault {
    fn arm(self, faults: &Faults, commits_first: u32) {
        match self {
            Fault::RefusedCommit => faults.refuse_commits(1),
            Fault::FailedBegin => faults.fail_begins(2),
            Fault::LockTimeout => faults.time_out_begins(1),
            Fault::FailedPrefetch => faults.fail_prefetches(1),
            Fault::LostOutcome => faults.lose_commit_outcomes(1),
            Fault::Crash(crash) => faults.crash_at_commit(commits_first, crash),
        }
    }
}

/// The stakeholders, fixed for a run.
struct Cast {
    users: Vec<UserId>,
    /// Groups with their members, as indexes into `users`.
    groups: Vec<(GroupId, Vec<usize>)>,
    reviewers: [Actor; 2],
    legal: [Actor; 2],
}

/// One seed's run: the service over a fault-injecting store, the clock, the cast, and the model.
pub struct Sim {
    seed: u64,
    rng: StdRng,
    step: usize,
    _database: TestDatabase,
    store: Arc<dyn Store>,
    faults: Arc<Faults>,
    service: Option<Service>,
    clock: ManualClock,
    config: Config,
    starts: u64,
    /// The outcome each idempotency key's job rendered, filled by the writer as it renders, so that a
    /// replayed answer can be read as an outcome again.
    rendered: Arc<Mutex<BTreeMap<String, Outcome>>>,
    cast: Option<Cast>,
    model: Model,
    last: Option<Snapshot>,
    trace: Vec<String>,
    trace_hasher: Sha256,
    /// Whether every step is printed as it is taken (`HONGBAO_SIM_TRACE`).
    print_trace: bool,
    summary: Summary,
}

/// How a step's operation ended, once faults are resolved.
// Made once per step and matched at once; boxing the common variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Answer {
    Done(Outcome),
    Refused(ServiceError),
}

type Checked<T> = Result<T, String>;

fn amount(units: i64) -> Amount {
    Amount::new(units).expect("a valid amount")
}

impl Sim {
    /// Runs one seed to its end, checking the model after every step.
    pub async fn run(settings: &Settings, seed: u64) -> Result<Summary, Failure> {
        let mut sim = Sim::new(settings, seed);
        let outcome = sim.play(settings.steps).await;
        match outcome {
            Ok(()) => {
                let mut summary = sim.summary.clone();
                summary.seed = seed;
                summary.steps = settings.steps;
                let last = sim.last.as_ref().expect("a snapshot after the last step");
                summary.journal_len = last.journal.len() as u64;
                summary.journal_head = last.journal.last().map(|entry| entry.hash.to_hex()).unwrap_or_default();
                summary.trace_digest = hex::encode(sim.trace_hasher.clone().finalize());
                count_fired(last, &mut summary);
                Ok(summary)
            }
            Err(what) => {
                let shown = sim.trace.len().saturating_sub(TRACE_SHOWN);
                Err(Failure { seed, step: sim.step, what, trace: sim.trace[shown..].to_vec() })
            }
        }
    }

    fn new(settings: &Settings, seed: u64) -> Sim {
        let database = TestDatabase::new();
        let store = database.store();
        let clock = ManualClock::new(Timestamp::from_millis(START));
        #[allow(unused_mut)]
        let mut config = Config {
            admin_token: Some("admin".into()),
            evidence_dir: database.evidence_dir(),
            // One job per batch: which commit a fault hits then depends on the seed alone.
            max_batch: 1,
            // A fixed key, so that a start writes nothing of its own to the log's keys after the first.
            log_key: Some(hongbao_tlog::SignerKey::generate("hongbao/simulation", [7; 32]).expect("a log key")),
            ..Config::default()
        };
        #[cfg(feature = "planted-bugs")]
        {
            config.planted_bugs = settings.planted_bugs.clone();
        }
        #[cfg(not(feature = "planted-bugs"))]
        let _ = settings;
        Sim {
            seed,
            rng: StdRng::seed_from_u64(seed),
            step: 0,
            _database: database,
            store,
            // Each start wraps the database in a store with cues of its own.
            faults: Arc::default(),
            service: None,
            clock,
            config,
            starts: 0,
            rendered: Arc::new(Mutex::new(BTreeMap::new())),
            cast: None,
            model: Model::default(),
            last: None,
            trace: Vec::new(),
            trace_hasher: Sha256::new(),
            print_trace: std::env::var_os("HONGBAO_SIM_TRACE").is_some(),
            summary: Summary::default(),
        }
    }

    fn service(&self) -> &Service {
        self.service.as_ref().expect("the service runs between steps")
    }

    fn cast(&self) -> &Cast {
        self.cast.as_ref().expect("the cast is set up first")
    }

    fn note(&mut self, line: String) {
        self.trace_hasher.update(line.as_bytes());
        self.trace_hasher.update(b"\n");
        let line = format!("{:>4} {line}", self.step);
        if self.print_trace {
            eprintln!("seed {} {line}", self.seed);
        }
        self.trace.push(line);
        if self.trace.len() > 4 * TRACE_SHOWN {
            self.trace.drain(..self.trace.len() - TRACE_SHOWN);
        }
    }

    /// Starts a service over a new fault-injecting store around the database, with a seed of its own
    /// for the service's randomness (a restarted process must not draw the same ids again).
    fn start(&mut self) -> Checked<()> {
        let (store, faults) = FaultyStore::new(self.store.clone());
        self.faults = faults;
        self.starts += 1;
        let mut config = self.config.clone();
        config.random_seed = Some(self.seed.wrapping_mul(1_000_003).wrapping_add(self.starts));
        let clock = Arc::new(self.clock.clone());
        let started = Service::start(store, config, clock).map_err(|error| format!("the service did not start: {error}"))?;
        self.service = Some(started.service);
        Ok(())
    }

    async fn play(&mut self, steps: usize) -> Checked<()> {
        self.start()?;
        self.set_up().await?;
        let mut before = self.snapshot().await?;
        self.model.check(&before, None)?;
        self.last = Some(before);
        for step in 1..=steps {
            self.step = step;
            self.take_step().await?;
            before = self.last.take().expect("the previous snapshot");
            let after = self.snapshot().await?;
            self.model.check(&after, Some(&before))?;
            self.check_reads(&after).await?;
            self.last = Some(after);
        }
        Ok(())
    }

    /// Users with money, two groups, two reviewers and two legal officers, and the first policy.
    async fn set_up(&mut self) -> Checked<()> {
        let service = self.service().clone();
        let mut users = Vec::new();
        for index in 0..USERS {
            match service.execute(Op::CreateUser { name: format!("user{index}") }).await {
                Ok(Outcome::UserCreated { user, .. }) => users.push(user.id),
                other => return Err(format!("creating a user: {other:?}")),
            }
        }
        for (index, user_id) in users.iter().enumerate() {
            let top_up = Op::TopUp { user_id: user_id.clone(), amount: amount(2_000_00), reference: format!("start-{index}") };
            match service.execute(top_up).await {
                Ok(Outcome::Posted(entry)) => self.model.acknowledge_entry(&entry),
                other => return Err(format!("topping up: {other:?}")),
            }
        }
        let mut groups = Vec::new();
        for (name, members) in [("everyone", (0..USERS).collect::<Vec<_>>()), ("three", vec![0, 1, 2])] {
            let member_ids = members.iter().map(|index| users[*index].clone()).collect();
            match service.execute(Op::CreateGroup { owner_id: users[members[0]].clone(), name: name.into(), member_ids }).await {
                Ok(Outcome::Group(group)) => groups.push((group.id, members)),
                other => return Err(format!("creating a group: {other:?}")),
            }
        }
        let mut operators = Vec::new();
        for (name, role) in [("rita", Role::Reviewer), ("rosa", Role::Reviewer), ("lee", Role::Legal), ("lin", Role::Legal)] {
            match service.execute(Op::Case(CaseOp::CreateOperator { name: name.into(), role })).await {
                Ok(Outcome::OperatorCreated { operator, .. }) => operators.push(Actor::Operator(operator)),
                other => return Err(format!("creating an operator: {other:?}")),
            }
        }
        let [first, second, third, fourth]: [Actor; 4] = operators.try_into().map_err(|_| "four operators".to_owned())?;
        self.cast = Some(Cast { users, groups, reviewers: [first, second], legal: [third, fourth] });
        match service.execute(Op::Risk(RiskOp::ReplacePolicy { actor: Actor::Admin, text: POLICIES[0].into() })).await {
            Ok(Outcome::Policy(_)) => Ok(()),
            other => Err(format!("putting the first policy in force: {other:?}")),
        }
    }

    async fn snapshot(&self) -> Checked<Snapshot> {
        Snapshot::read(self.service(), &self.model, self.clock.clone()).await
    }

    /// Reads through the service's own read paths that depend on the time: wallets with their freezes
    /// and the list of overdue cases.
    async fn check_reads(&self, snapshot: &Snapshot) -> Checked<()> {
        super::model::check_reads(self.service(), &self.cast().users, snapshot).await
    }

    // ---------------------------------------------------------------------------------------------
    // Steps.

    async fn take_step(&mut self) -> Checked<()> {
        let roll = self.rng.gen_range(0..100);
        match roll {
            0..=2 => self.restart().await,
            3..=9 => self.move_clock(true).await,
            10..=13 => self.move_clock(false).await,
            14..=17 => self.tick(true).await,
            _ => {
                let Some(op) = self.choose_op() else {
                    self.note("nothing to do".into());
                    return Ok(());
                };
                self.perform(op).await
            }
        }
    }

    /// Drops the service and opens it again on the same database, as a deploy does; whatever is
    /// durable must be there, unchanged, and then the timers that fell due while it was down run.
    async fn restart(&mut self) -> Checked<()> {
        let before = self.snapshot().await?;
        self.service = None;
        self.start()?;
        self.summary.restarts += 1;
        let after = self.snapshot().await?;
        super::model::check_restart(&before, &after)?;
        self.note("restart".into());
        self.tick(false).await
    }

    /// Moves the clock forward: a little, a lot, or to the edge of a deadline still to come (one
    /// millisecond before it, on it, or one after). The scheduler may or may not look at once, so
    /// that operations also meet deadlines that passed before the timers ran.
    async fn move_clock(&mut self, then_tick: bool) -> Checked<()> {
        let now = self.clock.now();
        let deadlines: Vec<Timestamp> = self.last.as_ref().map(|snapshot| snapshot.deadlines_after(now)).unwrap_or_default();
        let expiries: Vec<Timestamp> = self.last.as_ref().map(|snapshot| snapshot.expiries_after(now)).unwrap_or_default();
        let target = match self.rng.gen_range(0..10) {
            // The next packet's expiry, where a claim and the refund meet.
            0..=1 if !expiries.is_empty() => Timestamp::from_millis(expiries[0].millis() + self.rng.gen_range(-1..=1)),
            0..=3 if !deadlines.is_empty() => {
                // One of the next few, so that the clock does not race past everything at once.
                let deadline = deadlines[self.rng.gen_range(0..deadlines.len().min(3))];
                Timestamp::from_millis(deadline.millis() + self.rng.gen_range(-1..=1))
            }
            0..=5 => Timestamp::from_millis(now.millis() + self.rng.gen_range(1..5_000)),
            6..=8 => now.plus_seconds(self.rng.gen_range(1..3_600)),
            _ => now.plus_seconds(self.rng.gen_range(3_600..2 * 86_400)),
        };
        if target > now {
            self.clock.set(target);
        }
        self.note(format!("clock +{} ms", self.clock.now().millis() - now.millis()));
        if then_tick && self.rng.gen_bool(0.4) { self.tick(true).await } else { Ok(()) }
    }

    /// The scheduler looks: every due timer is carried out. Faults may hit any of its commits; a crash
    /// restarts the service, which runs the timers again as it starts.
    async fn tick(&mut self, with_faults: bool) -> Checked<()> {
        let fault = if with_faults && self.rng.gen_bool(0.15) { Some(self.choose_fault()) } else { None };
        if let Some(fault) = fault {
            fault.arm(&self.faults, self.rng.gen_range(0..3));
        }
        let now = self.clock.now();
        let result = self.service().run_due_timers().await;
        self.faults.clear();
        let crashed = self.faults.crashed();
        match &result {
            Ok(count) => {
                self.model.timers_ran(now);
                self.note(format!("timers: {count} carried out{}", fault.map(|fault| format!(" ({fault:?} armed, not hit)")).unwrap_or_default()));
            }
            Err(error) if fault.is_some() => {
                self.summary.faults += 1;
                self.note(format!("timers failed under {fault:?}: {error}"));
            }
            Err(error) => return Err(format!("the timers failed with no fault injected: {error}")),
        }
        if crashed {
            self.summary.crashes += 1;
            self.restart_after_crash().await?;
        }
        Ok(())
    }

    /// After a crash: a new process on the same database; what was durable before the crash is still
    /// there (the crashed commit may have added to it), and the start runs the timers.
    async fn restart_after_crash(&mut self) -> Checked<()> {
        self.restart_keeping_what_was_durable().await?;
        self.note("restart after the crash".into());
        Box::pin(self.tick(false)).await
    }

    /// A new process on the same database, checked to hold everything the last snapshot held.
    async fn restart_keeping_what_was_durable(&mut self) -> Checked<()> {
        self.service = None;
        self.start()?;
        self.summary.restarts += 1;
        let after = self.snapshot().await?;
        if let Some(before) = &self.last {
            super::model::check_prefix(before, &after, "after a crash and a restart")?;
        }
        Ok(())
    }

    fn choose_fault(&mut self) -> Fault {
        match self.rng.gen_range(0..8) {
            0 => Fault::RefusedCommit,
            1 => Fault::FailedBegin,
            2 => Fault::LockTimeout,
            3 => Fault::FailedPrefetch,
            4 => Fault::LostOutcome,
            5 | 6 => Fault::Crash(Crash::AfterCommit),
            _ => Fault::Crash(Crash::BeforeCommit),
        }
    }

    /// Submits an operation as a client does: with an idempotency key, and after a failure of the
    /// database or of the process, again with the same key. Checks what each failure's answer claims:
    /// nothing applied means nothing applied, and an operation committed before a crash is found by
    /// its key after the restart.
    async fn perform(&mut self, op: Op) -> Checked<()> {
        let key = format!("step-{}", self.step);
        let fault = if self.rng.gen_bool(0.12) { Some(self.choose_fault()) } else { None };
        self.rendered.lock().expect("the rendered lock").remove(&key);
        let journal_before = self.last.as_ref().map_or(0, |snapshot| snapshot.journal.len());
        let events_before = self.last.as_ref().map_or(0, |snapshot| snapshot.events.len());
        if let Some(fault) = fault {
            fault.arm(&self.faults, 0);
        }
        let first = self.submit(&op, &key).await;
        self.faults.clear();
        let crashed = self.faults.crashed();
        // A payment waiting for its confirmation is not kept under its key: nothing happened.
        let rendered_first =
            self.rendered.lock().expect("the rendered lock").get(&key).is_some_and(|outcome| !matches!(outcome, Outcome::ConfirmationRequired { .. }));
        let failed = match &first {
            Err(error) => !error.is_refusal(),
            Ok(_) => false,
        };
        let answer = if crashed || (fault.is_some() && failed) {
            self.summary.faults += 1;
            if crashed {
                self.summary.crashes += 1;
                self.restart_keeping_what_was_durable().await?;
            }
            let nothing_applied = matches!(fault, Some(Fault::Crash(Crash::BeforeCommit)))
                || matches!(&first, Err(ServiceError::Busy))
                || matches!(&first, Err(ServiceError::Internal(detail)) if detail.contains("nothing in this request was applied"));
            if nothing_applied {
                let now = self.snapshot().await?;
                if now.journal.len() != journal_before || now.events.len() != events_before {
                    return Err(format!(
                        "{op:?} was answered that nothing was applied ({first:?}), but the journal went from {journal_before} to {} entries and the outbox from {events_before} to {} events",
                        now.journal.len(),
                        now.events.len()
                    ));
                }
            }
            if crashed {
                // The new process's scheduler looks at once, as it starts.
                Box::pin(self.tick(false)).await?;
            }
            self.note(format!("{} under {fault:?}: {}; again with its key", describe(&op), brief(&first)));
            let second = self.submit(&op, &key).await;
            let replayed = matches!(second, Ok(Reply::Replayed(_)));
            if matches!(fault, Some(Fault::Crash(Crash::AfterCommit)) | Some(Fault::LostOutcome)) && rendered_first && !replayed {
                return Err(format!("{op:?} was committed before the failure ({fault:?}) but its key did not find it afterwards: {}", brief(&second)));
            }
            if nothing_applied && replayed {
                return Err(format!("{op:?} was answered that nothing was applied, but its key found an answer afterwards"));
            }
            self.resolve(&op, &key, second)?
        } else {
            self.resolve(&op, &key, first)?
        };
        self.acknowledge(&op, answer).await
    }

    async fn submit(&self, op: &Op, key: &str) -> Result<Reply, ServiceError> {
        let request_hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let idempotency = Idempotency { caller: "simulation".into(), key: key.to_owned(), request_hash };
        let rendered = self.rendered.clone();
        let stored_key = key.to_owned();
        let render: hongbao_service::Render = Box::new(move |outcome: &Outcome| {
            rendered.lock().expect("the rendered lock").insert(stored_key.clone(), outcome.clone());
            Rendered { status: 200, body: format!("{outcome:?}").into_bytes(), replay_body: None }
        });
        self.service().submit(op.clone(), Some(idempotency), Some(render)).await
    }

    /// The outcome of an answer: a replayed one is the outcome the writer rendered for the key, which
    /// must be what the stored answer says.
    fn resolve(&self, op: &Op, key: &str, answer: Result<Reply, ServiceError>) -> Checked<Answer> {
        match answer {
            Ok(Reply::Done { outcome, .. }) => Ok(Answer::Done(outcome)),
            Ok(Reply::Replayed(stored)) => {
                let outcome = self.rendered.lock().expect("the rendered lock").get(key).cloned();
                let Some(outcome) = outcome else { return Err(format!("{op:?}: a replayed answer that no job rendered")) };
                if format!("{outcome:?}").into_bytes() != stored.body {
                    return Err(format!("{op:?}: the replayed answer is not the outcome that was committed"));
                }
                Ok(Answer::Done(outcome))
            }
            Err(error) if error.is_refusal() => Ok(Answer::Refused(error)),
            Err(error) => Err(format!("{op:?} failed with no fault injected: {error:?}")),
        }
    }

    async fn acknowledge(&mut self, op: &Op, answer: Answer) -> Checked<()> {
        match answer {
            Answer::Refused(error) => {
                self.summary.refused += 1;
                self.note(format!("{} refused: {error}", describe(op)));
                Ok(())
            }
            Answer::Done(Outcome::ConfirmationRequired { summary, .. }) => {
                self.note(format!("{} needs confirming", describe(op)));
                // Most payers confirm at once; the confirmed payment is a step of its own.
                if self.rng.gen_bool(0.8) {
                    let confirmed = match op.clone() {
                        Op::SendPacket { sender_id, spec, greeting, .. } => Op::SendPacket { sender_id, spec, greeting, confirmation: Some(summary.token) },
                        Op::SendTransfer { sender_id, recipient_id, amount, memo, arrival, .. } => {
                            Op::SendTransfer { sender_id, recipient_id, amount, memo, arrival, confirmation: Some(summary.token) }
                        }
                        other => return Err(format!("{other:?} asked for a confirmation")),
                    };
                    self.step_suffix_confirm(confirmed).await
                } else {
                    Ok(())
                }
            }
            Answer::Done(outcome) => {
                self.summary.acknowledged += 1;
                self.model.acknowledge(&outcome);
                self.note(format!("{} -> {}", describe(op), describe_outcome(&outcome)));
                Ok(())
            }
        }
    }

    /// The confirmed repeat of a payment, under a key of its own.
    async fn step_suffix_confirm(&mut self, op: Op) -> Checked<()> {
        let key = format!("step-{}-confirmed", self.step);
        let answer = self.submit(&op, &key).await;
        let answer = self.resolve(&op, &key, answer)?;
        Box::pin(self.acknowledge(&op, answer)).await
    }

    // ---------------------------------------------------------------------------------------------
    // Choosing an operation.

    fn user(&mut self) -> UserId {
        let index = self.rng.gen_range(0..USERS);
        self.cast().users[index].clone()
    }

    fn other_user(&mut self, user_id: &UserId) -> UserId {
        let others: Vec<UserId> = self.cast().users.iter().filter(|other| *other != user_id).cloned().collect();
        others[self.rng.gen_range(0..others.len())].clone()
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() { None } else { Some(items[self.rng.gen_range(0..items.len())].clone()) }
    }

    fn choose_op(&mut self) -> Option<Op> {
        let snapshot = self.last.take().expect("a snapshot before each step");
        let op = self.choose_op_from(&snapshot);
        self.last = Some(snapshot);
        op
    }

    fn choose_op_from(&mut self, snapshot: &Snapshot) -> Option<Op> {
        let roll = self.rng.gen_range(0..100);
        match roll {
            0..=4 => {
                let user_id = self.user();
                // Never near the largest amount a wallet may hold: a due refund into such a wallet
                // rightly waits for a later look, which the model's deadlines do not allow for (the
                // property tests cover that limit).
                let units = self.rng.gen_range(1..60_000);
                let reference = format!("bank-{}-{}", self.seed, self.step);
                Some(Op::TopUp { user_id, amount: amount(units), reference })
            }
            5..=7 => {
                let user_id = self.user();
                let reference = Some(format!("payout-{}-{}", self.seed, self.step));
                Some(Op::Withdraw { user_id, amount: amount(self.rng.gen_range(1..40_000)), reference })
            }
            8..=19 => Some(self.send_packet()),
            20..=33 => self.claim(snapshot),
            34..=36 => {
                let packet = self.pick(&snapshot.open_packets())?;
                let user_id = if self.rng.gen_bool(0.85) { packet.sender_id.clone() } else { self.user() };
                Some(Op::Recall { packet_id: packet.id, user_id })
            }
            37..=45 => {
                let sender_id = self.user();
                // Now and then to oneself, which is refused.
                let recipient_id = if self.rng.gen_bool(0.9) { self.other_user(&sender_id) } else { sender_id.clone() };
                let arrival = [Arrival::Instant, Arrival::Delay2h, Arrival::Delay24h][self.rng.gen_range(0..3)];
                Some(Op::SendTransfer { sender_id, recipient_id, amount: amount(self.rng.gen_range(1..30_000)), memo: None, arrival, confirmation: None })
            }
            46..=56 => {
                let open: Vec<_> = snapshot.transfers.iter().filter(|transfer| transfer.status.is_open()).cloned().collect();
                let transfer = if !open.is_empty() && self.rng.gen_bool(0.85) { self.pick(&open)? } else { self.pick(&snapshot.transfers)? };
                let (transfer_id, sender, recipient) = (transfer.id.clone(), transfer.sender_id.clone(), transfer.recipient_id.clone());
                Some(match self.rng.gen_range(0..10) {
                    0..=4 => Op::AcceptTransfer { transfer_id, user_id: recipient },
                    5..=6 => Op::ReturnTransfer { transfer_id, user_id: recipient },
                    7..=8 => Op::CancelTransfer { transfer_id, user_id: sender },
                    _ => Op::AcceptTransfer { transfer_id, user_id: self.user() },
                })
            }
            57..=64 => self.ask_back(snapshot),
            65..=71 => {
                let pending: Vec<_> = snapshot.requests.iter().filter(|request| request.status == ReturnRequestStatus::Pending).cloned().collect();
                let request = self.pick(&pending).or_else(|| snapshot.requests.last().cloned())?;
                let user_id = if self.rng.gen_bool(0.9) { request.recipient_id.clone() } else { self.user() };
                Some(if self.rng.gen_bool(0.75) {
                    Op::AcceptReturnRequest { request_id: request.id, user_id }
                } else {
                    Op::DeclineReturnRequest { request_id: request.id, user_id, reason: None }
                })
            }
            72..=75 => self.complain(snapshot),
            76..=80 => self.case_work(snapshot),
            81..=83 => {
                let user_id = self.user();
                let hold = if self.rng.gen_bool(0.6) { Some(amount(self.rng.gen_range(1..50_000))) } else { None };
                let until = if self.rng.gen_bool(0.6) { Some(self.clock.now().plus_seconds(self.rng.gen_range(1..7_200))) } else { None };
                let actor = self.cast().reviewers[0].clone();
                Some(Op::Case(CaseOp::PlaceFreeze {
                    actor,
                    user_id,
                    amount: hold,
                    until,
                    cause: FreezeCause::Rule("simulation".into()),
                    reason: "risk".into(),
                }))
            }
            84..=86 => {
                let freeze = self.pick(&snapshot.freezes)?;
                let reviewer = self.rng.gen_range(0..2);
                let actor = self.cast().reviewers[reviewer].clone();
                Some(Op::Case(CaseOp::LiftFreeze { actor, freeze_id: freeze.id, reason: "cleared".into() }))
            }
            87..=92 => self.reversal(snapshot),
            93..=94 => {
                let text = POLICIES[self.rng.gen_range(0..POLICIES.len())].to_owned();
                Some(Op::Risk(RiskOp::ReplacePolicy { actor: Actor::Admin, text }))
            }
            _ => {
                let decision =
                    self.pick(&snapshot.case_refunds.iter().filter(|refund| refund.approval.status == ApprovalStatus::Pending).cloned().collect::<Vec<_>>())?;
                let reviewer = self.rng.gen_range(0..2);
                let actor = self.cast().reviewers[reviewer].clone();
                let decision_kind = if self.rng.gen_bool(0.8) { Decision::Approve } else { Decision::Reject };
                Some(Op::Case(CaseOp::DecideCaseRefund { actor, refund_id: decision.id, decision: decision_kind, reason: "checked".into() }))
            }
        }
    }

    fn send_packet(&mut self) -> Op {
        let (group_id, members) = {
            let index = self.rng.gen_range(0..self.cast().groups.len());
            self.cast().groups[index].clone()
        };
        let sender_index = members[self.rng.gen_range(0..members.len())];
        let sender_id = self.cast().users[sender_index].clone();
        let other = self.user();
        let shares = self.rng.gen_range(1..=members.len() as u32);
        let per_share = self.rng.gen_range(1..8_000);
        let total = amount(per_share * i64::from(shares) + self.rng.gen_range(0..i64::from(shares)));
        let seconds = Some(self.rng.gen_range(10..1_200));
        let spec = match self.rng.gen_range(0..7) {
            0 => PacketSpec::NormalToUser { recipient_id: other, amount_per_share: amount(per_share) },
            1 => PacketSpec::NormalToGroup { group_id, amount_per_share: amount(per_share), shares },
            2 | 3 => PacketSpec::Lucky { group_id, total_amount: total, shares },
            4 => PacketSpec::TimedToUser { recipient_id: other, total_amount: amount(per_share), expires_in_seconds: seconds },
            5 => PacketSpec::TimedToGroup { group_id, total_amount: total, shares, expires_in_seconds: seconds },
            _ => {
                let member = members[self.rng.gen_range(0..members.len())];
                PacketSpec::Exclusive { group_id, recipient_id: self.cast().users[member].clone(), total_amount: amount(per_share) }
            }
        };
        Op::SendPacket { sender_id, spec, greeting: None, confirmation: None }
    }

    /// A claim, mostly of an open packet by someone of its audience; a packet whose time is up but whose
    /// refund has not run yet is the interesting case.
    fn claim(&mut self, snapshot: &Snapshot) -> Option<Op> {
        let now = self.clock.now();
        let open = snapshot.open_packets();
        let overdue: Vec<_> = open.iter().filter(|packet| packet.expires_at <= now).cloned().collect();
        let packet = if !overdue.is_empty() && self.rng.gen_bool(0.7) {
            self.pick(&overdue)?
        } else if self.rng.gen_bool(0.85) {
            self.pick(&open)?
        } else {
            self.pick(&snapshot.packets.iter().map(|(packet, _)| packet.clone()).collect::<Vec<_>>())?
        };
        let user_id = match (packet.audience.recipient_id(), packet.audience.group_id()) {
            (Some(recipient), _) if self.rng.gen_bool(0.85) => recipient.clone(),
            (None, Some(group_id)) if self.rng.gen_bool(0.9) => {
                let members = self.cast().groups.iter().find(|(id, _)| id == group_id).map(|(_, members)| members.clone()).unwrap_or_default();
                let index = members[self.rng.gen_range(0..members.len())];
                self.cast().users[index].clone()
            }
            _ => self.user(),
        };
        Some(Op::Claim { packet_id: packet.id, user_id })
    }

    /// A payer asks a payment back, most often one already asked back or corrected, where giving back
    /// twice would show.
    fn ask_back(&mut self, snapshot: &Snapshot) -> Option<Op> {
        let paid = snapshot.payments();
        let corrected: Vec<_> = paid.iter().filter(|payment| snapshot.touched(&payment.txn_no)).cloned().collect();
        let payment = if !corrected.is_empty() && self.rng.gen_bool(0.6) { self.pick(&corrected)? } else { self.pick(&paid)? };
        let requester_id = if self.rng.gen_bool(0.9) { payment.payer } else { self.user() };
        let units = if self.rng.gen_bool(0.6) { None } else { Some(amount(self.rng.gen_range(1..=payment.amount.minor_units()))) };
        Some(Op::CreateReturnRequest {
            requester_id,
            txn_no: payment.txn_no,
            amount: units,
            reason: "sent by mistake".into(),
            respond_within_seconds: Some(self.rng.gen_range(60..7_200)),
        })
    }

    fn complain(&mut self, snapshot: &Snapshot) -> Option<Op> {
        let kind = [ComplaintKind::Other, ComplaintKind::Fraud, ComplaintKind::SystemFault, ComplaintKind::Minor][self.rng.gen_range(0..4)];
        let (complainant_id, txn_nos) = match kind {
            ComplaintKind::Other | ComplaintKind::Fraud => {
                let payment = self.pick(&snapshot.payments())?;
                (payment.payer, vec![payment.txn_no])
            }
            _ => {
                let sends: Vec<_> = snapshot.journal.iter().filter(|entry| matches!(entry.txn.kind(), TxnKind::PacketSend | TxnKind::TransferSend)).collect();
                let send = self.pick(&sends)?;
                let sender = send.txn.postings().iter().find_map(|posting| match &posting.account {
                    hongbao_core::Account::Wallet(user) if posting.amount < 0 => Some(user.clone()),
                    _ => None,
                })?;
                (sender, vec![send.txn.txn_no().clone()])
            }
        };
        Some(Op::Case(CaseOp::SubmitComplaint { complainant_id, kind, txn_nos, description: "please look".into(), evidence_ids: Vec::new() }))
    }

    /// A reviewer's work on an open case: a freeze of a respondent for it, a refund out of such a
    /// freeze, or a resolution.
    fn case_work(&mut self, snapshot: &Snapshot) -> Option<Op> {
        let open: Vec<_> = snapshot.complaints.iter().filter(|complaint| !complaint.status.is_resolved()).cloned().collect();
        let complaint = self.pick(&open)?;
        let reviewer = self.rng.gen_range(0..2);
        let actor = self.cast().reviewers[reviewer].clone();
        let case_freezes: Vec<_> = snapshot.freezes.iter().filter(|freeze| freeze.cause == FreezeCause::Case(complaint.id.clone())).cloned().collect();
        match self.rng.gen_range(0..10) {
            0..=3 => {
                let user_id = self.pick(&complaint.respondent_ids).unwrap_or_else(|| self.user());
                let hold = if self.rng.gen_bool(0.8) { Some(amount(self.rng.gen_range(1..30_000))) } else { None };
                Some(Op::Case(CaseOp::PlaceFreeze { actor, user_id, amount: hold, until: None, cause: FreezeCause::Case(complaint.id), reason: "case".into() }))
            }
            4..=7 if !case_freezes.is_empty() => {
                let freeze = self.pick(&case_freezes)?;
                let txn_no: Option<TxnNo> = if self.rng.gen_bool(0.6) { self.pick(&complaint.txn_nos) } else { None };
                let units = self.rng.gen_range(1..15_000);
                Some(Op::Case(CaseOp::RefundFromFreeze {
                    actor,
                    complaint_id: complaint.id,
                    freeze_id: freeze.id,
                    amount: amount(units),
                    reason: "refund".into(),
                    txn_no,
                }))
            }
            _ => {
                let outcome = [CaseOutcome::Refunded, CaseOutcome::PartiallyRefunded, CaseOutcome::Rejected, CaseOutcome::Referred][self.rng.gen_range(0..4)];
                Some(Op::Case(CaseOp::Resolve { actor, complaint_id: complaint.id, outcome, reason: "decided".into() }))
            }
        }
    }

    /// A legal officer asks to reverse a payment (most often one already given back in part), or an
    /// officer decides a pending reversal: mostly the other one, sometimes the one who asked.
    fn reversal(&mut self, snapshot: &Snapshot) -> Option<Op> {
        let pending: Vec<_> = snapshot.reversals.iter().filter(|reversal| reversal.approval.status == ApprovalStatus::Pending).cloned().collect();
        if !pending.is_empty() && self.rng.gen_bool(0.5) {
            let reversal = self.pick(&pending)?;
            let asker = self.cast().legal.iter().position(|officer| officer.id() == reversal.approval.requested_by.to_string()).unwrap_or(0);
            let officer = if self.rng.gen_bool(0.85) { 1 - asker } else { asker };
            let actor = self.cast().legal[officer].clone();
            let decision = if self.rng.gen_bool(0.85) { Decision::Approve } else { Decision::Reject };
            return Some(Op::Case(CaseOp::DecideReversal { actor, reversal_id: reversal.id, decision, reason: "order checked".into() }));
        }
        let paid = snapshot.payments();
        let corrected: Vec<_> = paid.iter().filter(|payment| snapshot.touched(&payment.txn_no)).cloned().collect();
        let payment = if !corrected.is_empty() && self.rng.gen_bool(0.6) { self.pick(&corrected)? } else { self.pick(&paid)? };
        let officer = self.rng.gen_range(0..2);
        let actor = self.cast().legal[officer].clone();
        let units = if self.rng.gen_bool(0.6) { None } else { Some(amount(self.rng.gen_range(1..=payment.amount.minor_units()))) };
        Some(Op::Case(CaseOp::RequestReversal {
            actor,
            txn_no: payment.txn_no,
            amount: units,
            reason: "court order".into(),
            reference: "(2026) 0101 No. 42".into(),
        }))
    }
}

/// An operation in a few words, for the trace.
fn describe(op: &Op) -> String {
    let text = format!("{op:?}");
    let short: String = text.chars().take(160).collect();
    if short.len() < text.len() { format!("{short}…") } else { short }
}

fn describe_outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Posted(entry) => format!("posted {} {}", entry.txn.kind().as_str(), entry.txn.txn_no()),
        Outcome::Packet(view) => format!("packet {} {}", view.packet.id, view.packet.status.as_str()),
        Outcome::Claimed { packet_id, claim } => format!("claimed {} of {packet_id} at {}", claim.amount, claim.claimed_at.millis()),
        Outcome::Transfer(transfer) => format!("transfer {} {}", transfer.id, transfer.status.as_str()),
        Outcome::ReturnRequest(request) => format!("return request {} {:?}", request.id, request.status),
        Outcome::Complaint(complaint) => format!("complaint {} {:?}", complaint.id, complaint.status),
        Outcome::Freeze(freeze) => format!("freeze {}", freeze.id),
        Outcome::Reversal(reversal) => format!("reversal {} {:?}", reversal.id, reversal.approval.status),
        Outcome::CaseRefund(refund) => format!("case refund {} {:?}", refund.id, refund.approval.status),
        Outcome::Policy(_) => "policy in force".into(),
        other => {
            let text = format!("{other:?}");
            text.chars().take(80).collect()
        }
    }
}

fn brief(answer: &Result<Reply, ServiceError>) -> String {
    match answer {
        Ok(Reply::Done { .. }) => "done".into(),
        Ok(Reply::Replayed(_)) => "replayed".into(),
        Err(error) => format!("{error}"),
    }
}

/// Statuses the summary counts.
pub fn count_fired(snapshot: &Snapshot, summary: &mut Summary) {
    summary.expired_packets = snapshot.packets.iter().filter(|(packet, _)| packet.status == PacketStatus::Expired).count();
    summary.settled_transfers = snapshot.transfers.iter().filter(|transfer| transfer.status == TransferStatus::Settled).count();
}
