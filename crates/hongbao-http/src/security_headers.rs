//! The security headers of every answer: no framing, no content sniffing, no referrer, and a
//! Content-Security-Policy; API answers are not stored by caches, the web page is revalidated.
//!
//! The web page is one file with one inline `<style>` and one inline `<script>`. Its policy allows
//! exactly those two by their SHA-256 hashes, computed here from the page itself, so an edit of the page
//! can never leave a stale hash behind, and no other inline script, style or event handler runs. The
//! page sets element styles through the CSSOM (`element.style`), which a policy does not restrict, and
//! attaches handlers with `addEventListener`, never in attributes.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use base64::Engine;
use sha2::{Digest, Sha256};
use tower_http::set_header::SetResponseHeaderLayer;

/// The web page, as served at `/`.
pub const WEB_PAGE: &str = include_str!("../assets/index.html");

/// The policy of API answers: they are data, never a document that loads anything or is framed.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The web page's policy, with the hashes of its inline style and script.
pub static PAGE_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let style = inline_hash(WEB_PAGE, "<style>", "</style>");
    let script = inline_hash(WEB_PAGE, "<script>", "</script>");
    let policy = format!(
        "default-src 'self'; script-src '{script}'; style-src '{style}'; img-src 'self' data: blob:; media-src blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("a policy of hashes is a valid header value")
});

/// `sha256-<base64>` of the text between the first `open` tag and the `close` tag after it.
fn inline_hash(page: &str, open: &str, close: &str) -> String {
    let start = page.find(open).map(|start| start + open.len()).expect("the web page has its inline style and script");
    let length = page[start..].find(close).expect("the web page closes its inline style and script");
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&page[start..start + length])))
}

/// `router` with the headers every answer carries; each is set where the handler did not set it.
pub fn add_to<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let set = |name: HeaderName, value: &'static str| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value));
    router
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(header::CONTENT_SECURITY_POLICY, API_POLICY))
        .layer(set(header::CACHE_CONTROL, "no-store"))
}
