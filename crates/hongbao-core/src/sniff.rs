//! Recognises an evidence file's content type from its bytes, so an upload whose bytes do not match its
//! claimed type can be refused.

/// The content types accepted for evidence files, in their normalized spelling.
pub const ALLOWED_CONTENT_TYPES: &[&str] =
    &["image/png", "image/jpeg", "image/gif", "image/webp", "video/mp4", "video/quicktime", "video/webm", "application/pdf", "text/plain"];

/// How many leading bytes [`sniff_binary`] looks at; every signature it knows lies within them.
pub const SNIFF_PREFIX_LEN: usize = 64;

const TEXT_PLAIN: &str = "text/plain";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SniffError {
    #[error("the file is empty")]
    Empty,
    #[error("the file's bytes are not {claimed}{}", detected_note(.detected))]
    Mismatch { claimed: &'static str, detected: Option<&'static str> },
}

fn detected_note(detected: &Option<&'static str>) -> String {
    match detected {
        Some(detected) => format!(" (they look like {detected})"),
        None => String::new(),
    }
}

/// The allowed content type that `claimed` names, ignoring case and parameters: `Text/Plain; charset=utf-8`
/// is `text/plain`, and the common misspelling `image/jpg` is `image/jpeg`. `None` when it is not allowed.
pub fn normalize_content_type(claimed: &str) -> Option<&'static str> {
    let essence = claimed.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let essence = if essence == "image/jpg" { "image/jpeg" } else { essence.as_str() };
    ALLOWED_CONTENT_TYPES.iter().copied().find(|allowed| *allowed == essence)
}

/// One allowed binary type: how `infer` recognises it, and how many bytes its whole signature takes.
struct Signature {
    content_type: &'static str,
    matches: fn(&[u8]) -> bool,
    length: usize,
}

/// The allowed binary types. `infer` decides from fewer bytes than a type's whole signature for some
/// (four of PNG's eight, three of GIF's six, four of PDF's five), so a file shorter than its type's
/// signature is not taken for that type. QuickTime comes before MP4, as an `ftyp` box with Apple's
/// `qt  ` brand is QuickTime.
const SIGNATURES: [Signature; 9] = [
    Signature { content_type: "image/png", matches: infer::image::is_png, length: 8 },
    Signature { content_type: "image/jpeg", matches: infer::image::is_jpeg, length: 3 },
    Signature { content_type: "image/gif", matches: infer::image::is_gif, length: 6 },
    Signature { content_type: "image/webp", matches: infer::image::is_webp, length: 12 },
    Signature { content_type: "video/webm", matches: infer::video::is_webm, length: 4 },
    Signature { content_type: "application/pdf", matches: infer::archive::is_pdf, length: 5 },
    Signature { content_type: "video/quicktime", matches: infer::video::is_mov, length: 16 },
    Signature { content_type: "video/mp4", matches: infer::video::is_mp4, length: 12 },
    // iTunes video is MP4 under a brand of its own.
    Signature { content_type: "video/mp4", matches: infer::video::is_m4v, length: 12 },
];

/// The binary content type whose signature starts `prefix` (the file's first bytes, up to
/// [`SNIFF_PREFIX_LEN`] of them), or `None` when no known signature matches.
pub fn sniff_binary(prefix: &[u8]) -> Option<&'static str> {
    let recognised = SIGNATURES.iter().find(|signature| prefix.len() >= signature.length && (signature.matches)(prefix));
    if let Some(signature) = recognised {
        return Some(signature.content_type);
    }
    // Old QuickTime files have no `ftyp` box and start straight with one of these atoms (`wide` is the
    // padding QuickTime writes before `mdat`); `infer` knows them only in files of 16 bytes or more, and
    // not `wide`.
    match prefix.get(4..8) {
        Some(b"moov" | b"mdat" | b"wide") => Some("video/quicktime"),
        _ => None,
    }
}

/// Checks incrementally whether a stream of bytes is plain text: valid UTF-8 with no control characters
/// other than tab, line feed, carriage return and form feed. An empty stream is not text.
#[derive(Clone, Debug, Default)]
pub struct TextCheck {
    /// The start of a multi-byte character split across chunks; at most three bytes, since a UTF-8
    /// character is at most four.
    pending: [u8; 3],
    pending_len: usize,
    saw_bytes: bool,
    invalid: bool,
}

