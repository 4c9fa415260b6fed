//! Prometheus text for `/metrics`: request counts and latency histograms per route, the connections
//! held and refused, and the service's own counters, recorded and written out by
//! `metrics-exporter-prometheus` (Prometheus's classic text format, which `text/plain; version=0.0.4`
//! names; `prometheus-client` writes only OpenMetrics).
//!
//! Every label takes a bounded set of values, whatever clients send: the method is one of HTTP's
//! standard methods or `other`, the route is a route template or `unmatched`, the status a number
//! from 100 to 999. A label set a client could grow would let it fill the server's memory and every
//! scrape.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::Method;
use hongbao_service::ServiceMetrics;
use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

const REQUESTS: &str = "hongbao_http_requests_total";
const DURATIONS: &str = "hongbao_http_request_duration_seconds";

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS_SECONDS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// How often the latencies recorded since are folded into their buckets, whether or not anyone
/// scrapes: the recorder keeps each observation until then.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What the recorder is told about each metric; it writes none of it.
static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The handles of one route's request counts and latencies, made the first time each method and status
/// is seen on it. The recorder turns a key into owned text every time it is asked for a handle (four
/// allocations and some 1,250 instructions), so each handle is asked for once and kept; recording
/// a request then takes a few shared locks and hash lookups and allocates nothing.
#[derive(Default)]
struct RouteMetrics {
    requests: RwLock<HashMap<(&'static str, u16), Counter>>,
    durations: RwLock<HashMap<&'static str, Histogram>>,
}

pub struct HttpMetrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// By route template, whose number the router bounds.
    routes: RwLock<HashMap<Box<str>, RouteMetrics>>,
    connections_open: Gauge,
    connections_refused: Counter,
    packets_sent: Counter,
    packets_claimed: Counter,
    packets_refunded: Counter,
    writer_commits: Counter,
    writer_operations: Counter,
    journal_entries: Gauge,
    cases_overdue: Gauge,
}

impl Default for HttpMetrics {
    fn default() -> HttpMetrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATIONS.to_owned()), &BUCKETS_SECONDS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let described = |name: &'static str, help: &'static str| {
            recorder.describe_counter(name.into(), None, help.into());
            recorder.register_counter(&Key::from_static_name(name), &METADATA)
        };
        let described_gauge = |name: &'static str, help: &'static str| {
            recorder.describe_gauge(name.into(), None, help.into());
            recorder.register_gauge(&Key::from_static_name(name), &METADATA)
        };
        recorder.describe_counter(REQUESTS.into(), None, "HTTP requests by method, route and status.".into());
        recorder.describe_histogram(DURATIONS.into(), None, "HTTP request latency.".into());
        HttpMetrics {
            handle: recorder.handle(),
            routes: RwLock::default(),
            connections_open: described_gauge("hongbao_http_connections_open", "Connections open now."),
            connections_refused: described(
                "hongbao_http_connections_refused_total",
                "Connections refused because as many as HONGBAO_MAX_CONNECTIONS were open.",
            ),
            packets_sent: described("hongbao_packets_sent_total", "Packets sent."),
            packets_claimed: described("hongbao_packets_claimed_total", "Shares claimed."),
            packets_refunded: described("hongbao_packets_refunded_total", "Packets finished by recall or expiry."),
            writer_commits: described("hongbao_writer_commits_total", "Durable commits of the writer (group commits)."),
            writer_operations: described("hongbao_writer_operations_total", "Operations carried by those commits."),
            journal_entries: described_gauge("hongbao_journal_entries", "Entries in the hash-chained journal."),
            cases_overdue: described_gauge("hongbao_cases_overdue", "Open cases past their deadline."),
            recorder,
        }
    }
}

/// The method as a label: one of the standard methods, or `other` for anything a client made up.
pub(crate) fn method_label(method: &Method) -> &'static str {
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
        self.connections_open.increment(1.0);
    }

    pub(crate) fn connection_closed(&self) {
        self.connections_open.decrement(1.0);
    }

    pub(crate) fn connection_refused(&self) {
        self.connections_refused.increment(1);
    }

    /// Folds the latencies recorded since the last scrape into their buckets.
    pub(crate) fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }

    pub(crate) fn record(&self, method: &'static str, route: &str, status: u16, elapsed: Duration) {
        let routes = self.routes.read().expect("the metrics lock is never poisoned");
        if let Some(route_metrics) = routes.get(route) {
            self.record_on(route_metrics, method, route, status, elapsed);
            return;
        }
        drop(routes);
        let mut routes = self.routes.write().expect("the metrics lock is never poisoned");
        let route_metrics = routes.entry(route.into()).or_default();
        self.record_on(route_metrics, method, route, status, elapsed);
    }

    fn record_on(&self, route_metrics: &RouteMetrics, method: &'static str, route: &str, status: u16, elapsed: Duration) {
        let requests = route_metrics.requests.read().expect("the metrics lock is never poisoned");
        if let Some(counter) = requests.get(&(method, status)) {
            counter.increment(1);
        } else {
            drop(requests);
            let mut requests = route_metrics.requests.write().expect("the metrics lock is never poisoned");
            let key =
                Key::from_parts(REQUESTS, vec![Label::new("method", method), Label::new("route", route.to_owned()), Label::new("status", status.to_string())]);
            requests.entry((method, status)).or_insert_with(|| self.recorder.register_counter(&key, &METADATA)).increment(1);
        }
        let seconds = elapsed.as_secs_f64();
        let durations = route_metrics.durations.read().expect("the metrics lock is never poisoned");
        if let Some(histogram) = durations.get(method) {
            histogram.record(seconds);
        } else {
            drop(durations);
            let mut durations = route_metrics.durations.write().expect("the metrics lock is never poisoned");
            let key = Key::from_parts(DURATIONS, vec![Label::new("method", method), Label::new("route", route.to_owned())]);
            durations.entry(method).or_insert_with(|| self.recorder.register_histogram(&key, &METADATA)).record(seconds);
        }
    }

    pub fn render(&self, service: &ServiceMetrics, journal_len: u64, overdue_cases: u64) -> String {
        self.packets_sent.absolute(service.packets_sent.load(Ordering::Relaxed));
        self.packets_claimed.absolute(service.packets_claimed.load(Ordering::Relaxed));
        self.packets_refunded.absolute(service.packets_refunded.load(Ordering::Relaxed));
        self.writer_commits.absolute(service.batches.load(Ordering::Relaxed));
        self.writer_operations.absolute(service.batched_operations.load(Ordering::Relaxed));
        // Gauges are floating point; every count here is far below 2^53, so each is exact.
        self.journal_entries.set(journal_len as f64);
        self.cases_overdue.set(overdue_cases as f64);
        self.handle.render()
    }
}

