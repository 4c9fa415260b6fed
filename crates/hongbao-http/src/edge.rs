//! What every request goes through on its way to a handler and back, in one middleware: its
//! latency and status recorded under its route template (`metrics`), its body under a deadline
//! (`body_deadline`), `Connection: close` where a body was refused unread, and the security headers
//! (`security_headers`).
//!
//! One middleware rather than a layer each: axum wraps every route in each layer given to
//! `Router::layer`, and a request clones and boxes the route's whole stack of layers on its way in,
//! so each layer costs every request allocations and atomic counts, the hot claim included. Measured
//! with `bench/server-instructions` (BENCHMARKS.md, "Counted instead of timed").

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;
use crate::{body_deadline, metrics, security_headers};

/// The middleware; the router applies it to every route and to its fallbacks.
pub async fn edge(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = metrics::method_label(request.method());
    // Set by the router before any route's middleware runs: the template, never the path itself, so
    // ids and made-up paths do not grow the label set.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = body_deadline::limit_body_time(state.http.limits.body_read_timeout, request, next).await;
    close_after_unread_body(&mut response);
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    state.http_metrics.record(method, route, response.status().as_u16(), started.elapsed());
    security_headers::add_to(response.headers_mut());
    response
}

/// A body refused for its size is left unread, so the connection cannot carry another request: say so,
/// rather than let the client's next request on it fail.
fn close_after_unread_body(response: &mut Response) {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}