impl TextCheck {
    pub fn new() -> TextCheck {
        TextCheck::default()
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        if self.invalid || chunk.is_empty() {
            return;
        }
        self.saw_bytes = true;
        let mut rest = chunk;
        if self.pending_len > 0 {
            // Complete the character split at the previous chunk boundary. It needs at most three more
            // bytes, so the pending bytes plus three bytes of this chunk always settle it unless the chunk
            // is shorter than that.
            let pending_len = self.pending_len;
            let borrowed = rest.len().min(3);
            let mut joined = [0_u8; 6];
            joined[..pending_len].copy_from_slice(&self.pending[..pending_len]);
            joined[pending_len..pending_len + borrowed].copy_from_slice(&rest[..borrowed]);
            let joined = &joined[..pending_len + borrowed];
            let Some(incomplete) = check_text(joined) else {
                self.invalid = true;
                return;
            };
            let complete = joined.len() - incomplete;
            if complete == 0 {
                // Still incomplete: the chunk was too short and is wholly part of the pending character.
                self.keep_pending(joined);
                return;
            }
            // The pending bytes began the first character, so a complete prefix includes them all; the rest
            // of this chunk after that prefix is checked below.
            rest = &rest[complete.saturating_sub(pending_len)..];
            self.pending_len = 0;
        }
        match check_text(rest) {
            Some(incomplete) => self.keep_pending(&rest[rest.len() - incomplete..]),
            None => self.invalid = true,
        }
    }

    /// True when the whole stream was non-empty plain text, ending on a complete character.
    pub fn finish(self) -> bool {
        self.saw_bytes && !self.invalid && self.pending_len == 0
    }

    fn keep_pending(&mut self, bytes: &[u8]) {
        // `check_text` only reports an incomplete tail of at most three bytes.
        let length = bytes.len().min(3);
        self.pending[..length].copy_from_slice(&bytes[..length]);
        self.pending_len = length;
    }
}

/// Checks one piece of a text stream. Returns the length of the incomplete character at its end (zero when
/// it ends on a character boundary), or `None` when it holds invalid UTF-8 or a forbidden control character.
fn check_text(bytes: &[u8]) -> Option<usize> {
    // Bytes below 0x20 never occur inside a multi-byte UTF-8 sequence, so scanning raw bytes finds exactly
    // the control characters.
    if bytes.iter().any(|byte| *byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r' | b'\x0c')) {
        return None;
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => Some(0),
        // No error length means the input merely ends in the middle of a character.
        Err(error) if error.error_len().is_none() => Some(bytes.len() - error.valid_up_to()),
        Err(_) => None,
    }
}

/// Checks a streamed upload against its claimed content type: keeps the first bytes for the signature
/// check and runs the plain-text check alongside.
#[derive(Clone, Debug)]
pub struct Sniffer {
    claimed: &'static str,
    prefix: Vec<u8>,
    text: TextCheck,
}

impl Sniffer {
    /// `claimed` should come from [`normalize_content_type`]; any other value never matches.
    pub fn new(claimed: &'static str) -> Sniffer {
        Sniffer { claimed, prefix: Vec::with_capacity(SNIFF_PREFIX_LEN), text: TextCheck::new() }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        let room = SNIFF_PREFIX_LEN - self.prefix.len();
        self.prefix.extend_from_slice(&chunk[..chunk.len().min(room)]);
        // The text check runs whatever the claim, so a mismatch can say the bytes look like text. On binary
        // files it stops at the first invalid byte, so it costs next to nothing there.
        self.text.feed(chunk);
    }

