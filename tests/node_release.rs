//! One release's life in real pods on the bed's node (`tests/bed/node`):
//! the unchanged chart, its images built here, a namespace that enforces
//! `restricted`, and the Obol API simulator on the node bridge playing the
//! Launchpad. Everything a user sees is read the way a user reads it: the
//! status ConfigMap the pod publishes with its own token, `kubectl dv`, helm.

mod support;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use dv_pod::{
    definition::{Network, eip712},
    enr::EnrPrivateKey,
    obol_api::simulator::{ClusterPlan, OperatorPlan, SignAt, Simulator},
    status::{Phase, Status},
};
use k8s_openapi::api::{
    batch::v1::Job,
    core::v1::{ConfigMap, Pod, Secret},
    events::v1::Event,
};
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use serde_json::{Value, json};
use support::{
    node::{MemoryPeaks, Node, bridge_address, node, relay},
    pods::{self, Launchpad, print_memory, restarts},
    process::wait_for_http_ok,
    tmux::Tmux,
};

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/chart");
const RELEASE: &str = "my-dv";
const POD: &str = "my-dv-0";
/// Our operator's wallet key (the Launchpad signs with it) and the address
/// the release is installed with.
const OUR_ETH_KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
/// A valid address no invite names: an operator's most common mistake.
const WRONG_OPERATOR: &str = "0x52908400098527886E0F7030069857D2E4169EE7";

fn our_operator() -> String {
    let key = k256::ecdsa::SigningKey::from_slice(&hex::decode(OUR_ETH_KEY).unwrap()).unwrap();
    eip712::address_of(key.verifying_key()).to_checksum(None)
}

/// What a user sets: the operator address, the API and the network; `extra`
/// are the test's own `--set`s.
fn install_args(verb: &str, operator: &str, api: SocketAddr, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [verb, RELEASE, CHART].iter().map(|s| s.to_string()).collect();
    for set in [
        format!("charon.operatorAddress={operator}"),
        format!("charon.dkgSidecar.apiEndpoint=http://{api}"),
        "network=hoodi".into(),
    ] {
        args.extend(["--set".into(), set]);
    }
    for set in extra {
        args.extend(["--set".into(), set.to_string()]);
    }
    args
}

