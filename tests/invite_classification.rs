//! "Is this invite mine, and is it ready?" on Charon-made definitions, seen
//! from one operator's node.

mod support;

use dv_pod::{
    definition::{
        Definition, Network,
        invite::{Invite, OurNode, classify},
    },
    enr::EnrPrivateKey,
};
use serde::Deserialize;
use serde_json::{Value, json};
use support::vectors;

#[derive(Deserialize, Clone)]
struct Operator {
    address: String,
    enr_private_key: String,
}

#[derive(Deserialize, Clone)]
struct Vector {
    name: String,
    operators: Vec<Operator>,
    definition: Value,
}

fn signed(name: &str) -> Vector {
    vectors::load::<Vec<Vector>>("definitions.json").into_iter().find(|v| v.name == name).unwrap()
}

fn node_of(vector: &Vector, slot: usize, network: Network) -> OurNode {
    let operator = &vector.operators[slot];
    OurNode {
        operator: operator.address.parse().unwrap(),
        enr: Some(EnrPrivateKey::from_charon_hex(&operator.enr_private_key).unwrap().record()),
        network: Some(network),
        target_config_hash: None,
    }
}

fn parse(document: &Value) -> Definition {
    Definition::from_value(document.clone()).unwrap()
}

/// The definition as the API serves it before `slot` has signed.
fn without_signatures_of(document: &Value, slots: &[usize]) -> Value {
    let mut document = document.clone();
    for &slot in slots {
        document["operators"][slot]["config_signature"] = json!("");
        document["operators"][slot]["enr_signature"] = json!("");
        document["operators"][slot]["enr"] = json!("");
    }
    document
}

#[test]
fn a_fully_signed_definition_is_ready_for_every_operator() {
    let vector = signed("v1.10.0/hoodi");
    for slot in 0..4 {
        assert_eq!(classify(&parse(&vector.definition), &node_of(&vector, slot, Network::Hoodi)), Invite::Ready);
    }
}

#[test]
fn a_definition_without_our_address_is_not_for_us() {
    let vector = signed("v1.10.0/hoodi");
    let mut us = node_of(&vector, 0, Network::Hoodi);
    us.operator = "0x000000000000000000000000000000000000dEaD".parse().unwrap();
    assert_eq!(classify(&parse(&vector.definition), &us), Invite::NotForUs);
}

#[test]
fn a_definition_for_another_network_is_reported_with_both_networks() {
    let vector = signed("v1.10.0/sepolia");
    assert_eq!(
        classify(&parse(&vector.definition), &node_of(&vector, 1, Network::Hoodi)),
        Invite::WrongNetwork { definition: Some(Network::Sepolia), ours: Network::Hoodi }
    );
}

#[test]
fn a_target_config_hash_excludes_every_other_definition() {
    let vector = signed("v1.10.0/hoodi");
    let mut us = node_of(&vector, 1, Network::Hoodi);
    let target = "0x".to_string() + &"ab".repeat(32);
    us.target_config_hash = Some(target.clone());
    assert_eq!(classify(&parse(&vector.definition), &us), Invite::NotTarget { target });

    us.target_config_hash = Some(parse(&vector.definition).config_hash_hex().to_uppercase().replace("0X", "0x"));
    assert_eq!(classify(&parse(&vector.definition), &us), Invite::Ready);
}

#[test]
fn while_others_have_not_signed_we_wait_and_name_them() {
    let vector = signed("v1.10.0/hoodi");
    let partial = without_signatures_of(&vector.definition, &[2, 3]);
    assert_eq!(
        classify(&parse(&partial), &node_of(&vector, 0, Network::Hoodi)),
        Invite::WaitingForOthers {
            signed: 2,
            total: 4,
            missing: vec![vector.operators[2].address.clone(), vector.operators[3].address.clone()]
        }
    );
}

#[test]
fn before_our_operator_accepts_we_are_awaiting_our_signature() {
    let vector = signed("v1.10.0/hoodi");
    let partial = without_signatures_of(&vector.definition, &[1, 2]);
    assert_eq!(
        classify(&parse(&partial), &node_of(&vector, 1, Network::Hoodi)),
        Invite::AwaitingOurSignature {
            signed: 2,
            total: 4,
            missing: vec![vector.operators[1].address.clone(), vector.operators[2].address.clone()]
        }
    );
}

fn assert_invalid_because(invite: Invite, expected: &str) {
    match invite {
        Invite::Invalid { reason } => assert!(reason.contains(expected), "reason {reason:?} lacks {expected:?}"),
        other => panic!("expected Invalid ({expected}), got {other:?}"),
    }
}

#[test]
fn a_changed_withdrawal_address_is_invalid_even_with_fresh_hashes() {
    let tampered: Vec<Value> = vectors::load::<Vec<Value>>("tampered.json")
        .into_iter()
        .filter(|v| v["base"] == "v1.10.0/hoodi" && v["field"] == "validators[0].withdrawal_address")
        .map(|v| v["definition"].clone())
        .collect();
    assert_eq!(tampered.len(), 2, "stale-hash and rehashed variants");
    let vector = signed("v1.10.0/hoodi");
    for document in tampered {
        let invite = classify(&parse(&document), &node_of(&vector, 0, Network::Hoodi));
        assert!(matches!(invite, Invite::Invalid { .. }), "{invite:?}");
    }
}

#[test]
fn our_address_registered_with_another_enr_is_invalid_and_says_so() {
    let vector = signed("v1.10.0/hoodi");
    let mut us = node_of(&vector, 1, Network::Hoodi);
    us.enr = Some(EnrPrivateKey::generate().unwrap().record());
    assert_invalid_because(classify(&parse(&vector.definition), &us), "not with this node's ENR");
}

#[test]
fn a_version_charon_cannot_run_a_dkg_for_is_invalid() {
    let vector = signed("v1.5.0/hoodi");
    assert_invalid_because(
        classify(&parse(&vector.definition), &node_of(&vector, 0, Network::Hoodi)),
        "v1.6.0 or later",
    );
}

#[test]
fn duplicate_operators_and_an_out_of_range_threshold_are_named() {
    let vector = signed("v1.10.0/hoodi");
    let mut duplicate = vector.definition.clone();
    duplicate["operators"][3]["address"] = duplicate["operators"][2]["address"].clone();
    assert_invalid_because(classify(&parse(&duplicate), &node_of(&vector, 0, Network::Hoodi)), "more than once");

    let mut threshold = vector.definition.clone();
    threshold["threshold"] = json!(5);
    assert_invalid_because(classify(&parse(&threshold), &node_of(&vector, 0, Network::Hoodi)), "threshold 5");
}