    /// The confirmed content type. A `text/plain` claim needs the plain-text check to pass and no binary
    /// signature; any other claim needs exactly its own signature (so MP4 and QuickTime are not swapped).
    pub fn finish(self) -> Result<&'static str, SniffError> {
        if self.prefix.is_empty() {
            return Err(SniffError::Empty);
        }
        let claimed = self.claimed;
        let detected = sniff_binary(&self.prefix).or_else(|| self.text.finish().then_some(TEXT_PLAIN));
        if detected == Some(claimed) { Ok(claimed) } else { Err(SniffError::Mismatch { claimed, detected }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n";

    fn text_check(chunks: &[&[u8]]) -> bool {
        let mut check = TextCheck::new();
        for chunk in chunks {
            check.feed(chunk);
        }
        check.finish()
    }

    fn sniff(claimed: &'static str, chunks: &[&[u8]]) -> Result<&'static str, SniffError> {
        let mut sniffer = Sniffer::new(claimed);
        for chunk in chunks {
            sniffer.feed(chunk);
        }
        sniffer.finish()
    }

    #[test]
    fn normalizes_content_types() {
        assert_eq!(normalize_content_type("image/png"), Some("image/png"));
        assert_eq!(normalize_content_type("IMAGE/PNG"), Some("image/png"));
        assert_eq!(normalize_content_type("text/plain; charset=utf-8"), Some("text/plain"));
        assert_eq!(normalize_content_type(" Text/Plain ;charset=UTF-8"), Some("text/plain"));
        assert_eq!(normalize_content_type("image/jpg"), Some("image/jpeg"));
        assert_eq!(normalize_content_type("image/JPG"), Some("image/jpeg"));
        assert_eq!(normalize_content_type("video/quicktime"), Some("video/quicktime"));
        assert_eq!(normalize_content_type("application/zip"), None);
        assert_eq!(normalize_content_type("text/html"), None);
        assert_eq!(normalize_content_type("image/svg+xml"), None);
        assert_eq!(normalize_content_type(""), None);
        assert_eq!(normalize_content_type(";"), None);
        for allowed in ALLOWED_CONTENT_TYPES {
            assert_eq!(normalize_content_type(allowed), Some(*allowed));
        }
    }

    #[test]
    fn sniffs_binary_signatures() {
        assert_eq!(sniff_binary(PNG), Some("image/png"));
        assert_eq!(sniff_binary(b"\xff\xd8\xff\xe0\0\x10JFIF"), Some("image/jpeg"));
        assert_eq!(sniff_binary(b"GIF87a\x01\0"), Some("image/gif"));
        assert_eq!(sniff_binary(b"GIF89a\x01\0"), Some("image/gif"));
        assert_eq!(sniff_binary(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_binary(b"RIFF\x24\0\0\0WAVEfmt "), None);
        assert_eq!(sniff_binary(b"\0\0\0\x20ftypisom\0\0\x02\0"), Some("video/mp4"));
        assert_eq!(sniff_binary(b"\0\0\0\x18ftypmp42\0\0\0\0"), Some("video/mp4"));
        assert_eq!(sniff_binary(b"\0\0\0\x14ftypqt  \0\0\0\0"), Some("video/quicktime"));
        assert_eq!(sniff_binary(b"\0\0\x01\0moov"), Some("video/quicktime"));
        assert_eq!(sniff_binary(b"\0\0\0\x08wide"), Some("video/quicktime"));
        assert_eq!(sniff_binary(b"\0\0\0\x08mdat"), Some("video/quicktime"));
        assert_eq!(sniff_binary(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81"), Some("video/webm"));
        assert_eq!(sniff_binary(PDF), Some("application/pdf"));
    }

    #[test]
    fn iso_media_brands_are_told_apart() {
        assert_eq!(sniff_binary(b"\0\0\0\x1cftypM4V \0\0\0\x01M4V "), Some("video/mp4"), "iTunes video is MP4");
        assert_eq!(sniff_binary(b"\0\0\0\x18ftypavc1\0\0\0\0"), Some("video/mp4"));
        assert_eq!(sniff_binary(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), None, "an HEIF photo is not MP4 video");
        assert_eq!(sniff_binary(b"\0\0\0\x08wide\0\0\x10\0mdat"), Some("video/quicktime"));
    }

    #[test]
    fn unknown_or_short_prefixes_are_not_sniffed() {
        assert_eq!(sniff_binary(b""), None);
        assert_eq!(sniff_binary(b"hello, world"), None);
        assert_eq!(sniff_binary(b"\x89PNG"), None);
        assert_eq!(sniff_binary(b"\xff\xd8"), None);
        assert_eq!(sniff_binary(b"%PDF"), None);
        assert_eq!(sniff_binary(b"RIFF\0\0"), None);
        assert_eq!(sniff_binary(b"\0\0\0\x20ftyp"), None);
        assert_eq!(sniff_binary(b"\0\0\0\x20ftypis"), None);
        assert_eq!(sniff_binary(b"PK\x03\x04"), None);
        // Shorter than their whole signatures, though `infer` alone would recognise them.
        assert_eq!(sniff_binary(b"GIF8"), None);
        assert_eq!(sniff_binary(b"\0\0\0\x14ftypqt  "), None);
    }

    #[test]
    fn accepts_plain_text() {
        assert!(text_check(&[b"hello, world\n"]));
        assert!(text_check(&[b"tabs\tand\r\nform\x0cfeeds"]));
        assert!(text_check(&["红包 complaint: 没有收到 🧧".as_bytes()]));
        assert!(text_check(&[b"one", b"", b" two"]));
    }

    #[test]
    fn refuses_non_text() {
        assert!(!text_check(&[]));
        assert!(!text_check(&[b""]));
        assert!(!text_check(&[b"nul\0inside"]));
        assert!(!text_check(&[b"bell\x07"]));
        assert!(!text_check(&[b"escape\x1b[0m"]));
        assert!(!text_check(&[b"latin-1 caf\xe9 au lait"]));
        assert!(!text_check(&[b"\xff\xfe"]));
        // A character cut off at the end of the stream.
        assert!(!text_check(&[b"ends mid character \xe7\xba"]));
        // Once invalid, later good chunks do not help.
        assert!(!text_check(&[b"\x80", b"fine"]));
    }

    #[test]
    fn multi_byte_characters_may_be_split_across_chunks() {
        let text = "a红🧧b".as_bytes();
        // Every way to cut the text into three chunks.
        for first in 0..=text.len() {
            for second in first..=text.len() {
                let chunks = [&text[..first], &text[first..second], &text[second..]];
                assert!(text_check(&chunks), "{first} {second}");
            }
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert!(text_check(&bytes));
    }

    #[test]
    fn problems_are_found_across_chunk_splits() {
        // An invalid continuation right after a split character.
        assert!(!text_check(&[b"ok \xe7", b"\xba\x41"]));
        assert!(!text_check(&[b"ok \xe7\xba", b"A"]));
        // A forbidden byte right after a completed split character.
        assert!(!text_check(&[b"ok \xe7", b"\xba\xa2\0"]));
        // A lone continuation byte after a split character completes.
        assert!(!text_check(&[b"\xe7", b"\xba\xa2\xa2"]));
        // A split character completing and the next one starting in the same chunk ("红" is E7 BA A2).
        assert!(text_check(&[b"\xe7", b"\xba\xa2\xe7", b"\xba\xa2"]));
    }

    #[test]
    fn sniffer_confirms_matching_types() {
        assert_eq!(sniff("image/png", &[PNG, b"more bytes"]), Ok("image/png"));
        assert_eq!(sniff("application/pdf", &[&PDF[..3], &PDF[3..]]), Ok("application/pdf"));
        assert_eq!(sniff("text/plain", &[b"my packet was ", "never paid 🧧".as_bytes()]), Ok("text/plain"));
        assert_eq!(sniff("video/mp4", &[b"\0\0\0\x20ftypisom\0\0\x02\0"]), Ok("video/mp4"));
        assert_eq!(sniff("video/quicktime", &[b"\0\0\0\x14ftyp", b"qt  \0\0\0\0"]), Ok("video/quicktime"));
    }

    #[test]
    fn sniffer_keeps_only_the_first_bytes_for_signatures() {
        let mut sniffer = Sniffer::new("image/png");
        sniffer.feed(PNG);
        sniffer.feed(&[0xAB; 1000]);
        assert_eq!(sniffer.prefix.len(), SNIFF_PREFIX_LEN);
        assert_eq!(sniffer.finish(), Ok("image/png"));
    }

    #[test]
    fn sniffer_refuses_mismatches() {
        assert_eq!(sniff("image/png", &[PDF]), Err(SniffError::Mismatch { claimed: "image/png", detected: Some("application/pdf") }));
        assert_eq!(sniff("application/pdf", &[b"just some words\n"]), Err(SniffError::Mismatch { claimed: "application/pdf", detected: Some("text/plain") }));
        assert_eq!(sniff("text/plain", &[PDF]), Err(SniffError::Mismatch { claimed: "text/plain", detected: Some("application/pdf") }));
        assert_eq!(sniff("text/plain", &[b"words\0and a nul"]), Err(SniffError::Mismatch { claimed: "text/plain", detected: None }));
        assert_eq!(sniff("image/jpeg", &[b"\x01\x02\x03 binary junk \xff"]), Err(SniffError::Mismatch { claimed: "image/jpeg", detected: None }));
        assert_eq!(sniff("video/mp4", &[b"\0\0\0\x14ftypqt  \0\0\0\0"]), Err(SniffError::Mismatch { claimed: "video/mp4", detected: Some("video/quicktime") }));
        assert_eq!(sniff("application/zip", &[b"PK\x03\x04"]), Err(SniffError::Mismatch { claimed: "application/zip", detected: None }));
    }

    #[test]
    fn pdf_whose_opening_is_plain_text_is_still_not_text() {
        // The signature decides even when the bytes happen to be valid text.
        assert_eq!(sniff("text/plain", &[b"%PDF-1.4\n1 0 obj\n"]), Err(SniffError::Mismatch { claimed: "text/plain", detected: Some("application/pdf") }));
    }

    #[test]
    fn sniffer_refuses_empty_files() {
        assert_eq!(sniff("text/plain", &[]), Err(SniffError::Empty));
        assert_eq!(sniff("image/png", &[b"", b""]), Err(SniffError::Empty));
    }

    #[test]
    fn error_messages() {
        assert_eq!(SniffError::Empty.to_string(), "the file is empty");
        assert_eq!(SniffError::Mismatch { claimed: "image/png", detected: None }.to_string(), "the file's bytes are not image/png");
        assert_eq!(
            SniffError::Mismatch { claimed: "image/png", detected: Some("application/pdf") }.to_string(),
            "the file's bytes are not image/png (they look like application/pdf)"
        );
    }
}
