//! The invariants ARCHITECTURE.md states, checked against the manifests and sources.

use std::path::{Path, PathBuf};

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crates/").to_path_buf()
}

/// The names in a manifest's `[dependencies]` table (not dev-dependencies).
fn dependencies(crate_name: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(crates_dir().join(crate_name).join("Cargo.toml")).expect("manifest");
    let mut in_dependencies = false;
    let mut names = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if in_dependencies && let Some((name, _)) = line.split_once(['.', '=']) {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') {
                names.push(name.to_owned());
            }
        }
    }
    names
}

fn sources(crate_name: &str) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                out.push((path.clone(), std::fs::read_to_string(&path).expect("source")));
            }
        }
    }
    let mut out = Vec::new();
    walk(&crates_dir().join(crate_name).join("src"), &mut out);
    out
}

#[test]
fn the_core_depends_on_no_io_runtime_database_or_http_crate() {
    let mut dependencies = dependencies("hongbao-core");
    dependencies.sort();
    // Each is pure computation over the bytes and numbers it is handed: hex encoding (`hex`), HMAC
    // (`hmac`), file signatures (`infer`, without its default `std`, which reads files from paths),
    // SHA-256 (`sha2`), the random-number trait without a generator (`rand_core`), error derives
    // (`thiserror`) and calendar arithmetic with RFC 3339 (`time`, whose clock functions the sources
    // must not call, below, and without `local-offset`, which asks the system for its time zone).
    assert_eq!(dependencies, ["hex", "hmac", "infer", "rand_core", "sha2", "thiserror", "time"]);
    let workspace_manifest = std::fs::read_to_string(crates_dir().parent().expect("the workspace").join("Cargo.toml")).expect("manifest");
    let core_manifest = std::fs::read_to_string(crates_dir().join("hongbao-core").join("Cargo.toml")).expect("manifest");
    for manifest in [&workspace_manifest, &core_manifest] {
        assert!(!manifest.contains("\"local-offset\""), "the time crate's local-offset feature reads the system's time zone");
        assert!(!manifest.lines().any(|line| line.starts_with("infer") && line.contains("\"std\"")), "infer's std feature reads files");
    }
    let infer = workspace_manifest.lines().find(|line| line.starts_with("infer ")).expect("infer is a workspace dependency");
    assert!(infer.contains("default-features = false"), "infer's default features include std, which reads files: {infer}");
    for (path, source) in sources("hongbao-core") {
        for forbidden in
            ["std::fs", "std::net", "std::io", "SystemTime", "Instant::now", "::now(", "now_utc", "now_local", "thread_rng", "std::thread", "std::env"]
        {
            assert!(!source.contains(forbidden), "{} uses {forbidden}", path.display());
        }
    }
}

#[test]
fn the_transparency_log_crate_does_no_io() {
    let mut dependencies = dependencies("hongbao-tlog");
    dependencies.sort();
    assert_eq!(dependencies, ["base64", "ed25519-dalek", "hex", "hongbao-core", "sha2", "thiserror"]);
    for (path, source) in sources("hongbao-tlog") {
        for forbidden in ["std::fs", "std::net", "std::io", "SystemTime", "Instant::now", "thread_rng", "OsRng", "std::thread", "std::env"] {
            assert!(!source.contains(forbidden), "{} uses {forbidden}", path.display());
        }
    }
}

#[test]
fn only_the_http_crate_knows_json_and_http() {
    for crate_name in ["hongbao-core", "hongbao-tlog", "hongbao-store", "hongbao-store-sqlite", "hongbao-store-postgres", "hongbao-service"] {
        for dependency in dependencies(crate_name) {
            assert!(!["serde", "serde_json", "axum", "hyper", "utoipa", "reqwest"].contains(&dependency.as_str()), "{crate_name} depends on {dependency}");
        }
    }
}

#[test]
fn the_service_knows_no_storage_backend() {
    for crate_name in ["hongbao-core", "hongbao-tlog", "hongbao-store", "hongbao-service", "hongbao-http"] {
        for dependency in dependencies(crate_name) {
            assert!(
                !["rusqlite", "postgres", "tokio-postgres", "hongbao-store-sqlite", "hongbao-store-postgres"].contains(&dependency.as_str()),
                "{crate_name} depends on {dependency}"
            );
        }
    }
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    for crate_name in [
        "hongbao-core",
        "hongbao-tlog",
        "hongbao-store",
        "hongbao-store-sqlite",
        "hongbao-store-postgres",
        "hongbao-service",
        "hongbao-http",
        "hongbao-testkit",
        "hongbao",
    ] {
        for (path, source) in sources(crate_name) {
            assert!(source.trim_start().starts_with("//!"), "{} does not open with a //! comment", path.display());
        }
    }
}
