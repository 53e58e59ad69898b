//! A local cluster formation: a real `charon relay`, the Obol API simulator,
//! and one `dv-sidecar dkg` process per operator, each with its own ENR key
//! and data directory. Formations in one test binary run one at a time:
//! four real DKGs at once would only fight over two cores.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use dv_pod::{
    definition::Network,
    enr::EnrPrivateKey,
    obol_api::simulator::{ClusterPlan, CreatedCluster, FaultRule, OperatorPlan, SignAt, Simulator, SimulatorConfig},
    status,
};
use serde_json::Value;

use super::{
    bed::bin,
    process::{Spawned, free_port, spawn, wait_for_http_ok},
};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct Node {
    pub data_dir: PathBuf,
    pub key_file: PathBuf,
    pub status_file: PathBuf,
    pub log: PathBuf,
    pub operator: String,
    pub p2p_port: u16,
}

pub struct Formation {
    _serial: tokio::sync::MutexGuard<'static, ()>,
    pub work: tempfile::TempDir,
    pub relay_url: String,
    _relay: Spawned,
    pub simulator: Simulator,
    pub api_address: SocketAddr,
    pub nodes: Vec<Node>,
    pub created: Option<CreatedCluster>,
    /// How long one DKG attempt may take before the sidecar retries.
    pub attempt_timeout_seconds: u64,
}

impl Formation {
    /// Relay up, simulator bound (serving unless `serve_api` is false), and
    /// four nodes with fresh keys.
    pub async fn new(serve_api: bool) -> Formation {
        let serial = ONE_AT_A_TIME.lock().await;
        let work = tempfile::tempdir().unwrap();
        let http = free_port();
        let mut command = Command::new(bin("charon"));
        command.args([
            "relay",
            &format!("--data-dir={}", work.path().join("relay").display()),
            &format!("--http-address=127.0.0.1:{http}"),
            &format!("--p2p-tcp-address=127.0.0.1:{}", free_port()),
            "--p2p-advertise-private-addresses=true",
            "--log-format=json",
        ]);
        let relay = spawn("relay", command, &work.path().join("relay.log"));
        let relay_url = format!("http://127.0.0.1:{http}");
        assert!(wait_for_http_ok(&format!("{relay_url}/enr"), Duration::from_secs(30)).await, "the relay never served");

        let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
        let api_address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        if serve_api {
            simulator.clone().spawn(api_address).await.unwrap();
        }
        let nodes = (0..4)
            .map(|i| {
                let data_dir = work.path().join(format!("node{i}"));
                std::fs::create_dir_all(&data_dir).unwrap();
                let key_file = work.path().join(format!("node{i}-enr-key"));
                EnrPrivateKey::generate().unwrap().save_new(&key_file).unwrap();
                Node {
                    data_dir,
                    key_file,
                    status_file: work.path().join(format!("node{i}.status.json")),
                    log: work.path().join(format!("node{i}.log")),
                    operator: String::new(),
                    p2p_port: free_port(),
                }
            })
            .collect();
        Formation {
            _serial: serial,
            work,
            relay_url,
            _relay: relay,
            simulator,
            api_address,
            nodes,
            created: None,
            attempt_timeout_seconds: 60,
        }
    }

    /// The Launchpad creates the cluster; operator i signs at `signing[i]`.
    pub fn create_cluster(&mut self, signing: [SignAt; 4]) -> CreatedCluster {
        let plan = ClusterPlan {
            name: "formation".into(),
            network: Network::Hoodi,
            num_validators: 1,
            threshold: None,
            operators: self
                .nodes
                .iter()
                .zip(signing)
                .map(|(node, sign)| OperatorPlan {
                    enr: Some(EnrPrivateKey::load(&node.key_file).unwrap().record().text().to_string()),
                    eth_private_key: None,
                    sign,
                })
                .collect(),
        };
        let created = self.simulator.create(plan).unwrap();
        for (node, operator) in self.nodes.iter_mut().zip(&created.operator_addresses) {
            node.operator = operator.clone();
        }
        self.created = Some(created.clone());
        created
    }

    pub fn set_faults(&self, faults: Vec<FaultRule>) {
        self.simulator.set_faults(faults);
    }

    /// Starts the API on its reserved address (after `new(false)`).
    pub async fn serve_api(&self) {
        self.simulator.clone().spawn(self.api_address).await.unwrap();
    }

