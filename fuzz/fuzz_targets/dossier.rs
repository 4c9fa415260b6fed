//! A case dossier as people hand it in (`hongbao dossier verify`): a tar of the case, its evidence,
//! receipts, the audit log's stretch and a signed manifest, checked by `verify_dossier`.
//!
//! The input is the operator's public key on its first line, then the tar. The seed is a dossier a
//! real server made (the `hongbao` crate's dossier test) with the key that signed it.
//!
//! Properties: nothing panics; a refusal has a stable code; a dossier that verifies is reported in
//! words.
#![no_main]

use hongbao_http::dossier::verify_dossier;
use hongbao_tlog::VerifierKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((key, archive)) = hongbao_fuzz::split_once(data, b"\n") else { return };
    let Ok(key) = std::str::from_utf8(key) else { return };
    let Ok(key) = VerifierKey::parse(key) else { return };
    match verify_dossier(archive, &key, "CNY") {
        Ok(report) => assert!(report.starts_with("DOSSIER VERIFIED"), "{report}"),
        Err(error) => assert!(!error.code().is_empty() && !error.to_string().is_empty()),
    }
});
