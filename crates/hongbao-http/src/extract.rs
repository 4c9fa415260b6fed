//! Extractors that turn a request into parsed, authenticated input, with every rejection in the same
//! problem+json shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use hongbao_core::merchant::{MerchantKey, Scope};
use hongbao_service::{Op, Principal, RiskOp};
use hongbao_store::{ListPosition, User};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller, from `Authorization: Bearer <token>`. A merchant API key acts as the
/// user it belongs to, and is kept alongside so that its limits apply to what it pays.
///
/// The third part is the note of a new device or address that a POST carries into its own write,
/// rather than costing a write of its own.
pub struct Caller(pub Principal, pub Option<MerchantKey>, pub Option<RiskOp>);

impl Caller {
    /// The caller as a user with a wallet; the admin has none.
    pub fn user(&self) -> Result<&User, ApiError> {
        match &self.0 {
            Principal::User(user) => Ok(user),
            Principal::Admin => Err(ApiError::forbidden("the admin has no wallet; use a user's token")),
            Principal::Operator(_) => Err(ApiError::forbidden("operators have no wallet; use a user's token")),
        }
    }

    /// An operation as this caller makes it: through its API key's limits when it has one.
    pub fn via_key(&self, op: Op) -> Op {
        match &self.1 {
            Some(key) => Op::ViaKey { key: key.clone(), op: Box::new(op) },
            None => op,
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        match &self.0 {
            Principal::Admin => Ok(()),
            Principal::User(_) | Principal::Operator(_) => Err(ApiError::forbidden("only the admin may do this")),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be 'Bearer <token>'"))?;
        if token.starts_with("hbk_") {
            return merchant_caller(parts, state, token).await;
        }
        let principal = state.service.authenticate(token).await?.ok_or_else(|| ApiError::unauthorized("unknown token"))?;
        if let Principal::User(user) = &principal {
            // New devices and addresses raise alerts: the device from `X-Device-Id`, the address the
            // connection came from.
            let device = match parts.headers.get("x-device-id") {
                None => None,
                Some(value) => {
                    let valid =
                        |device: &&str| (1..=128).contains(&device.len()) && device.bytes().all(|byte| byte.is_ascii_alphanumeric() || b".:_-".contains(&byte));
                    let device = value.to_str().ok().map(str::trim).filter(valid);
                    Some(device.ok_or_else(|| ApiError::validation("X-Device-Id must be 1 to 128 letters, digits, '.', ':', '_' or '-'"))?)
                }
            };
            let address = client_address(parts, state).map(|address| address.to_string());
            if let Some(observation) = state.service.observation(&user.id, device.map(str::to_owned), address) {
                if parts.method == axum::http::Method::POST {
                    return Ok(Caller(principal, None, Some(observation)));
                }
                state.service.observe(observation).await?;
            }
        }
        Ok(Caller(principal, None, None))
    }
}

/// The address the request came from, through the deployment's trusted proxies; `None` when it
/// cannot be known.
fn client_address(parts: &Parts, state: &AppState) -> Option<std::net::IpAddr> {
    let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()?.0.ip();
    // A header that is not text is an entry that cannot be read: it makes the address unknown too.
    let forwarded: Vec<&str> = parts.headers.get_all("x-forwarded-for").iter().map(|value| value.to_str().unwrap_or("?")).collect();
    crate::client_address::client_address(peer, &forwarded, &state.service.config().trusted_proxies)
}

/// The scope a merchant key needs for a route; none for the routes keys may not use.
fn scope_of(method: &axum::http::Method, route: &str) -> Option<Scope> {
    use axum::http::Method;
    match (method, route) {
        (&Method::GET, "/v1/wallet" | "/v1/me") => Some(Scope::WalletRead),
        (&Method::GET, "/v1/transactions" | "/v1/transactions/{txn_no}") => Some(Scope::TransactionsRead),
        (_, route) if route.starts_with("/v1/transfers") => Some(Scope::TransfersWrite),
        (_, route) if route.starts_with("/v1/packets") => Some(Scope::PacketsWrite),
        (&Method::POST, "/v1/withdrawals") => Some(Scope::WithdrawalsWrite),
        (&Method::GET, "/v1/events" | "/v1/events/stream") => Some(Scope::EventsRead),
        _ => None,
    }
}

/// A caller with a merchant API key: refused from outside the key's networks (and logged) and on
/// routes outside its scopes.
async fn merchant_caller(parts: &Parts, state: &AppState, secret: &str) -> Result<Caller, ApiError> {
    let (key, user) = state.service.authenticate_merchant(secret).await?.ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"))?;
    let address = client_address(parts, state);
    if !address.is_some_and(|address| hongbao_service::merchant::address_allowed(&key, address)) {
        let shown = address.map_or_else(|| "unknown".to_owned(), |address| address.to_string());
        tracing::warn!(key_id = %key.id, address = %shown, "an API key was used from outside its allowed networks");
        return Err(ApiError::forbidden(format!("this API key may not be used from {shown}")));
    }
    let route = parts.extensions.get::<axum::extract::MatchedPath>().map(|path| path.as_str().to_owned()).unwrap_or_default();
    match scope_of(&parts.method, &route) {
        Some(scope) if key.allows(scope) => Ok(Caller(Principal::User(user), Some(key), None)),
        Some(scope) => Err(ApiError::forbidden(format!("this API key lacks the {scope} scope"))),
        None => Err(ApiError::forbidden("API keys may not use this route")),
    }
}

/// The `Idempotency-Key` header, when present and well-formed.
pub struct IdempotencyKey(pub Option<String>);

impl FromRequestParts<AppState> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<IdempotencyKey, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else { return Ok(IdempotencyKey(None)) };
        let bytes = value.as_bytes();
        if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|byte| (0x21..=0x7e).contains(byte)) {
            return Err(ApiError::validation("Idempotency-Key must be 1 to 255 visible ASCII characters"));
        }
        Ok(IdempotencyKey(Some(String::from_utf8_lossy(bytes).into_owned())))
    }
}

