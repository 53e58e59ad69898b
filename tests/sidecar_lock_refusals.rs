//! The sidecar verifies every lock before anything relies on it. Each case
//! starts from a lock made by the real `charon create cluster`, changes one
//! field, and expects `dv-sidecar dkg` to refuse it: exit 1, the status
//! contract in `lock_refused` naming the failing check, nothing written
//! (on adoption) or nothing changed (for a cluster already in place), and
//! so no Charon started.

mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use dv_pod::{
    obol_api::simulator::{Simulator, SimulatorConfig},
    status::{self, Phase},
};
use serde_json::Value;
use support::{
    OPERATOR,
    charon::{create_cluster, resign_lock},
    process::free_port,
};

struct Cluster {
    _work: tempfile::TempDir,
    created: PathBuf,
    data: PathBuf,
    status: PathBuf,
}

fn cluster() -> Cluster {
    let work = tempfile::tempdir().unwrap();
    let created = create_cluster(work.path(), 2, &[]);
    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let status = work.path().join("status.json");
    Cluster { created, data, status, _work: work }
}

impl Cluster {
    fn lock(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.created.join("node0/cluster-lock.json")).unwrap()).unwrap()
    }

    /// Node 0 starts with `lock_args` (`--lock-file`, `--lock-hash`, or none).
    fn start(&self, lock_args: &[String]) -> Output {
        let node = self.created.join("node0");
        Command::new(env!("CARGO_BIN_EXE_dv-sidecar"))
            .arg("dkg")
            .arg(format!("--data-dir={}", self.data.display()))
            .arg(format!("--enr-key-file={}", node.join("charon-enr-private-key").display()))
            .args(["--operator-address", OPERATOR, "--network", "hoodi", "--charon", "/nonexistent/charon"])
            .arg(format!("--keys-dir={}", node.join("validator_keys").display()))
            .arg(format!("--status-file={}", self.status.display()))
            .args(lock_args)
            .output()
            .unwrap()
    }

    fn adopt_file(&self, lock: &Value) -> Output {
        let path = self.data.parent().unwrap().join("offered-lock.json");
        std::fs::write(&path, serde_json::to_vec_pretty(lock).unwrap()).unwrap();
        self.start(&[format!("--lock-file={}", path.display())])
    }
}

/// The refusal names `check`, is published as `lock_refused`, and the data
/// directory holds nothing.
fn assert_refused_before_anything_is_written(cluster: &Cluster, out: &Output, check: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(check), "the refusal names {check}: {stderr}");
    let published = status::read_file(&cluster.status).unwrap();
    assert_eq!(published.phase, Phase::LockRefused);
    let error = published.error.expect("a refusal carries its reason");
    assert!(error.reason.contains(check) && error.next_retry_at.is_none(), "{error:?}");
    assert_eq!(std::fs::read_dir(&cluster.data).unwrap().count(), 0, "nothing is written for a refused lock");
    let offered = cluster.data.parent().unwrap().join("offered-lock.json");
    if offered.exists() {
        assert_plugin_refuses(&offered, check);
    }
}

