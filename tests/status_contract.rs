//! The documented examples of the status contract: one per phase, each
//! valid against the published schema (they were captured from real runs of
//! the formation tests with DV_WRITE_STATUS_EXAMPLES=1, waiting_for_invite
//! from a sidecar that no invite names).

mod support;

use dv_pod::status::Status;
use serde_json::Value;

#[test]
fn every_phase_has_a_documented_example_that_matches_the_schema_and_the_code() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/status-examples.json")).unwrap();
    let examples: std::collections::BTreeMap<String, Value> = serde_json::from_str(&text).unwrap();
    let phases = [
        "key_ready",
        "waiting_for_invite",
        "awaiting_our_signature",
        "waiting_for_signatures",
        "dkg_running",
        "dkg_failed",
        "done",
        "lock_refused",
    ];
    for phase in phases {
        let example = examples.get(phase).unwrap_or_else(|| panic!("no example for {phase}"));
        support::schema::assert_matches("status.v1", example);
        let parsed: Status = serde_json::from_value(example.clone()).unwrap();
        assert_eq!(serde_json::to_value(parsed.phase).unwrap(), phase);
        if phase == "waiting_for_invite" {
            assert!(parsed.detail.is_some(), "waiting for an invite says why none is usable");
        }
        if phase == "lock_refused" {
            assert!(
                parsed.error.as_ref().is_some_and(|e| e.next_retry_at.is_none() && e.reason.contains("lock")),
                "a refused lock names the failing check and promises no retry"
            );
        }
        if phase == "dkg_failed" {
            assert!(
                parsed.error.is_some_and(|e| e.next_retry_at.is_some()),
                "a failure names its reason and next retry"
            );
        }
    }
}
