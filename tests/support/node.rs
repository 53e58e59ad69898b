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
                && let Ok(Some(status)) = dv_pod::kube::published_status(&found)
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

    /// The pods of a release that exist now (terminating ones included).
    pub async fn release_pods(&self, namespace: &str, release: &str) -> Vec<Pod> {
        let pods: Api<Pod> = Api::namespaced(self.client().await, namespace);
        let selector = format!("app.kubernetes.io/instance={release},app.kubernetes.io/component=node");
        pods.list(&kube::api::ListParams::default().labels(&selector)).await.unwrap().items
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

/// Each container's peak memory, read from its cgroup (v1
/// `memory.max_usage_in_bytes`) while it runs: an init container's cgroup
/// is gone once it exits, so the sampler looks every half second.
pub struct MemoryPeaks {
    peaks: std::sync::Arc<std::sync::Mutex<BTreeMap<String, u64>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl MemoryPeaks {
    pub fn start(node: &'static Node, namespace: &str) -> MemoryPeaks {
        let peaks = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (namespace, seen, stopped) = (namespace.to_string(), peaks.clone(), stop.clone());
        tokio::spawn(async move {
            let pods: Api<Pod> = Api::namespaced(node.client().await, &namespace);
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                for pod in pods.list(&Default::default()).await.map(|l| l.items).unwrap_or_default() {
                    let uid = pod.metadata.uid.clone().unwrap_or_default();
                    let status = pod.status.unwrap_or_default();
                    let containers = status
                        .init_container_statuses
                        .unwrap_or_default()
                        .into_iter()
                        .chain(status.container_statuses.unwrap_or_default());
                    for container in containers {
                        let Some(id) =
                            container.container_id.as_deref().and_then(|id| id.strip_prefix("containerd://"))
                        else {
                            continue;
                        };
                        if let Some(bytes) = container_peak(&uid, id) {
                            let mut peaks = seen.lock().unwrap();
                            let peak = peaks.entry(container.name).or_insert(0);
                            *peak = (*peak).max(bytes);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        MemoryPeaks { peaks, stop }
    }

    /// Peak bytes by container name so far.
    pub fn peaks(&self) -> BTreeMap<String, u64> {
        self.peaks.lock().unwrap().clone()
    }
}

impl Drop for MemoryPeaks {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn container_peak(pod_uid: &str, container_id: &str) -> Option<u64> {
    let pod_dir = format!("pod{pod_uid}");
    ["kubepods", "kubepods/burstable", "kubepods/besteffort"].iter().find_map(|qos| {
        let path = Path::new("/sys/fs/cgroup/memory")
            .join(qos)
            .join(&pod_dir)
            .join(container_id)
            .join("memory.max_usage_in_bytes");
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    })
}
