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

/// The module of the service a source file is, as a path under `crate::` (`ops::packets`, `context`).
fn service_module(path: &Path) -> String {
    let source_dir = crates_dir().join("hongbao-service").join("src");
    let relative = path.strip_prefix(&source_dir).expect("a service source").with_extension("");
    let parts: Vec<String> = relative.iter().map(|part| part.to_string_lossy().into_owned()).filter(|part| part != "mod").collect();
    parts.join("::")
}

/// The modules of the service a source refers to outside its tests: every `crate::a::b` path, whether
/// in a `use` or written out, as `a` and `a::b`.
fn service_references(source: &str) -> Vec<String> {
    let before_tests = source.split("#[cfg(test)]").next().unwrap_or(source);
    // Comments may name any module; only code counts.
    let code: String = before_tests.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut references = Vec::new();
    for (index, _) in code.match_indices("crate::") {
        let rest = &code[index + "crate::".len()..];
        let path: String = rest.chars().take_while(|char| char.is_alphanumeric() || *char == '_' || *char == ':').collect();
        let segments: Vec<&str> = path.split("::").filter(|segment| !segment.is_empty()).collect();
        // `use crate::{a, b}` names several modules at once.
        if segments.is_empty() && rest.starts_with('{') {
            let list: String = rest[1..].chars().take_while(|char| *char != '}').collect();
            references.extend(list.split(',').map(|item| item.trim().split("::").next().unwrap_or("").to_owned()).filter(|name| !name.is_empty()));
            continue;
        }
        if let Some(first) = segments.first() {
            references.push((*first).to_owned());
            if let Some(second) = segments.get(1).filter(|second| second.chars().next().is_some_and(char::is_lowercase)) {
                references.push(format!("{first}::{second}"));
            }
        }
    }
    references
}

/// The write path reads one way (ARCHITECTURE.md, "Entry points"): the registry `op` dispatches to the
/// features under `ops`; each feature uses the write context `context` and the shared vocabulary, never
/// another feature or the registry; the context uses no feature; and no module of the service is in an
/// import cycle.
#[test]
fn the_service_modules_import_one_way() {
    let modules: Vec<(String, Vec<String>)> =
        sources("hongbao-service").iter().map(|(path, source)| (service_module(path), service_references(source))).collect();
    for (module, references) in &modules {
        if let Some(feature) = module.strip_prefix("ops::") {
            for reference in references {
                let other_feature = reference.strip_prefix("ops::").is_some_and(|other| other != feature);
                assert!(!other_feature && reference != "op", "the feature {module} uses {reference}: features use only the context");
            }
        }
        if module == "context" || module.starts_with("context::") {
            for reference in references {
                assert!(reference != "op" && reference != "ops" && !reference.starts_with("ops::"), "the write context {module} uses the feature {reference}");
            }
        }
    }
    // Cycles between the crate's top-level modules (a module's submodules count as the module).
    let top = |module: &str| module.split("::").next().unwrap_or(module).to_owned();
    let mut edges: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = std::collections::BTreeMap::new();
    for (module, references) in &modules {
        let from = top(module);
        if from == "lib" || from == "ops" {
            continue;
        }
        for reference in references {
            let to = top(reference);
            if to != from && to != "ops" {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    // `ops` itself only declares the features; a feature's edges are its own.
    for (module, references) in &modules {
        if let Some(feature) = module.strip_prefix("ops::") {
            let from = format!("ops::{}", feature.split("::").next().unwrap_or(feature));
            for reference in references.iter().filter(|reference| !reference.starts_with("ops")) {
                edges.entry(from.clone()).or_default().insert(top(reference));
            }
        }
    }
    for (module, references) in &modules {
        for reference in references.iter().filter(|reference| reference.starts_with("ops::")) {
            if !module.starts_with("ops") && module != "lib" {
                edges.entry(top(module)).or_default().insert(reference.split("::").take(2).collect::<Vec<_>>().join("::"));
            }
        }
    }
    fn visit(
        node: &str,
        edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) {
        if let Some(start) = path.iter().position(|seen| seen == node) {
            panic!("an import cycle in hongbao-service: {} -> {node}", path[start..].join(" -> "));
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done);
        }
        path.pop();
        done.insert(node.to_owned());
    }
    let mut done = std::collections::BTreeSet::new();
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done);
    }
    assert!(
        edges.contains_key("op") && edges.contains_key("context") && edges.keys().any(|module| module.starts_with("ops::")),
        "the modules were found: {edges:?}"
    );
}

