//! Signed notes and keys against the known answers of Go's `golang.org/x/mod/sumdb/note` tests and the
//! C2SP `signed-note` example (see `tests/vectors/README.md`), and signed checkpoints.

use hongbao_tlog::{Checkpoint, CheckpointError, KeyError, NoteError, SignerKey, VerifierKey, leaf_hash, open_checkpoint};

// golang/mod sumdb/note/note_test.go.
const PETER_SIGNER: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VERIFIER: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIGNATURE: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIGNATURE: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter() -> VerifierKey {
    VerifierKey::parse(PETER_VERIFIER).expect("Go's test key")
}

#[test]
fn go_keys_parse_and_print_back() {
    let signer = SignerKey::parse(PETER_SIGNER).expect("Go's test key");
    assert_eq!((signer.name(), signer.id().get()), ("PeterNeumann", 0xc74f20a3));
    assert_eq!(signer.to_secret_text(), PETER_SIGNER);
    assert_eq!(signer.verifier(), peter());
    assert_eq!(peter().to_string(), PETER_VERIFIER);
    assert_eq!(VerifierKey::parse(ENOCH_VERIFIER).expect("Go's test key").id().get(), 0xaf0cfe78);
}

#[test]
fn signing_gives_go_s_signed_note_byte_for_byte() {
    let signer = SignerKey::parse(PETER_SIGNER).expect("Go's test key");
    assert_eq!(signer.sign_note(TEXT), Ok(format!("{TEXT}\n{PETER_SIGNATURE}")));
    assert_eq!(signer.sign_note("abc"), Err(NoteError::Malformed { problem: "the text does not end in a newline" }));
}

#[test]
fn opening_verifies_the_trusted_key_and_ignores_others() {
    let note = format!("{TEXT}\n{PETER_SIGNATURE}{ENOCH_SIGNATURE}");
    assert_eq!(peter().open_note(&note), Ok(TEXT));
    assert_eq!(VerifierKey::parse(ENOCH_VERIFIER).expect("key").open_note(&note), Ok(TEXT));

    let stranger = SignerKey::generate("Stranger", [9; 32]).expect("name").verifier();
    assert_eq!(
        stranger.open_note(&note),
        Err(NoteError::NotSignedByKey { key: stranger.label(), others: vec!["PeterNeumann+c74f20a3".into(), "EnochRoot+af0cfe78".into()] })
    );

    // A line that shares the name but not the id, or the id but not the name, is another key's.
    let same_name = SignerKey::generate("PeterNeumann", [3; 32]).expect("name");
    let impostor = same_name.sign_note(TEXT).expect("signs");
    assert!(matches!(peter().open_note(&impostor), Err(NoteError::NotSignedByKey { .. })));
    let renamed = PETER_SIGNATURE.replace("PeterNeumann", "CarmenSandiego");
    assert!(matches!(peter().open_note(&format!("{TEXT}\n{renamed}")), Err(NoteError::NotSignedByKey { .. })));

    // A damaged signature of the trusted key rejects the note, even beside a good one.
    let damaged = format!("{}ABCD{}", &PETER_SIGNATURE[..60], &PETER_SIGNATURE[60..]);
    assert_eq!(peter().open_note(&format!("{TEXT}\n{damaged}")), Err(NoteError::BadSignature { key: "PeterNeumann+c74f20a3".into() }));
    assert!(matches!(peter().open_note(&format!("{TEXT}\n{PETER_SIGNATURE}{damaged}")), Err(NoteError::BadSignature { .. })));
    // So does a changed text.
    assert!(matches!(peter().open_note(&format!("{}\n{PETER_SIGNATURE}", TEXT.replace("answer", "Answer"))), Err(NoteError::BadSignature { .. })));

    assert!(matches!(peter().open_note(&format!("{TEXT}\n{}", PETER_SIGNATURE.repeat(101))), Err(NoteError::Malformed { .. })));
    assert_eq!(peter().open_note(&format!("{TEXT}\n{}", PETER_SIGNATURE.repeat(16))), Ok(TEXT), "C2SP requires accepting 16 signatures");
}

#[test]
fn malformed_notes_are_refused_as_go_refuses_them() {
    let bad_notes = [
        TEXT.to_owned(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIGNATURE[..PETER_SIGNATURE.len() - 1]),
        format!("\x01{TEXT}\n{PETER_SIGNATURE}"),
        format!("{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{TEXT}\n{PETER_SIGNATURE}Unexpected line.\n"),
        format!("{TEXT}\n— PeterNeumann\n"),
        format!("{TEXT}\n— PeterNeumann AAAA\n"),
        format!("{TEXT}\n{}", PETER_SIGNATURE.replace('\n', "\r\n")),
    ];
    for note in bad_notes {
        assert!(matches!(peter().open_note(&note), Err(NoteError::Malformed { .. })), "{note:?}");
    }
}

#[test]
fn the_c2sp_example_note_verifies() {
    // C2SP signed-note.md, §Verifier keys, Example.
    let key = VerifierKey::parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k").expect("C2SP's example key");
    let note =
        "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    assert_eq!(key.open_note(note), Ok("This is an example message.\n"));
}

