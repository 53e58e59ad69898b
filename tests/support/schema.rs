//! Validation of `--json` outputs against the schemas in `assets/schemas/`.

use std::path::Path;

/// Asserts that `document` matches `assets/schemas/<name>.schema.json`.
pub fn assert_matches(name: &str, document: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/schemas").join(format!("{name}.schema.json"));
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator =
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{} is not a schema: {e}", path.display()));
    let errors: Vec<String> =
        validator.iter_errors(document).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "output does not match {name}:\n{}\n{document:#}", errors.join("\n"));
}
