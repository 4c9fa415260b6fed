//! hongbao's service layer: the single writer with group commit, the write operations, the reads with
//! their visibility rules, the expiry scheduler and `verify`.
//!
//! Architecture invariant: this crate knows no HTTP and no JSON, and no storage backend: it talks to
//! storage only through the `hongbao-store` traits.

pub mod batch;
pub mod checkpoints;
pub mod clock;
pub mod config;
pub mod context;
pub mod dossier;
pub mod error;
pub mod evidence;
pub mod journal_log;
pub mod live;
pub mod merchant;
pub mod metrics;
pub mod names;
pub mod op;
pub mod ops;
pub mod outcome;
#[cfg(feature = "planted-bugs")]
pub mod planted;
pub mod policy;
pub mod reads;
pub mod secrets;
mod token_cache;
pub mod verify;
pub mod writer;

// The features' operations by their short paths, as the HTTP layer names them.
pub use crate::ops::{cases, risk, webhooks};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hongbao_core::freeze::{Freeze, Restriction};
use hongbao_core::returns::ReturnRequest;
use hongbao_core::staff::Operator;
use hongbao_core::transfer::Transfer;
use hongbao_core::{Account, Amount, GroupId, PacketId, ReturnRequestId, TransferId, TxnNo, UserId};
use hongbao_store::records::{self, Query, StoredOperator};
use hongbao_store::{Group, JournalEntry, ListPosition, ReadConn, ReturnRole, Store, User};
use rand::RngCore;
use tokio::sync::{mpsc, oneshot};

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::config::Config;
pub use crate::context::actor::{Actor, Decision};
pub use crate::error::{Conflict, Denied, Invalid, OverLimit, Resource, ServiceError, ServiceResult};
use crate::evidence::EvidenceStore;
pub use crate::metrics::ServiceMetrics;
pub use crate::op::Op;
pub use crate::ops::cases::CaseOp;
pub use crate::ops::evidence::EvidenceOp;
pub use crate::ops::profiles::ProfileOp;
pub use crate::ops::risk::RiskOp;
pub use crate::outcome::{Outcome, PacketView};
pub use crate::writer::{Idempotency, Render, Rendered, Reply};
use crate::writer::{Job, Writer};

const ADMIN_TOKEN_SETTING: &str = "admin_token_sha256";
/// The most reads run at once, each on a pooled connection of its own; more wait for a free one
/// rather than open (and pay for) a new connection.
const READERS: usize = 32;
/// Past this many noted clients the set starts over.
const MAX_NOTED_CLIENTS: usize = 1_000_000;
/// The most expired records one maintenance step deletes, so that a backlog never makes a long batch.
const MAINTENANCE_STEP: u32 = 500;

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The bootstrap admin: creates users and top-ups, and may look at everything.
    Admin,
    User(User),
    /// A member of the platform's staff, who works on cases under a role.
    Operator(Operator),
}

impl Principal {
    /// The scope of the caller's idempotency keys.
    pub fn idempotency_scope(&self) -> String {
        match self {
            Principal::Admin => "admin".to_owned(),
            Principal::User(user) => user.id.to_string(),
            Principal::Operator(operator) => operator.id.to_string(),
        }
    }

    /// The caller as the actor of an operator action: the admin or an operator, never a user.
    pub fn actor(&self) -> ServiceResult<Actor> {
        match self {
            Principal::Admin => Ok(Actor::Admin),
            Principal::Operator(operator) => Ok(Actor::Operator(operator.clone())),
            Principal::User(_) => Err(error::Denied::OperatorsOnly.into()),
        }
    }
}

/// A wallet as its owner sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wallet {
    pub balance: Amount,
    pub frozen: Amount,
    pub available: Amount,
}

/// A user with the device and address they called from.
type Client = (UserId, Option<String>, Option<String>);

/// The running service. Cheap to clone; every clone talks to the same writer.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    queue: mpsc::Sender<Job>,
    store: Arc<dyn Store>,
    readers: Mutex<Vec<Box<dyn ReadConn>>>,
    reader_permits: tokio::sync::Semaphore,
    clock: Arc<dyn Clock>,
    config: Config,
    metrics: Arc<ServiceMetrics>,
    admin_token_hash: [u8; 32],
    tokens: Arc<Mutex<token_cache::TokenCache>>,
    /// The lookups of tokens the cache does not have, to the task that answers them together.
    token_lookups: std::sync::OnceLock<mpsc::UnboundedSender<TokenLookup>>,
    evidence: EvidenceStore,
    /// The (user, device, address) triples this process has already noted.
    seen_clients: Mutex<std::collections::HashSet<Client>>,
    event_wakers: Arc<live::EventWakers>,
    /// True while the store wakes the streams for other processes' events; none for a store that
    /// cannot.
    events_watched: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Set when the server begins to shut down, so that long-lived streams end.
    closing: tokio::sync::watch::Sender<bool>,
    /// The key this process signs the journal's checkpoints with.
    log_key: hongbao_tlog::SignerKey,
}