/// The `Confirmation-Token` header: the single-use token a `confirmation_required` answer gave out,
/// sent with the repeated request to confirm a large payment.
pub struct ConfirmationToken(pub Option<String>);

impl FromRequestParts<AppState> for ConfirmationToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<ConfirmationToken, ApiError> {
        let Some(value) = parts.headers.get("confirmation-token") else { return Ok(ConfirmationToken(None)) };
        let token = value.to_str().ok().map(str::trim).filter(|token| !token.is_empty() && token.len() <= 128);
        token
            .map(|token| ConfirmationToken(Some(token.to_owned())))
            .ok_or_else(|| ApiError::validation("Confirmation-Token must be the token a confirmation_required answer gave"))
    }
}

/// A path parameter (or a tuple of them): axum's `Path`, with its refusals (a percent-encoded byte
/// that is not UTF-8, a value of the wrong type) answered as problem+json like every other.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Path<T>, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) if rejection.status().is_client_error() => Err(ApiError::validation(rejection.body_text())),
            Err(rejection) => Err(ApiError::from(hongbao_service::ServiceError::Internal(format!("a route's path parameters: {}", rejection.body_text())))),
        }
    }
}

/// A body taken as raw bytes (a policy file, an optional JSON body), with its refusals (too large,
/// cut off, too slow) answered as problem+json like a JSON body's.
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<RawBody, ApiError> {
        let bytes = Bytes::from_request(request, state).await.map_err(body_rejection)?;
        Ok(RawBody(bytes))
    }
}

fn body_rejection(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    ApiError::new(rejection.status(), "validation_failed", rejection.body_text())
}

/// A JSON body, parsed strictly (unknown fields are refused by the types), with the raw bytes kept
/// for the idempotency hash.
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<JsonBody<T>, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.split(';').next().is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json")));
        let raw = Bytes::from_request(request, state).await.map_err(body_rejection)?;
        if !is_json {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "validation_failed",
                "the body must be JSON, sent with Content-Type: application/json",
            ));
        }
        let value = serde_json::from_slice(&raw).map_err(|error| ApiError::validation(format!("invalid JSON body: {error}")))?;
        if let Some(field) = field_with_nul(&raw) {
            return Err(ApiError::validation(format!("{field} must not contain the NUL character (\\u0000), which text cannot hold")));
        }
        Ok(JsonBody { value, raw })
    }
}

