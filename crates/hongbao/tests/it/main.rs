//! Tests of the `hongbao` binary as a person or an operator runs it: real processes, real files.

mod architecture;
mod crash;
mod process;
mod verify;
