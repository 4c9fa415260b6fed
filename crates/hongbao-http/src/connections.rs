//! Serving connections: at most `HttpLimits::max_connections` at once (past it a new connection is
//! answered 503 `too_many_connections` and closed at once, holding nothing), each closed when its
//! request headers come too slowly or it has waited too long for its next request, and all of them
//! drained on shutdown.
//!
//! hyper's own `header_read_timeout` is not used: its timer starts whenever a connection begins to
//! wait for a request, so it cannot tell an idle kept-alive connection (which a load balancer expects
//! to stay open for a minute) from a client dribbling its headers (which should be cut off within
//! seconds). Each connection's `ConnectionWatch` tells them apart: the bytes read show when a request
//! has begun, the responses in flight when one is being served.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::HttpLimits;
use crate::error::ApiError;
use crate::metrics::HttpMetrics;

/// Accepts connections on `listener` and serves `app` on each until `shutdown` completes; then stops
/// accepting and waits for the open connections to finish their requests.
pub(crate) async fn serve_connections(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    metrics: Arc<HttpMetrics>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let refusal = refusal();
    let mut http = hyper::server::conn::http1::Builder::new();
    // The watch below keeps the time; hyper's header timer would also close idle connections early.
    http.header_read_timeout(None);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // The answer fits in the socket's send buffer, so writing it never waits on the client.
            let _ = stream.try_write(&refusal);
            metrics.connection_refused();
            continue;
        };
        // Responses are written whole; Nagle's algorithm would only hold their last segment back.
        let _ = stream.set_nodelay(true);
        let slot = ConnectionSlot::take(permit, metrics.clone());
        let connection = Connection { http: http.clone(), app: app.clone(), limits: limits.clone(), peer };
        tokio::spawn(connection.serve(stream, graceful.watcher(), slot));
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Errors of `accept` other than a connection that failed before it was accepted are the process's:
/// out of file descriptors, most likely. Waiting a little lets connections close and free some.
async fn accept_failed(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::warn!(%error, "could not accept a connection");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

/// The whole answer to a connection past the limit: a 503 problem, and the connection closes.
fn refusal() -> Vec<u8> {
    let problem =
        ApiError::new(hyper::StatusCode::SERVICE_UNAVAILABLE, "too_many_connections", "the server holds as many connections as it takes; try again shortly")
            .problem_body();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nretry-after: 1\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n",
        problem.len()
    );
    [head.into_bytes(), problem].concat()
}

/// One of the `max_connections` places, counted in the metrics while it is held.
struct ConnectionSlot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<HttpMetrics>,
}

impl ConnectionSlot {
    fn take(permit: OwnedSemaphorePermit, metrics: Arc<HttpMetrics>) -> ConnectionSlot {
        metrics.connection_opened();
        ConnectionSlot { _permit: permit, metrics }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.metrics.connection_closed();
    }
}

/// What serving one connection needs.
struct Connection {
    http: hyper::server::conn::http1::Builder,
    app: Router,
    limits: HttpLimits,
    peer: SocketAddr,
}

impl Connection {
    /// Serves the connection until the client closes it, a timeout closes it, or the server shuts
    /// down; the slot is given back when it returns.
    async fn serve(self, stream: TcpStream, watcher: Watcher, _slot: ConnectionSlot) {
        let Connection { http, app, limits, peer } = self;
        let watch = Arc::new(ConnectionWatch::new());
        let io = TokioIo::new(WatchedStream { stream, watch: watch.clone() });
        let service = {
            let watch = watch.clone();
            hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let serving = Serving::begin(watch.clone());
                let app = app.clone();
                async move {
                    let response = app.oneshot(request.map(Body::new)).await?;
                    Ok::<_, Infallible>(response.map(|body| WatchedBody { body, _serving: serving }))
                }
            })
        };
        let connection = watcher.watch(http.serve_connection(io, service));
        tokio::pin!(connection);
        loop {
            let (_, next_look) = watch.deadline(&limits);
            tokio::select! {
                result = &mut connection => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "a connection ended with an error");
                    }
                    return;
                }
                () = tokio::time::sleep_until(next_look) => {
                    // The phase may have changed while this waited (a request began, a live stream is
                    // being served): its deadline is the one of the phase as it is now.
                    let (deadline, _) = watch.deadline(&limits);
                    if deadline.is_some_and(|deadline| deadline <= Instant::now()) {
                        tracing::debug!(%peer, phase = ?watch.phase(), "closing a connection that kept the server waiting");
                        return;
                    }
                }
            }
        }
    }
}

/// What a connection is doing, as far as its timeouts are concerned.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Waiting for a request's headers since the connection opened, or since the first byte that
    /// followed an idle wait.
    ReadingHeaders { since: Instant },
    /// Waiting for the next request since the last response was sent.
    Idle { since: Instant },
    /// Serving requests: from the headers until the response's last byte. The body's own deadline
    /// is `body_deadline`'s; a handler and a live stream take as long as they take.
    Serving { requests: usize },
}

struct ConnectionWatch {
    phase: Mutex<Phase>,
}

impl ConnectionWatch {
    fn new() -> ConnectionWatch {
        ConnectionWatch { phase: Mutex::new(Phase::ReadingHeaders { since: Instant::now() }) }
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().expect("a connection's phase lock is never poisoned")
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().expect("a connection's phase lock is never poisoned");
        *phase = change(*phase);
    }

    /// When the phase runs out, if it can, and when to look again: a change of phase can bring the
    /// deadline closer (a request begins on an idle connection), so the watch looks at least as
    /// often as the shorter timeout, and a deadline is never missed by more than that.
    fn deadline(&self, limits: &HttpLimits) -> (Option<Instant>, Instant) {
        let deadline = match self.phase() {
            Phase::ReadingHeaders { since } => Some(since + limits.header_read_timeout),
            Phase::Idle { since } => Some(since + limits.idle_timeout),
            Phase::Serving { .. } => None,
        };
        let next_look = Instant::now() + limits.header_read_timeout.min(limits.idle_timeout);
        (deadline, deadline.map_or(next_look, |deadline| deadline.min(next_look)))
    }
}

/// A request being served, until its response has been sent or dropped.
struct Serving(Arc<ConnectionWatch>);

impl Serving {
    fn begin(watch: Arc<ConnectionWatch>) -> Serving {
        watch.update(|phase| match phase {
            Phase::Serving { requests } => Phase::Serving { requests: requests + 1 },
            Phase::ReadingHeaders { .. } | Phase::Idle { .. } => Phase::Serving { requests: 1 },
        });
        Serving(watch)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.update(|phase| match phase {
            Phase::Serving { requests } if requests > 1 => Phase::Serving { requests: requests - 1 },
            Phase::Serving { .. } | Phase::ReadingHeaders { .. } | Phase::Idle { .. } => Phase::Idle { since: Instant::now() },
        });
    }
}

/// A response body that keeps its request counted as served until hyper has sent it and drops it.
struct WatchedBody {
    body: Body,
    _serving: Serving,
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket, telling the watch when bytes arrive: on an idle connection, the first
/// byte of a request starts the clock of its headers.
struct WatchedStream {
    stream: TcpStream,
    watch: Arc<ConnectionWatch>,
}

impl AsyncRead for WatchedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let filled_before = buf.filled().len();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > filled_before {
            this.watch.update(|phase| match phase {
                Phase::Idle { .. } => Phase::ReadingHeaders { since: Instant::now() },
                Phase::ReadingHeaders { .. } | Phase::Serving { .. } => phase,
            });
        }
        result
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
