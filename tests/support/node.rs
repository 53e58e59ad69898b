//! The bed's real Kubernetes node (`tests/bed/node`): a kubelet with
//! containerd, kube-proxy, CoreDNS and a dynamic local-path StorageClass,
//! with the chart's images built here (`tests/bed/images`, which `make test`
//! runs before the tests) and imported.
//!
//! One node per test binary that needs one: the first `node()` brings it up
//! (taking down whatever a killed earlier run left), and an `atexit` handler
//! takes it down when the binary exits, whether its tests passed or failed.
//! `make test` runs `tests/bed/node down` once more at its end, so even a
//! test binary killed by a signal leaves nothing behind.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
    time::{Duration, Instant},
};

use dv_pod::status::{Phase, Status};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::{
    Api, Client,
    api::PostParams,
    config::{KubeConfigOptions, Kubeconfig},
};

use super::bed::{bed_dir, bin};

/// The node's address on its bridge: the API server, CoreDNS and anything a
/// test serves to pods (the Obol API simulator) listen here.
pub const NODE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 88, 0, 1));

pub struct Node {
    /// The admin kubeconfig (system:masters) for helm, kubectl and our plugin.
    pub kubeconfig: PathBuf,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed").join(name)
}

fn run_script(name: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(script(name)).args(args).output().map_err(|e| format!("cannot run {name}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "tests/bed/{name} {} failed ({}):\n{}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

extern "C" fn take_the_node_down() {
    // For a look at a failed test's pods; `tests/bed/node down` ends it.
    if std::env::var_os("DV_BED_KEEP_NODE").is_some_and(|v| !v.is_empty()) {
        return;
    }
    if let Err(error) = run_script("node", &["down"]) {
        eprintln!("{error}");
    }
}

/// The node of this test binary, brought up with the chart's images on
/// first use. A failed start is remembered: every later test fails with the
/// same reason instead of starting another node.
pub fn node() -> &'static Node {
    static NODE: OnceLock<Result<Node, String>> = OnceLock::new();
    let started = NODE.get_or_init(|| {
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(take_the_node_down) };
        run_script("node", &["up"])?;
        run_script("images", &["--import-only"])?;
        let kubeconfig = bed_dir().join("node/kubeconfig");
        Ok(Node { kubeconfig })
    });
    match started {
        Ok(node) => node,
        Err(reason) => panic!("{reason}"),
    }
}

impl Node {
    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
        Client::try_from(config).unwrap()
    }

    /// `kubectl` with the admin kubeconfig; the output whatever the exit.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(bin("kubectl")).arg("--kubeconfig").arg(&self.kubeconfig).args(args).output().unwrap()
    }

    /// Our plugin as a user runs it (`kubectl dv ...`), against this node.
    pub fn kubectl_dv(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kubectl-dv")).env("KUBECONFIG", &self.kubeconfig).args(args).output().unwrap()
    }

    /// `helm` (helm3 or helm4) in `namespace`; panics with its stderr when it fails.
    pub fn helm(&self, helm: &str, namespace: &str, args: &[&str]) -> String {
        let out = self.helm_output(helm, namespace, args);
        assert!(out.status.success(), "{helm} {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn helm_output(&self, helm: &str, namespace: &str, args: &[&str]) -> Output {
        Command::new(bin(helm))
            .args(args)
            .args(["--namespace", namespace, "--kubeconfig"])
            .arg(&self.kubeconfig)
            .output()
            .unwrap()
    }

    /// A namespace that enforces the `restricted` Pod Security Standard.
    pub async fn create_restricted_namespace(&self, name: &str) {
        let namespace = serde_json::json!({
            "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}
        });
        Api::<Namespace>::all(self.client().await)
            .create(&PostParams::default(), &serde_json::from_value(namespace).unwrap())
            .await
            .unwrap();
    }

    /// The status the release's pod published, once `accept` holds; panics
    /// after `timeout` with the last status and the pod's dkg log.
    pub async fn wait_for_status(
        &self,
        namespace: &str,
        release: &str,
        timeout: Duration,
        accept: impl Fn(&Status) -> bool,
    ) -> Status {
        let configmaps: Api<ConfigMap> = Api::namespaced(self.client().await, namespace);
        let deadline = Instant::now() + timeout;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some(found) = configmaps.get_opt(&format!("{release}-status")).await.unwrap()
                && let Ok(Some(status)) = dv_pod::cluster::published_status(&found)
            {
                if accept(&status) {
                    return status;
                }
                last = Some(status);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "{namespace}/{release}: no accepted status within {timeout:?}; last: {last:#?}\n--- dkg log ---\n{}",
            self.container_log(namespace, &format!("{release}-0"), "dkg")
        );
    }

    pub async fn wait_for_phase(&self, namespace: &str, release: &str, phase: Phase, timeout: Duration) -> Status {
        self.wait_for_status(namespace, release, timeout, |s| s.phase == phase).await
    }

    pub fn container_log(&self, namespace: &str, pod: &str, container: &str) -> String {
        let out = self.kubectl(&["-n", namespace, "logs", pod, "-c", container, "--tail=40"]);
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// Packets the egress guard dropped (anything from the pod subnet
    /// towards the uplink): must stay 0.
    pub fn guard_drops(&self) -> u64 {
        let out = Command::new(script("node")).arg("guard-drops").output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }
}

/// An address on the node bridge with a free port, for a service the
/// test runs for pods to reach.
pub fn bridge_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind((NODE_IP, 0)).unwrap();
    listener.local_addr().unwrap()
}

