//! The case dossier as support hands it to a court: fetched by a legal officer, an auditor or the
//! complainant, verified offline by `hongbao dossier verify` with the public key alone; and refused,
//! naming what, when any one of its files is changed.

use std::io::Read;

use hongbao_testkit::TestDatabase;

use crate::process::{ADMIN_TOKEN, Client, run};
use crate::story::{Scratch, Story, every_kind, output_text, path_text, public_key, start_server};

async fn dossier(client: &Client, story: &Story, token: &str) -> (u16, Vec<u8>) {
    let response =
        client.http.get(format!("{}/v1/ops/cases/{}/dossier", client.base, story.case_id)).bearer_auth(token).send().await.expect("the server answers");
    (response.status().as_u16(), response.bytes().await.expect("a body").to_vec())
}

/// The archive's files in order, each with its path.
fn unpack(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in tar::Archive::new(archive).entries().expect("a tar") {
        let mut entry = entry.expect("an entry");
        let path = entry.path().expect("a path").to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read");
        files.push((path, bytes));
    }
    files
}

fn pack(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, bytes.as_slice()).expect("append");
    }
    builder.into_inner().expect("a tar")
}

fn verify_dossier(scratch: &Scratch, archive: &[u8], key: &str) -> (Option<i32>, String) {
    let file = scratch.write("dossier.tar", archive);
    let output = run(&["dossier", "verify", path_text(&file), "--public-key", key]);
    (output.status.code(), output_text(&output))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dossier_with_evidence_a_refund_and_a_reversal_verifies_offline_and_any_changed_file_fails() {
    let database = TestDatabase::new();
    let scratch = Scratch::new("dossier");
    let server = start_server(&database, &scratch);
    let client = Client::new(&server.base);
    let story = every_kind(&client).await;
    let (key, _) = public_key(&client, &scratch).await;

    // Who may have it: legal, auditors, the admin, and the complainant; support may not, and another
    // user is told the case does not exist.
    let (status, archive) = dossier(&client, &story, &story.legal).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&archive));
    for token in [story.auditor.as_str(), ADMIN_TOKEN, story.alice.1.as_str()] {
        assert_eq!(dossier(&client, &story, token).await.0, 200);
    }
    assert_eq!(dossier(&client, &story, &story.support).await.0, 403);
    assert_eq!(dossier(&client, &story, &story.carol.1).await.0, 404);

    let (code, report) = verify_dossier(&scratch, &archive, &key);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.starts_with("DOSSIER VERIFIED"), "{report}");
    for (role, kind) in [("payment", "packet_claim"), ("refund", "case_refund"), ("reversal", "reversal")] {
        assert!(report.contains(&format!("{role:<8} {}", story.by_kind[kind])), "{role} {kind}: {report}");
    }
    assert!(report.contains("the stretch of the log is unbroken"), "{report}");
    let files = unpack(&archive);
    let evidence = files.iter().find(|(path, _)| path.contains("/evidence/")).expect("the evidence file");
    assert_eq!(evidence.1, story.evidence.as_bytes());

    // The complainant's own dossier verifies too.
    let (_, own) = dossier(&client, &story, &story.alice.1).await;
    let (code, report) = verify_dossier(&scratch, &own, &key);
    assert_eq!(code, Some(0), "{report}");

    // One changed byte in any kind of file fails, naming the file.
    for (kind, suffix) in [
        ("the manifest", "/manifest.txt"),
        ("the case", "/case.json"),
        ("an evidence file", "/evidence/"),
        ("a receipt", ".tlog-proof"),
        ("the checkpoint", "/checkpoint.txt"),
        ("the audit log", "/audit-log.json"),
        ("the key", "/log-key.txt"),
        ("the instructions", "/README.txt"),
    ] {
        let mut changed = files.clone();
        let (path, bytes) = changed.iter_mut().find(|(path, _)| path.contains(suffix)).unwrap_or_else(|| panic!("{kind} is in the dossier"));
        let position = bytes.len() / 2;
        bytes[position] = if bytes[position] == b'7' { b'8' } else { b'7' };
        let path = path.clone();
        let (code, report) = verify_dossier(&scratch, &pack(&changed), &key);
        assert_eq!(code, Some(1), "{kind}: {report}");
        assert!(report.starts_with("DOSSIER NOT VERIFIED"), "{kind}: {report}");
        let inner = path.split_once('/').expect("inside the folder").1;
        assert!(report.contains(inner) || report.contains("manifest"), "{kind} ({inner}): {report}");
    }
    // A file added, and one taken out.
    let mut added = files.clone();
    added.push((format!("{}/evidence/extra", files[0].0.split('/').next().expect("a folder")), b"more".to_vec()));
    assert_eq!(verify_dossier(&scratch, &pack(&added), &key).0, Some(1));
    let removed: Vec<_> = files.iter().filter(|(path, _)| !path.ends_with(".tlog-proof")).cloned().collect();
    assert_eq!(verify_dossier(&scratch, &pack(&removed), &key).0, Some(1));
}
