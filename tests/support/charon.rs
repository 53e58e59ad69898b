//! Clusters made by the real `charon create cluster`, for tests that start
//! from a finished DKG's output rather than running one.

use std::{path::Path, process::Command};

use super::{OPERATOR, bed::bin};

/// Four nodes on Hoodi with `num_validators` validators under
/// `dir/created/node<i>/{charon-enr-private-key, cluster-lock.json,
/// validator_keys/}`. `extra_args` go to Charon as they are (e.g.
/// `--insecure-keys` where keystore strength does not matter).
pub fn create_cluster(dir: &Path, num_validators: u32, extra_args: &[&str]) -> std::path::PathBuf {
    let created = dir.join("created");
    let out = Command::new(bin("charon"))
        .args(["create", "cluster", "--nodes=4", "--network=hoodi", &format!("--num-validators={num_validators}")])
        .arg(format!("--cluster-dir={}", created.display()))
        .args([&format!("--withdrawal-addresses={OPERATOR}"), &format!("--fee-recipient-addresses={OPERATOR}")])
        .args(extra_args)
        .output()
        .unwrap();
    assert!(out.status.success(), "charon create cluster: {}", String::from_utf8_lossy(&out.stderr));
    created
}
