//! Clients for Azure: the Log Analytics query API (`pull`), Microsoft Graph
//! (`--resolve`) and the token authority's keys (`token --verify`). Each
//! takes its endpoint as configuration, so tests point it at 127.0.0.1.

pub mod graph;
mod http;
pub mod jwks;
pub mod log_analytics;
