//! Shared test support: trees built by the appender, a node source that records what it is asked, and
//! the RFC 9162 definitions written as plainly as the RFC states them, to compare the builders with.

use hongbao_tlog::{Frontier, Hash, LogId, MemoryNodes, NodeId, NodeSource, empty_root, leaf_hash, node_hash};

/// The stored nodes and the right edge of log `LogId::JOURNAL` holding `entries`.
pub fn tree_of(entries: &[Vec<u8>]) -> (MemoryNodes, Frontier) {
    let leaves: Vec<Hash> = entries.iter().map(|entry| leaf_hash(entry)).collect();
    let appended = Frontier::empty().append(&leaves);
    let mut store = MemoryNodes::new();
    store.insert(LogId::JOURNAL, &appended.nodes);
    (store, appended.frontier)
}

/// `n` distinct entries.
pub fn entries(n: u64) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("entry {i}").into_bytes()).collect()
}

/// A node source that records every node it is asked for.
pub struct Recording<'a> {
    pub inner: &'a mut MemoryNodes,
    pub asked: Vec<NodeId>,
}

impl NodeSource for Recording<'_> {
    type Error = hongbao_tlog::MissingNode;

    fn nodes(&mut self, log: LogId, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        self.asked.extend_from_slice(ids);
        self.inner.nodes(log, ids)
    }
}

fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// `MTH(D[n])` of RFC 9162 §2.1.1, recursively over the leaf hashes.
pub fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

/// `PATH(m, D[n])` of RFC 9162 §2.1.3.1.
pub fn reference_inclusion(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split_point(n);
    if m < k {
        let mut path = reference_inclusion(m, &leaves[..k]);
        path.push(reference_root(&leaves[k..]));
        path
    } else {
        let mut path = reference_inclusion(m - k, &leaves[k..]);
        path.push(reference_root(&leaves[..k]));
        path
    }
}

/// `PROOF(m, D[n])` of RFC 9162 §2.1.4.1, through `SUBPROOF(m, D[n], true)`.
pub fn reference_consistency(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn subproof(m: usize, leaves: &[Hash], whole_old_tree: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if whole_old_tree { Vec::new() } else { vec![reference_root(leaves)] };
        }
        let k = split_point(n);
        if m <= k {
            let mut proof = subproof(m, &leaves[..k], whole_old_tree);
            proof.push(reference_root(&leaves[k..]));
            proof
        } else {
            let mut proof = subproof(m - k, &leaves[k..], false);
            proof.push(reference_root(&leaves[..k]));
            proof
        }
    }
    subproof(m, leaves, true)
}
