//! The request body's deadline: the whole body must arrive within `HttpLimits::body_read_timeout` of
//! the request's headers, or the request is answered 408 `request_timeout` and its connection closed.
//!
//! tower-http's `RequestBodyTimeoutLayer` is not enough on its own: its timer starts again at every
//! chunk, so a body that trickles in a byte at a time is never cut off. Here the deadline is fixed
//! when the headers arrive.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::Body as _;
use tokio::time::{Instant, Sleep};

use crate::error::ApiError;

/// Runs `next` with the request's body under a deadline `timeout` after its headers, and answers for
/// a handler whose body ran out of time (its own answer would only say that reading the body failed).
/// A request without a body goes through as it is. Part of `crate::edge`.
pub async fn limit_body_time(timeout: Duration, request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let expired = Arc::new(AtomicBool::new(false));
    let request = {
        let (deadline, expired) = (Instant::now() + timeout, expired.clone());
        request.map(|body| Body::new(DeadlineBody { body, deadline, sleep: None, expired }))
    };
    let response = next.run(request).await;
    if !expired.load(Ordering::Acquire) {
        return response;
    }
    let detail = format!("the request body did not arrive within {} ms of its headers", timeout.as_millis());
    let mut response = ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", detail).into_response();
    // The rest of the body may still be on its way; the connection cannot carry another request.
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The error a body past its deadline gives its reader.
#[derive(Debug)]
struct BodyDeadlineExceeded;

impl std::fmt::Display for BodyDeadlineExceeded {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyDeadlineExceeded {}

struct DeadlineBody {
    body: Body,
    deadline: Instant,
    /// Made at the first read, so a handler that never reads its body costs no timer.
    sleep: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        // What has arrived is read first, so a body complete in time never fails at its end.
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let deadline = self.deadline;
        let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(axum::Error::new(BodyDeadlineExceeded))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
