//! The HTTP layer's own settings: how long a client may take, how many connections and live streams
//! it may hold, and where webhooks may be sent. The binary fills them from the environment; tests
//! build them directly, with limits small enough to reach in a test.

use std::time::Duration;

/// Everything the HTTP layer is configured with.
#[derive(Clone, Debug, Default)]
pub struct HttpConfig {
    pub limits: HttpLimits,
    pub webhook_targets: WebhookTargets,
}

/// What a client may hold, and for how long. The defaults are safe for a server facing the internet.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// A request's headers must be complete this long after the connection opened, or after the
    /// first byte that followed an idle wait.
    pub header_read_timeout: Duration,
    /// A request's whole body must arrive this long after its headers.
    pub body_read_timeout: Duration,
    /// A connection waiting for its next request is closed after this long.
    pub idle_timeout: Duration,
    /// The most connections open at once; past it a new connection is answered 503 and closed.
    pub max_connections: usize,
    /// The most live event streams one user may hold open at once, in one process.
    pub max_streams_per_user: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(60),
            // Longer than the usual load balancer's idle timeout (60 s), so that the balancer, not
            // this server, closes an idle connection and never sends a request into one being closed.
            idle_timeout: Duration::from_secs(75),
            // Below the usual limit of 1024 open files, with room for the database and evidence files.
            max_connections: 512,
            max_streams_per_user: 4,
        }
    }
}

/// Where outbound webhook requests may go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WebhookTargets {
    /// Only public addresses: never loopback, private, link-local (cloud metadata), shared,
    /// multicast or unspecified ones, whatever name leads there.
    #[default]
    PublicOnly,
    /// Any address, for a deployment whose receivers live on its own network (and for tests).
    AnyAddress,
}
