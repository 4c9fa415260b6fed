//! The tests of hongbao-tlog at its boundary: known answers from published vectors, properties of the
//! proofs built from stored nodes, signed notes and checkpoints, and receipts.

mod properties;
mod support;
mod vectors;
