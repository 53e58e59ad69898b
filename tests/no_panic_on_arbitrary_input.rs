//! Property tests: whatever bytes arrive (from the API, a file, an operator),
//! parsing and verification answer with a value or an error, never a panic.

use dv_pod::{
    definition::{Definition, lock, verify::verify},
    enr::{EnrPrivateKey, EnrRecord},
    obol_api::client::parse_page,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
        "0x[0-9a-fA-F]{0,140}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::hash_map(
                prop_oneof![
                    Just("version".to_string()),
                    Just("operators".to_string()),
                    Just("validators".to_string()),
                    Just("config_hash".to_string()),
                    Just("enr".to_string()),
                    Just("config_signature".to_string()),
                    Just("num_validators".to_string()),
                    Just("fork_version".to_string()),
                    Just("cluster_definitions".to_string()),
                    Just("total_pages".to_string()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn a_real_definition() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.bed/vectors/definitions.json"))
        .expect("vectors missing: run tests/bed/vectors");
    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
    all.into_iter().find(|v| v["name"] == "v1.10.0/hoodi").unwrap()["definition"].clone()
}

fn a_real_lock() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.bed/vectors/locks.json"))
        .expect("vectors missing: run tests/bed/vectors");
    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
    all.into_iter().find(|v| v["name"] == "v1.10.0/hoodi").unwrap()["lock"].clone()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_the_definition_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(def) = Definition::from_json(&bytes) {
            verify(&def);
        }
    }

    #[test]
    fn arbitrary_json_never_panics_parsing_or_verification(value in arbitrary_json()) {
        if let Ok(def) = Definition::from_value(value) {
            verify(&def);
        }
    }

    #[test]
    fn a_real_definition_with_one_field_replaced_never_panics(key in prop_oneof![
        Just("version"), Just("operators"), Just("validators"), Just("fork_version"), Just("config_hash"),
        Just("threshold"), Just("num_validators"), Just("creator"), Just("deposit_amounts"), Just("uuid")
    ], replacement in arbitrary_json()) {
        let mut definition = a_real_definition();
        definition[key] = replacement;
        if let Ok(def) = Definition::from_value(definition) {
            verify(&def);
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_enr_parser(text in ".{0,300}", tail in "[A-Za-z0-9_-]{0,200}") {
        let _ = text.parse::<EnrRecord>();
        let _ = format!("enr:-{tail}").parse::<EnrRecord>();
        let _ = EnrPrivateKey::from_charon_hex(&text);
    }

    #[test]
    fn arbitrary_api_pages_never_panic_the_page_reader(value in arbitrary_json()) {
        let _ = parse_page(value, "http://test/");
    }

    #[test]
    fn a_real_lock_with_one_field_replaced_never_panics_parsing_or_verification(key in prop_oneof![
        Just("lock_hash"), Just("signature_aggregate"), Just("node_signatures"), Just("distributed_validators"),
        Just("cluster_definition")
    ], validator_key in prop_oneof![
        Just("distributed_public_key"), Just("public_shares"), Just("partial_deposit_data"),
        Just("builder_registration")
    ], replacement in arbitrary_json(), inside_a_validator in any::<bool>()) {
        let mut document = a_real_lock();
        if inside_a_validator {
            document["distributed_validators"][0][validator_key] = replacement;
        } else {
            document[key] = replacement;
        }
        if let Ok(parsed) = lock::Lock::from_value(document) {
            lock::verify(&parsed);
        }
    }

    #[test]
    fn arbitrary_json_never_panics_the_lock_parser(value in arbitrary_json()) {
        if let Ok(parsed) = lock::Lock::from_value(value) {
            lock::verify(&parsed);
        }
    }
}