fn helm(node: &Node, helm: &str, namespace: &str, args: &[String]) -> String {
    node.helm(helm, namespace, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

async fn enr_in_secret(node: &Node, namespace: &str) -> String {
    let secrets: Api<Secret> = Api::namespaced(node.client().await, namespace);
    let secret = secrets.get(&format!("{RELEASE}-enr-key")).await.unwrap();
    String::from_utf8(secret.data.unwrap()["enr"].0.clone()).unwrap()
}

/// The Launchpad's cluster: our node and three others who never run a node;
/// everyone signs when the test says so.
fn create_invite(simulator: &Simulator, our_enr: &str) -> String {
    let mut operators = vec![OperatorPlan {
        enr: Some(our_enr.to_string()),
        eth_private_key: Some(OUR_ETH_KEY.to_string()),
        sign: SignAt::Manual,
    }];
    for _ in 0..3 {
        let enr = EnrPrivateKey::generate().unwrap().record().text().to_string();
        operators.push(OperatorPlan { enr: Some(enr), eth_private_key: None, sign: SignAt::Manual });
    }
    let plan =
        ClusterPlan { name: "pods".into(), network: Network::Hoodi, num_validators: 1, threshold: None, operators };
    simulator.create(plan).unwrap().config_hash
}

/// Samples the release's pods every 200 ms until dropped; remembers the
/// most that ever existed at once.
struct PodCounter {
    most: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl PodCounter {
    async fn start(node: &Node, namespace: &str) -> PodCounter {
        let most = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (most.clone(), stop.clone());
        let pods: Api<Pod> = Api::namespaced(node.client().await, namespace);
        // Terminating pods included: a node's pod counts until it is gone.
        let ours = ListParams::default()
            .labels(&format!("app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=node"));
        tokio::spawn(async move {
            while !stopped.load(Ordering::Relaxed) {
                let pods = pods.list(&ours).await.map(|l| l.items).unwrap_or_default();
                seen.fetch_max(pods.len(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        PodCounter { most, stop }
    }

    fn most_at_once(&self) -> usize {
        self.most.load(Ordering::Relaxed)
    }
}

impl Drop for PodCounter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

async fn pod(node: &Node, namespace: &str) -> Option<Pod> {
    pods::pod(node, namespace, POD).await
}

async fn wait_for_new_pod(node: &Node, namespace: &str, old_uid: &str, timeout: Duration) -> Pod {
    pods::wait_for_new_pod(node, namespace, POD, old_uid, timeout).await
}

async fn wait_until_running(node: &Node, namespace: &str, names: &[&str]) -> Pod {
    pods::wait_until_running(node, namespace, POD, names, Duration::from_secs(120)).await
}

/// What `kubectl dv status --json` shows a user of the release.
fn plugin_view(node: &Node, namespace: &str) -> Value {
    let out = node.kubectl_dv(&["status", "-n", namespace, "--release", RELEASE, "--json"]);
    assert!(out.status.success(), "kubectl dv status: {}", String::from_utf8_lossy(&out.stderr));
    let view: Value = serde_json::from_slice(&out.stdout).unwrap();
    support::schema::assert_matches("release-status.v1", &view);
    view
}

fn parse_time(text: &str) -> std::time::SystemTime {
    humantime::parse_rfc3339(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_forms_in_its_pod_phase_by_phase_and_a_lone_dkg_times_out_as_dkg_failed() {
    let node = node();
    let namespace = "pods-formation";
    node.create_restricted_namespace(namespace).await;
    let memory = MemoryPeaks::start(node, namespace);
    let launchpad = Launchpad::start();
    let (simulator, api) = (&launchpad.simulator, launchpad.address);
    let operator = our_operator();

    let work = tempfile::tempdir().unwrap();
    let (_relay, relay_url) = relay(work.path());
    assert!(wait_for_http_ok(&format!("{relay_url}/enr"), Duration::from_secs(30)).await, "the relay never served");

    let started = Instant::now();
    // One DKG attempt may wait 40 s for the other operators (default 600 s);
    // the in-cluster relay stands in for Obol's public ones.
    let relays = format!("charon.p2p.relays={{{relay_url}}}");
    helm(
        node,
        "helm4",
        namespace,
        &install_args("install", &operator, api, &["charon.dkgSidecar.attemptTimeoutSeconds=40", &relays]),
    );
    let installed = started.elapsed();
    let enr_out = node.kubectl_dv(&["enr", "-n", namespace, "--release", RELEASE]);
    assert!(enr_out.status.success(), "kubectl dv enr: {}", String::from_utf8_lossy(&enr_out.stderr));
    let enr = String::from_utf8(enr_out.stdout).unwrap().trim().to_string();
    let enr_shown = started.elapsed();
    assert_eq!(enr, enr_in_secret(node, namespace).await, "kubectl dv enr shows the key the ENR Job made");
    let jobs: Api<Job> = Api::namespaced(node.client().await, namespace);
    let job = jobs.get(&format!("{RELEASE}-enr")).await.unwrap();
    assert_eq!(job.status.unwrap().succeeded, Some(1), "the ENR Job ran as a pod and succeeded");

    // Polling, published by the pod with its own token, visible within one
    // poll interval (5 s at first, the chart's default).
    let first = node.wait_for_status(namespace, RELEASE, Duration::from_secs(120), |s| s.polls >= 1).await;
    let first_poll = started.elapsed();
    assert_eq!(first.phase, Phase::WaitingForInvite);
    assert_eq!(first.enr, enr);
    assert_eq!(first.operator, operator);
    // Two poll intervals (5 s, then 7.5 s) and room for a loaded machine.
    let later = node.wait_for_status(namespace, RELEASE, Duration::from_secs(30), |s| s.polls > first.polls).await;
    assert!(later.last_poll_at > first.last_poll_at && later.next_poll_at.is_some(), "{later:#?}");
    let view = plugin_view(node, namespace);
    assert_eq!(view["status"]["phase"], "waiting_for_invite");
    assert_eq!(view["pod"]["name"], POD, "{view}");
    assert!(view["status"]["polls"].as_u64().unwrap() >= later.polls, "{view}");
    println!(
        "figures: helm install {:.1} s, ENR shown {:.1} s, first poll from the pod {:.1} s after helm install started",
        installed.as_secs_f64(),
        enr_shown.as_secs_f64(),
        first_poll.as_secs_f64()
    );

    let config_hash = create_invite(simulator, &enr);
    let awaiting = node.wait_for_phase(namespace, RELEASE, Phase::AwaitingOurSignature, Duration::from_secs(60)).await;
    assert_eq!(awaiting.invite.as_ref().unwrap().config_hash, config_hash);
    assert_eq!(plugin_view(node, namespace)["status"]["phase"], "awaiting_our_signature");
    simulator.sign(&config_hash, 0).unwrap();
    let waiting = node.wait_for_phase(namespace, RELEASE, Phase::WaitingForSignatures, Duration::from_secs(30)).await;
    assert_eq!(waiting.invite.as_ref().map(|i| (i.signed, i.total)), Some((1, 4)));
    let view = plugin_view(node, namespace);
    assert_eq!(
        (&view["status"]["phase"], &view["status"]["invite"]["signed"]),
        (&json!("waiting_for_signatures"), &json!(1))
    );
    for other in 1..4 {
        simulator.sign(&config_hash, other).unwrap();
    }
    let running = node.wait_for_phase(namespace, RELEASE, Phase::DkgRunning, Duration::from_secs(30)).await;
    assert!(running.dkg.is_some(), "{running:#?}");
    assert_eq!(plugin_view(node, namespace)["status"]["phase"], "dkg_running");

    // No other operator ever starts: the real charon dkg in the pod times out.
    let failed = node.wait_for_phase(namespace, RELEASE, Phase::DkgFailed, Duration::from_secs(150)).await;
    let error = failed.error.expect("a failed DKG says why");
    let retry = parse_time(error.next_retry_at.as_deref().expect("and when it retries"));
    assert!(retry > parse_time(&failed.updated_at) - Duration::from_secs(1), "{error:?}");

    let events: Api<Event> = Api::namespaced(node.client().await, namespace);
    let reasons: Vec<String> =
        events.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|e| e.reason).collect();
    for reason in ["WaitingForInvite", "AwaitingOurSignature", "WaitingForSignatures", "DkgRunning", "DkgFailed"] {
        assert!(reasons.iter().any(|r| r == reason), "no {reason} Event on the pod: {reasons:?}");
    }
    let pod = pod(node, namespace).await.unwrap();
    assert!(restarts(&pod).values().all(|&n| n == 0), "a waiting pod is never restarted: {:?}", restarts(&pod));
    assert_eq!(node.guard_drops(), 0, "nothing left the machine");
    print_memory(namespace, &pod, &memory.peaks());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_service_accounts_may_do_exactly_their_jobs() {
    let node = node();
    let namespace = "pods-rbac";
    node.create_restricted_namespace(namespace).await;
    let launchpad = Launchpad::start();
    let api = launchpad.address;
    helm(node, "helm4", namespace, &install_args("install", &our_operator(), api, &[]));
    node.wait_for_phase(namespace, RELEASE, Phase::WaitingForInvite, Duration::from_secs(120)).await;

    let can = |account: &str, verb: &str, resource: &str| {
        let who = format!("system:serviceaccount:{namespace}:{account}");
        let out = node.kubectl(&["auth", "can-i", verb, resource, "-n", namespace, "--as", &who]);
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    };
    let pod_account = RELEASE;
    let enr_account = &format!("{RELEASE}-enr");
    let matrix = [
        (pod_account, "patch", "configmap/my-dv-status", true),
        (pod_account, "get", "configmap/my-dv-status", true),
        (pod_account, "patch", "configmap/other", false),
        (pod_account, "get", "secret/my-dv-enr-key", false),
        (pod_account, "list", "secrets", false),
        (pod_account, "create", "pods", false),
        (pod_account, "create", "events.events.k8s.io", true),
        (enr_account, "get", "secret/my-dv-enr-key", true),
        (enr_account, "get", "secret/other", false),
        (enr_account, "list", "secrets", false),
        (enr_account, "update", "secret/my-dv-enr-key", false),
        (enr_account, "delete", "secret/my-dv-enr-key", false),
        (enr_account, "create", "pods", false),
    ];
    let wrong: Vec<_> = matrix
        .iter()
        .filter(|(account, verb, resource, allowed)| can(account, verb, resource) != *allowed)
        .map(|(account, verb, resource, allowed)| format!("{account} {verb} {resource}: expected {allowed}"))
        .collect();
    assert!(wrong.is_empty(), "RBAC differs from the release's needs:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_is_named_in_the_status_with_the_next_retry() {
    let node = node();
    let namespace = "pods-unreachable";
    node.create_restricted_namespace(namespace).await;
    let closed = bridge_address();
    helm(node, "helm4", namespace, &install_args("install", &our_operator(), closed, &[]));
    let status = node
        .wait_for_status(namespace, RELEASE, Duration::from_secs(120), |s| {
            s.error.as_ref().is_some_and(|e| e.next_retry_at.is_some())
        })
        .await;
    let error = status.error.unwrap();
    assert!(error.reason.contains(&closed.to_string()), "the reason names the endpoint: {error:?}");
    assert_eq!(status.phase, Phase::WaitingForInvite);
}

/// A marker written into both of the release's volumes by a pod of its own
/// (the sidecar image has no shell), read back later the same way.
async fn volume_marker(node: &Node, namespace: &str, write: Option<&str>) -> String {
    let name = format!("marker-{}", uuid::Uuid::new_v4().simple());
    let script = match write {
        Some(text) => format!(
            "echo {text} > /charon-data/marker && echo {text} > /vc-data/marker && cat /charon-data/marker /vc-data/marker"
        ),
        None => "cat /charon-data/marker /vc-data/marker".into(),
    };
    let spec = json!({
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "runAsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "marker", "image": "bed.local/busybox:1", "imagePullPolicy": "Never",
                "command": ["sh", "-c", script],
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "charon", "mountPath": "/charon-data"}, {"name": "vc", "mountPath": "/vc-data"}]
            }],
            "volumes": [
                {"name": "charon", "persistentVolumeClaim": {"claimName": format!("charon-data-{POD}")}},
                {"name": "vc", "persistentVolumeClaim": {"claimName": format!("validator-data-{POD}")}}
            ]
        }
    });
    let pods: Api<Pod> = Api::namespaced(node.client().await, namespace);
    pods.create(&PostParams::default(), &serde_json::from_value(spec).unwrap()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let phase = pods.get(&name).await.unwrap().status.and_then(|s| s.phase).unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            let out = node.kubectl(&["-n", namespace, "logs", &name]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert_eq!(phase, "Succeeded", "marker pod: {text}");
            pods.delete(&name, &Default::default()).await.unwrap();
            return text;
        }
        assert!(Instant::now() < deadline, "the marker pod never finished ({phase})");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn status_configmap(node: &Node, namespace: &str) -> Option<Status> {
    let configmaps: Api<ConfigMap> = Api::namespaced(node.client().await, namespace);
    let found = configmaps.get(&format!("{RELEASE}-status")).await.unwrap();
    dv_pod::cluster::published_status(&found).unwrap()
}

/// One helm major's lifecycle on the node, in each phase of formation:
/// waiting for an invite (with the wrong address), mid-DKG, and formed.
async fn lifecycle_in_every_phase(helm_major: &str) {
    let node = node();
    let namespace = &format!("pods-life-{helm_major}");
    node.create_restricted_namespace(namespace).await;
    let launchpad = Launchpad::start();
    let (simulator, api) = (&launchpad.simulator, launchpad.address);
    let counter = PodCounter::start(node, namespace).await;
    let operator = our_operator();

    // Waiting for an invite, installed with the wrong operator address.
    helm(node, helm_major, namespace, &install_args("install", WRONG_OPERATOR, api, &[]));
    let enr = enr_in_secret(node, namespace).await;
    let waiting = node.wait_for_status(namespace, RELEASE, Duration::from_secs(120), |s| s.polls >= 1).await;
    let detail = waiting.detail.clone().unwrap_or_default();
    assert!(detail.contains(WRONG_OPERATOR) && detail.contains("Launchpad"), "a wrong address says so: {waiting:#?}");
    let marker = format!("{helm_major}-marker");
    assert_eq!(volume_marker(node, namespace, Some(&marker)).await, format!("{marker}\n{marker}\n"));

    // The fix reaches the waiting pod: no one deletes it by hand.
    let old = pod(node, namespace).await.unwrap().metadata.uid.unwrap();
    helm(node, helm_major, namespace, &install_args("upgrade", &operator, api, &[]));
    assert!(status_configmap(node, namespace).await.is_some(), "an upgrade keeps the live status");
    wait_for_new_pod(node, namespace, &old, Duration::from_secs(120)).await;
    node.wait_for_status(namespace, RELEASE, Duration::from_secs(120), |s| s.operator == operator).await;
    assert_eq!(enr_in_secret(node, namespace).await, enr, "an upgrade keeps the key");

    // Mid-DKG: every operator signed, our pod runs charon dkg alone.
    let config_hash = create_invite(simulator, &enr);
    for index in 0..4 {
        simulator.sign(&config_hash, index).unwrap();
    }
    node.wait_for_phase(namespace, RELEASE, Phase::DkgRunning, Duration::from_secs(120)).await;
    let old = pod(node, namespace).await.unwrap().metadata.uid.unwrap();
    helm(node, helm_major, namespace, &install_args("upgrade", &operator, api, &["charon.nickname=mid-dkg"]));
    assert!(status_configmap(node, namespace).await.is_some(), "an upgrade mid-DKG keeps the live status");
    wait_for_new_pod(node, namespace, &old, Duration::from_secs(120)).await;
    node.wait_for_phase(namespace, RELEASE, Phase::DkgRunning, Duration::from_secs(120)).await;

    // Rollback to the waiting release's values, then uninstall and reinstall.
    let old = pod(node, namespace).await.unwrap().metadata.uid.unwrap();
    node.helm(helm_major, namespace, &["rollback", RELEASE, "2"]);
    wait_for_new_pod(node, namespace, &old, Duration::from_secs(120)).await;
    node.helm(helm_major, namespace, &["uninstall", RELEASE]);
    helm(node, helm_major, namespace, &install_args("install", &operator, api, &[]));
    assert_eq!(enr_in_secret(node, namespace).await, enr, "a reinstall reuses the key");
    node.wait_for_status(namespace, RELEASE, Duration::from_secs(120), |s| s.enr == enr).await;
    assert_eq!(volume_marker(node, namespace, None).await, format!("{marker}\n{marker}\n"), "the volumes are kept");
    assert_eq!(counter.most_at_once(), 1, "two pods of one DV node existed at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm3_upgrade_rollback_and_reinstall_in_pods_keep_status_key_and_volumes_and_take_effect() {
    lifecycle_in_every_phase("helm3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm4_upgrade_rollback_and_reinstall_in_pods_keep_status_key_and_volumes_and_take_effect() {
    lifecycle_in_every_phase("helm4").await;
}

/// A release that adopts a cluster made by the real `charon create
/// cluster` (this node's ENR key, lock and key shares from Secrets and a
/// ConfigMap), formed from its first start: Charon and Prysm run in the
/// pod, and its life never runs a DKG or loses a byte.
async fn formed_lifecycle(helm_major: &str) {
    let node = node();
    let namespace = &format!("pods-formed-{helm_major}");
    node.create_restricted_namespace(namespace).await;
    let launchpad = Launchpad::start();
    let api = launchpad.address;
    let work = tempfile::tempdir().unwrap();
    let created = support::charon::create_cluster(work.path(), 1, &[]);
    let ours = created.join("node0");
    let read = |path: &str| std::fs::read(ours.join(path)).unwrap();
    let lock: Value = serde_json::from_slice(&read("cluster-lock.json")).unwrap();
    let lock_hash = lock["lock_hash"].as_str().unwrap().to_string();
    offer_cluster(node, namespace, &ours, &read("cluster-lock.json")).await;

    let (_relay, relay_url) = relay(work.path());
    assert!(wait_for_http_ok(&format!("{relay_url}/enr"), Duration::from_secs(30)).await, "the relay never served");
    let relays = format!("charon.p2p.relays={{{relay_url}}}");
    let memory = MemoryPeaks::start(node, namespace);
    let counter = PodCounter::start(node, namespace).await;
    let adopt = [
        relays.as_str(),
        "charon.enr.existingSecret=node0-enr",
        "charon.lock.existingConfigMap=node0-lock",
        "charon.lock.keystoresSecret=node0-keys",
        "validatorClient.type=prysm",
        // No beacon node runs on the bed: Charon's own mock stands in.
        "charon.simnetBeaconMock=true",
    ];
    let args = |verb: &str, extra: &[&str]| install_args(verb, support::OPERATOR, api, &[&adopt[..], extra].concat());
    helm(node, helm_major, namespace, &args("install", &[]));
    let done = node.wait_for_phase(namespace, RELEASE, Phase::Done, Duration::from_secs(120)).await;
    assert_eq!(done.lock_hash.as_deref(), Some(lock_hash.as_str()));
    assert_release_lock_verifies(node, namespace, &lock_hash).await;
    let first = wait_until_running(node, namespace, &["charon", "validator-client"]).await;
    assert!(
        first.status.as_ref().unwrap().init_container_statuses.as_ref().unwrap().iter().all(|c| c
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.exit_code == 0))
    );

    // Charon and Prysm run a while, so their peak memory is measured at work.
    tokio::time::sleep(Duration::from_secs(30)).await;
    print_memory(namespace, &pod(node, namespace).await.unwrap(), &memory.peaks());
    // helm test reaches Charon through cluster DNS with its own token: the
    // node is formed, but its peers never come, so Charon is not ready.
    let tested = node.helm_output(helm_major, namespace, &["test", RELEASE, "--logs"]);
    let said = String::from_utf8_lossy(&tested.stdout).into_owned() + &String::from_utf8_lossy(&tested.stderr);
    assert!(!tested.status.success() && said.contains("Charon is not ready"), "helm test: {said}");

    let upgrade = || {
        helm(node, helm_major, namespace, &args("upgrade", &["charon.nickname=formed"]));
    };
    let rollback = || {
        node.helm(helm_major, namespace, &["rollback", RELEASE, "1"]);
    };
    let reinstall = || {
        node.helm(helm_major, namespace, &["uninstall", RELEASE]);
        helm(node, helm_major, namespace, &args("install", &[]));
    };
    let steps: [(&str, &dyn Fn()); 3] = [("upgrade", &upgrade), ("rollback", &rollback), ("reinstall", &reinstall)];
    for (step, run) in steps {
        let old = pod(node, namespace).await.unwrap().metadata.uid.unwrap();
        run();
        wait_for_new_pod(node, namespace, &old, Duration::from_secs(120)).await;
        let again = wait_until_running(node, namespace, &["charon", "validator-client"]).await;
        let status = node.wait_for_phase(namespace, RELEASE, Phase::Done, Duration::from_secs(60)).await;
        assert_eq!(status.lock_hash.as_deref(), Some(lock_hash.as_str()), "after {step}: the same cluster");
        assert!(status.dkg.is_none(), "after {step}: no DKG ever runs for a formed node: {status:#?}");
        assert!(restarts(&again).values().all(|&n| n == 0), "after {step}: {:?}", restarts(&again));
    }
    assert_eq!(counter.most_at_once(), 1, "two pods of one DV node existed at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm3_life_of_a_formed_release_in_pods_never_runs_a_dkg_and_keeps_its_cluster() {
    formed_lifecycle("helm3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm4_life_of_a_formed_release_in_pods_never_runs_a_dkg_and_keeps_its_cluster() {
    formed_lifecycle("helm4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_installs_on_the_node_and_follows_the_real_pod_phase_by_phase() {
    let node = node();
    let namespace = "pods-wizard";
    node.create_restricted_namespace(namespace).await;
    let launchpad = Launchpad::start();
    let (simulator, api) = (&launchpad.simulator, launchpad.address);
    let operator = our_operator();
    let work = tempfile::tempdir().unwrap();
    let command = format!(
        "env KUBECONFIG={} HELM={} NO_COLOR=1 XDG_STATE_HOME={} {} --release {RELEASE} -n {namespace} --chart {CHART} -f {} \
         --helm-arg=--set=charon.dkgSidecar.attemptTimeoutSeconds=40",
        node.kubeconfig.display(),
        support::bed::bin("helm3").display(),
        work.path().display(),
        env!("CARGO_BIN_EXE_dv-tui"),
        work.path().join("values.yaml").display()
    );
    let tmux = Tmux::start(work.path(), &command, 200, 60);
    let preflight = tmux.wait_for(&["Permission to install", "Ready to configure"], Duration::from_secs(60));
    assert!(preflight.contains("✓ Default StorageClass"), "the node has a default class: {preflight}");

    tmux.keys(&["Tab"]);
    tmux.wait_for(&["Operator address"], Duration::from_secs(5));
    tmux.type_text(&operator);
    tmux.install_on_hoodi_with_api(&format!("http://{api}"));

    // Helm runs the real ENR Job on the node; the wizard shows its ENR.
    tmux.wait_for(&["Your ENR"], Duration::from_secs(120));
    let enr = enr_in_secret(node, namespace).await;
    tmux.wait_for(&[&enr[..60]], Duration::from_secs(30));

    // Formation, live from the pod: polls, the invite, signatures, the DKG.
    tmux.keys(&["5"]);
    let polling = tmux.wait_for(&["Waiting for an invite", "Polls: "], Duration::from_secs(60));
    assert!(!polling.contains("Polls: 0,"), "poll progress reaches the wizard: {polling}");
    let config_hash = create_invite(simulator, &enr);
    let invited = tmux.wait_for(&["Invite found", "signed 0/4"], Duration::from_secs(60));
    assert!(!invited.contains("✓ signed"), "no one has signed yet: {invited}");
    simulator.sign(&config_hash, 0).unwrap();
    tmux.wait_for(&["signed 1/4"], Duration::from_secs(30));
    for other in 1..4 {
        simulator.sign(&config_hash, other).unwrap();
    }
    tmux.wait_for(&["DKG attempt 1"], Duration::from_secs(60));
    let failed = tmux.wait_for(&["Key generation failed: retrying", "next try in"], Duration::from_secs(150));
    assert!(failed.contains("signed 4/4"), "{failed}");

    // Health shows the real pod, its containers and restarts.
    tmux.keys(&["6"]);
    let health = tmux.wait_for(&[POD, "dkg"], Duration::from_secs(30));
    assert!(health.contains("restarts") || health.contains("Restarts"), "{health}");
    tmux.keys(&["q"]);
    tmux.wait_for(&["EXITED 0"], Duration::from_secs(10));
}

/// `kubectl dv lock verify --release` reads the lock the sidecar verified
/// for the pod's Charon (published just after `done`) and verifies it again.
async fn assert_release_lock_verifies(node: &support::node::Node, namespace: &str, lock_hash: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = node.kubectl_dv(&["lock", "verify", "--release", RELEASE, "-n", namespace, "--json"]);
        if out.status.code() == Some(0) {
            let document: Value = serde_json::from_slice(&out.stdout).unwrap();
            support::schema::assert_matches("lock-verify.v1", &document);
            assert_eq!(document["lock_hash"], lock_hash);
            assert_eq!(document["source"], format!("release {namespace}/{RELEASE}"));
            return;
        }
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.code() == Some(2) && stderr.contains("has no cluster lock yet"),
            "kubectl dv lock verify --release: {stderr}"
        );
        assert!(std::time::Instant::now() < deadline, "the lock was never published: {stderr}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Creates what the chart's adoption mode reads for node `dir` of a
/// `charon create cluster` output: the ENR Secret `node0-enr`, the key
/// share Secret `node0-keys` (one validator) and the lock ConfigMap
/// `node0-lock` holding `lock`.
async fn offer_cluster(node: &Node, namespace: &str, dir: &std::path::Path, lock: &[u8]) {
    let read = |path: &str| std::fs::read(dir.join(path)).unwrap();
    let client = node.client().await;
    let secret = |name: &str, files: &[(&str, &str)]| {
        let data: BTreeMap<String, k8s_openapi::ByteString> =
            files.iter().map(|(key, path)| (key.to_string(), k8s_openapi::ByteString(read(path)))).collect();
        Secret {
            metadata: kube::api::ObjectMeta { name: Some(name.into()), ..Default::default() },
            data: Some(data),
            ..Default::default()
        }
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    secrets
        .create(&PostParams::default(), &secret("node0-enr", &[("charon-enr-private-key", "charon-enr-private-key")]))
        .await
        .unwrap();
    secrets
        .create(
            &PostParams::default(),
            &secret(
                "node0-keys",
                &[
                    ("keystore-0.json", "validator_keys/keystore-0.json"),
                    ("keystore-0.txt", "validator_keys/keystore-0.txt"),
                ],
            ),
        )
        .await
        .unwrap();
    let lock_configmap = ConfigMap {
        metadata: kube::api::ObjectMeta { name: Some("node0-lock".into()), ..Default::default() },
        data: Some(BTreeMap::from([("cluster-lock.json".to_string(), String::from_utf8(lock.to_vec()).unwrap())])),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(client, namespace).create(&PostParams::default(), &lock_configmap).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_offered_a_lock_that_does_not_verify_reports_lock_refused_and_never_starts_charon() {
    let node = node();
    let namespace = "pods-lock-refused";
    node.create_restricted_namespace(namespace).await;
    let launchpad = Launchpad::start();
    let work = tempfile::tempdir().unwrap();
    let created = support::charon::create_cluster(work.path(), 1, &[]);
    let ours = created.join("node0");
    let mut lock: Value = serde_json::from_slice(&std::fs::read(ours.join("cluster-lock.json")).unwrap()).unwrap();
    // Another operator's node signature, as a hand-edited lock would carry.
    lock["node_signatures"][1] = lock["node_signatures"][2].clone();
    offer_cluster(node, namespace, &ours, &serde_json::to_vec_pretty(&lock).unwrap()).await;
    let adopt = [
        "charon.enr.existingSecret=node0-enr",
        "charon.lock.existingConfigMap=node0-lock",
        "charon.lock.keystoresSecret=node0-keys",
        "validatorClient.type=prysm",
    ];
    helm(node, "helm4", namespace, &install_args("install", support::OPERATOR, launchpad.address, &adopt));

    let refused = node.wait_for_phase(namespace, RELEASE, Phase::LockRefused, Duration::from_secs(120)).await;
    let reason = refused.error.unwrap().reason;
    assert!(reason.contains("node_signatures[1]"), "{reason}");
    // The init container keeps failing on its own: Charon and the VC never start.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let pod = pod(node, namespace).await.unwrap();
        let status = pod.status.unwrap_or_default();
        let dkg = status.init_container_statuses.unwrap_or_default().into_iter().find(|c| c.name == "dkg").unwrap();
        for container in status.container_statuses.unwrap_or_default() {
            assert!(
                container.state.as_ref().and_then(|s| s.running.as_ref()).is_none() && container.restart_count == 0,
                "{} started: {container:?}",
                container.name
            );
        }
        if dkg.restart_count >= 1 {
            let last = dkg.last_state.and_then(|s| s.terminated).expect("the dkg container ended");
            assert_eq!(last.exit_code, 1, "a refused lock is invalid input: exit 1");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the dkg init container was not restarted: {dkg:?}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let out = node.kubectl_dv(&["lock", "verify", "--release", RELEASE, "-n", namespace]);
    assert_eq!(out.status.code(), Some(2), "nothing verified is published");
    node.helm("helm4", namespace, &["uninstall", RELEASE]);
}