/// Every proper substring of `key`, and every version of it with one byte incremented, fails to parse
/// (as Go's TestNewVerifier and TestNewSigner check).
fn assert_manglings_refused<T: std::fmt::Debug>(key: &str, parse: impl Fn(&str) -> Result<T, KeyError>) {
    let bytes = key.as_bytes();
    for start in 0..=bytes.len() {
        for end in start + 1..=bytes.len() {
            if start != 0 || end != bytes.len() {
                assert!(parse(&key[start..end]).is_err(), "{:?} parsed", &key[start..end]);
            }
        }
    }
    for position in 0..bytes.len() {
        let mut changed = bytes.to_vec();
        changed[position] += 1;
        let changed = String::from_utf8(changed).expect("still ASCII");
        assert!(parse(&changed).is_err(), "{changed:?} parsed");
    }
}

#[test]
fn mangled_keys_are_refused() {
    assert_manglings_refused(PETER_VERIFIER, VerifierKey::parse);
    assert_manglings_refused(PETER_SIGNER, SignerKey::parse);
    // Go's two: a key of the wrong length, and an unknown algorithm, each with a matching key id. The
    // first one's base64 ends in stray bits ("Y=="), which Go's decoder ignores and this one refuses
    // before it gets to the length.
    assert_eq!(VerifierKey::parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="), Err(KeyError::BadBase64));
    assert_eq!(VerifierKey::parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEQ=="), Err(KeyError::WrongLength { len: 36 }));
    assert_eq!(VerifierKey::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"), Err(KeyError::NotEd25519(0x65)));
    assert_eq!(VerifierKey::parse("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"), Err(KeyError::BadKeyId { text: "C74F20A3".into() }));
    assert!(matches!(SignerKey::parse(PETER_VERIFIER), Err(KeyError::NotASignerKey)));
    assert_eq!(SignerKey::generate("two words", [0; 32]).map(|key| key.id()), Err(KeyError::BadName { name: "two words".into() }));
}

#[test]
fn generated_keys_round_trip_through_their_text_forms() {
    let signer = SignerKey::generate("hongbao.example/journal", [42; 32]).expect("name");
    let again = SignerKey::parse(&signer.to_secret_text()).expect("own text");
    assert_eq!(again.verifier(), signer.verifier());
    assert_eq!(VerifierKey::parse(&signer.verifier().to_string()), Ok(signer.verifier()));
    assert_ne!(SignerKey::generate("hongbao.example/journal", [43; 32]).expect("name").id(), signer.id());
}

#[test]
fn checkpoints_sign_and_open() {
    let signer = SignerKey::generate("hongbao.example/journal", [42; 32]).expect("name");
    let key = signer.verifier();
    let checkpoint = Checkpoint::new("hongbao.example/journal", 5000, leaf_hash(b"root")).expect("valid");
    let note = checkpoint.sign(&signer);
    assert!(note.starts_with(&format!("hongbao.example/journal\n5000\n{}\n\n— hongbao.example/journal ", leaf_hash(b"root").to_base64())));
    let opened = open_checkpoint(&note, &key, None).expect("verifies");
    assert_eq!(opened.checkpoint(), &checkpoint);
    assert_eq!((opened.signer_name(), opened.signer_id()), ("hongbao.example/journal", signer.id()));
    assert!(open_checkpoint(&note, &key, Some("hongbao.example/journal")).is_ok());

    // The same key over another log's checkpoint: the signature is good, the origin is not.
    let staging = Checkpoint::new("hongbao.example/staging", 5000, leaf_hash(b"root")).expect("valid").sign(&signer);
    assert_eq!(
        open_checkpoint(&staging, &key, None),
        Err(CheckpointError::OriginMismatch { expected: "hongbao.example/journal".into(), found: "hongbao.example/staging".into() })
    );
    // The origin line edited after signing: the signature no longer verifies.
    let edited = note.replacen("hongbao.example/journal\n", "hongbao.example/other\n", 1);
    assert!(matches!(open_checkpoint(&edited, &key, None), Err(CheckpointError::Note(NoteError::BadSignature { .. }))));
    // A well-signed note that is not a checkpoint.
    let not_a_checkpoint = signer.sign_note("hongbao.example/journal\nmany\n").expect("signs");
    assert_eq!(open_checkpoint(&not_a_checkpoint, &key, None), Err(CheckpointError::BadSize { text: "many".into() }));
    // Extension lines are kept and signed.
    let extended = Checkpoint::with_extensions("hongbao.example/journal", 1, leaf_hash(b"x"), vec!["note: x".into()]).expect("valid");
    assert_eq!(open_checkpoint(&extended.sign(&signer), &key, None).expect("verifies").checkpoint(), &extended);
    assert_eq!(Checkpoint::new("", 1, leaf_hash(b"x")), Err(CheckpointError::BadOrigin));
    assert_eq!(Checkpoint::new("two\nlines", 1, leaf_hash(b"x")), Err(CheckpointError::BadOrigin));
}
