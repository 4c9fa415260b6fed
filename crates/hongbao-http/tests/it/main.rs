//! Integration tests of the HTTP API over real HTTP, against a server bound to a free port.

mod access;
mod bad_input;
mod case_refunds;
mod cases;
mod concurrency;
mod connections;
mod contract;
mod endpoints;
mod events;
mod evidence_limits;
mod groups;
mod harness;
mod idempotency;
mod journal;
mod merchant_keys;
mod money_safety;
mod people;
mod returns;
mod risk;
mod secrets;
mod transfers;
mod walkthrough;
mod webhooks;