/// Migrates, opens the writer's connection and settles the admin token's hash, generating a token on
/// first use when the deployment set none.
#[allow(clippy::type_complexity)]
fn prepare_store(
    store: &dyn Store,
    config: &Config,
    log_key: &hongbao_tlog::SignerKey,
) -> ServiceResult<(Box<dyn hongbao_store::WriteConn>, [u8; 32], Option<String>)> {
    store.migrate()?;
    let mut conn = store.open_writer()?;
    // A database from before the journal's tree gets its tree before the first batch appends to it.
    let built = journal_log::build_tree(conn.as_mut())?;
    if built > 0 {
        tracing::info!(leaves = built, "built the journal's Merkle tree for the entries already in the journal");
    }
    register_log_key(conn.as_mut(), &log_key.verifier())?;
    if let Some(text) = &config.policy_text {
        policy::parse_policy(text).map_err(|error| ServiceError::Invalid(error::Invalid::Policy(error)))?;
        if conn.setting(batch::POLICY_SETTING)?.as_deref() != Some(text.as_bytes()) {
            conn.begin()?;
            conn.commit(&hongbao_store::Changes { settings: vec![(batch::POLICY_SETTING.to_owned(), text.as_bytes().to_vec())], ..Default::default() })?;
        }
    }
    seal_webhook_secrets(conn.as_mut(), &config.secret_key)?;
    let admin_token = config.admin_token.as_deref();
    if let Some(token) = admin_token {
        return Ok((conn, context::token_hash(token), None));
    }
    if let Some(stored) = conn.setting(ADMIN_TOKEN_SETTING)? {
        let hash = stored.try_into().map_err(|_| hongbao_store::corrupt("the stored admin token hash is not 32 bytes"))?;
        return Ok((conn, hash, None));
    }
    let token = context::new_token(&mut rand::rngs::OsRng);
    let hash = context::token_hash(&token);
    conn.begin()?;
    let changes = hongbao_store::Changes { settings: vec![(ADMIN_TOKEN_SETTING.to_owned(), hash.to_vec())], ..Default::default() };
    conn.commit(&changes)?;
    Ok((conn, hash, Some(token)))
}

/// Records the verifier key of this process's signing key among the log's keys, once: under the writer
/// lock, so that processes starting together with the same key record it once.
fn register_log_key(conn: &mut dyn hongbao_store::WriteConn, key: &hongbao_tlog::VerifierKey) -> ServiceResult<()> {
    conn.begin()?;
    let known = records::find::<hongbao_store::transparency::StoredLogKey>(&mut *conn, records::text(key.to_string()));
    match known {
        Ok(Some(_)) => {
            conn.rollback()?;
            Ok(())
        }
        Ok(None) => {
            let record = checkpoints::log_key_record(key, hongbao_core::Timestamp::from_millis(system_millis()));
            let row = <hongbao_store::transparency::StoredLogKey as records::Record>::to_row(&record);
            conn.commit(&hongbao_store::Changes { rows: vec![(&hongbao_store::transparency::LOG_KEYS, row)], ..Default::default() })?;
            tracing::info!(key = %key, "a new key signs the journal's checkpoints from now on");
            Ok(())
        }
        Err(error) => {
            let _ = conn.rollback();
            Err(error.into())
        }
    }
}

/// The wall clock's time in milliseconds, for when a key was first used: a fact about the deployment,
/// not about the ledger, so it does not go through the service's clock.
fn system_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

/// The deployment's signing key, or, when it gave none (tests, tools), one drawn now and kept in memory
/// only: checkpoints it signs can be verified only while the process runs.
fn log_key_of(config: &Config) -> ServiceResult<hongbao_tlog::SignerKey> {
    if let Some(key) = &config.log_key {
        return Ok(key.clone());
    }
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    tracing::warn!("no key to sign the journal's checkpoints was given; using one that lives only as long as this process");
    hongbao_tlog::SignerKey::generate("hongbao/ephemeral/journal", seed).map_err(|error| ServiceError::Internal(format!("generating a log key: {error}")))
}