/// `kubectl dv lock verify` refuses the same lock at the same check.
fn assert_plugin_refuses(lock: &Path, check: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-dv"))
        .args(["lock", "verify", lock.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let name = check.split(':').next().unwrap();
    assert!(stdout.contains(&format!("FAILED  {name}")), "the plugin also fails {name}: {stdout}");
}

/// One change to a lock's JSON.
type Change = fn(&mut Value);

fn flip_hex(value: &mut Value) {
    let text = value.as_str().unwrap();
    let mut bytes = hex::decode(&text[2..]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    *value = format!("0x{}", hex::encode(bytes)).into();
}

fn other_bls_key() -> Value {
    format!("0x{}", hex::encode(dv_pod::definition::bls::public_key_of(&[9u8; 32]).unwrap())).into()
}

#[test]
fn a_lock_changed_in_one_field_is_refused_on_adoption_with_the_failing_check_named() {
    let cluster = cluster();
    let cases: [(&str, Change, &str); 6] = [
        ("lock hash", |l| flip_hex(&mut l["lock_hash"]), "lock_hash"),
        ("node signature", |l| flip_hex(&mut l["node_signatures"][1]), "node_signatures[1]"),
        ("aggregate signature", |l| flip_hex(&mut l["signature_aggregate"]), "signature_aggregate"),
        (
            "distributed public key",
            |l| l["distributed_validators"][0]["distributed_public_key"] = other_bls_key(),
            "lock_hash",
        ),
        (
            "withdrawal credentials",
            |l| flip_hex(&mut l["distributed_validators"][0]["partial_deposit_data"][0]["withdrawal_credentials"]),
            "lock_hash",
        ),
        (
            "builder registration",
            |l| flip_hex(&mut l["distributed_validators"][1]["builder_registration"]["signature"]),
            "lock_hash",
        ),
    ];
    for (what, change, check) in cases {
        let mut lock = cluster.lock();
        change(&mut lock);
        let out = cluster.adopt_file(&lock);
        assert_refused_before_anything_is_written(&cluster, &out, check);
        eprintln!("{what}: refused at {check}");
    }
}

#[test]
fn a_lock_signed_again_after_a_change_is_refused_by_the_check_the_signatures_cannot_satisfy() {
    let cluster = cluster();
    let cases: [(Change, &str); 4] = [
        (
            |l| l["distributed_validators"][0]["distributed_public_key"] = other_bls_key(),
            "distributed_validators[0].builder_registration",
        ),
        (
            |l| {
                let credentials =
                    &mut l["distributed_validators"][0]["partial_deposit_data"][1]["withdrawal_credentials"];
                *credentials = format!("0x010000000000000000000000{}", "11".repeat(20)).into();
            },
            "distributed_validators[0].deposits[1]: withdrawal credentials",
        ),
        (
            |l| {
                let registration = &mut l["distributed_validators"][1]["builder_registration"];
                let gas = registration["message"]["gas_limit"].as_i64().unwrap();
                registration["message"]["gas_limit"] = (gas + 1).into();
            },
            "distributed_validators[1].builder_registration",
        ),
        (
            |l| {
                let signature = l["distributed_validators"][1]["builder_registration"]["signature"].clone();
                l["distributed_validators"][0]["builder_registration"]["signature"] = signature;
            },
            "distributed_validators[0].builder_registration",
        ),
    ];
    for (change, check) in cases {
        let mut lock = cluster.lock();
        change(&mut lock);
        resign_lock(&cluster.created, &mut lock);
        let out = cluster.adopt_file(&lock);
        assert_refused_before_anything_is_written(&cluster, &out, check);
    }
    // The same re-signing of an unchanged lock is accepted: the refusals
    // come from the changes, not from the signing.
    let mut lock = cluster.lock();
    resign_lock(&cluster.created, &mut lock);
    let out = cluster.adopt_file(&lock);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_fetched_by_hash_must_hash_to_that_value() {
    let cluster = cluster();
    let mut lock = cluster.lock();
    let hash = lock["lock_hash"].as_str().unwrap().to_string();
    // The API answers for this hash with a lock whose content is another.
    lock["distributed_validators"][0]["distributed_public_key"] = other_bls_key();
    let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
    simulator.add_lock(lock);
    let api = simulator.spawn(([127, 0, 0, 1], free_port()).into()).await.unwrap();
    let args = [format!("--lock-hash={hash}"), format!("--api-endpoint=http://{api}")];
    let (out, cluster) = tokio::task::spawn_blocking(move || (cluster.start(&args), cluster)).await.unwrap();
    assert_refused_before_anything_is_written(&cluster, &out, "lock_hash: stated");
}

fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(tree(&path));
        } else {
            files.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    files
}

#[test]
fn a_cluster_in_place_whose_lock_no_longer_verifies_is_refused_on_every_start_and_left_exactly_as_it_is() {
    let cluster = cluster();
    let lock_file = cluster.created.join("node0/cluster-lock.json");
    let adopted = cluster.start(&[format!("--lock-file={}", lock_file.display())]);
    assert!(adopted.status.success(), "{}", String::from_utf8_lossy(&adopted.stderr));

    let in_place = cluster.data.join("cluster/cluster-lock.json");
    let mut lock: Value = serde_json::from_slice(&std::fs::read(&in_place).unwrap()).unwrap();
    flip_hex(&mut lock["node_signatures"][2]);
    std::fs::write(&in_place, serde_json::to_vec_pretty(&lock).unwrap()).unwrap();
    let before = tree(&cluster.data);

    for _restart in 0..2 {
        let out = cluster.start(&[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        let published = status::read_file(&cluster.status).unwrap();
        assert_eq!(published.phase, Phase::LockRefused);
        let reason = published.error.unwrap().reason;
        assert!(reason.contains("node_signatures[2]") && reason.contains("left untouched"), "{reason}");
        assert_eq!(tree(&cluster.data), before, "the data directory is never modified");
    }
    assert_plugin_refuses(&in_place, "node_signatures[2]");
}
