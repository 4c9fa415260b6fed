//! Known answers: the published test vectors of transparency-dev/merkle (see `tests/vectors/README.md`
//! for their source and licence) for tree hashes, inclusion and consistency proofs, run against the
//! verifiers and against the builders that read stored nodes.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hongbao_tlog::{
    Frontier, Hash, LogId, NodeId, ProofError, consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, root_at, verify_consistency_proof,
    verify_inclusion_proof,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{Recording, entries, tree_of};

fn hex(text: &str) -> Hash {
    Hash::from_slice(&hex::decode(text).expect("hex")).expect("32 bytes")
}

/// `LeafInputs()` of transparency-dev/merkle `testonly/constants.go`.
fn leaf_inputs() -> Vec<Vec<u8>> {
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .iter()
        .map(|text| hex::decode(text).expect("hex"))
        .collect()
}

/// `NodeHashes()` of `testonly/constants.go`: every complete subtree of the tree of `leaf_inputs()`, by
/// level and index.
fn node_hashes() -> Vec<Vec<Hash>> {
    [
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ][..],
        &[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ],
        &["d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
        &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
    ]
    .iter()
    .map(|level| level.iter().map(|text| hex(text)).collect())
    .collect()
}

/// `RootHashes()` of `testonly/constants.go`: the roots of the trees of the first 0 to 8 leaf inputs.
fn root_hashes() -> Vec<Hash> {
    [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    .iter()
    .map(|text| hex(text))
    .collect()
}

#[test]
fn leaf_and_node_hashes_match_rfc6962_test() {
    // rfc6962/rfc6962_test.go: the empty tree, an empty leaf, a leaf "L123456" and a node over the
    // (not 32-byte) children "N123" and "N456", whose node hash is SHA-256(0x01 || "N123" || "N456").
    assert_eq!(empty_root(), hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_eq!(leaf_hash(b""), hex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"));
    assert_eq!(leaf_hash(b"L123456"), hex("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"));
    let node: [u8; 32] = Sha256::digest(b"\x01N123N456").into();
    assert_eq!(Hash::new(node), hex("aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"));
}

#[test]
fn the_appender_stores_every_published_subtree_hash_and_root() {
    let inputs = leaf_inputs();
    let (mut store, frontier) = tree_of(&inputs);
    for (level, hashes) in node_hashes().iter().enumerate() {
        for (index, hash) in hashes.iter().enumerate() {
            let id = NodeId::new(level as u8, index as u64);
            assert_eq!(root_at_node(&mut store, id), *hash, "{id}");
        }
    }
    assert_eq!(node_hash(&node_hashes()[2][0], &node_hashes()[2][1]), node_hashes()[3][0]);
    for (size, root) in root_hashes().iter().enumerate() {
        assert_eq!(root_at(&mut store, LogId::JOURNAL, size as u64), Ok(*root), "root of size {size}");
        assert_eq!(Frontier::empty().append(&inputs[..size].iter().map(|entry| leaf_hash(entry)).collect::<Vec<_>>()).frontier.root(), *root);
    }
    assert_eq!(frontier.root(), root_hashes()[8]);
}

fn root_at_node(store: &mut hongbao_tlog::MemoryNodes, id: NodeId) -> Hash {
    use hongbao_tlog::NodeSource;
    store.nodes(LogId::JOURNAL, &[id]).expect("stored")[0]
}

#[test]
fn built_proofs_match_the_reference_proofs() {
    // testonly/reference_test.go, TestRefInclusionProof and TestRefConsistencyProof.
    let (mut store, _) = tree_of(&leaf_inputs());
    let inclusion: [(u64, u64, &[&str]); 7] = [
        (0, 1, &[]),
        (0, 2, &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
        (1, 2, &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
        (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (index, size, want) in inclusion {
        let want: Vec<Hash> = want.iter().map(|text| hex(text)).collect();
        assert_eq!(inclusion_proof(&mut store, LogId::JOURNAL, index, size), Ok(want), "inclusion of {index} in {size}");
    }
    let consistency: [(u64, u64, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (2, 5, &["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (old_size, new_size, want) in consistency {
        let want: Vec<Hash> = want.iter().map(|text| hex(text)).collect();
        assert_eq!(consistency_proof(&mut store, LogId::JOURNAL, old_size, new_size), Ok(want), "consistency from {old_size} to {new_size}");
    }
}

#[test]
fn proofs_read_the_stored_nodes_the_go_implementation_reads() {
    // proof/proof_test.go, TestInclusion and TestConsistency: the (level, index) of the stored nodes each
    // proof is made of. The order within a proof can differ (Go lists an incomplete border subtree's
    // parts smallest first), so the sets are compared.
    let (mut store, _) = tree_of(&entries(95));
    let inclusion: &[NodePlan] = &[
        (1, 0, &[]),
        (2, 0, &[(0, 1)]),
        (2, 1, &[(0, 0)]),
        (3, 1, &[(0, 0), (0, 2)]),
        (7, 0, &[(0, 1), (1, 1), (0, 6), (1, 2)]),
        (7, 1, &[(0, 0), (1, 1), (0, 6), (1, 2)]),
        (7, 2, &[(0, 3), (1, 0), (0, 6), (1, 2)]),
        (7, 3, &[(0, 2), (1, 0), (0, 6), (1, 2)]),
        (7, 4, &[(0, 5), (0, 6), (2, 0)]),
        (7, 5, &[(0, 4), (0, 6), (2, 0)]),
        (7, 6, &[(1, 2), (2, 0)]),
        (4, 2, &[(0, 3), (1, 0)]),
        (5, 3, &[(0, 2), (1, 0), (0, 4)]),
        (6, 3, &[(0, 2), (1, 0), (1, 2)]),
        (6, 4, &[(0, 5), (2, 0)]),
        (15, 10, &[(0, 11), (1, 4), (0, 14), (1, 6), (3, 0)]),
        (31, 24, &[(0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)]),
        (95, 81, &[(0, 80), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)]),
    ];
    for &(size, index, want) in inclusion {
        let mut recording = Recording { inner: &mut store, asked: Vec::new() };
        inclusion_proof(&mut recording, LogId::JOURNAL, index, size).expect("stored");
        assert_eq!(sorted(recording.asked), sorted(want.iter().map(|&(level, index)| NodeId::new(level, index)).collect()), "inclusion of {index} in {size}");
    }
    let consistency: &[NodePlan] = &[
        (1, 2, &[(0, 1)]),
        (1, 4, &[(0, 1), (1, 1)]),
        (1, 6, &[(0, 1), (1, 1), (1, 2)]),
        (2, 3, &[(0, 2)]),
        (2, 8, &[(1, 1), (2, 1)]),
        (3, 7, &[(0, 2), (0, 3), (1, 0), (0, 6), (1, 2)]),
        (4, 7, &[(0, 6), (1, 2)]),
        (5, 7, &[(0, 4), (0, 5), (0, 6), (2, 0)]),
        (6, 7, &[(1, 2), (0, 6), (2, 0)]),
        (7, 8, &[(0, 6), (0, 7), (1, 2), (2, 0)]),
        (1, 1, &[]),
        (5, 5, &[]),
        (8, 8, &[]),
        (2, 4, &[(1, 1)]),
        (3, 5, &[(0, 2), (0, 3), (1, 0), (0, 4)]),
        (3, 6, &[(0, 2), (0, 3), (1, 0), (1, 2)]),
        (4, 6, &[(1, 2)]),
        (1, 7, &[(0, 1), (1, 1), (0, 6), (1, 2)]),
        (10, 15, &[(1, 4), (1, 5), (0, 14), (1, 6), (3, 0)]),
        (24, 31, &[(3, 2), (0, 30), (1, 14), (2, 6), (4, 0)]),
        (81, 95, &[(0, 80), (0, 81), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)]),
    ];
    for &(old_size, new_size, want) in consistency {
        let mut recording = Recording { inner: &mut store, asked: Vec::new() };
        consistency_proof(&mut recording, LogId::JOURNAL, old_size, new_size).expect("stored");
        assert_eq!(
            sorted(recording.asked),
            sorted(want.iter().map(|&(level, index)| NodeId::new(level, index)).collect()),
            "consistency from {old_size} to {new_size}"
        );
    }
}

/// Two sizes (or a size and an index) and the `(level, index)` of the stored nodes their proof reads.
type NodePlan = (u64, u64, &'static [(u8, u64)]);

fn sorted(mut ids: Vec<NodeId>) -> Vec<NodeId> {
    ids.sort();
    ids
}

/// A probe's value where a hash belongs; `None` for a value that is not 32 bytes, which `Hash` cannot
/// hold (see `tests/vectors/README.md`).
fn probe_hash(value: &Value) -> Option<Hash> {
    Hash::from_slice(&STANDARD.decode(value.as_str().expect("a base64 string")).expect("base64"))
}

/// A distinct 32-byte stand-in for a value that is not 32 bytes, derived from its bytes.
fn stand_in(value: &Value) -> Hash {
    let bytes = STANDARD.decode(value.as_str().expect("a base64 string")).expect("base64");
    Hash::new(Sha256::new().chain_update(b"hongbao-tlog test stand-in for a value that is not 32 bytes:").chain_update(&bytes).finalize().into())
}

fn probe_proof(value: &Value) -> Option<Vec<Hash>> {
    match value {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items.iter().map(probe_hash).collect(),
        other => panic!("a proof is null or an array, not {other}"),
    }
}

/// The one probe that holds a value that is not 32 bytes and must verify: equal sizes, an empty proof
/// and two equal roots (the 12 bytes "don't care 2"). It is checked with a stand-in for the roots.
const VERIFIES_WITH_A_STAND_IN: &str = "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json";

fn probes(kind: &str) -> Vec<(PathBuf, Value)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, Value)>) {
        for entry in std::fs::read_dir(dir).expect("read vectors") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|extension| extension == "json") {
                let probe = serde_json::from_str(&std::fs::read_to_string(&path).expect("read probe")).expect("probe JSON");
                out.push((path, probe));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/transparency-dev-merkle").join(kind), &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Runs every probe of `kind` through `verify`, which gets `None` for a probe holding a value that is
/// not 32 bytes: `Hash` refuses such a value, and that refusal is the probe's error.
fn check_probes(kind: &str, mut verify: impl FnMut(&Path, &Value) -> Option<Result<(), ProofError>>) {
    let probes = probes(kind);
    assert_eq!(probes.len(), 98, "every {kind} probe is read");
    for (path, probe) in probes {
        let want_error = probe["wantErr"].as_bool().expect("wantErr");
        match verify(&path, &probe) {
            Some(result) => assert_eq!(result.is_err(), want_error, "{}: {result:?}", path.display()),
            None if path.ends_with(VERIFIES_WITH_A_STAND_IN) => {
                let (root1, root2) = (stand_in(&probe["root1"]), stand_in(&probe["root2"]));
                assert_eq!(verify_consistency_proof(1, 1, &root1, &root2, &[]), Ok(()), "{}", path.display());
            }
            None => assert!(want_error, "{}: a value that is not 32 bytes in a probe that must verify", path.display()),
        }
    }
}

#[test]
fn inclusion_probes_verify_or_fail_as_published() {
    let (mut store, _) = tree_of(&leaf_inputs());
    check_probes("inclusion", |path, probe| {
        let index = probe["leafIdx"].as_u64().expect("leafIdx");
        let size = probe["treeSize"].as_u64().expect("treeSize");
        let (leaf, root, proof) = (probe_hash(&probe["leafHash"])?, probe_hash(&probe["root"])?, probe_proof(&probe["proof"])?);
        // Every correct proof is also what the builder makes from stored nodes of the same leaves.
        if path.ends_with("happy-path.json") {
            assert_eq!(inclusion_proof(&mut store, LogId::JOURNAL, index, size).as_ref(), Ok(&proof), "{}", path.display());
        }
        Some(verify_inclusion_proof(&leaf, index, size, &proof, &root))
    });
}

#[test]
fn consistency_probes_verify_or_fail_as_published() {
    let (mut store, _) = tree_of(&leaf_inputs());
    check_probes("consistency", |path, probe| {
        let old_size = probe["size1"].as_u64().expect("size1");
        let new_size = probe["size2"].as_u64().expect("size2");
        let (old_root, new_root, proof) = (probe_hash(&probe["root1"])?, probe_hash(&probe["root2"])?, probe_proof(&probe["proof"])?);
        if path.ends_with("happy-path.json") {
            assert_eq!(consistency_proof(&mut store, LogId::JOURNAL, old_size, new_size).as_ref(), Ok(&proof), "{}", path.display());
        }
        Some(verify_consistency_proof(old_size, new_size, &old_root, &new_root, &proof))
    });
}

#[test]
fn probe_values_that_are_not_hashes_are_refused_at_the_type() {
    assert_eq!(Hash::from_slice(b""), None);
    assert_eq!(Hash::from_slice(b"don't care 2"), None);
}
