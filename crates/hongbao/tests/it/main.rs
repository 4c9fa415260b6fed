//! Tests of the `hongbao` binary as a person or an operator runs it: real processes, real files.

mod architecture;
mod audit;
mod cli;
mod crash;
mod http_settings;
mod multiprocess;
mod process;
mod verify;
