//! The ENR module against Charon: every key -> ENR pair that Charon's own
//! `enr.New` produced, and the real `charon enr` on a key file we wrote.

mod support;

use std::process::Command;

use dv_pod::enr::{EnrPrivateKey, EnrRecord, KEY_FILE_NAME};
use serde::Deserialize;
use support::{bed::bin, schema, vectors};

#[derive(Deserialize)]
struct EnrVector {
    private_key: String,
    enr: String,
    public_key: String,
    peer_id: String,
}

#[test]
fn every_charon_key_gives_the_byte_identical_enr_public_key_and_peer_id() {
    let pairs: Vec<EnrVector> = vectors::load("enr.json");
    assert!(pairs.len() >= 50, "expected at least 50 vectors, found {}", pairs.len());
    for pair in pairs {
        let record = EnrPrivateKey::from_charon_hex(&pair.private_key).unwrap().record();
        assert_eq!(record.text(), pair.enr);
        assert_eq!(hex::encode(record.public_key_compressed()), pair.public_key);
        assert_eq!(record.peer_id(), pair.peer_id);

        let parsed: EnrRecord = pair.enr.parse().unwrap();
        assert_eq!(parsed, record);
    }
}

#[test]
fn charon_enr_prints_our_enr_for_a_key_file_we_saved() {
    let data_dir = tempfile::tempdir().unwrap();
    let key = EnrPrivateKey::generate().unwrap();
    key.save_new(&data_dir.path().join(KEY_FILE_NAME)).unwrap();

    let out = Command::new(bin("charon"))
        .arg("enr")
        .arg(format!("--data-dir={}", data_dir.path().display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "charon enr failed: {}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed.trim(), key.record().text());
}

#[test]
fn we_load_a_key_file_that_charon_created() {
    let data_dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("charon"))
        .args(["create", "enr"])
        .arg(format!("--data-dir={}", data_dir.path().display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "charon create enr failed: {}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    let key = EnrPrivateKey::load(&data_dir.path().join(KEY_FILE_NAME)).unwrap();
    assert!(printed.contains(key.record().text()), "charon printed:\n{printed}");
}

#[test]
fn kubectl_dv_enr_prints_the_enr_of_a_key_file_as_text_and_json() {
    let data_dir = tempfile::tempdir().unwrap();
    let path = data_dir.path().join(KEY_FILE_NAME);
    let key = EnrPrivateKey::generate().unwrap();
    key.save_new(&path).unwrap();
    let plugin = env!("CARGO_BIN_EXE_kubectl-dv");

    let text = Command::new(plugin).args(["enr", "--key-file"]).arg(&path).output().unwrap();
    assert!(text.status.success());
    assert_eq!(String::from_utf8(text.stdout).unwrap().trim(), key.record().text());

    let json = Command::new(plugin).args(["enr", "--json", "--key-file"]).arg(&path).output().unwrap();
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    schema::assert_matches("enr.v1", &document);
    assert_eq!(document["enr"], key.record().text());
    assert_eq!(document["peer_id"], key.record().peer_id());
    assert!(!String::from_utf8_lossy(&json.stdout).contains(key.to_charon_hex().as_str()));
}

#[test]
fn kubectl_dv_enr_on_a_malformed_key_file_exits_2_and_names_the_problem() {
    let data_dir = tempfile::tempdir().unwrap();
    let path = data_dir.path().join(KEY_FILE_NAME);
    std::fs::write(&path, "0xnot-a-key\n").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-dv")).args(["enr", "--key-file"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("64 hex characters") && stderr.contains("0x prefix"), "{stderr}");
}
