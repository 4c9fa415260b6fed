//! The security headers of every answer: no framing, no content sniffing, no referrer, and a
//! Content-Security-Policy; API answers are not stored by caches, the web page is revalidated.
//!
//! The web page loads its style sheet and its ES modules from this server (`crate::assets`) and has
//! no inline script or style. Its policy allows scripts and styles from the page's own origin only
//! (`'self'`, never `'unsafe-inline'` or `'unsafe-eval'`), so no injected markup can run a script or
//! style the page; the page builds its elements through the DOM with text, sets no `style` or
//! `on…` attribute, and Trusted Types refuse any HTML or script string given to a sink.

use axum::http::{HeaderMap, HeaderValue, header};

/// The policy of API answers: they are data, never a document that loads anything or is framed.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The web page's policy.
pub const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src blob:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

/// Sets on `headers` each header every answer carries, where the handler did not set it. Part of
/// `crate::edge`.
pub fn add_to(headers: &mut HeaderMap) {
    for (name, value) in [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, API_POLICY),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
}