/// Seals the webhook secrets an older version stored in plaintext, and refuses to start with a key
/// other than the one that sealed the stored ones (their deliveries could not be signed). Several
/// processes starting together take turns under the write lock; the second finds nothing to do.
fn seal_webhook_secrets(conn: &mut dyn hongbao_store::WriteConn, key: &secrets::SecretKey) -> ServiceResult<()> {
    use hongbao_core::webhooks::WebhookEndpoint;
    conn.begin()?;
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let query = Query::newest_first(&records::WEBHOOK_ENDPOINTS, 500).after(after.take());
        let page: Vec<WebhookEndpoint> = records::list(&mut *conn, &query)?;
        let last = page.last().map(|endpoint| vec![records::time(endpoint.created_at), records::text(&endpoint.id)]);
        for mut endpoint in page {
            match secrets::sealed_with(&endpoint.secret) {
                Some(key_id) if key_id == key.id() => {}
                Some(key_id) => {
                    let _ = conn.rollback();
                    let error = secrets::SecretError::WrongKey { sealed_with: key_id.to_owned(), have: key.id().to_owned() };
                    return Err(ServiceError::Internal(format!("webhook {}: {error}", endpoint.id)));
                }
                None => {
                    endpoint.secret = key.seal(&endpoint.secret, endpoint.id.as_str(), &mut rand::rngs::OsRng);
                    rows.push((&records::WEBHOOK_ENDPOINTS, records::Record::to_row(&endpoint)));
                }
            }
        }
        match last {
            Some(position) => after = Some(position),
            None => break,
        }
    }
    if rows.is_empty() {
        conn.rollback()?;
        return Ok(());
    }
    tracing::info!(endpoints = rows.len(), "sealing webhook secrets that were stored in plaintext");
    conn.commit(&hongbao_store::Changes { rows, ..Default::default() })?;
    Ok(())
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Some backends' synchronous connections block on their own runtime when closed, which is not
        // allowed on an async thread: close them on a thread of their own.
        let readers = std::mem::take(self.readers.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()));
        if !readers.is_empty() {
            let _ = std::thread::Builder::new().name("hongbao-reader-close".into()).spawn(move || drop(readers));
        }
    }
}

/// A token hash to look up, with where its user goes.
type TokenLookup = ([u8; 32], oneshot::Sender<ServiceResult<Option<User>>>);

/// The most token lookups answered by one read.
const MAX_TOKEN_LOOKUPS: usize = 256;

/// Answers token lookups, all those waiting with one read, until the service is gone. It holds the
/// service weakly, so that it does not keep it alive.
async fn look_up_tokens(inner: std::sync::Weak<Inner>, mut receiver: mpsc::UnboundedReceiver<TokenLookup>) {
    while let Some(first) = receiver.recv().await {
        let mut lookups = vec![first];
        while lookups.len() < MAX_TOKEN_LOOKUPS {
            match receiver.try_recv() {
                Ok(lookup) => lookups.push(lookup),
                Err(_) => break,
            }
        }
        let Some(inner) = inner.upgrade() else { return };
        let service = Service { inner };
        let hashes: Vec<[u8; 32]> = lookups.iter().map(|(hash, _)| *hash).collect();
        let found = service.read(move |conn| Ok(conn.users_by_token_hashes(&hashes)?)).await;
        drop(service);
        for (hash, reply) in lookups {
            let answer = match &found {
                Ok(users) => Ok(users.iter().find(|(known, _)| *known == hash).map(|(_, user)| user.clone())),
                Err(ServiceError::Unavailable) => Err(ServiceError::Unavailable),
                Err(error) => Err(ServiceError::Internal(format!("looking up a token failed: {error}"))),
            };
            let _ = reply.send(answer);
        }
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("backend", &self.inner.store.backend_name()).finish_non_exhaustive()
    }
}

/// What starting the service printed once: the admin token when it was generated now.
#[derive(Debug)]
pub struct Started {
    pub service: Service,
    pub generated_admin_token: Option<String>,
}