/// Folds the recorded latencies into their buckets every [`UPKEEP_INTERVAL`], so that memory stays
/// bounded between scrapes however many requests arrive.
pub(crate) fn spawn_upkeep(metrics: Arc<HttpMetrics>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            interval.tick().await;
            metrics.run_upkeep();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = HttpMetrics::default();
        metrics.record("POST", "/v1/packets/{id}/claim", 200, Duration::from_micros(700));
        metrics.record("POST", "/v1/packets/{id}/claim", 200, Duration::from_micros(30_000));
        metrics.record("POST", "/v1/packets/{id}/claim", 409, Duration::from_micros(400));
        metrics.record("other", "unmatched", 404, Duration::from_secs(3));
        metrics.connection_opened();
        metrics.connection_opened();
        metrics.connection_closed();
        metrics.connection_refused();
        let service = ServiceMetrics::default();
        service.packets_claimed.store(2, Ordering::Relaxed);
        let text = metrics.render(&service, 7, 1);
        let lines: Vec<&str> = text.lines().collect();
        let expected = [
            "# HELP hongbao_http_requests_total HTTP requests by method, route and status.",
            "# TYPE hongbao_http_requests_total counter",
            "hongbao_http_requests_total{method=\"POST\",route=\"/v1/packets/{id}/claim\",status=\"200\"} 2",
            "hongbao_http_requests_total{method=\"POST\",route=\"/v1/packets/{id}/claim\",status=\"409\"} 1",
            "hongbao_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 1",
            "# TYPE hongbao_http_request_duration_seconds histogram",
            "hongbao_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/packets/{id}/claim\",le=\"0.0005\"} 1",
            "hongbao_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/packets/{id}/claim\",le=\"0.001\"} 2",
            "hongbao_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/packets/{id}/claim\",le=\"0.025\"} 2",
            "hongbao_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/packets/{id}/claim\",le=\"0.05\"} 3",
            "hongbao_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/packets/{id}/claim\",le=\"+Inf\"} 3",
            "hongbao_http_request_duration_seconds_sum{method=\"POST\",route=\"/v1/packets/{id}/claim\"} 0.0311",
            "hongbao_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/packets/{id}/claim\"} 3",
            "hongbao_http_request_duration_seconds_bucket{method=\"other\",route=\"unmatched\",le=\"2.5\"} 0",
            "hongbao_http_request_duration_seconds_bucket{method=\"other\",route=\"unmatched\",le=\"+Inf\"} 1",
            "# TYPE hongbao_http_connections_open gauge",
            "hongbao_http_connections_open 1",
            "# HELP hongbao_http_connections_refused_total Connections refused because as many as HONGBAO_MAX_CONNECTIONS were open.",
            "hongbao_http_connections_refused_total 1",
            "# HELP hongbao_packets_claimed_total Shares claimed.",
            "# TYPE hongbao_packets_claimed_total counter",
            "hongbao_packets_claimed_total 2",
            "hongbao_packets_sent_total 0",
            "hongbao_packets_refunded_total 0",
            "hongbao_writer_commits_total 0",
            "hongbao_writer_operations_total 0",
            "# TYPE hongbao_journal_entries gauge",
            "hongbao_journal_entries 7",
            "# HELP hongbao_cases_overdue Open cases past their deadline.",
            "hongbao_cases_overdue 1",
        ];
        for line in expected {
            assert!(lines.contains(&line), "{line:?} is missing from:\n{text}");
        }
    }

    #[test]
    fn each_route_method_and_status_is_counted_on_its_own() {
        let metrics = HttpMetrics::default();
        for _ in 0..3 {
            metrics.record("GET", "/healthz", 200, Duration::ZERO);
        }
        metrics.record("HEAD", "/healthz", 200, Duration::ZERO);
        metrics.record("GET", "/healthz", 503, Duration::ZERO);
        metrics.record("GET", "/v1/wallet", 200, Duration::ZERO);
        let text = metrics.render(&ServiceMetrics::default(), 0, 0);
        for line in [
            "hongbao_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 3",
            "hongbao_http_requests_total{method=\"HEAD\",route=\"/healthz\",status=\"200\"} 1",
            "hongbao_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"503\"} 1",
            "hongbao_http_requests_total{method=\"GET\",route=\"/v1/wallet\",status=\"200\"} 1",
            "hongbao_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"} 4",
            "hongbao_http_request_duration_seconds_count{method=\"HEAD\",route=\"/healthz\"} 1",
        ] {
            assert!(text.lines().any(|candidate| candidate == line), "{line:?} is missing from:\n{text}");
        }
    }
}
