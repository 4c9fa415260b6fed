//! The tests of hongbao-tlog at its boundary: known answers from published vectors, properties of the
//! proofs built from stored nodes, signed notes and checkpoints, and receipts.

mod notes;
mod properties;
mod receipts;
mod support;
mod vectors;