impl Service {
    /// Migrates the store, settles the admin token, and starts the writer thread. Callable from async
    /// code: the blocking database work runs on a thread of its own.
    pub fn start(store: Arc<dyn Store>, config: Config, clock: Arc<dyn Clock>) -> ServiceResult<Started> {
        let log_key = log_key_of(&config)?;
        let (conn, admin_token_hash, generated_admin_token) = std::thread::scope(|scope| {
            scope
                .spawn(|| prepare_store(store.as_ref(), &config, &log_key))
                .join()
                .map_err(|_| ServiceError::Internal("preparing the store panicked".into()))?
        })?;
        let evidence = EvidenceStore::open(&config.evidence_dir)
            .map_err(|error| ServiceError::Internal(format!("could not open the evidence store at {}: {error}", config.evidence_dir.display())))?;
        let metrics = Arc::new(ServiceMetrics::default());
        let (queue, receiver) = mpsc::channel(16_384);
        let event_wakers = Arc::new(live::EventWakers::default());
        // Other processes' events wake this process's streams too, where the store can tell of them.
        let watched = Arc::downgrade(&event_wakers);
        let events_watched = store.watch_events(Box::new(move |users| match watched.upgrade() {
            Some(wakers) => {
                wakers.wake(users);
                true
            }
            None => false,
        }))?;
        // Tokens that other processes replace or revoke leave this process's cache as those commit.
        let tokens = Arc::new(Mutex::new(token_cache::TokenCache::default()));
        let evicting = Arc::downgrade(&tokens);
        store.watch_token_changes(Box::new(move |users| match evicting.upgrade() {
            Some(tokens) => {
                if !users.is_empty() {
                    tokens.lock().expect("the token cache lock is never poisoned").evict_users(users);
                }
                true
            }
            None => false,
        }))?;
        let writer = Writer::new(conn, store.clone(), clock.clone(), config.clone(), metrics.clone(), event_wakers.clone());
        std::thread::Builder::new()
            .name("hongbao-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|error| ServiceError::Internal(format!("could not start the writer: {error}")))?;
        let inner = Inner {
            queue,
            store,
            readers: Mutex::new(Vec::new()),
            reader_permits: tokio::sync::Semaphore::new(READERS),
            clock,
            config,
            metrics,
            admin_token_hash,
            tokens,
            token_lookups: std::sync::OnceLock::new(),
            evidence,
            seen_clients: Mutex::new(std::collections::HashSet::new()),
            event_wakers,
            events_watched,
            closing: tokio::sync::watch::channel(false).0,
            log_key,
        };
        Ok(Started { service: Service { inner: Arc::new(inner) }, generated_admin_token })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub fn metrics(&self) -> &ServiceMetrics {
        &self.inner.metrics
    }

    /// Woken after each commit of this process that wrote events for the user. Other processes' events
    /// are found by looking again now and then (`Config::event_poll_millis`).
    pub fn event_waker(&self, user_id: &UserId) -> Arc<tokio::sync::Notify> {
        self.inner.event_wakers.of(user_id)
    }

    /// How often a live stream looks for events anyway (see `Config::event_poll_millis`).
    pub fn event_poll(&self) -> Duration {
        let watched = self.inner.events_watched.as_ref().is_some_and(|listening| listening.load(std::sync::atomic::Ordering::Relaxed));
        let factor = if watched { config::WATCHED_POLL_FACTOR } else { 1 };
        Duration::from_millis(self.inner.config.event_poll_millis.saturating_mul(factor))
    }

    /// Tells long-lived streams to end: the server is shutting down.
    pub fn begin_shutdown(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Changes to `true` when the server begins to shut down.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    pub fn evidence_store(&self) -> &EvidenceStore {
        &self.inner.evidence
    }

    pub fn backend_name(&self) -> &'static str {
        self.inner.store.backend_name()
    }

    /// How many jobs wait for the writer, the one it is running aside.
    pub fn queued_jobs(&self) -> usize {
        self.inner.queue.max_capacity() - self.inner.queue.capacity()
    }

    /// Runs an operation and returns its outcome once it is durable.
    pub async fn execute(&self, op: Op) -> ServiceResult<Outcome> {
        match self.submit(op, None, None).await? {
            Reply::Done { outcome, .. } => Ok(outcome),
            Reply::Replayed(_) => Err(ServiceError::Internal("a job without an idempotency key was replayed".into())),
        }
    }

    /// Runs an operation under an optional `Idempotency-Key`, rendering its response inside the same
    /// transaction when `render` is given.
    pub async fn submit(&self, op: Op, idempotency: Option<Idempotency>, render: Option<Render>) -> ServiceResult<Reply> {
        let (reply, answer) = oneshot::channel();
        self.inner.queue.send(Job { op, idempotency, render, reply }).await.map_err(|_| ServiceError::Unavailable)?;
        let reply = answer.await.map_err(|_| ServiceError::Unavailable)??;
        match &reply {
            Reply::Done { outcome: Outcome::UserCreated { user, token }, .. } => {
                // The new user's first request then needs no database read to authenticate.
                let mut tokens = self.tokens();
                let evictions = tokens.evictions();
                tokens.insert(context::token_hash(token), user.clone(), evictions);
            }
            // The old token stops working here before the answer goes out; other processes hear of
            // it from the store, or look again within `token_recheck_seconds`.
            Reply::Done { outcome: Outcome::TokenIssued { user, token }, .. } => {
                let mut tokens = self.tokens();
                tokens.evict_users([&user.id]);
                let evictions = tokens.evictions();
                tokens.insert(context::token_hash(token), user.clone(), evictions);
            }
            Reply::Done { outcome: Outcome::TokenRevoked(user), .. } => self.tokens().evict_users([&user.id]),
            _ => {}
        }
        if let Reply::Done { outcome: Outcome::User(user), .. } = &reply {
            self.refresh_cached_user(user);
        }
        Ok(reply)
    }

    /// Replaces the cached copy of a user whose profile changed, so that this process's callers see
    /// the new name at once.
    fn refresh_cached_user(&self, user: &User) {
        self.tokens().refresh_user(user);
    }

    /// The user of a token the cache does not have. Lookups that wait together are answered with one
    /// read: a crowd of callers new to this process (a packet dropped into a large group) costs a read
    /// per batch of them, not one each.
    async fn look_up_token(&self, hash: [u8; 32]) -> ServiceResult<Option<User>> {
        let lookups = self.inner.token_lookups.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(look_up_tokens(Arc::downgrade(&self.inner), receiver));
            sender
        });
        let (reply, answer) = oneshot::channel();
        lookups.send((hash, reply)).map_err(|_| ServiceError::Unavailable)?;
        answer.await.map_err(|_| ServiceError::Unavailable)?
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, token_cache::TokenCache> {
        self.inner.tokens.lock().expect("the token cache lock is never poisoned")
    }

    /// Runs `read` on a pooled read connection, off the async threads.
    pub async fn read<T, F>(&self, read: F) -> ServiceResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn ReadConn) -> ServiceResult<T> + Send + 'static,
    {
        let permit = self.inner.reader_permits.acquire().await.map_err(|_| ServiceError::Unavailable)?;
        let inner = self.inner.clone();
        let result = tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().expect("the reader pool lock is never poisoned").pop();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => inner.store.open_reader()?,
            };
            let result = read(conn.as_mut());
            // A connection whose read failed in the database may be broken; let it go.
            if !matches!(result, Err(ServiceError::Store(_))) {
                let mut pool = inner.readers.lock().expect("the reader pool lock is never poisoned");
                if pool.len() < READERS {
                    pool.push(conn);
                }
            }
            result
        })
        .await
        .map_err(|error| ServiceError::Internal(format!("a read task failed: {error}")))?;
        drop(permit);
        result
    }

    /// The caller a bearer token belongs to.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<Option<Principal>> {
        let hash = context::token_hash(token);
        if constant_time_eq(&hash, &self.inner.admin_token_hash) {
            return Ok(Some(Principal::Admin));
        }
        let recheck = Duration::from_secs(self.inner.config.token_recheck_seconds);
        let evictions = {
            let tokens = self.tokens();
            if let Some(user) = tokens.get(&hash, recheck) {
                return Ok(Some(Principal::User(user)));
            }
            tokens.evictions()
        };
        if let Some(user) = self.look_up_token(hash).await? {
            self.tokens().insert(hash, user.clone(), evictions);
            return Ok(Some(Principal::User(user)));
        }
        // Replaced or revoked since it was cached.
        self.tokens().forget(&hash);
        // Operators are not cached, so that disabling one takes effect at once in every process.
        let query = Query::newest_first(&records::OPERATORS, 1).equal("token_hash", records::text(hex::encode(hash)));
        let operator = self.read(move |conn| Ok(records::list::<StoredOperator>(conn, &query)?.into_iter().next())).await?;
        Ok(operator.filter(|stored| stored.operator.disabled_at.is_none()).map(|stored| Principal::Operator(stored.operator)))
    }

    /// The merchant key a secret (`hbk_…`) belongs to, with the user it acts for; none for an unknown
    /// or revoked key. Keys are not cached, so revoking one takes effect at once in every process.
    pub async fn authenticate_merchant(&self, secret: &str) -> ServiceResult<Option<(hongbao_core::merchant::MerchantKey, User)>> {
        let hash = context::token_hash(secret);
        let query = Query::newest_first(&records::MERCHANT_KEYS, 1).equal("secret_hash", records::text(hex::encode(hash)));
        self.read(move |conn| {
            let Some(stored) = records::list::<records::StoredMerchantKey>(conn, &query)?.into_iter().next() else { return Ok(None) };
            if stored.key.revoked_at.is_some() {
                return Ok(None);
            }
            let user = conn.user(&stored.key.user_id)?.ok_or_else(|| hongbao_store::corrupt(format!("merchant key {} of a missing user", stored.key.id)))?;
            Ok(Some((stored.key, user)))
        })
        .await
    }

    /// The observation a request from this client still needs, if this process has not noted the
    /// client yet: a user with the device and address they called from. A new one raises an alert.
    pub fn observation(&self, user_id: &UserId, device: Option<String>, address: Option<String>) -> Option<RiskOp> {
        if device.is_none() && address.is_none() {
            return None;
        }
        let key = (user_id.clone(), device.clone(), address.clone());
        if self.inner.seen_clients.lock().expect("the client cache lock is never poisoned").contains(&key) {
            return None;
        }
        Some(RiskOp::ObserveClient { user_id: user_id.clone(), device, address })
    }

    /// Remembers that an observation was carried out, so this process does not repeat it.
    pub fn observed(&self, observation: &RiskOp) {
        let RiskOp::ObserveClient { user_id, device, address } = observation else { return };
        let mut seen = self.inner.seen_clients.lock().expect("the client cache lock is never poisoned");
        if seen.len() >= MAX_NOTED_CLIENTS {
            seen.clear();
        }
        seen.insert((user_id.clone(), device.clone(), address.clone()));
    }

    /// Carries out an observation by itself, for a request that changes nothing else.
    pub async fn observe(&self, observation: RiskOp) -> ServiceResult<()> {
        self.execute(Op::Risk(observation.clone())).await?;
        self.observed(&observation);
        Ok(())
    }

    /// The risk policy in force, as TOML.
    pub async fn policy_text(&self, viewer: &Principal) -> ServiceResult<String> {
        viewer.actor()?.require(hongbao_core::staff::Permission::ViewCases)?;
        let stored = self.read(|conn| Ok(conn.setting(batch::POLICY_SETTING)?)).await?;
        Ok(match stored {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => policy::render_policy(&hongbao_core::risk::RiskPolicy::default()),
        })
    }

    /// A wallet with what its active freezes hold.
    pub async fn wallet(&self, user_id: &UserId) -> ServiceResult<Wallet> {
        let account = Account::Wallet(user_id.clone());
        let query = records::freezes_active_at(user_id, self.inner.clock.now());
        let (balance, freezes) = self.read(move |conn| Ok((conn.balance(&account)?, records::list::<Freeze>(conn, &query)?))).await?;
        let balance = Amount::new(balance).map_err(|_| hongbao_store::corrupt(format!("a wallet holds {balance}")))?;
        let restriction = Restriction::of(&freezes, self.inner.clock.now());
        Ok(Wallet { balance, frozen: restriction.frozen(balance), available: restriction.available(balance) })
    }

    /// A group, for its members and the admin.
    pub async fn group(&self, viewer: &Principal, group_id: &GroupId) -> ServiceResult<Group> {
        let group_id = group_id.clone();
        let group = self.read(move |conn| Ok(conn.group(&group_id)?)).await?.ok_or(ServiceError::NotFound(Resource::Group))?;
        match viewer {
            Principal::Admin => Ok(group),
            Principal::User(user) if group.member_ids.contains(&user.id) => Ok(group),
            Principal::Operator(_) => Ok(group),
            Principal::User(_) => Err(ServiceError::NotFound(Resource::Group)),
        }
    }

    /// The groups a user belongs to, newest first.
    pub async fn groups_of(&self, user_id: &UserId, after: Option<ListPosition>, limit: u32) -> ServiceResult<Vec<Group>> {
        let user_id = user_id.clone();
        self.read(move |conn| {
            let mut groups = Vec::new();
            for group_id in conn.group_ids_of(&user_id, after.as_ref(), limit)? {
                groups.extend(conn.group(&group_id)?);
            }
            Ok(groups)
        })
        .await
    }

    /// The packets sent to a group with their claims, newest first, for its members, operators and
    /// the admin.
    pub async fn group_packets(&self, viewer: &Principal, group_id: &GroupId, after: Option<ListPosition>, limit: u32) -> ServiceResult<Vec<PacketView>> {
        self.group(viewer, group_id).await?;
        let group_id = group_id.clone();
        self.read(move |conn| {
            let mut views = Vec::new();
            for packet_id in conn.packet_ids_of_group(&group_id, after.as_ref(), limit)? {
                let Some(packet) = conn.packet(&packet_id)? else { continue };
                let claims = conn.claims(&packet_id)?;
                views.push(PacketView { packet, claims });
            }
            Ok(views)
        })
        .await
    }

    /// A packet with its claims, for its sender, its audience and the admin.
    pub async fn packet(&self, viewer: &Principal, packet_id: &PacketId) -> ServiceResult<PacketView> {
        let packet_id = packet_id.clone();
        let viewer = viewer.clone();
        self.read(move |conn| {
            let packet = conn.packet(&packet_id)?.ok_or(ServiceError::NotFound(Resource::Packet))?;
            if let Principal::User(user) = &viewer {
                let is_member = match packet.audience.group_id() {
                    Some(group_id) => conn.is_member(group_id, &user.id)?,
                    None => false,
                };
                if !packet.visible_to(&user.id, is_member) {
                    return Err(ServiceError::NotFound(Resource::Packet));
                }
            }
            let claims = conn.claims(&packet_id)?;
            Ok(PacketView { packet, claims })
        })
        .await
    }

    /// One transaction, for the users it concerns and the admin.
    pub async fn transaction(&self, viewer: &Principal, txn_no: &TxnNo) -> ServiceResult<JournalEntry> {
        let txn_no = txn_no.clone();
        let viewer = viewer.clone();
        self.read(move |conn| {
            let entry = conn.journal_entry(&txn_no)?.ok_or(ServiceError::NotFound(Resource::Transaction))?;
            if let Principal::User(user) = &viewer
                && !conn.txn_parties(entry.seq)?.contains(&user.id)
            {
                return Err(ServiceError::NotFound(Resource::Transaction));
            }
            Ok(entry)
        })
        .await
    }

    /// A user's transactions that touched their wallet, newest first, before `before_seq`.
    pub async fn transactions(&self, user_id: &UserId, before_seq: Option<u64>, limit: u32) -> ServiceResult<Vec<JournalEntry>> {
        let account = Account::Wallet(user_id.clone());
        self.read(move |conn| Ok(conn.journal_for_account(&account, before_seq, limit)?)).await
    }

    /// A transfer, for its sender, its recipient and the admin.
    pub async fn transfer(&self, viewer: &Principal, transfer_id: &TransferId) -> ServiceResult<Transfer> {
        let transfer_id = transfer_id.clone();
        let transfer = self.read(move |conn| Ok(conn.transfer(&transfer_id)?)).await?.ok_or(ServiceError::NotFound(Resource::Transfer))?;
        match viewer {
            Principal::User(user) if user.id != transfer.sender_id && user.id != transfer.recipient_id => Err(ServiceError::NotFound(Resource::Transfer)),
            _ => Ok(transfer),
        }
    }

    /// A return request, for its two parties and the admin.
    pub async fn return_request(&self, viewer: &Principal, request_id: &ReturnRequestId) -> ServiceResult<ReturnRequest> {
        let request_id = request_id.clone();
        let request = self.read(move |conn| Ok(conn.return_request(&request_id)?)).await?.ok_or(ServiceError::NotFound(Resource::ReturnRequest))?;
        match viewer {
            Principal::User(user) if user.id != request.requester_id && user.id != request.recipient_id => Err(ServiceError::NotFound(Resource::ReturnRequest)),
            _ => Ok(request),
        }
    }

    /// A user's return requests, newest first.
    pub async fn return_requests(
        &self,
        user_id: &UserId,
        role: Option<ReturnRole>,
        after: Option<ListPosition>,
        limit: u32,
    ) -> ServiceResult<Vec<ReturnRequest>> {
        let user_id = user_id.clone();
        self.read(move |conn| Ok(conn.return_requests_of(&user_id, role, after.as_ref(), limit)?)).await
    }

    pub async fn journal_len(&self) -> ServiceResult<u64> {
        self.read(|conn| Ok(conn.journal_len()?)).await
    }

    /// Carries out every timer that is due: packet expiry refunds, transfer settlements and expiries,
    /// return-request expiries. Returns how many changed something.
    pub async fn run_due_timers(&self) -> ServiceResult<usize> {
        let mut done = 0;
        loop {
            let now = self.inner.clock.now();
            let due = self
                .read(move |conn| {
                    let mut ops: Vec<Op> = conn.due_packets(now, 2_000)?.into_iter().map(|packet_id| Op::Expire { packet_id }).collect();
                    ops.extend(conn.due_transfers(now, 2_000)?.into_iter().map(|transfer_id| Op::TransferTimer { transfer_id }));
                    ops.extend(conn.due_return_requests(now, 2_000)?.into_iter().map(|request_id| Op::ReturnRequestTimer { request_id }));
                    Ok(ops)
                })
                .await?;
            if due.is_empty() {
                return Ok(done);
            }
            let mut answers = Vec::with_capacity(due.len());
            for op in due {
                let (reply, answer) = oneshot::channel();
                self.inner.queue.send(Job { op, idempotency: None, render: None, reply }).await.map_err(|_| ServiceError::Unavailable)?;
                answers.push(answer);
            }
            let mut changed_now = 0;
            let mut failed = None;
            for answer in answers {
                match answer.await {
                    Ok(Ok(Reply::Done { outcome: Outcome::Nothing, .. })) => {}
                    Ok(Ok(_)) => changed_now += 1,
                    // A step the rules refuse for now (a refund into a wallet at its maximum) waits for
                    // the next look; it must not hold up the other due steps.
                    Ok(Err(error)) if error.is_refusal() => tracing::warn!(error = %error, "a due timer step was refused; it is tried again later"),
                    Ok(Err(error)) => failed = Some(error),
                    Err(_) => return Err(ServiceError::Unavailable),
                }
            }
            if let Some(error) = failed {
                return Err(error);
            }
            // Another process may have done them all first; then there is nothing left to look for.
            if changed_now == 0 {
                return Ok(done);
            }
            done += changed_now;
        }
    }

    /// Deletes what has expired, a step of [`MAINTENANCE_STEP`] records at a time until none is left:
    /// idempotency records past `idempotency_ttl_seconds`, uploads of evidence never attached to a
    /// case past `evidence_unattached_ttl_seconds` (with their files, when no other record names them).
    /// Returns how many records were deleted.
    pub async fn run_maintenance(&self) -> ServiceResult<usize> {
        let mut removed = 0;
        for step in [Op::PruneIdempotency { limit: MAINTENANCE_STEP }, Op::Evidence(EvidenceOp::RemoveUnattached { limit: MAINTENANCE_STEP })] {
            loop {
                let Outcome::Removed(count) = self.execute(step.clone()).await? else {
                    return Err(ServiceError::Internal("a maintenance step answered with something else".into()));
                };
                removed += count;
                if count < MAINTENANCE_STEP as usize {
                    break;
                }
            }
        }
        Ok(removed)
    }

    /// Starts the scheduler: it carries out everything overdue at once (after downtime too), then looks
    /// again every `scheduler_interval_millis`. Exactly-once comes from the steps themselves, which act
    /// only on an open packet, transfer or request inside the writer's transaction, not from the
    /// scheduler; several processes may all run it.
    pub fn spawn_scheduler(&self) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        let interval = Duration::from_millis(self.inner.config.scheduler_interval_millis);
        let maintenance_interval = Duration::from_millis(self.inner.config.maintenance_interval_millis);
        tokio::spawn(async move {
            // Expired records are deleted now and then, not at every look for due timers.
            let mut next_maintenance = tokio::time::Instant::now() + maintenance_interval;
            loop {
                if tokio::time::Instant::now() >= next_maintenance {
                    next_maintenance = tokio::time::Instant::now() + maintenance_interval;
                    match service.run_maintenance().await {
                        Ok(0) => {}
                        Ok(count) => tracing::info!(count, "deleted expired records"),
                        Err(ServiceError::Unavailable) => return,
                        Err(error) => tracing::error!(error = %writer::error_chain(&error), "deleting expired records failed; retrying later"),
                    }
                }
                match service.run_due_timers().await {
                    Ok(0) => {}
                    Ok(count) => tracing::info!(count, "carried out due timers"),
                    Err(ServiceError::Unavailable) => return,
                    Err(error) => tracing::error!(error = %writer::error_chain(&error), "the expiry scheduler failed; retrying"),
                }
                // The journal's periodic checkpoint rides on the same loop.
                match service.checkpoint_if_due().await {
                    Ok(Some(checkpoint)) => tracing::debug!(size = checkpoint.size, "checkpointed the journal"),
                    Ok(None) => {}
                    Err(ServiceError::Unavailable) => return,
                    Err(error) => tracing::error!(error = %writer::error_chain(&error), "checkpointing the journal failed; retrying"),
                }
                tokio::time::sleep(interval).await;
            }
        })
    }
}

fn constant_time_eq(left: &[u8; 32], right: &[u8; 32]) -> bool {
    left.iter().zip(right).fold(0u8, |difference, (a, b)| difference | (a ^ b)) == 0
}

/// A random source for callers outside the writer (tests, tools).
pub fn random_u64() -> u64 {
    rand::rngs::OsRng.next_u64()
}
