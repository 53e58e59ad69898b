//! The Obol API: the one client every part of dv-pod uses, and the
//! simulator that stands in for the real API in tests, `helm test` and the
//! demo. Shapes follow the published OpenAPI description of
//! `/v1/definition/operator/{address}` (`{cluster_definitions, total_count,
//! total_pages}`), obol-sdk's `/v1/definition/{config_hash}` and
//! `/v1/lock/...`, and Charon's `POST /lock`.

pub mod client;
pub mod launchpad;
pub mod retry;
pub mod simulator;

pub use client::{ApiError, ClientConfig, ErrorKind, ListedDefinition, ObolApi};
pub use retry::{Backoff, RetryPolicy};
