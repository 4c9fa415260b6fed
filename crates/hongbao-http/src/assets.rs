//! The web page's files, built into the binary: the page at `/`, and its style sheet, icon and ES
//! modules under `/assets/`. Each is answered with its content type and an ETag of its bytes, and
//! revalidated on every load (`no-cache`), so a new release's files are used at once. No build step
//! makes them: the modules are what the browser runs.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::extract::Path;
use crate::security_headers;

/// One file of the page.
#[derive(Debug)]
pub struct Asset {
    /// Its path under `/assets/`.
    pub path: &'static str,
    pub body: &'static str,
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset { path: $path, body: include_str!(concat!("../assets/", $path)) }),*]
    };
}

/// The page's files. A file in `assets/` that is not listed here is not served; a test checks that
/// the list and the folder agree.
pub static ASSETS: &[Asset] = assets![
    "app.css",
    "icon.svg",
    "js/admin.js",
    "js/api.js",
    "js/chats.js",
    "js/complaints.js",
    "js/console-cases.js",
    "js/console-legal.js",
    "js/console-people.js",
    "js/console-platform.js",
    "js/console.js",
    "js/contacts.js",
    "js/dom.js",
    "js/format.js",
    "js/i18n.js",
    "js/icons.js",
    "js/main.js",
    "js/me.js",
    "js/messages-zh.js",
    "js/notices.js",
    "js/notifications.js",
    "js/packets.js",
    "js/payments.js",
    "js/people.js",
    "js/returns.js",
    "js/sse.js",
    "js/tags.js",
    "js/transfers.js",
    "js/ui.js",
    "js/user-app.js",
    "js/wallet.js",
];

/// The page itself, served at `/`.
pub const INDEX: &str = include_str!("../assets/index.html");

/// The content type of a file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The ETag of each file, computed once: a quoted prefix of the SHA-256 of its bytes.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| ASSETS.iter().map(|asset| etag(asset.body)).collect());
static INDEX_ETAG: LazyLock<String> = LazyLock::new(|| etag(INDEX));

fn etag(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest.iter().take(12).map(|byte| format!("{byte:02x}")).collect();
    format!("\"{hex}\"")
}

/// A file's answer: 304 when the client's copy is current, else the bytes; both revalidated next time.
fn answer(body: &'static str, content_type: &'static str, etag: &str, request: &HeaderMap) -> Response {
    let current = request.get(header::IF_NONE_MATCH).and_then(|value| value.to_str().ok()).is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if current { StatusCode::NOT_MODIFIED.into_response() } else { body.into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// `GET /`: the page, with its Content-Security-Policy.
#[utoipa::path(get, path = "/", tag = "web page", security(()),
    responses((status = 200, description = "the web page", content_type = "text/html", body = String), (status = 304, description = "not modified (If-None-Match)")))]
pub async fn index(request: HeaderMap) -> Response {
    let mut response = answer(INDEX, content_type("index.html"), &INDEX_ETAG, &request);
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(security_headers::PAGE_POLICY));
    response
}

/// `GET /assets/{*path}`: one of the page's files (the path may hold slashes); 404 for anything else.
#[utoipa::path(get, path = "/assets/{path}", tag = "web page", security(()), params(("path" = String, Path, description = "the file's path under assets/, such as js/app.js")),
    responses((status = 200, description = "the file", content_type = "text/javascript", body = String), (status = 304, description = "not modified (If-None-Match)"),
        (status = 404, body = crate::error::Problem)))]
pub async fn asset(Path(path): Path<String>, request: HeaderMap) -> Result<Response, ApiError> {
    let index = ASSETS.iter().position(|asset| asset.path == path).ok_or_else(|| ApiError::not_found("asset"))?;
    Ok(answer(ASSETS[index].body, content_type(&path), &ETAGS[index], &request))
}