/// Each container's peak memory, read from its cgroup (v1) and its
/// processes while it runs: an init container's cgroup is gone once it
/// exits, so the sampler looks every half second.
pub struct MemoryPeaks {
    seen: std::sync::Arc<std::sync::Mutex<Sampled>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Default)]
struct Sampled {
    /// Peak bytes by container id.
    peaks: BTreeMap<String, u64>,
    /// Each container id's name in its pod.
    names: BTreeMap<String, String>,
}

impl MemoryPeaks {
    /// Samples every container cgroup of the namespace's pods each 100 ms
    /// (an init container that copies keys lives about a second); the pods
    /// and the names of their containers are read from the API each second.
    pub fn start(node: &'static Node, namespace: &str) -> MemoryPeaks {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Sampled::default()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (namespace, shared, stopped) = (namespace.to_string(), seen.clone(), stop.clone());
        tokio::spawn(async move {
            let pods: Api<Pod> = Api::namespaced(node.client().await, &namespace);
            let mut uids = Vec::new();
            for round in 0u64.. {
                if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                if round % 10 == 0 {
                    let listed = pods.list(&Default::default()).await.map(|l| l.items).unwrap_or_default();
                    uids = listed.iter().filter_map(|p| p.metadata.uid.clone()).collect();
                    let mut seen = shared.lock().unwrap();
                    for pod in listed {
                        let status = pod.status.unwrap_or_default();
                        let containers = status
                            .init_container_statuses
                            .unwrap_or_default()
                            .into_iter()
                            .chain(status.container_statuses.unwrap_or_default());
                        for container in containers {
                            if let Some(id) =
                                container.container_id.as_deref().and_then(|id| id.strip_prefix("containerd://"))
                            {
                                seen.names.insert(id.to_string(), container.name);
                            }
                        }
                    }
                }
                for (id, bytes) in uids.iter().flat_map(|uid| container_peaks(uid)) {
                    let mut seen = shared.lock().unwrap();
                    let peak = seen.peaks.entry(id).or_insert(0);
                    *peak = (*peak).max(bytes);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        MemoryPeaks { seen, stop }
    }

    /// Peak bytes by container name so far (the most of any of its runs).
    pub fn peaks(&self) -> BTreeMap<String, u64> {
        let seen = self.seen.lock().unwrap();
        let mut by_name = BTreeMap::new();
        for (id, bytes) in &seen.peaks {
            if let Some(name) = seen.names.get(id) {
                let peak = by_name.entry(name.clone()).or_insert(0);
                *peak = (*peak).max(*bytes);
            }
        }
        by_name
    }
}

impl Drop for MemoryPeaks {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Each container cgroup of a pod, by container id, with its peak now.
fn container_peaks(pod_uid: &str) -> Vec<(String, u64)> {
    let pod_dir = format!("pod{pod_uid}");
    let Some(dir) = ["kubepods", "kubepods/burstable", "kubepods/besteffort"]
        .iter()
        .map(|qos| Path::new("/sys/fs/cgroup/memory").join(qos).join(&pod_dir))
        .find(|dir| dir.is_dir())
    else {
        return Vec::new();
    };
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .filter(|entry| entry.path().is_dir())
                .filter_map(|entry| Some((entry.file_name().into_string().ok()?, container_peak(&entry.path())?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The larger of the container cgroup's peak charge and its processes'
/// peak RSS: cgroup v1 charges a binary's mapped pages to whoever first
/// read them (here, the image import), so either alone can undercount.
fn container_peak(dir: &Path) -> Option<u64> {
    let charged: u64 = std::fs::read_to_string(dir.join("memory.max_usage_in_bytes")).ok()?.trim().parse().ok()?;
    let resident: u64 = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
        })
        .sum();
    Some(charged.max(resident))
}

/// A real `charon relay` on the node bridge, for Charon in pods to find
/// its peers through (the public relays are out of reach); returns it with
/// its URL. Killed when dropped.
pub fn relay(dir: &Path) -> (super::process::Spawned, String) {
    let http = bridge_address();
    let mut command = Command::new(bin("charon"));
    command.args([
        "relay",
        &format!("--data-dir={}", dir.join("relay").display()),
        &format!("--http-address={http}"),
        &format!("--p2p-tcp-address={}", bridge_address()),
        "--p2p-advertise-private-addresses=true",
        "--log-format=json",
    ]);
    let relay = super::process::spawn("relay", command, &dir.join("relay.log"));
    (relay, format!("http://{http}"))
}
