//! The risk policy file operators upload (`PUT /v1/ops/policy`, TOML), read by
//! `hongbao_service::policy::parse_policy`.
//!
//! Properties: nothing panics; a refusal names a line of the file; a policy that is read is written
//! out by `render_policy` as a file that reads back to the same policy, and writing that again gives
//! the same text.
#![no_main]

use hongbao_service::policy::{parse_policy, render_policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_policy(text) {
        Ok(policy) => {
            let written = render_policy(&policy);
            assert_eq!(parse_policy(&written).as_ref(), Ok(&policy), "{text:?} written as {written:?}");
            assert_eq!(render_policy(&policy), written);
        }
        Err(error) => {
            let lines = text.split('\n').count().max(1);
            assert!((1..=lines).contains(&error.line), "line {} of a file of {lines}: {error}", error.line);
        }
    }
});
