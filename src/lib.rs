//! dv-pod: the library behind `dv-sidecar`, `dv-tui` and `kubectl-dv`.
//!
//! Each module owns one domain; the binaries in `src/bin/` are thin shells
//! over it so that the sidecar, the wizard and the plugin share one model.

pub mod backup;
pub mod chart;
pub mod cluster;
pub mod definition;
pub mod demo;
pub mod enr;
pub mod exit;
pub mod files;
pub mod health;
pub mod http_error;
pub mod keystore;
pub mod local_formation;
pub mod logging;
pub mod obol_api;
pub mod plugin;
pub mod process;
pub mod sidecar;
pub mod status;
pub mod validator_client;
pub mod wizard;

/// The product version, reported by every binary and sent as User-Agent.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