    pub fn start_sidecar(&self, i: usize) -> Spawned {
        let node = &self.nodes[i];
        let mut command = sidecar_dkg(&node.data_dir, &node.key_file, &node.operator, self.api_address);
        command
            .args(["--max-retry-delay-seconds", "4"])
            .args(["--p2p-relays", &self.relay_url])
            .arg(format!("--p2p-tcp-address=127.0.0.1:{}", node.p2p_port))
            .args(["--dkg-timeout-seconds", "30"])
            .arg(format!("--dkg-attempt-timeout-seconds={}", self.attempt_timeout_seconds))
            .args(["--charon", bin("charon").to_str().unwrap()])
            .args(["--status-file", node.status_file.to_str().unwrap()]);
        spawn("dv-sidecar", command, &node.log)
    }

    pub fn start_all(&self) -> Vec<Spawned> {
        (0..self.nodes.len()).map(|i| self.start_sidecar(i)).collect()
    }

    /// Waits for every sidecar to exit 0.
    pub fn expect_success(&self, sidecars: &mut [Spawned], timeout: Duration) {
        for (i, sidecar) in sidecars.iter_mut().enumerate() {
            let status = tokio::task::block_in_place(|| sidecar.wait_for_exit(timeout));
            assert!(
                status.is_some_and(|s| s.success()),
                "sidecar {i} ended with {status:?}:\n{}",
                tail(&self.nodes[i].log)
            );
        }
    }

    /// Every node holds the same verified lock for our cluster with its key
    /// shares, no key copy and no scratch directory; returns the lock hash.
    pub fn assert_formed(&self) -> String {
        let created = self.created.as_ref().expect("a cluster was created");
        let mut lock_hashes = Vec::new();
        for node in &self.nodes {
            let cluster = node.data_dir.join("cluster");
            let lock: Value =
                serde_json::from_slice(&std::fs::read(cluster.join("cluster-lock.json")).unwrap()).unwrap();
            assert_eq!(lock["cluster_definition"]["config_hash"], created.config_hash);
            lock_hashes.push(lock["lock_hash"].as_str().unwrap().to_string());
            for file in ["keystore-0.json", "keystore-0.txt"] {
                assert!(cluster.join("validator_keys").join(file).is_file(), "{file} missing in {}", cluster.display());
            }
            assert!(!cluster.join("charon-enr-private-key").exists(), "the key copy must not stay in the result");
            assert!(!node.data_dir.join(".dkg-attempt").exists());
            assert_eq!(status::read_file(&node.status_file).unwrap().phase, status::Phase::Done);
        }
        assert!(lock_hashes.windows(2).all(|w| w[0] == w[1]), "lock hashes differ: {lock_hashes:?}");
        lock_hashes.remove(0)
    }
}

/// `dv-sidecar dkg` for one node on Hoodi, following the Obol API at `api`
/// as `operator` and polling every second at first.
pub fn sidecar_dkg(data_dir: &Path, key_file: &Path, operator: &str, api: SocketAddr) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dv-sidecar"));
    command
        .arg("dkg")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--enr-key-file")
        .arg(key_file)
        .args(["--operator-address", operator, "--network", "hoodi", "--api-endpoint", &format!("http://{api}")])
        .args(["--initial-retry-delay-seconds", "1"]);
    command
}

pub fn tail(path: &Path) -> String {
    dv_pod::process::tail(path, 30)
}

impl Formation {
    /// Every status snapshot the sidecars logged, checked against the
    /// published schema; returns the last snapshot of each phase seen.
    /// With `DV_WRITE_STATUS_EXAMPLES=1` they are merged into
    /// `assets/status-examples.json`, the documented example of each phase.
    pub fn check_status_lines(&self) -> std::collections::BTreeMap<String, Value> {
        let mut by_phase = std::collections::BTreeMap::new();
        for node in &self.nodes {
            for line in std::fs::read_to_string(&node.log).unwrap().lines() {
                let Ok(entry) = serde_json::from_str::<Value>(line) else { continue };
                let Some(text) = entry["fields"]["status"].as_str() else { continue };
                let snapshot: Value = serde_json::from_str(text).unwrap();
                super::schema::assert_matches("status.v1", &snapshot);
                by_phase.insert(snapshot["phase"].as_str().unwrap().to_string(), snapshot);
            }
        }
        if std::env::var_os("DV_WRITE_STATUS_EXAMPLES").is_some() {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/status-examples.json");
            let mut examples: std::collections::BTreeMap<String, Value> =
                std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
            // These formations are invited from the start, so their only
            // waiting_for_invite comes before any poll has said why; the
            // documented one (with its detail) is kept.
            let said_why = |(phase, s): &(String, Value)| phase != "waiting_for_invite" || !s["detail"].is_null();
            examples.extend(by_phase.clone().into_iter().filter(said_why));
            std::fs::write(&path, serde_json::to_string_pretty(&examples).unwrap() + "\n").unwrap();
        }
        by_phase
    }
}
