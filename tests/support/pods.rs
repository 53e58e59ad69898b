//! What tests on the bed's node do with releases and their pods: the Obol
//! API simulator where pods reach it, a `charon relay` pod, and the pod
//! checks a user would make with kubectl.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use dv_pod::obol_api::simulator::{Simulator, SimulatorConfig};
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, api::PostParams};
use serde_json::json;

use super::node::{NODE_IP, Node};

/// The Obol API simulator on the node bridge, where pods reach it. It
/// serves from a thread and runtime of its own, as a remote service would:
/// the test's blocking helm and kubectl calls never stall its answers (a
/// stalled poll once timed out in a pod, on two loaded cores). `down` drops
/// that runtime, closing every connection, so pods meet refused connections
/// as in an outage; `up` serves the same state on the same address again.
pub struct Launchpad {
    pub simulator: Simulator,
    pub address: SocketAddr,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Launchpad {
    pub fn start() -> Launchpad {
        let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
        let (address, stop) = serve(simulator.clone(), SocketAddr::new(NODE_IP, 0));
        Launchpad { simulator, address, stop: Mutex::new(Some(stop)) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn stop_serving(&self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
    }

    pub fn down(&self) {
        self.stop_serving();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(self.address).is_ok() {
            assert!(Instant::now() < deadline, "the simulator still answers at {}", self.address);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn up(&self) {
        let (_, stop) = serve(self.simulator.clone(), self.address);
        *self.stop.lock().unwrap() = Some(stop);
    }
}

impl Drop for Launchpad {
    fn drop(&mut self) {
        self.stop_serving();
    }
}

fn serve(simulator: Simulator, address: SocketAddr) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_reuseaddr(true).unwrap();
            socket.bind(address).unwrap();
            let listener = socket.listen(1024).unwrap();
            bound_tx.send(listener.local_addr().unwrap()).unwrap();
            tokio::select! {
                _ = simulator.serve(listener) => {}
                _ = stop_rx => {}
            }
        });
        // Dropping the runtime cancels every open connection with it.
    });
    (bound_rx.recv().unwrap(), stop_tx)
}

pub async fn pod(node: &Node, namespace: &str, name: &str) -> Option<Pod> {
    Api::<Pod>::namespaced(node.client().await, namespace).get_opt(name).await.unwrap()
}

/// Restart counts by container, init containers included.
pub fn restarts(pod: &Pod) -> BTreeMap<String, i32> {
    let status = pod.status.clone().unwrap_or_default();
    status
        .init_container_statuses
        .unwrap_or_default()
        .into_iter()
        .chain(status.container_statuses.unwrap_or_default())
        .map(|c| (c.name, c.restart_count))
        .collect()
}

/// Waits for a pod `name` other than `old_uid` (an upgrade or a deletion
/// reached the pod without anyone else deleting it).
pub async fn wait_for_new_pod(node: &Node, namespace: &str, name: &str, old_uid: &str, timeout: Duration) -> Pod {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(pod) = pod(node, namespace, name).await
            && pod.metadata.uid.as_deref() != Some(old_uid)
            && pod.metadata.deletion_timestamp.is_none()
        {
            return pod;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{namespace}: pod {name} (uid {old_uid}) was never replaced");
}

/// Whether every named container of the pod is running now.
pub fn running(pod: &Pod, names: &[&str]) -> bool {
    let statuses = pod.status.clone().and_then(|s| s.container_statuses).unwrap_or_default();
    names
        .iter()
        .all(|name| statuses.iter().any(|c| c.name == *name && c.state.as_ref().is_some_and(|s| s.running.is_some())))
}

pub async fn wait_until_running(
    node: &Node,
    namespace: &str,
    name: &str,
    containers: &[&str],
    timeout: Duration,
) -> Pod {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(pod) = pod(node, namespace, name).await
            && pod.metadata.deletion_timestamp.is_none()
            && running(&pod, containers)
        {
            return pod;
        }
        assert!(
            Instant::now() < deadline,
            "{namespace}: {containers:?} never all ran\n--- charon ---\n{}\n--- validator-client ---\n{}",
            node.container_log(namespace, name, "charon"),
            node.container_log(namespace, name, "validator-client")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Prints each container's peak memory beside its request and limit; a
/// container that never ran here (a VC before formation) has no figure.
pub fn print_memory(label: &str, pod: &Pod, peaks: &BTreeMap<String, u64>) {
    let spec = pod.spec.clone().unwrap();
    for container in spec.init_containers.unwrap_or_default().into_iter().chain(spec.containers) {
        let resources = container.resources.unwrap_or_default();
        let quantity = |m: &Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            m.as_ref().and_then(|m| m.get("memory")).map_or("-".to_string(), |q| q.0.clone())
        };
        let Some(bytes) = peaks.get(&container.name) else { continue };
        println!(
            "figures: {label} {} peak memory {:.1} MiB (request {}, limit {})",
            container.name,
            *bytes as f64 / 1048576.0,
            quantity(&resources.requests),
            quantity(&resources.limits)
        );
    }
}

/// `charon relay` as a pod from the chart's charon image behind a Service,
/// in a namespace of its own that enforces `restricted`; returns the URL
/// pods reach it on. It advertises its pod address, which every pod on the
/// node can dial.
pub async fn relay_pod(node: &Node, namespace: &str) -> String {
    node.create_restricted_namespace(namespace).await;
    let client = node.client().await;
    let labels = json!({"app.kubernetes.io/name": "charon-relay"});
    let relay = json!({
        "metadata": {"name": "relay", "labels": labels},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "relay",
                "image": super::bed::image_ref("charon"),
                "imagePullPolicy": "IfNotPresent",
                "args": ["relay", "--data-dir=/data", "--http-address=0.0.0.0:3640", "--p2p-tcp-address=0.0.0.0:3610",
                         "--p2p-advertise-private-addresses=true", "--log-format=json"],
                "ports": [{"name": "http", "containerPort": 3640}, {"name": "p2p", "containerPort": 3610}],
                "readinessProbe": {"httpGet": {"path": "/enr", "port": "http"}, "periodSeconds": 2},
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }],
            "volumes": [{"name": "data", "emptyDir": {}}],
        }
    });
    let service = json!({
        "metadata": {"name": "relay"},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": 3640}, {"name": "p2p", "port": 3610}]},
    });
    Api::<Pod>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &serde_json::from_value(relay).unwrap())
        .await
        .unwrap();
    Api::<k8s_openapi::api::core::v1::Service>::namespaced(client, namespace)
        .create(&PostParams::default(), &serde_json::from_value(service).unwrap())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let ready = pod(node, namespace, "relay")
            .await
            .and_then(|p| p.status)
            .and_then(|s| s.conditions)
            .is_some_and(|conditions| conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if ready {
            return format!("http://relay.{namespace}.svc.cluster.local:3640");
        }
        assert!(
            Instant::now() < deadline,
            "the relay pod never became ready:\n{}",
            node.container_log(namespace, "relay", "relay")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
