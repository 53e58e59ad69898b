//! `dv-sidecar dkg` adopting a cluster whose DKG ran elsewhere (the chart's
//! `charon.lock` values): a lock from a file or from the Obol API by its
//! hash, with this node's key shares. The cluster comes from the real
//! `charon create cluster`; the sidecar checks it as it checks its own DKG
//! result and never runs a ceremony.

mod support;

use std::{
    path::Path,
    process::{Command, Output},
};

use dv_pod::obol_api::simulator::{Simulator, SimulatorConfig};
use serde_json::Value;
use support::{OPERATOR, charon::create_cluster, process::free_port};

fn adopt(node: &Path, data_dir: &Path, lock: &[&str], status_file: &Path) -> Output {
    adopt_with_keys(node, &node.join("validator_keys"), data_dir, lock, status_file)
}

/// `node`'s ENR key adopting `lock` with the key shares in `keys_dir`.
fn adopt_with_keys(node: &Path, keys_dir: &Path, data_dir: &Path, lock: &[&str], status_file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dv-sidecar"))
        .arg("dkg")
        .arg(format!("--data-dir={}", data_dir.display()))
        .arg(format!("--enr-key-file={}", node.join("charon-enr-private-key").display()))
        .args(["--operator-address", OPERATOR, "--network", "hoodi", "--charon", "/nonexistent/charon"])
        .arg(format!("--keys-dir={}", keys_dir.display()))
        .arg(format!("--status-file={}", status_file.display()))
        .args(lock)
        .output()
        .unwrap()
}

#[test]
fn a_lock_file_with_our_key_shares_is_put_in_place_without_a_dkg_and_the_sources_are_untouched() {
    let work = tempfile::tempdir().unwrap();
    let created = create_cluster(work.path(), 2, &[]);
    let node = created.join("node0");
    let lock_file = node.join("cluster-lock.json");
    let before = std::fs::read(&lock_file).unwrap();
    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let status = work.path().join("status.json");

    let out = adopt(&node, &data, &[&format!("--lock-file={}", lock_file.display())], &status);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lock: Value = serde_json::from_slice(&std::fs::read(data.join("cluster/cluster-lock.json")).unwrap()).unwrap();
    let expected: Value = serde_json::from_slice(&before).unwrap();
    assert_eq!(lock, expected);
    for i in 0..2 {
        assert_eq!(
            std::fs::read(data.join(format!("cluster/validator_keys/keystore-{i}.json"))).unwrap(),
            std::fs::read(node.join(format!("validator_keys/keystore-{i}.json"))).unwrap()
        );
    }
    assert!(data.join("cluster/dkg-complete.json").is_file() && !data.join(".dkg-attempt").exists());
    let published = dv_pod::status::read_file(&status).unwrap();
    assert_eq!(published.phase, dv_pod::status::Phase::Done);
    assert_eq!(published.lock_hash.as_deref(), expected["lock_hash"].as_str());
    assert_eq!(std::fs::read(&lock_file).unwrap(), before, "the source lock is only read");

    // A restart finds the adopted cluster and leaves it as it is.
    let again = adopt(&node, &data, &[&format!("--lock-file={}", lock_file.display())], &status);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
}

#[test]
fn another_nodes_key_shares_are_refused_and_leave_nothing_behind() {
    let work = tempfile::tempdir().unwrap();
    let created = create_cluster(work.path(), 2, &[]);
    let node = created.join("node0");
    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // Our key and the cluster's lock, but node 1's key shares.
    let out = adopt_with_keys(
        &node,
        &created.join("node1/validator_keys"),
        &data,
        &[&format!("--lock-file={}", node.join("cluster-lock.json").display())],
        &work.path().join("s.json"),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the key shares belong to another node"), "{stderr}");
    assert!(!data.join("cluster").exists() && !data.join(".dkg-attempt").exists());
}

#[test]
fn a_lock_without_our_enr_is_refused_and_leaves_nothing_behind() {
    let work = tempfile::tempdir().unwrap();
    let created = create_cluster(work.path(), 2, &[]);
    let other = tempfile::tempdir().unwrap();
    let foreign = create_cluster(other.path(), 2, &[]);
    // Our key and key shares, another cluster's lock.
    let lock = foreign.join("node0/cluster-lock.json");
    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let out = adopt(
        &created.join("node0"),
        &data,
        &[&format!("--lock-file={}", lock.display())],
        &work.path().join("s.json"),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not contain this node's ENR"), "{stderr}");
    assert!(!data.join("cluster").exists() && !data.join(".dkg-attempt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_hash_is_fetched_from_the_obol_api_and_an_unknown_hash_is_named() {
    let work = tempfile::tempdir().unwrap();
    let created = create_cluster(work.path(), 2, &[]);
    let node = created.join("node1");
    let lock: Value = serde_json::from_slice(&std::fs::read(node.join("cluster-lock.json")).unwrap()).unwrap();
    let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
    // The cluster never went through the API, so only the simulator can serve its lock.
    simulator.add_lock(lock.clone());
    let api = simulator.spawn(([127, 0, 0, 1], free_port()).into()).await.unwrap();
    let hash = lock["lock_hash"].as_str().unwrap().to_string();
    let endpoint = format!("--api-endpoint=http://{api}");

    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let (node_for_task, data_for_task, status) = (node.clone(), data.clone(), work.path().join("s.json"));
    let flags = [format!("--lock-hash={hash}"), endpoint.clone()];
    let out =
        tokio::task::spawn_blocking(move || adopt(&node_for_task, &data_for_task, &[&flags[0], &flags[1]], &status))
            .await
            .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(data.join("cluster/cluster-lock.json").is_file());

    let unknown = format!("--lock-hash=0x{}", "ab".repeat(32));
    let elsewhere = work.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let status = work.path().join("s2.json");
    let out =
        tokio::task::spawn_blocking(move || adopt(&node, &elsewhere, &[&unknown, &endpoint], &status)).await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no lock"), "{}", String::from_utf8_lossy(&out.stderr));
}
