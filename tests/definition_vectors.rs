//! Definition parsing and verification against Charon's own verdicts on
//! every vector from the test bed: signed definitions of every version and
//! network, each tampered one field at a time (with stale and with fresh
//! hashes), and unsigned definitions from the real `charon create dkg`.

mod support;

use dv_pod::definition::{Definition, verify::verify};
use serde::Deserialize;
use support::vectors::{self, Verdict};

#[derive(Deserialize)]
struct Vector {
    name: String,
    charon: Verdict,
    definition: serde_json::Value,
    #[serde(default)]
    config_hash: Option<String>,
    #[serde(default)]
    definition_hash: Option<String>,
}

/// Our verdict on one vector: parse failures count as invalid.
fn our_verdict(vector: &Vector) -> Result<(), String> {
    let def = Definition::from_value(vector.definition.clone()).map_err(|e| format!("parse: {e}"))?;
    let report = verify(&def);
    match report.first_failure() {
        None => Ok(()),
        Some(failure) => Err(failure),
    }
}

fn assert_agrees_with_charon(file: &str, minimum: usize) {
    let all: Vec<Vector> = vectors::load(file);
    assert!(all.len() >= minimum, "{file}: expected at least {minimum} vectors, found {}", all.len());
    let disagreements: Vec<String> = all
        .iter()
        .filter_map(|v| {
            let ours = our_verdict(v);
            (ours.is_ok() != v.charon.valid).then(|| {
                format!(
                    "{}: charon says {} ({}: {}), we say {:?}",
                    v.name,
                    if v.charon.valid { "valid" } else { "invalid" },
                    v.charon.stage,
                    v.charon.error,
                    ours
                )
            })
        })
        .collect();
    assert!(
        disagreements.is_empty(),
        "{} of {} vectors in {file} disagree with Charon:\n{}",
        disagreements.len(),
        all.len(),
        disagreements.join("\n")
    );
}

#[test]
fn every_signed_definition_of_every_version_and_network_verifies_with_charons_hashes() {
    assert_agrees_with_charon("definitions.json", 77);
    for vector in vectors::load::<Vec<Vector>>("definitions.json") {
        assert!(vector.charon.valid, "{}: Charon itself rejects a generated definition", vector.name);
        let def = Definition::from_value(vector.definition.clone()).unwrap();
        assert_eq!(Some(def.config_hash_hex()), vector.config_hash, "{}", vector.name);
        assert_eq!(
            dv_pod::definition::ssz::definition_hash(&def).map(|h| format!("0x{}", hex::encode(h))).ok(),
            vector.definition_hash,
            "{}",
            vector.name
        );
    }
}

#[test]
fn every_tampered_definition_gets_charons_verdict() {
    assert_agrees_with_charon("tampered.json", 1000);
}

#[test]
fn unsigned_definitions_from_charon_create_dkg_verify_like_charon_says() {
    assert_agrees_with_charon("unsigned.json", 7);
}

#[test]
fn the_document_is_kept_byte_for_byte_including_unknown_fields() {
    let mut vector = vectors::load::<Vec<Vector>>("definitions.json").pop().unwrap();
    vector.definition["a_field_from_the_future"] = serde_json::json!({"kept": true});
    let def = Definition::from_value(vector.definition.clone()).unwrap();
    assert_eq!(serde_json::Value::Object(def.json().clone()), vector.definition);
    assert!(verify(&def).is_valid(), "unknown fields are not hashed, as in Charon");
}
