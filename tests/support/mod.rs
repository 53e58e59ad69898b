//! Shared helpers for integration tests. Each test binary that declares
//! `mod support;` gets its own test bed on first use.
#![allow(dead_code)] // Each test binary uses a different subset.

pub mod bed;
pub mod formation;
pub mod process;
pub mod schema;
pub mod vectors;
