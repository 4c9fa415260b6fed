//! Tests of the service layer against a real SQLite database, without HTTP.

mod durability;
mod properties;
mod scripts;
mod simulation;
mod tokens;
mod tree;
mod writer;
