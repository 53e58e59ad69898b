//! Test vectors written by `tests/bed/vectors` from Charon's own code.

use std::path::PathBuf;

use serde::de::DeserializeOwned;

/// Reads `.bed/vectors/<name>`, failing with the command that makes it.
pub fn load<T: DeserializeOwned>(name: &str) -> T {
    let dir = std::env::var_os("DV_BED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".bed"));
    let path = dir.join("vectors").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; generate it with `tests/bed/vectors`", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not what the tests expect: {e}", path.display()))
}

/// What Charon said about a vector: valid, or where it stopped and why.
#[derive(serde::Deserialize)]
pub struct Verdict {
    pub valid: bool,
    pub stage: String,
    pub error: String,
}
