//! Signed checkpoints, consistency proofs and log keys as people hand them in (`hongbao journal
//! verify-consistency`, `/.well-known/hongbao/log-key`): `Checkpoint::parse_text`, `open_checkpoint`,
//! `parse_proof`, `verify_consistency`, `VerifierKey::parse` and `SignerKey::parse`.
//!
//! The input is an old signed checkpoint, a line `---`, a new signed checkpoint, a line `---`, and the
//! consistency proof between them; fewer parts are read as far as they go.
//!
//! Properties: nothing panics; a checkpoint's text, a proof and a key that parse are written back as
//! exactly the same text; a checkpoint that opens is one whose text parses; consistency that verifies
//! is between an old checkpoint no larger than the new.
#![no_main]

use hongbao_tlog::{Checkpoint, SignerKey, VerifierKey, format_proof, open_checkpoint, parse_proof, verify_consistency};
use libfuzzer_sys::fuzz_target;

fn check_checkpoint(signed: &str) {
    let key = hongbao_fuzz::verifier();
    if let Some((text, _)) = signed.split_once("\n\n")
        && let Ok(checkpoint) = Checkpoint::parse_text(&format!("{text}\n"))
    {
        assert_eq!(checkpoint.to_text(), format!("{text}\n"), "a checkpoint has one text form");
    }
    if let Ok(checkpoint) = Checkpoint::parse_text(signed) {
        assert_eq!(checkpoint.to_text(), signed, "a checkpoint has one text form");
    }
    if let Ok(opened) = open_checkpoint(signed, &key, None) {
        assert_eq!(opened.checkpoint().origin(), hongbao_fuzz::ORIGIN);
        assert_eq!(opened.signer_id(), key.id());
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, "---\n");
    let old = parts.next().unwrap_or_default();
    let new = parts.next();
    let proof_text = parts.next();
    check_checkpoint(old);
    if let Ok(key) = VerifierKey::parse(old.trim_end_matches('\n')) {
        assert_eq!(key.to_string(), old.trim_end_matches('\n'), "a key has one text form");
    }
    if let Ok(key) = SignerKey::parse(old.trim_end_matches('\n')) {
        assert_eq!(key.to_secret_text(), old.trim_end_matches('\n'), "a key has one text form");
    }
    let Some(new) = new else { return };
    check_checkpoint(new);
    let Some(proof_text) = proof_text else { return };
    let Ok(proof) = parse_proof(proof_text) else { return };
    assert_eq!(format_proof(&proof), proof_text, "a proof has one text form");
    if let Ok(verified) = verify_consistency(old, new, &proof, &hongbao_fuzz::verifier()) {
        assert!(verified.old().checkpoint().size() <= verified.new_checkpoint().checkpoint().size());
        assert_eq!(verified.proof_len(), proof.len());
    }
});
