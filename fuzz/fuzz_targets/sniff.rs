//! Recognising an evidence file's type from its bytes as they stream in (`Sniffer`, `TextCheck`,
//! `sniff_binary`) and the claimed content type (`normalize_content_type`).
//!
//! The input is the claimed type's selector byte, a count of chunk lengths and the lengths, then the
//! file's bytes.
//!
//! Properties: the verdict does not depend on how the file is cut into chunks; the plain-text check
//! says text exactly when the whole file is UTF-8 with no control characters but tab, line feed,
//! carriage return and form feed; a claimed type normalizes to an allowed type that normalizes to
//! itself.
#![no_main]

use hongbao_core::sniff::{ALLOWED_CONTENT_TYPES, SNIFF_PREFIX_LEN, Sniffer, TextCheck, normalize_content_type, sniff_binary};
use libfuzzer_sys::fuzz_target;

fn is_text(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && std::str::from_utf8(bytes).is_ok_and(|text| !text.chars().any(|character| character < ' ' && !matches!(character, '\t' | '\n' | '\r' | '\x0c')))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Some((&n_lengths, rest)) = rest.split_first() else { return };
    let (lengths, file) = rest.split_at(usize::from(n_lengths % 16).min(rest.len()));
    let claimed = ALLOWED_CONTENT_TYPES[usize::from(selector) % ALLOWED_CONTENT_TYPES.len()];

    let mut whole = Sniffer::new(claimed);
    whole.feed(file);
    let mut streamed = Sniffer::new(claimed);
    let mut text = TextCheck::new();
    for chunk in hongbao_fuzz::chunks(file, lengths) {
        streamed.feed(chunk);
        text.feed(chunk);
    }
    let verdict = whole.finish();
    assert_eq!(streamed.finish(), verdict, "the verdict on {claimed} depends on the chunks");
    assert_eq!(text.finish(), is_text(file));
    let detected = sniff_binary(&file[..file.len().min(SNIFF_PREFIX_LEN)]);
    if verdict.is_ok() {
        assert!(detected == Some(claimed) || (detected.is_none() && claimed == "text/plain" && is_text(file)));
    }

    if let Ok(claim) = std::str::from_utf8(file)
        && let Some(normalized) = normalize_content_type(claim)
    {
        assert!(ALLOWED_CONTENT_TYPES.contains(&normalized));
        assert_eq!(normalize_content_type(normalized), Some(normalized));
    }
});
