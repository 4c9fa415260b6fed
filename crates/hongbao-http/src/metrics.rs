//! Prometheus text for `/metrics`: request counts and latency histograms per route, the connections
//! held and refused, and the service's own counters. Latencies are kept in integer microseconds.
//!
//! Every label takes a bounded set of values, whatever clients send: the method is one of HTTP's
//! standard methods or `other`, the route is a route template or `unmatched`, the status a number
//! from 100 to 999. A label set a client could grow would let it fill the server's memory and every
//! scrape.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use hongbao_service::ServiceMetrics;

use crate::AppState;

/// Upper bounds of the latency buckets, in microseconds.
const BUCKETS_MICROS: [u64; 12] = [500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS_MICROS.len()],
    count: u64,
    sum_micros: u64,
}

#[derive(Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    latencies: Mutex<BTreeMap<(&'static str, String), Histogram>>,
    connections_open: AtomicU64,
    connections_refused: AtomicU64,
}

/// The method as a label: one of the standard methods, or `other` for anything a client made up.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

impl HttpMetrics {
    pub(crate) fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    fn record(&self, method: &'static str, route: &str, status: u16, micros: u64) {
        *self.requests.lock().expect("metrics lock is never poisoned").entry((method, route.to_owned(), status)).or_default() += 1;
        let mut latencies = self.latencies.lock().expect("metrics lock is never poisoned");
        let histogram = latencies.entry((method, route.to_owned())).or_default();
        for (index, bound) in BUCKETS_MICROS.iter().enumerate() {
            if micros <= *bound {
                histogram.buckets[index] += 1;
            }
        }
        histogram.count += 1;
        histogram.sum_micros += micros;
    }

    pub fn render(&self, service: &ServiceMetrics, journal_len: u64, overdue_cases: u64) -> String {
        let seconds = |micros: u64| format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
        let mut out = String::new();
        out.push_str("# HELP hongbao_http_requests_total HTTP requests by method, route and status.\n# TYPE hongbao_http_requests_total counter\n");
        for ((method, route, status), count) in self.requests.lock().expect("metrics lock is never poisoned").iter() {
            let _ = writeln!(out, "hongbao_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}");
        }
        out.push_str("# HELP hongbao_http_request_duration_seconds HTTP request latency.\n# TYPE hongbao_http_request_duration_seconds histogram\n");
        for ((method, route), histogram) in self.latencies.lock().expect("metrics lock is never poisoned").iter() {
            for (index, bound) in BUCKETS_MICROS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "hongbao_http_request_duration_seconds_bucket{{method=\"{method}\",route=\"{route}\",le=\"{}\"}} {}",
                    seconds(*bound),
                    histogram.buckets[index]
                );
            }
            let _ = writeln!(out, "hongbao_http_request_duration_seconds_bucket{{method=\"{method}\",route=\"{route}\",le=\"+Inf\"}} {}", histogram.count);
            let _ = writeln!(out, "hongbao_http_request_duration_seconds_sum{{method=\"{method}\",route=\"{route}\"}} {}", seconds(histogram.sum_micros));
            let _ = writeln!(out, "hongbao_http_request_duration_seconds_count{{method=\"{method}\",route=\"{route}\"}} {}", histogram.count);
        }
        let _ = writeln!(
            out,
            "# HELP hongbao_http_connections_open Connections open now.\n# TYPE hongbao_http_connections_open gauge\nhongbao_http_connections_open {}",
            self.connections_open.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP hongbao_http_connections_refused_total Connections refused because as many as HONGBAO_MAX_CONNECTIONS were open.\n# TYPE hongbao_http_connections_refused_total counter\nhongbao_http_connections_refused_total {}",
            self.connections_refused.load(Ordering::Relaxed)
        );
        let counters = [
            ("hongbao_packets_sent_total", "Packets sent.", &service.packets_sent),
            ("hongbao_packets_claimed_total", "Shares claimed.", &service.packets_claimed),
            ("hongbao_packets_refunded_total", "Packets finished by recall or expiry.", &service.packets_refunded),
            ("hongbao_writer_commits_total", "Durable commits of the writer (group commits).", &service.batches),
            ("hongbao_writer_operations_total", "Operations carried by those commits.", &service.batched_operations),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Ordering::Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP hongbao_journal_entries Entries in the hash-chained journal.\n# TYPE hongbao_journal_entries gauge\nhongbao_journal_entries {journal_len}"
        );
        let _ = writeln!(
            out,
            "# HELP hongbao_cases_overdue Open cases past their deadline.\n# TYPE hongbao_cases_overdue gauge\nhongbao_cases_overdue {overdue_cases}"
        );
        out
    }
}

/// Middleware recording every request under its method's label and its route template, so neither
/// ids nor made-up methods and paths grow the label set.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let micros = started.elapsed().as_micros() as u64;
    state.http_metrics.record(method, &route, response.status().as_u16(), micros);
    response
}
