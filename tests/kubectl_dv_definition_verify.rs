//! `kubectl dv definition verify` as an operator runs it: on Charon-made
//! definitions of every version, on tampered ones, from a URL, and on bad
//! input; text and `--json` output, and the documented exit codes.

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::{schema, vectors};

fn plugin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-dv")).args(args).output().unwrap()
}

fn write_definition(dir: &tempfile::TempDir, name: &str, definition: &Value) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, serde_json::to_vec(definition).unwrap()).unwrap();
    path.display().to_string()
}

fn json_of(output: &Output) -> Value {
    let document: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)));
    schema::assert_matches("definition-verify.v1", &document);
    document
}

#[test]
fn charon_made_definitions_of_every_version_verify_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let signed: Vec<Value> = vectors::load("definitions.json");
    let unsigned: Vec<Value> = vectors::load("unsigned.json");
    for vector in signed.iter().chain(&unsigned) {
        let path = write_definition(&dir, "definition.json", &vector["definition"]);
        let output = plugin(&["definition", "verify", "--json", &path]);
        let document = json_of(&output);
        assert_eq!(output.status.code(), Some(0), "{}: {document:#}", vector["name"]);
        assert_eq!(document["valid"], true);
        // Signed vectors state the hash in 0x form (v1.0 and v1.1 write it in base64).
        let expected = vector.get("config_hash").unwrap_or(&vector["definition"]["config_hash"]);
        assert_eq!(&document["config_hash"], expected, "{}", vector["name"]);
    }
}

#[test]
fn a_tampered_definition_exits_1_and_names_the_failed_check() {
    let dir = tempfile::tempdir().unwrap();
    let tampered: Vec<Value> = vectors::load("tampered.json");
    let vector = tampered.iter().find(|v| v["name"] == "v1.10.0/hoodi validators[0].withdrawal_address").unwrap();
    let path = write_definition(&dir, "tampered.json", &vector["definition"]);

    let output = plugin(&["definition", "verify", "--json", &path]);
    assert_eq!(output.status.code(), Some(1));
    let document = json_of(&output);
    let failed: Vec<&str> = document["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"config_hash"), "{failed:?}");

    let text = plugin(&["definition", "verify", &path]);
    assert_eq!(text.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&text.stdout).contains("FAILED  config_hash"));
}

#[test]
fn an_unreadable_source_or_a_bad_operator_address_exits_2_with_the_reason() {
    let missing = plugin(&["definition", "verify", "/nonexistent/definition.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent/definition.json"));

    let bad_operator = plugin(&["definition", "verify", "--operator", "0x1234", "x.json"]);
    assert_eq!(bad_operator.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_operator.stderr).contains("--operator"));
}

#[test]
fn with_an_operator_the_output_says_what_the_invite_means_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let signed: Vec<Value> = vectors::load("definitions.json");
    let vector = signed.iter().find(|v| v["name"] == "v1.10.0/hoodi").unwrap();
    let path = write_definition(&dir, "definition.json", &vector["definition"]);
    let operator = vector["operators"][2]["address"].as_str().unwrap();

    let ready = plugin(&["definition", "verify", "--json", "--operator", operator, "--network", "hoodi", &path]);
    assert_eq!(ready.status.code(), Some(0));
    assert_eq!(json_of(&ready)["invite"]["state"], "ready");

    // A valid definition this node cannot use is a failed result for it.
    let on_sepolia = plugin(&["definition", "verify", "--json", "--operator", operator, "--network", "sepolia", &path]);
    assert_eq!(on_sepolia.status.code(), Some(1));
    let stranger = "0x52908400098527886E0F7030069857D2E4169EE7";
    let not_ours = plugin(&["definition", "verify", "--json", "--operator", stranger, &path]);
    assert_eq!((not_ours.status.code(), &json_of(&not_ours)["invite"]["state"]), (Some(1), &"not_for_us".into()));

    let wrong = json_of(&on_sepolia);
    assert_eq!(
        wrong["invite"],
        serde_json::json!({"state": "wrong_network", "definition": "hoodi", "ours": "sepolia"})
    );
}

#[tokio::test]
async fn a_definition_url_is_fetched_and_verified() {
    use dv_pod::obol_api::simulator::{ClusterPlan, OperatorPlan, SignAt, Simulator, SimulatorConfig};
    let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
    let address = simulator.clone().spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let operators = (0..3)
        .map(|_| OperatorPlan {
            enr: Some(dv_pod::enr::EnrPrivateKey::generate().unwrap().record().text().to_string()),
            eth_private_key: None,
            sign: SignAt::Now,
        })
        .collect();
    let created = simulator
        .create(ClusterPlan {
            name: "url".into(),
            network: dv_pod::definition::Network::Hoodi,
            num_validators: 1,
            threshold: None,
            operators,
        })
        .unwrap();
    let url = format!("http://{address}/v1/definition/{}", created.config_hash);
    let output = tokio::task::spawn_blocking(move || plugin(&["definition", "verify", "--json", &url])).await.unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(json_of(&output)["config_hash"], created.config_hash);
}
