//! Integration tests: drive the real `kvaudit` binary on fixtures.

mod bad_input;
mod harness;
mod pull;
mod report;
mod resolve;
mod robust;
mod scenarios;
mod shapes;
mod token;
