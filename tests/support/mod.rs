//! Shared helpers for integration tests. Each test binary that declares
//! `mod support;` gets its own test bed on first use.
#![allow(dead_code)] // Each test binary uses a different subset.

/// A valid, checksummed operator address for tests that need any.
pub const OPERATOR: &str = "0x52908400098527886E0F7030069857D2E4169EE7";

pub mod bed;
pub mod charon;
pub mod formation;
pub mod kubeconfig;
pub mod node;
pub mod pods;
pub mod process;
pub mod schema;
pub mod tmux;
pub mod vectors;
