//! Integration tests of the HTTP API over real HTTP, against a server bound to a free port.

mod access;
mod bad_input;
mod concurrency;
mod endpoints;
mod harness;
mod idempotency;
mod returns;
mod transfers;
mod walkthrough;
