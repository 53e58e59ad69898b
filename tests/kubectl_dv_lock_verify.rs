//! `kubectl dv lock verify` as an operator runs it: on every lock vector
//! (its verdict must be Charon's), on locks from the real `charon create
//! cluster` with the summary to read before depositing, against the
//! network the operator means, from a URL, and on bad input; text and
//! `--json` output and the documented exit codes.

mod support;

use std::process::{Command, Output};

use dv_pod::obol_api::simulator::{Simulator, SimulatorConfig};
use serde_json::Value;
use support::{OPERATOR, charon::create_cluster, process::free_port, schema, vectors};

fn plugin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-dv")).args(args).output().unwrap()
}

fn json_of(output: &Output) -> Value {
    let document: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)));
    schema::assert_matches("lock-verify.v1", &document);
    document
}

fn failed_checks(document: &Value) -> Vec<String> {
    document["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "pass")
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_plugins_verdict_on_every_lock_vector_is_charons_and_its_exit_code_follows_it() {
    let all: Vec<Value> = vectors::load("locks.json");
    assert!(all.len() >= 1000);
    let dir = tempfile::tempdir().unwrap();
    let chunks: Vec<Vec<(usize, &Value)>> =
        all.iter().enumerate().collect::<Vec<_>>().chunks(all.len().div_ceil(4)).map(<[_]>::to_vec).collect();
    let disagreements: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let dir = dir.path();
                scope.spawn(move || {
                    let mut wrong = Vec::new();
                    for (i, vector) in chunk {
                        let path = dir.join(format!("lock-{i}.json"));
                        std::fs::write(&path, serde_json::to_vec(&vector["lock"]).unwrap()).unwrap();
                        let output = plugin(&["lock", "verify", "--json", path.to_str().unwrap()]);
                        let document: Value = serde_json::from_slice(&output.stdout).unwrap();
                        let charon = vector["charon"]["valid"].as_bool().unwrap();
                        let deposits = vector["deposits"]["valid"].as_bool().unwrap();
                        let loads = document["charon_loads"].as_bool().unwrap();
                        let expected_code = if charon && deposits { 0 } else { 1 };
                        if loads != charon
                            || document["valid"] != (charon && deposits)
                            || output.status.code() != Some(expected_code)
                        {
                            wrong.push(format!(
                                "{}: Charon loads {charon}, deposits {deposits}; plugin {} exit {:?}",
                                vector["name"],
                                serde_json::to_string(&document["checks"]).unwrap(),
                                output.status.code()
                            ));
                        }
                    }
                    wrong
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));
}

#[test]
fn a_created_lock_shows_per_validator_what_to_check_before_depositing() {
    let work = tempfile::tempdir().unwrap();
    let created = create_cluster(work.path(), 2, &["--insecure-keys"]);
    let lock = created.join("node0/cluster-lock.json");
    let lock_text: Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();

    let output = plugin(&["lock", "verify", "--network", "hoodi", "--json", lock.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
    let document = json_of(&output);
    assert_eq!(document["valid"], true);
    assert_eq!(document["lock_hash"], lock_text["lock_hash"]);
    assert_eq!(document["network"], "hoodi");
    let validators = document["validators"].as_array().unwrap();
    assert_eq!(validators.len(), 2);
    for (i, validator) in validators.iter().enumerate() {
        assert_eq!(
            validator["distributed_public_key"],
            lock_text["distributed_validators"][i]["distributed_public_key"]
        );
        assert_eq!(validator["withdrawal_address"], OPERATOR);
        assert_eq!(validator["fee_recipient"], OPERATOR);
        assert_eq!(validator["withdrawal_type"], "0x01");
        assert_eq!(validator["amounts_gwei"], serde_json::json!([1_000_000_000u64, 32_000_000_000u64]));
        assert_eq!(validator["deposits_verify"], true);
    }

    let text = plugin(&["lock", "verify", lock.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(&format!("withdrawal address  {OPERATOR}  (credentials 0x01)")), "{stdout}");
    assert!(stdout.contains("deposit data        1 ETH, 32 ETH on hoodi: every deposit message verifies"), "{stdout}");
    assert!(stdout.trim_end().ends_with("VALID"), "{stdout}");
}

#[test]
fn a_lock_for_another_network_than_the_one_meant_exits_1_naming_both() {
    let work = tempfile::tempdir().unwrap();
    let lock = create_cluster(work.path(), 1, &["--insecure-keys"]).join("node0/cluster-lock.json");
    let output = plugin(&["lock", "verify", "--network", "mainnet", "--json", lock.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let document = json_of(&output);
    assert_eq!(document["charon_loads"], true);
    assert_eq!(failed_checks(&document), ["network"]);
    let detail = document["checks"].as_array().unwrap().iter().find(|c| c["name"] == "network").unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.contains("hoodi") && detail.contains("mainnet"), "{detail}");
}

#[test]
fn a_lock_whose_deposit_was_changed_exits_1_and_says_not_to_deposit() {
    let work = tempfile::tempdir().unwrap();
    let lock = create_cluster(work.path(), 1, &["--insecure-keys"]).join("node0/cluster-lock.json");
    let mut value: Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    value["distributed_validators"][0]["partial_deposit_data"][1]["amount"] = "16000000000".into();
    std::fs::write(&lock, serde_json::to_vec(&value).unwrap()).unwrap();

    let output = plugin(&["lock", "verify", lock.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAILED  lock_hash"), "{stdout}");
    assert!(stdout.contains("DO NOT DEPOSIT"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_is_read_from_its_obol_api_url() {
    let work = tempfile::tempdir().unwrap();
    let lock_file = create_cluster(work.path(), 1, &["--insecure-keys"]).join("node0/cluster-lock.json");
    let lock: Value = serde_json::from_slice(&std::fs::read(lock_file).unwrap()).unwrap();
    let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
    simulator.add_lock(lock.clone());
    let api = simulator.spawn(([127, 0, 0, 1], free_port()).into()).await.unwrap();
    let url = format!("http://{api}/v1/lock/{}", lock["lock_hash"].as_str().unwrap());
    let output = tokio::task::spawn_blocking(move || plugin(&["lock", "verify", "--json", &url])).await.unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(json_of(&output)["lock_hash"], lock["lock_hash"]);
}

#[test]
fn a_file_that_is_no_lock_exits_1_and_a_missing_file_exits_2_with_nothing_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-lock.json");
    std::fs::write(&path, br#"{"cluster_definition": {"version": "v9.0.0"}}"#).unwrap();
    let output = plugin(&["lock", "verify", "--json", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let document = json_of(&output);
    assert!(document["parse_error"].as_str().unwrap().contains("v9.0.0"), "{document}");

    let missing = plugin(&["lock", "verify", "--json", "/nonexistent/cluster-lock.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(missing.stdout.is_empty());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/cluster-lock.json"));
    let bad_network = plugin(&["lock", "verify", "--network", "goerlii", path.to_str().unwrap()]);
    assert_eq!(bad_network.status.code(), Some(2));
    let refusal = String::from_utf8_lossy(&bad_network.stderr);
    assert!(
        refusal.contains("'goerlii'") && refusal.contains("possible values") && refusal.contains("hoodi"),
        "{refusal}"
    );
}
