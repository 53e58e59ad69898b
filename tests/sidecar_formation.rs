//! Formation: four operators, each a real `dv-sidecar dkg` process with its
//! own ENR key and data directory, against the Obol API simulator and a real
//! `charon relay` on loopback. One operator has signed at the start; the
//! others sign over the following seconds. Every sidecar must notice, run the
//! real `charon dkg`, and end with the same verified lock and its key shares;
//! then `charon run` on the four results becomes ready on the simnet mocks.

mod support;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant, SystemTime},
};

use dv_pod::{
    definition::Network,
    enr::EnrPrivateKey,
    obol_api::simulator::{ClusterPlan, OperatorPlan, SignAt, Simulator, SimulatorConfig},
    status,
};
use serde_json::Value;
use support::{
    bed::bin,
    process::{Spawned, free_port, spawn, wait_for_http_ok},
};

struct Node {
    data_dir: PathBuf,
    key_file: PathBuf,
    status_file: PathBuf,
    log: PathBuf,
}

fn start_relay(work: &Path) -> (Spawned, String) {
    let http = free_port();
    let mut command = Command::new(bin("charon"));
    command.args([
        "relay",
        &format!("--data-dir={}", work.join("relay").display()),
        &format!("--http-address=127.0.0.1:{http}"),
        &format!("--p2p-tcp-address=127.0.0.1:{}", free_port()),
        "--p2p-advertise-private-addresses=true",
        "--log-format=json",
    ]);
    (spawn("relay", command, &work.join("relay.log")), format!("http://127.0.0.1:{http}"))
}

fn sidecar(node: &Node, operator: &str, api: &str, relay: &str) -> Spawned {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dv-sidecar"));
    command
        .arg("dkg")
        .args(["--data-dir", node.data_dir.to_str().unwrap()])
        .args(["--enr-key-file", node.key_file.to_str().unwrap()])
        .args(["--operator-address", operator, "--network", "hoodi", "--api-endpoint", api])
        .args(["--initial-retry-delay-seconds", "1", "--max-retry-delay-seconds", "4"])
        .args(["--p2p-relays", relay])
        .arg(format!("--p2p-tcp-address=127.0.0.1:{}", free_port()))
        .args(["--dkg-timeout-seconds", "60", "--dkg-attempt-timeout-seconds", "150"])
        .args(["--charon", bin("charon").to_str().unwrap()])
        .args(["--status-file", node.status_file.to_str().unwrap()]);
    spawn("dv-sidecar", command, &node.log)
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

fn parse_time(text: &str) -> SystemTime {
    humantime::parse_rfc3339(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_sidecars_detect_the_last_signature_run_a_real_dkg_and_the_result_runs() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (_relay, relay_url) = start_relay(work);
    assert!(
        wait_for_http_ok(&format!("{relay_url}/enr"), Duration::from_secs(30)).await,
        "relay:\n{}",
        tail(&work.join("relay.log"))
    );

    let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
    let api = format!("http://{}", simulator.clone().spawn("127.0.0.1:0".parse().unwrap()).await.unwrap());

    let nodes: Vec<Node> = (0..4)
        .map(|i| {
            let data_dir = work.join(format!("node{i}"));
            std::fs::create_dir_all(&data_dir).unwrap();
            let key_file = work.join(format!("node{i}-enr-key"));
            EnrPrivateKey::generate().unwrap().save_new(&key_file).unwrap();
            Node {
                data_dir,
                key_file,
                status_file: work.join(format!("node{i}.status.json")),
                log: work.join(format!("node{i}.log")),
            }
        })
        .collect();
    let signing_delays = [0.0, 3.0, 5.0, 7.0];
    let plan = ClusterPlan {
        name: "formation".into(),
        network: Network::Hoodi,
        num_validators: 1,
        threshold: None,
        operators: nodes
            .iter()
            .zip(signing_delays)
            .map(|(node, delay)| OperatorPlan {
                enr: Some(EnrPrivateKey::load(&node.key_file).unwrap().record().text().to_string()),
                eth_private_key: None,
                sign: if delay == 0.0 { SignAt::Now } else { SignAt::AfterSeconds(delay) },
            })
            .collect(),
    };
    let created_at = SystemTime::now();
    let created = simulator.create(plan).unwrap();
    let last_signature = created_at + Duration::from_secs_f64(signing_delays[3]);

    let mut sidecars: Vec<Spawned> = nodes
        .iter()
        .zip(&created.operator_addresses)
        .map(|(node, operator)| sidecar(node, operator, &api, &relay_url))
        .collect();

    for (i, sidecar) in sidecars.iter_mut().enumerate() {
        let status = tokio::task::block_in_place(|| sidecar.wait_for_exit(Duration::from_secs(240)));
        assert!(status.is_some_and(|s| s.success()), "sidecar {i} ended with {status:?}:\n{}", tail(&nodes[i].log));
    }

    let mut lock_hashes = Vec::new();
    for node in &nodes {
        let cluster = node.data_dir.join("cluster");
        let lock: Value = serde_json::from_slice(&std::fs::read(cluster.join("cluster-lock.json")).unwrap()).unwrap();
        lock_hashes.push(lock["lock_hash"].as_str().unwrap().to_string());
        assert_eq!(lock["cluster_definition"]["config_hash"], created.config_hash);
        for file in ["keystore-0.json", "keystore-0.txt"] {
            assert!(cluster.join("validator_keys").join(file).is_file(), "{file} missing in {}", cluster.display());
        }
        assert!(!cluster.join("charon-enr-private-key").exists(), "the key copy must not stay in the result");
        assert!(!node.data_dir.join(".dkg-attempt").exists());
        let final_status = status::read_file(&node.status_file).unwrap();
        assert_eq!(final_status.phase, status::Phase::Done);
        let started = parse_time(&final_status.dkg.unwrap().started_at);
        let reaction = started.duration_since(last_signature).unwrap_or_default();
        println!("figure: {} started charon dkg {reaction:?} after the last signature", node.data_dir.display());
    }
    assert!(lock_hashes.windows(2).all(|w| w[0] == w[1]), "lock hashes differ: {lock_hashes:?}");

    // The artifacts work: Charon runs on them against its simnet mocks.
    let mut charons = Vec::new();
    let mut readiness = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let monitoring = free_port();
        let cluster = node.data_dir.join("cluster");
        let mut command = Command::new(bin("charon"));
        command.args([
            "run",
            &format!("--lock-file={}", cluster.join("cluster-lock.json").display()),
            &format!("--private-key-file={}", node.key_file.display()),
            "--simnet-beacon-mock",
            "--simnet-validator-mock",
            &format!("--simnet-validator-keys-dir={}", cluster.join("validator_keys").display()),
            &format!("--p2p-relays={relay_url}"),
            &format!("--p2p-tcp-address=127.0.0.1:{}", free_port()),
            &format!("--monitoring-address=127.0.0.1:{monitoring}"),
            &format!("--validator-api-address=127.0.0.1:{}", free_port()),
            "--log-format=json",
        ]);
        charons.push(spawn("charon run", command, &work.join(format!("charon{i}.log"))));
        readiness.push(format!("http://127.0.0.1:{monitoring}/readyz"));
    }
    let started = Instant::now();
    for (i, url) in readiness.iter().enumerate() {
        assert!(
            wait_for_http_ok(url, Duration::from_secs(120)).await,
            "charon {i} never became ready:\n{}",
            tail(&work.join(format!("charon{i}.log")))
        );
    }
    println!("figure: four charon nodes ready {:?} after start", started.elapsed());
}
