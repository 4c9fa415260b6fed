//! Tests of the `hongbao` binary as a person or an operator runs it: real processes, real files.

mod architecture;
mod audit;
mod cli;
mod crash;
mod dossier;
mod http_settings;
mod multiprocess;
mod process;
mod receipts;
mod story;
mod verify;
