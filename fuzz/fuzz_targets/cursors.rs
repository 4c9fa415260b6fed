//! The list parameters and cursors clients send back (`?limit=&cursor=&role=`, a transaction list's
//! `c…` cursor, the `p…` cursor of lists ordered by time) and event ids in `Last-Event-ID`.
//!
//! Properties: a cursor that decodes means what its re-encoding means; every cursor the server writes
//! decodes to the position it was written from; an event id is read exactly when it is decimal digits
//! within the stored range; a list's limit is 1 to 200.
#![no_main]

use hongbao_core::Timestamp;
use hongbao_http::extract::{
    ListParams, POSITION_MILLIS, decode_position_cursor, decode_seq_cursor, encode_position_cursor, encode_seq_cursor, parse_sequence,
};
use hongbao_store::ListPosition;
use libfuzzer_sys::fuzz_target;

fn check_cursor(text: &str) {
    if let Some(seq) = decode_seq_cursor(text) {
        assert!(i64::try_from(seq).is_ok(), "{text:?}");
        assert_eq!(decode_seq_cursor(&encode_seq_cursor(seq)), Some(seq), "{text:?}");
    }
    if let Some(position) = decode_position_cursor(text) {
        let written = encode_position_cursor(&position);
        assert_eq!(decode_position_cursor(&written).as_ref(), Some(&position), "{text:?} written as {written:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    match selector % 3 {
        0 => {
            let Ok(query) = std::str::from_utf8(rest) else { return };
            if let Ok(params) = ListParams::from_query(query) {
                assert!((1..=200).contains(&params.limit), "{query:?}");
                if let Some(cursor) = &params.cursor {
                    check_cursor(cursor);
                    assert_eq!(params.before_seq().ok().flatten(), decode_seq_cursor(cursor));
                    assert_eq!(params.after_position().ok().flatten(), decode_position_cursor(cursor));
                }
            }
            check_cursor(query);
            if let Some(seq) = parse_sequence(query) {
                assert!(i64::try_from(seq).is_ok());
                assert_eq!(query.trim().parse::<u64>().ok(), Some(seq));
            }
        }
        1 => {
            // Positions the server may write: any time from 1970 on, and an id of its characters; a
            // time before 1970 reads as no position.
            let Some((millis, id)) = rest.split_first_chunk::<8>() else { return };
            let Ok(id) = std::str::from_utf8(id) else { return };
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_') {
                return;
            }
            let millis = i64::from_le_bytes(*millis);
            let position = ListPosition { created_at: Timestamp::from_millis(millis), id: id.to_owned() };
            let written = encode_position_cursor(&position);
            let expected = POSITION_MILLIS.contains(&millis).then_some(&position);
            assert_eq!(decode_position_cursor(&written).as_ref(), expected, "{position:?} written as {written:?}");
        }
        _ => {
            let Some(seq) = rest.first_chunk::<8>() else { return };
            let seq = u64::from_le_bytes(*seq) >> 1;
            assert_eq!(decode_seq_cursor(&encode_seq_cursor(seq)), Some(seq));
            assert_eq!(parse_sequence(&seq.to_string()), Some(seq));
        }
    }
});
