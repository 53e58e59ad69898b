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

/// Signs a changed lock again as its nodes would: the lock hash recomputed,
/// the aggregate of every node's key share signatures over it and each
/// node's ENR-key signature. Reads the keys `charon create cluster` wrote
/// under `created`.
pub fn resign_lock(created: &Path, lock: &mut serde_json::Value) {
    use dv_pod::definition::{bls, lock::Lock, ssz};
    let parsed = Lock::from_value(lock.clone()).unwrap();
    let hash = ssz::lock_hash(&parsed).unwrap();
    let mut share_signatures = Vec::new();
    let mut node_signatures = Vec::new();
    for node in 0..parsed.definition.operators.len() {
        let dir = created.join(format!("node{node}"));
        for validator in 0..parsed.validators.len() {
            let keystore: serde_json::Value = serde_json::from_slice(
                &std::fs::read(dir.join(format!("validator_keys/keystore-{validator}.json"))).unwrap(),
            )
            .unwrap();
            let crypto: dv_pod::keystore::Crypto = serde_json::from_value(keystore["crypto"].clone()).unwrap();
            let password =
                std::fs::read_to_string(dir.join(format!("validator_keys/keystore-{validator}.txt"))).unwrap();
            let secret = crypto.decrypt(&password).unwrap();
            share_signatures.push(bls::sign(&secret, &hash).unwrap());
        }
        let enr_key = std::fs::read_to_string(dir.join("charon-enr-private-key")).unwrap();
        let key = k256::ecdsa::SigningKey::from_slice(&hex::decode(enr_key.trim()).unwrap()).unwrap();
        let (signature, recovery) = key.sign_prehash_recoverable(&hash);
        let mut bytes = signature.to_bytes().to_vec();
        bytes.push(recovery.to_byte());
        node_signatures.push(serde_json::Value::String(format!("0x{}", hex::encode(bytes))));
    }
    lock["lock_hash"] = format!("0x{}", hex::encode(hash)).into();
    lock["signature_aggregate"] = format!("0x{}", hex::encode(bls::aggregate(&share_signatures).unwrap())).into();
    lock["node_signatures"] = node_signatures.into();
}
