//! Integration tests of the HTTP API over real HTTP, against a server bound to a free port.

mod access;
mod bad_input;
mod cases;
mod concurrency;
mod endpoints;
mod events;
mod groups;
mod harness;
mod idempotency;
mod journal;
mod merchant_keys;
mod returns;
mod risk;
mod transfers;
mod walkthrough;
mod webhooks;
