//! Lock parsing and verification against Charon on every lock vector from
//! the test bed: locks of every version (v1.0 to v1.10) on three networks
//! signed with Charon's own BLS and k1 code, locks from the real `charon
//! create cluster`, and each of them changed one field at a time with the
//! lock hash stale, recomputed, and recomputed and signed again by every
//! node and key share. Each vector carries two verdicts made with Charon's
//! functions (see `tests/bed/go/charon/vectors/locks.go`): whether `charon
//! run` loads the lock, and whether its deposits are what the definition
//! asks for. Ours must agree with both on every vector.

mod support;

use dv_pod::definition::lock::{Lock, LockReport, verify};
use serde::Deserialize;
use support::vectors::{self, Verdict};

#[derive(Deserialize)]
struct LockVector {
    name: String,
    source: String,
    mode: String,
    charon: Verdict,
    deposits: Verdict,
    lock: serde_json::Value,
}

fn all_vectors() -> Vec<LockVector> {
    let all: Vec<LockVector> = vectors::load("locks.json");
    assert!(all.len() >= 1000, "expected at least 1000 lock vectors, found {}", all.len());
    all
}

fn report(vector: &LockVector) -> Result<LockReport, String> {
    Lock::from_value(vector.lock.clone()).map(|lock| verify(&lock)).map_err(|e| format!("parse: {e}"))
}

fn describe(verdict: &Verdict) -> String {
    if verdict.valid { "valid".into() } else { format!("invalid ({}: {})", verdict.stage, verdict.error) }
}

#[test]
fn whether_charon_loads_a_lock_is_decided_as_charon_decides_it_at_the_same_stage() {
    let all = all_vectors();
    let disagreements: Vec<String> = all
        .iter()
        .filter_map(|v| {
            let (valid, stage) = match report(v) {
                Err(_) => (false, Some("parse")),
                Ok(r) => (r.charon.is_valid(), r.charon_stage()),
            };
            let charon_stage = (!v.charon.valid).then_some(v.charon.stage.as_str());
            (valid != v.charon.valid || stage != charon_stage).then(|| {
                let ours = report(v).map(|r| r.charon.first_failure());
                format!("{}: charon says {}, we say {ours:?}", v.name, describe(&v.charon))
            })
        })
        .collect();
    assert!(
        disagreements.is_empty(),
        "{} of {} lock vectors disagree with Charon's lock loading:\n{}",
        disagreements.len(),
        all.len(),
        disagreements.join("\n")
    );
}

#[test]
fn whether_a_locks_deposits_verify_is_decided_as_charons_deposit_functions_decide_it() {
    let all = all_vectors();
    let disagreements: Vec<String> = all
        .iter()
        .filter_map(|v| {
            let ours = report(v).map(|r| r.deposits.first_failure());
            let valid = matches!(ours, Ok(None));
            (valid != v.deposits.valid)
                .then(|| format!("{}: Charon's deposit checks say {}, we say {ours:?}", v.name, describe(&v.deposits)))
        })
        .collect();
    assert!(
        disagreements.is_empty(),
        "{} of {} lock vectors disagree on deposits:\n{}",
        disagreements.len(),
        all.len(),
        disagreements.join("\n")
    );
}

/// The only changes neither Charon nor the deposit checks can see: an
/// aggregate signature dropped from the two versions that were written
/// without one, and, in versions with no deposit or registration signed by
/// it, a distributed public key swapped for another (only the key shares
/// sign a lock; recombining them into the group key is not a check Charon
/// makes, and the deposit and registration of later versions catch it).
fn harmless_or_undetectable(vector: &LockVector) -> bool {
    let version_before = |version: &str| {
        let v = vector.lock["cluster_definition"]["version"].as_str().unwrap_or_default();
        dv_pod::definition::DefinitionVersion::parse(v) < dv_pod::definition::DefinitionVersion::parse(version)
    };
    (vector.name.ends_with("signature_aggregate_removed") && version_before("v1.2.0"))
        || (vector.name.ends_with("distributed_public_key resigned") && version_before("v1.6.0"))
}

#[test]
fn every_untouched_lock_verifies_and_every_change_to_it_is_refused_with_the_failing_check_named() {
    for vector in all_vectors() {
        match report(&vector) {
            Ok(report) if vector.mode.is_empty() => {
                assert!(report.is_valid(), "{} ({}): {:?}", vector.name, vector.source, report.first_failure())
            }
            Ok(report) if harmless_or_undetectable(&vector) => assert!(report.is_valid(), "{}", vector.name),
            Ok(report) => {
                let failure = report.first_failure().unwrap_or_else(|| panic!("{}: accepted", vector.name));
                let check = failure.split(':').next().unwrap();
                assert!(report.checks().any(|c| c.name == check), "{}: {failure}", vector.name);
            }
            Err(parse) => assert!(parse.contains("version"), "{}: {parse}", vector.name),
        }
    }
}

#[test]
fn a_lock_re_signed_after_its_withdrawal_credentials_change_loads_in_charon_but_fails_its_deposit_check() {
    let vector = all_vectors()
        .into_iter()
        .find(|v| v.name == "v1.10.0/hoodi deposit.withdrawal_credentials resigned")
        .expect("the generator writes this vector");
    assert!(vector.charon.valid, "Charon's lock loading does not look at deposits");
    let report = report(&vector).unwrap();
    assert!(report.charon.is_valid());
    let failure = report.deposits.first_failure().unwrap();
    assert!(failure.starts_with("distributed_validators[0].deposits[0]: withdrawal credentials 0x01"), "{failure}");
}
