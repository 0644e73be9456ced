//! Integration tests: drive the real `kvaudit` binary on fixtures.

mod access;
mod assignments;
mod attribute;
mod bad_input;
mod corpus;
mod fuzz;
mod harness;
mod inventory;
mod layers;
mod messy;
mod oracle;
mod parquet;
mod pull;
mod report;
mod resolve;
mod robust;
mod scenarios;
mod security;
mod shapes;
mod streaming;
mod synth;
mod terminal;
mod token;