/// The first field of a JSON body whose text holds a NUL character, as a path (`memo`,
/// `member_ids[2]`); none when no text does. PostgreSQL's text cannot hold NUL, so it is refused here
/// for every backend alike. JSON can only write NUL as the escape `\u0000`, so a body without that
/// escape is not parsed a second time.
pub fn field_with_nul(raw: &[u8]) -> Option<String> {
    const ESCAPE: &[u8] = br"\u0000";
    if !raw.windows(ESCAPE.len()).any(|window| window.eq_ignore_ascii_case(ESCAPE)) {
        return None;
    }
    fn find(value: &serde_json::Value, path: &str) -> Option<String> {
        let within = |step: String| if path.is_empty() { step } else { format!("{path}.{step}") };
        match value {
            serde_json::Value::String(text) => text.contains('\0').then(|| if path.is_empty() { "the body".to_owned() } else { path.to_owned() }),
            serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(index, item)| find(item, &format!("{path}[{index}]"))),
            serde_json::Value::Object(fields) => fields.iter().find_map(|(name, field)| {
                if name.contains('\0') {
                    return Some(within("a field name".to_owned()));
                }
                find(field, &within(name.clone()))
            }),
            _ => None,
        }
    }
    let value: serde_json::Value = serde_json::from_slice(raw).ok()?;
    find(&value, "")
}

/// The hash that ties an `Idempotency-Key` to one request: method, path and body.
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.finalize().into()
}

/// `?limit=&cursor=` of a list, and the list's own filters (`role`).
pub struct ListParams {
    pub limit: u32,
    pub cursor: Option<String>,
    pub role: Option<String>,
    /// Every other query parameter, for the lists that filter on them.
    pub filters: Vec<(String, String)>,
}

impl ListParams {
    /// The journal position a transaction list continues below.
    pub fn before_seq(&self) -> Result<Option<u64>, ApiError> {
        self.cursor.as_deref().map(|cursor| decode_seq_cursor(cursor).ok_or_else(bad_cursor)).transpose()
    }

    /// A list filter's value, when given.
    pub fn filter(&self, name: &str) -> Option<&str> {
        self.filters.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The position a records list ordered by creation time then id continues after.
    pub fn after_record(&self) -> Result<Option<Vec<hongbao_store::records::Value>>, ApiError> {
        use hongbao_store::records::Value;
        Ok(self.after_position()?.map(|position| vec![Value::Int(position.created_at.millis()), Value::Text(position.id)]))
    }

    /// The position a list ordered by creation time continues after.
    pub fn after_position(&self) -> Result<Option<ListPosition>, ApiError> {
        self.cursor.as_deref().map(|cursor| decode_position_cursor(cursor).ok_or_else(bad_cursor)).transpose()
    }
}

fn bad_cursor() -> ApiError {
    ApiError::validation("cursor is not one this server gave out")
}

impl FromRequestParts<AppState> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<ListParams, ApiError> {
        ListParams::from_query(parts.uri.query().unwrap_or(""))
    }
}

impl ListParams {
    /// The parameters of a list from its query string (without the `?`).
    pub fn from_query(query: &str) -> Result<ListParams, ApiError> {
        let mut params = ListParams { limit: 50, cursor: None, role: None, filters: Vec::new() };
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "limit" => {
                    params.limit = value
                        .parse()
                        .ok()
                        .filter(|limit| (1..=200).contains(limit))
                        .ok_or_else(|| ApiError::validation("limit must be an integer from 1 to 200"))?;
                }
                "cursor" => params.cursor = Some(value.to_owned()),
                "role" => params.role = Some(value.to_owned()),
                _ => params.filters.push((name.to_owned(), value.to_owned())),
            }
        }
        Ok(params)
    }
}