fn repository_root() -> PathBuf {
    crates_dir().parent().expect("the repository").to_path_buf()
}

/// Every Rust source of the workspace, in one text, for looking names up.
fn all_sources() -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(crates_dir()).expect("crates") {
        let crate_dir = entry.expect("entry").path();
        for sub in ["src", "tests", "benches"] {
            let dir = crate_dir.join(sub);
            if dir.is_dir() {
                let mut out = Vec::new();
                fn walk(dir: &Path, out: &mut Vec<String>) {
                    for entry in std::fs::read_dir(dir).expect("read dir") {
                        let path = entry.expect("entry").path();
                        if path.is_dir() {
                            walk(&path, out);
                        } else if path.extension().is_some_and(|extension| extension == "rs" || extension == "sql") {
                            out.push(std::fs::read_to_string(&path).expect("source"));
                        }
                    }
                }
                walk(&dir, &mut out);
                text.push_str(&out.join("\n"));
            }
        }
        let dir = crate_dir.join("migrations");
        {
            if dir.is_dir() {
                for entry in std::fs::read_dir(&dir).expect("migrations") {
                    text.push_str(&std::fs::read_to_string(entry.expect("entry").path()).expect("a migration"));
                }
            }
        }
    }
    text
}

/// Whether `word` appears in `text` as a whole word.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(index, _)| {
        let before = text[..index].chars().next_back();
        let after = text[index + word.len()..].chars().next();
        let boundary = |char: Option<char>| char.is_none_or(|char| !(char.is_alphanumeric() || char == '_'));
        boundary(before) && boundary(after)
    })
}

/// ARCHITECTURE.md stays true: every backticked name in it that reads as code — a path, a type, a
/// function, `Type::method`, a setting — still exists in the repository (rust-analyzer's `tidy`).
#[test]
fn every_name_architecture_md_gives_exists() {
    let document = std::fs::read_to_string(repository_root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let sources = all_sources();
    let listed = std::process::Command::new("git").args(["ls-files"]).current_dir(repository_root()).output().expect("git ls-files");
    let tracked: Vec<String> = String::from_utf8_lossy(&listed.stdout).lines().map(str::to_owned).collect();
    let mut missing = Vec::new();
    for (index, span) in document.split('`').enumerate() {
        if index % 2 == 0 || span.is_empty() || span.contains(char::is_whitespace) {
            continue;
        }
        let looks_like_path =
            (span.contains('/') || span.ends_with(".rs") || span.ends_with(".sql")) && !span.contains("://") && !span.contains('<') && !span.starts_with('/');
        if looks_like_path {
            // A path from the root, or one relative to the crate whose section names it: some tracked
            // file's path ends with it (a directory's path ends with its name and a slash).
            let path = span.trim_end_matches('/');
            let found = tracked.iter().any(|file| {
                file == path || file.ends_with(&format!("/{path}")) || file.contains(&format!("/{path}/")) || file.starts_with(&format!("{path}/"))
            });
            if !found && !path.contains('*') {
                missing.push(span.to_owned());
            }
            continue;
        }
        let is_identifier = |segment: &str| {
            !segment.is_empty()
                && segment.chars().next().is_some_and(|char| char.is_alphabetic() || char == '_')
                && segment.chars().all(|char| char.is_alphanumeric() || char == '_')
        };
        let segments: Vec<&str> = span.trim_end_matches("()").split("::").collect();
        if segments.iter().all(|segment| is_identifier(segment)) {
            // A code name has a capital, an underscore or a path; plain words (`open`, `referred`) are
            // states the document quotes, checked like the rest only when they look like code.
            let code_like = segments.len() > 1 || span.chars().any(char::is_uppercase) || span.contains('_');
            if code_like && !segments.iter().all(|segment| has_word(&sources, segment)) {
                missing.push(span.to_owned());
            }
        }
    }
    assert!(missing.is_empty(), "ARCHITECTURE.md names what the code no longer has: {missing:?}");
}
