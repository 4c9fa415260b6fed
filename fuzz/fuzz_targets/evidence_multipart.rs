//! An evidence upload (`POST /v1/evidence`) as the route reads it: a multipart/form-data body, arriving
//! in chunks, read part by part with axum's `Multipart`; the `label` part read as an `EvidenceLabel`,
//! the `file` part's Content-Type normalized and its bytes sniffed as they stream (`Sniffer`).
//!
//! The input is the boundary's selector byte, a count of chunk lengths and the lengths, then the body.
//!
//! Properties: nothing panics or hangs; the file part's verdict is the same as on the whole file fed
//! at once.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use hongbao_core::cases::EvidenceLabel;
use hongbao_core::sniff::{Sniffer, normalize_content_type};
use libfuzzer_sys::fuzz_target;

/// The boundaries of the seed bodies: what curl, browsers and the hongbao client write.
const BOUNDARIES: [&str; 3] = ["X-BOUNDARY", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "------------------------d74496d66958873e"];

async fn upload(request: Request) {
    let Ok(mut multipart) = Multipart::from_request(request, &()).await else { return };
    let mut label = None;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        match field.name() {
            Some("label") => {
                let Ok(text) = field.text().await else { return };
                label = EvidenceLabel::parse(text.trim());
            }
            Some("file") => {
                let Some(claimed) = field.content_type().and_then(normalize_content_type) else { return };
                let mut streamed = Sniffer::new(claimed);
                let mut file = Vec::new();
                while let Ok(Some(chunk)) = field.chunk().await {
                    streamed.feed(&chunk);
                    file.extend_from_slice(&chunk);
                }
                let mut whole = Sniffer::new(claimed);
                whole.feed(&file);
                assert_eq!(streamed.finish(), whole.finish(), "the verdict on {claimed} depends on the chunks");
            }
            _ => return,
        }
    }
    if let Some(label) = label {
        assert_eq!(EvidenceLabel::parse(label.as_str()), Some(label));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Some((&n_lengths, rest)) = rest.split_first() else { return };
    let (lengths, body) = rest.split_at(usize::from(n_lengths % 16).min(rest.len()));
    let boundary = BOUNDARIES[usize::from(selector) % BOUNDARIES.len()];
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = hongbao_fuzz::chunks(body, lengths).into_iter().map(|chunk| Ok(chunk.to_vec())).collect();
    let request = Request::builder()
        .method("POST")
        .uri("/v1/evidence")
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .expect("a request");
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().expect("a runtime")).block_on(upload(request));
});