/// Cursors are opaque to clients. A transaction list's is `c` and the journal sequence number to
/// continue below, in hex.
pub fn encode_seq_cursor(seq: u64) -> String {
    format!("c{seq:x}")
}

/// The journal position of a transaction list's cursor; `None` for any text `encode_seq_cursor` does not
/// write.
pub fn decode_seq_cursor(text: &str) -> Option<u64> {
    let hex = text.strip_prefix('c')?;
    // Only what `encode_seq_cursor` writes: lowercase hex digits, no sign, within the stored range.
    if hex.is_empty() || !hex.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().filter(|seq| i64::try_from(*seq).is_ok())
}

/// A sequence number a client sends back (an event id in `Last-Event-ID`): decimal digits only, and
/// no larger than any stored sequence number can be, so that no number wraps into another meaning.
pub fn parse_sequence(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>().ok().filter(|seq| i64::try_from(*seq).is_ok())
}

/// A list ordered by creation time continues after `p`, the creation time in hex, `.`, and the id.
pub fn encode_position_cursor(position: &ListPosition) -> String {
    format!("p{:x}.{}", position.created_at.millis(), position.id)
}

/// The times a position cursor may name, in milliseconds since 1970: from 1970 on, as the OpenAPI
/// document's cursor pattern says (`contract.rs`). A record's time is the service clock's at its
/// creation, never before 1970.
pub const POSITION_MILLIS: std::ops::RangeInclusive<i64> = 0..=i64::MAX;

/// The position of a list's cursor; `None` for any text `encode_position_cursor` does not write.
pub fn decode_position_cursor(text: &str) -> Option<ListPosition> {
    let (millis, id) = text.strip_prefix('p')?.split_once('.')?;
    let valid_id = !id.is_empty() && id.len() <= 64 && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
    // Only what `encode_position_cursor` writes: lowercase hex digits, no sign. The digits are read as
    // 64 bits, and a time outside `POSITION_MILLIS` (16 digits from 8 up, a time before 1970 in two's
    // complement) is refused rather than wrapped.
    let valid_millis = !millis.is_empty() && millis.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    let millis = u64::from_str_radix(millis, 16).ok().filter(|_| valid_millis)? as i64;
    if !POSITION_MILLIS.contains(&millis) {
        return None;
    }
    valid_id.then_some(ListPosition { created_at: hongbao_core::Timestamp::from_millis(millis), id: id.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_position_cursor_decodes_to_its_position() {
        for millis in [0, 1, 1_795_736_552_123, *POSITION_MILLIS.start(), *POSITION_MILLIS.end()] {
            let position = ListPosition { created_at: hongbao_core::Timestamp::from_millis(millis), id: "cmp_2c4dmrhq7i".to_owned() };
            let cursor = encode_position_cursor(&position);
            assert_eq!(decode_position_cursor(&cursor), Some(position), "{cursor}");
        }
        for bad in ["", "p", "p.", "p1.", "p.cmp_x", "pG.cmp_x", "p-1.cmp_x", "p+1.cmp_x", "p1A.cmp_x", "p10000000000000000.cmp_x", "p1.cmp-x", "c1"] {
            assert_eq!(decode_position_cursor(bad), None, "{bad:?}");
        }
        // Found by fuzzing (fuzz/corpus/cursors/before-1970): a time before 1970, written as 16 hex
        // digits of its two's complement, names no record; it is refused, not wrapped (money_safety.rs).
        for millis in [-1, i64::MIN, -178_589_801_694_001_787] {
            let cursor = format!("p{millis:x}.cmp_x");
            assert_eq!(decode_position_cursor(&cursor), None, "{cursor}");
        }
    }

    #[test]
    fn sequence_cursors_decode_to_their_sequence_only() {
        for seq in [0, 1, 0x1f, i64::MAX as u64] {
            assert_eq!(decode_seq_cursor(&encode_seq_cursor(seq)), Some(seq));
        }
        for bad in ["", "c", "cG", "c-1", "c1F", "c8000000000000000", "p1.x"] {
            assert_eq!(decode_seq_cursor(bad), None, "{bad:?}");
        }
    }
}
