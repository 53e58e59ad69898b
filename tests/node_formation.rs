//! Four operators form a distributed validator in pods on the bed's node,
//! as four people would: each installs the unchanged chart in a namespace
//! of their own that enforces `restricted`, the creator proposes the
//! cluster through the Obol API's real endpoint, each operator accepts it
//! once their own pod asks for their signature, the four `dkg` init
//! containers run the real `charon dkg` over a `charon relay` pod, and
//! Prysm signs duties through Charon with the key shares `import-keys`
//! laid out (Charon's simulated beacon node stands in for beacon nodes,
//! which the bed does not have). Operator 1 uses the wizard; the others
//! helm. Faults a node meets in its life come on the way, each followed by
//! the same check: same lock, same keys, no second DKG, the slashing
//! history kept, duties again.

mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use dv_pod::{
    definition::Network,
    obol_api::{
        ClientConfig, ObolApi,
        launchpad::{ClusterProposal, Wallet, accept, accept_terms},
        simulator::{TERMS_HASH, TERMS_VERSION},
    },
    status::{Phase, Status},
};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Secret};
use kube::Api;
use serde_json::Value;
use support::{
    node::{MemoryPeaks, Node, node},
    pods::{self, Launchpad, print_memory, relay_pod},
    tmux::Tmux,
};

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/chart");
const RELEASE: &str = "my-dv";
const POD: &str = "my-dv-0";

struct Operator {
    namespace: String,
    wallet: Wallet,
}

/// The values every operator sets: their address, the API, the network,
/// the in-cluster relay, Prysm, and Charon's simulated beacon node. A DKG
/// attempt may take 60 s before the sidecar retries (600 s by default), so
/// a formation that loses a peer mid-DKG recovers within the test.
fn values(operator: &Operator, api: &str, relay: &str) -> Vec<String> {
    [
        format!("charon.operatorAddress={}", operator.wallet.address()),
        format!("charon.dkgSidecar.apiEndpoint={api}"),
        "network=hoodi".into(),
        format!("charon.p2p.relays={{{relay}}}"),
        "charon.simnetBeaconMock=true".into(),
        "validatorClient.type=prysm".into(),
        "charon.dkgSidecar.attemptTimeoutSeconds=60".into(),
    ]
    .into_iter()
    .collect()
}

fn helm(node: &Node, operator: &Operator, verb: &str, values: &[String]) {
    let mut args = vec![verb.to_string(), RELEASE.into(), CHART.into()];
    for value in values {
        args.extend(["--set".into(), value.clone()]);
    }
    node.helm("helm4", &operator.namespace, &args.iter().map(String::as_str).collect::<Vec<_>>());
}

fn plugin(node: &Node, operator: &Operator, command: &str) -> Value {
    let out = node.kubectl_dv(&[command, "-n", &operator.namespace, "--release", RELEASE, "--json"]);
    assert!(out.status.success(), "kubectl dv {command}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn enr_of(node: &Node, operator: &Operator) -> String {
    let out = node.kubectl_dv(&["enr", "-n", &operator.namespace, "--release", RELEASE]);
    assert!(out.status.success(), "kubectl dv enr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn enr_key(node: &Node, operator: &Operator) -> Vec<u8> {
    let secrets: Api<Secret> = Api::namespaced(node.client().await, &operator.namespace);
    secrets.get(&format!("{RELEASE}-enr-key")).await.unwrap().data.unwrap()["charon-enr-private-key"].0.clone()
}

async fn status(node: &Node, operator: &Operator, phase: Phase, timeout: Duration) -> Status {
    node.wait_for_phase(&operator.namespace, RELEASE, phase, timeout).await
}

/// The operator accepts the invite their pod found, signing with their
/// wallet through the API's `PUT`, as the Launchpad does.
async fn accept_invite(node: &Node, api: &ObolApi, operator: &Operator, config_hash: &str) {
    let waiting = status(node, operator, Phase::AwaitingOurSignature, Duration::from_secs(120)).await;
    assert_eq!(waiting.invite.as_ref().unwrap().config_hash, config_hash);
    let definition = api.definition(config_hash).await.unwrap().unwrap().parsed.unwrap();
    let acceptance = accept(&definition, Network::Hoodi, &enr_of(node, operator), &operator.wallet);
    api.accept_invite(config_hash, &acceptance).await.unwrap();
}

/// The sum of a metric's samples in Prometheus text (0 when absent).
fn metric_sum(text: &str, name: &str, label: Option<&str>) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter(|line| label.is_none_or(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(node: &Node, operator: &Operator, port: u16) -> String {
    let pod = pods::pod(node, &operator.namespace, POD).await.unwrap();
    let ip = pod.status.and_then(|s| s.pod_ip).unwrap_or_default();
    let url = format!("http://{ip}:{port}/metrics");
    match reqwest::Client::new().get(&url).timeout(Duration::from_secs(3)).send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Charon's successful attester duties and Prysm's submitted attestations
/// on the operator's pod, as their own metrics count them.
async fn duties(node: &Node, operator: &Operator) -> (f64, f64) {
    let charon = scrape(node, operator, 3620).await;
    let prysm = scrape(node, operator, 8081).await;
    (
        metric_sum(&charon, "core_tracker_success_duties_total", Some("duty=\"attester\"")),
        metric_sum(&prysm, "validator_successful_attestations", None),
    )
}

/// Waits until Charon and Prysm on the operator's pod both count more
/// attestations than `after`.
async fn wait_for_duties(node: &Node, operator: &Operator, after: (f64, f64), timeout: Duration) -> (f64, f64) {
    let deadline = Instant::now() + timeout;
    loop {
        let now = duties(node, operator).await;
        if now.0 > after.0 && now.1 > after.1 {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "{}: no new duties (charon, prysm) {now:?} after {after:?}\n--- charon ---\n{}\n--- validator-client ---\n{}",
            operator.namespace,
            node.container_log(&operator.namespace, POD, "charon"),
            node.container_log(&operator.namespace, POD, "validator-client")
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Where the local-path provisioner keeps the operator's VC volume.
async fn vc_volume(node: &Node, operator: &Operator) -> PathBuf {
    let client = node.client().await;
    let claim = Api::<PersistentVolumeClaim>::namespaced(client.clone(), &operator.namespace)
        .get(&format!("validator-data-{POD}"))
        .await
        .unwrap();
    let volume = Api::<PersistentVolume>::all(client).get(&claim.spec.unwrap().volume_name.unwrap()).await.unwrap();
    let spec = volume.spec.unwrap();
    let path = spec.host_path.map(|h| h.path).or(spec.local.map(|l| l.path)).expect("a host path volume");
    PathBuf::from(path)
}

/// Prysm's slashing-protection history of the operator's validator, read
/// with Prysm's own export (EIP-3076) from a copy of its live database.
async fn slashing_history(node: &Node, operator: &Operator, work: &Path) -> Vec<(u64, u64)> {
    let live = vc_volume(node, operator).await.join("prysm");
    let copy = tempfile::tempdir_in(work).unwrap();
    for entry in std::fs::read_dir(&live).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
        }
    }
    let out_dir = copy.path().join("export");
    let out = Command::new(support::bed::bin("prysm-validator"))
        .args(["slashing-protection-history", "export", "--accept-terms-of-use"])
        .arg(format!("--datadir={}", copy.path().display()))
        .arg(format!("--slashing-protection-export-dir={}", out_dir.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "prysm export: {}", String::from_utf8_lossy(&out.stderr));
    let export: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("slashing_protection.json")).unwrap()).unwrap();
    assert_eq!(export["metadata"]["interchange_format_version"], "5", "{export}");
    signed_attestations(&export)
}

/// The (source, target) epochs of every attestation in EIP-3076 interchange.
fn signed_attestations(export: &Value) -> Vec<(u64, u64)> {
    let epoch = |v: &Value| v.as_str().unwrap().parse::<u64>().unwrap();
    let mut signed: Vec<(u64, u64)> = export["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|validator| validator["signed_attestations"].as_array().cloned().unwrap_or_default())
        .map(|a| (epoch(&a["source_epoch"]), epoch(&a["target_epoch"])))
        .collect();
    signed.sort();
    signed
}

/// What must hold for every operator after a fault: the same lock and ENR
/// key, no second DKG, every attestation signed before still in Prysm's
/// history, and duties again on both Charon and Prysm.
struct Kept {
    lock_hash: String,
    /// Each operator's DKG as its status recorded it at formation: a pod
    /// that never restarted still shows it, a restarted one shows none.
    formations: Vec<Option<dv_pod::status::Dkg>>,
    enr_keys: Vec<Vec<u8>>,
    histories: Vec<Vec<(u64, u64)>>,
}

impl Kept {
    async fn check(&mut self, node: &Node, operators: &[Operator], fault: &str, work: &Path) {
        for (index, operator) in operators.iter().enumerate() {
            let pod = pods::wait_until_running(
                node,
                &operator.namespace,
                POD,
                &["charon", "validator-client"],
                Duration::from_secs(240),
            )
            .await;
            let done = status(node, operator, Phase::Done, Duration::from_secs(60)).await;
            assert_eq!(done.lock_hash.as_deref(), Some(self.lock_hash.as_str()), "after {fault}: the same cluster");
            assert!(
                done.dkg.is_none() || done.dkg == self.formations[index],
                "after {fault}: no second DKG on {}: {done:#?}",
                operator.namespace
            );
            assert_eq!(enr_key(node, operator).await, self.enr_keys[index], "after {fault}: the same ENR key");
            wait_for_duties(node, operator, (0.0, 0.0), Duration::from_secs(120)).await;
            let history = slashing_history(node, operator, work).await;
            let lost: Vec<_> = self.histories[index].iter().filter(|a| !history.contains(a)).collect();
            assert!(lost.is_empty(), "after {fault}: {} lost signed attestations {lost:?}", operator.namespace);
            assert!(history.len() >= self.histories[index].len());
            self.histories[index] = history;
            let restarted: BTreeMap<_, _> = pods::restarts(&pod).into_iter().filter(|(_, n)| *n > 0).collect();
            println!("after {fault}: {} restarts {restarted:?}", operator.namespace);
        }
    }
}

fn save_screen(name: &str, screen: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screens");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("node-formation-{name}.txt")), screen).unwrap();
}

/// The Formation screen once the DKG is past its first step (finding the
/// relay), or as it is after 60 s.
fn wait_for_dkg_progress(tmux: &Tmux) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let screen = tmux.screen();
        if (screen.contains("DKG attempt") && !screen.contains("relay")) || Instant::now() > deadline {
            return screen;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Operator 1 installs with the wizard, which then follows the formation.
fn wizard(node: &Node, operator: &Operator, api: &str, relay: &str, work: &Path) -> Tmux {
    let helm_args: Vec<String> = values(operator, api, relay)
        .into_iter()
        .filter(|v| !v.starts_with("charon.operatorAddress") && !v.starts_with("charon.dkgSidecar.apiEndpoint"))
        .filter(|v| v != "network=hoodi" && v != "validatorClient.type=prysm")
        .map(|v| format!("--helm-arg=--set={v}"))
        .collect();
    let command = format!(
        "env KUBECONFIG={} HELM={} NO_COLOR=1 XDG_STATE_HOME={} {} --release {RELEASE} -n {} --chart {CHART} -f {} {}",
        node.kubeconfig.display(),
        support::bed::bin("helm4").display(),
        work.display(),
        env!("CARGO_BIN_EXE_dv-tui"),
        operator.namespace,
        work.join("values.yaml").display(),
        helm_args.join(" ")
    );
    let tmux = Tmux::start(work, &command, 120, 40);
    let preflight = tmux.wait_for(&["Permission to install", "Ready to configure"], Duration::from_secs(60));
    save_screen("1-preflight", &preflight);
    tmux.keys(&["Tab"]);
    tmux.wait_for(&["Operator address"], Duration::from_secs(5));
    tmux.type_text(&operator.wallet.address());
    tmux.keys(&["Down"]);
    // mainnet, gnosis, chiado, sepolia, hoodi: the networks on offer.
    tmux.keys(&["Right"; 4]);
    tmux.wait_for(&["hoodi"], Duration::from_secs(5));
    // No beacon node: Charon's simulated one serves (charon.simnetBeaconMock).
    tmux.keys(&["Down", "Down", "Right", "Right"]);
    tmux.wait_for(&["prysm"], Duration::from_secs(5));
    tmux.keys(&["Down", "Down"]);
    tmux.keys(&["BSpace"; 30]);
    tmux.type_text(api);
    save_screen("2-configure", &tmux.wait_for(&[api], Duration::from_secs(5)));
    // Enter on the last field opens the review; Enter there installs.
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["Review and install", "press Enter to install"], Duration::from_secs(10));
    tmux.keys(&["Enter"]);
    tmux
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_operators_form_a_validator_in_pods_that_performs_duties_through_every_fault() {
    let node = node();
    let work = tempfile::tempdir().unwrap();
    let relay = relay_pod(node, "relay").await;
    let launchpad = Launchpad::start();
    let api_url = launchpad.url();
    let api = ObolApi::new(ClientConfig::new(api_url.parse().unwrap()));
    let operators: Vec<Operator> =
        (1..=4).map(|i| Operator { namespace: format!("operator-{i}"), wallet: Wallet::generate().unwrap() }).collect();
    let mut memory = Vec::new();
    for operator in &operators {
        node.create_restricted_namespace(&operator.namespace).await;
        memory.push(MemoryPeaks::start(node, &operator.namespace));
    }

    // Install: operator 1 with the wizard, the others with helm.
    let installed = Instant::now();
    let tmux = wizard(node, &operators[0], &api_url, &relay, work.path());
    for operator in &operators[1..] {
        helm(node, operator, "install", &values(operator, &api_url, &relay));
    }
    let enr_screen = tmux.wait_for(&["Your ENR"], Duration::from_secs(120));
    save_screen("3-enr", &enr_screen);
    let enrs: Vec<String> = operators.iter().map(|o| enr_of(node, o)).collect();
    assert!(enr_screen.contains(&enrs[0][..40]), "the wizard shows operator 1's ENR: {enr_screen}");
    for operator in &operators {
        node.wait_for_status(&operator.namespace, RELEASE, Duration::from_secs(120), |s| s.polls >= 1).await;
    }
    tmux.keys(&["5"]);
    tmux.wait_for(&["Waiting for an invite"], Duration::from_secs(60));

    // Each operator accepts the terms, then the creator (operator 1)
    // proposes the cluster through the API.
    for operator in &operators {
        api.accept_terms(&accept_terms(TERMS_HASH, TERMS_VERSION, Network::Hoodi, &operator.wallet)).await.unwrap();
    }
    let proposal = ClusterProposal {
        name: "four pods".into(),
        network: Network::Hoodi,
        num_validators: 1,
        threshold: None,
        operators: operators.iter().map(|o| o.wallet.address()).collect(),
        withdrawal_address: operators[0].wallet.address(),
        fee_recipient_address: operators[0].wallet.address(),
    }
    .sign(&operators[0].wallet)
    .unwrap();
    api.propose_cluster(&proposal).await.unwrap();
    let config_hash = proposal.config_hash.clone();
    save_screen("4-invite", &tmux.wait_for(&["signed 0/4"], Duration::from_secs(60)));
    accept_invite(node, &api, &operators[0], &config_hash).await;
    tmux.wait_for(&["signed 1/4"], Duration::from_secs(60));

    // Fault: the API is down for a while during signing; every pod names it.
    launchpad.down();
    let outage = Instant::now();
    for operator in &operators {
        node.wait_for_status(&operator.namespace, RELEASE, Duration::from_secs(120), |s| s.error.is_some()).await;
    }
    println!("figures: every pod reported the API outage within {:.1} s", outage.elapsed().as_secs_f64());
    launchpad.up();
    accept_invite(node, &api, &operators[1], &config_hash).await;

    // Fault: an upgrade of a release that waits for signatures.
    let waiting = status(node, &operators[1], Phase::WaitingForSignatures, Duration::from_secs(60)).await;
    assert_eq!(waiting.invite.map(|i| i.signed), Some(2));
    let old = pods::pod(node, &operators[1].namespace, POD).await.unwrap().metadata.uid.unwrap();
    let mut upgraded = values(&operators[1], &api_url, &relay);
    upgraded.push("charon.nickname=upgraded-waiting".into());
    helm(node, &operators[1], "upgrade", &upgraded);
    pods::wait_for_new_pod(node, &operators[1].namespace, POD, &old, Duration::from_secs(120)).await;
    status(node, &operators[1], Phase::WaitingForSignatures, Duration::from_secs(120)).await;

    accept_invite(node, &api, &operators[2], &config_hash).await;
    accept_invite(node, &api, &operators[3], &config_hash).await;
    let last_signature = Instant::now();
    save_screen("5-signed", &tmux.wait_for(&["signed 4/4"], Duration::from_secs(60)));

    // Every dkg init container sees the last signature and starts charon dkg.
    let mut started = Vec::new();
    for operator in &operators {
        status(node, operator, Phase::DkgRunning, Duration::from_secs(60)).await;
        started.push(last_signature.elapsed());
    }
    println!("figures: last signature to all four DKGs started {:.1} s", started.iter().max().unwrap().as_secs_f64());
    save_screen("6-dkg", &wait_for_dkg_progress(&tmux));

    // Fault: one operator's pod is deleted mid-DKG; the StatefulSet brings
    // it back and the formation still completes.
    let old = pods::pod(node, &operators[2].namespace, POD).await.unwrap().metadata.uid.unwrap();
    let deleted = node.kubectl(&["-n", &operators[2].namespace, "delete", "pod", POD, "--wait=false"]);
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
    pods::wait_for_new_pod(node, &operators[2].namespace, POD, &old, Duration::from_secs(120)).await;

    let (mut lock_hashes, mut formations) = (Vec::new(), Vec::new());
    for operator in &operators {
        let done = status(node, operator, Phase::Done, Duration::from_secs(420)).await;
        println!("{}: {:?}", operator.namespace, done.dkg);
        lock_hashes.push(done.lock_hash.expect("a formed node names its lock"));
        formations.push(done.dkg);
    }
    assert!(lock_hashes.iter().all(|h| *h == lock_hashes[0]), "one cluster: {lock_hashes:?}");
    for operator in &operators {
        wait_for_duties(node, operator, (0.0, 0.0), Duration::from_secs(180)).await;
    }
    println!("figures: install to a successful duty on all four nodes {:.1} s", installed.elapsed().as_secs_f64());

    // The operator's view: helm test, kubectl dv status, the wizard's Health.
    for operator in &operators {
        let tested = node.helm_output("helm4", &operator.namespace, &["test", RELEASE, "--logs"]);
        let said = String::from_utf8_lossy(&tested.stdout).into_owned() + &String::from_utf8_lossy(&tested.stderr);
        assert!(tested.status.success(), "{}: helm test: {said}", operator.namespace);
    }
    let view = plugin(node, &operators[0], "status");
    support::schema::assert_matches("release-status.v1", &view);
    assert_eq!(view["status"]["phase"], "done", "{view}");
    assert_eq!((&view["charon"]["peers_connected"], &view["charon"]["peers_total"]), (&3.into(), &3.into()), "{view}");
    assert!(view["charon"]["duties_succeeded"].as_u64().unwrap() > 0, "{view}");
    // Each pod's lock, as its sidecar verified and published it, verifies
    // again in the plugin: one cluster, hashed as the status says.
    for operator in &operators {
        let out = node.kubectl_dv(&["lock", "verify", "-n", &operator.namespace, "--release", RELEASE, "--json"]);
        assert_eq!(out.status.code(), Some(0), "kubectl dv lock verify: {}", String::from_utf8_lossy(&out.stderr));
        let verified: Value = serde_json::from_slice(&out.stdout).unwrap();
        support::schema::assert_matches("lock-verify.v1", &verified);
        assert_eq!(verified["lock_hash"], lock_hashes[0].as_str(), "{}", operator.namespace);
        assert_eq!(verified["validators"][0]["deposits_verify"], true, "{verified}");
    }
    tmux.keys(&["6"]);
    let health = tmux.wait_for(&[POD, "ready", "3/3", " ok"], Duration::from_secs(60));
    save_screen("7-health", &health);
    for container in ["charon", "validator-client", "simnet-gateway"] {
        assert!(health.contains(container), "Health lists {container}: {health}");
    }
    tmux.keys(&["q"]);

    for (index, operator) in operators.iter().enumerate() {
        let pod = pods::pod(node, &operator.namespace, POD).await.unwrap();
        // dkg ran the DKG; Charon, the gateway and Prysm are at steady state.
        print_memory(&operator.namespace, &pod, &memory[index].peaks());
    }

    let mut kept = Kept { lock_hash: lock_hashes[0].clone(), formations, enr_keys: Vec::new(), histories: Vec::new() };
    for operator in &operators {
        kept.enr_keys.push(enr_key(node, operator).await);
        let history = slashing_history(node, operator, work.path()).await;
        assert!(!history.is_empty(), "{}: Prysm signed attestations", operator.namespace);
        kept.histories.push(history);
    }

    // Fault: an upgrade of a formed release.
    let old = pods::pod(node, &operators[1].namespace, POD).await.unwrap().metadata.uid.unwrap();
    upgraded.push("charon.nickname=upgraded-formed".into());
    helm(node, &operators[1], "upgrade", &upgraded);
    pods::wait_for_new_pod(node, &operators[1].namespace, POD, &old, Duration::from_secs(120)).await;
    kept.check(node, &operators, "an upgrade of a formed release", work.path()).await;

    // Fault: uninstall and reinstall; the node rejoins with no ceremony.
    node.helm("helm4", &operators[3].namespace, &["uninstall", RELEASE, "--wait"]);
    helm(node, &operators[3], "install", &values(&operators[3], &api_url, &relay));
    kept.check(node, &operators, "uninstall and reinstall", work.path()).await;

    // Fault: the node reboots (kubelet and containerd with every container).
    let rebooted =
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed/node")).arg("reboot").output().unwrap();
    assert!(rebooted.status.success(), "reboot: {}", String::from_utf8_lossy(&rebooted.stderr));
    kept.check(node, &operators, "a node reboot", work.path()).await;

    backup_and_restore(node, operators, &relay, &mut kept, work.path()).await;
    assert_eq!(node.guard_drops(), 0, "nothing left the machine");
}

const PASSPHRASE: &str = "correct horse battery staple";

fn backup(node: &Node, namespace: &str, archive: &Path, passphrase: &Path) -> Value {
    let out = node.kubectl_dv(&[
        "backup",
        "-n",
        namespace,
        "--release",
        RELEASE,
        "-o",
        archive.to_str().unwrap(),
        "--passphrase-file",
        passphrase.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "kubectl dv backup -n {namespace}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `kubectl dv restore` with the values of the bed (no beacon node, the
/// formation's relay).
fn restore(node: &Node, namespace: &str, archive: &Path, passphrase: &Path, relay: &str) -> std::process::Output {
    node.kubectl_dv(&[
        "restore",
        archive.to_str().unwrap(),
        "--release",
        RELEASE,
        "-n",
        namespace,
        "--passphrase-file",
        passphrase.to_str().unwrap(),
        "--chart",
        CHART,
        "--helm",
        support::bed::bin("helm4").to_str().unwrap(),
        "--set",
        "charon.simnetBeaconMock=true",
        "--set",
        &format!("charon.p2p.relays={{{relay}}}"),
    ])
}

/// The names of every Secret and ConfigMap in a namespace, with their data:
/// what a refused restore must leave as it was.
fn objects_in(node: &Node, namespace: &str) -> String {
    let out = node.kubectl(&[
        "-n",
        namespace,
        "get",
        "secrets,configmaps",
        "-o",
        "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.data}{\"\\n\"}{end}",
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The signed attestations in an archive's slashing history.
fn archived_history(archive: &Path) -> Vec<(u64, u64)> {
    let key = dv_pod::backup::Key::Passphrase(PASSPHRASE.to_string().into());
    let contents = dv_pod::backup::open(&std::fs::read(archive).unwrap(), &key).unwrap();
    let export: Value = serde_json::from_slice(&contents.files[dv_pod::backup::node::SLASHING_PROTECTION]).unwrap();
    signed_attestations(&export)
}

fn refused(out: &std::process::Output, says: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "refused with exit 1: {stderr}");
    assert!(stderr.contains(says), "the refusal says {says:?}: {stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
}

/// Operator 3 loses its namespace and volumes, and comes back from its
/// backup into a new namespace as the same node; a second restore, a wrong
/// passphrase, a truncated archive and another node's archive are refused.
async fn backup_and_restore(node: &Node, mut operators: Vec<Operator>, relay: &str, kept: &mut Kept, work: &Path) {
    let passphrase = work.join("passphrase");
    std::fs::write(&passphrase, format!("{PASSPHRASE}\n")).unwrap();
    let archive = work.join("operator-3.age");
    let lost = operators[2].namespace.clone();
    let enr = enr_of(node, &operators[2]);

    let started = Instant::now();
    let manifest = backup(node, &lost, &archive, &passphrase);
    let backup_time = started.elapsed();
    assert_eq!(manifest["lock_hash"], kept.lock_hash.as_str(), "{manifest}");
    assert_eq!(manifest["enr"], enr.as_str(), "{manifest}");
    assert_eq!(manifest["validator_client"], "prysm", "{manifest}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777, 0o600);
    let history = archived_history(&archive);
    let before: Vec<_> = kept.histories[2].iter().filter(|a| !history.contains(a)).collect();
    assert!(before.is_empty(), "the archive holds every attestation signed before: missing {before:?}");
    let view = plugin(node, &operators[2], "status");
    support::schema::assert_matches("release-status.v1", &view);
    assert!(view["last_backup"].is_string(), "the backup is recorded: {view}");
    assert_eq!(view["reminders"], serde_json::json!([]), "{view}");
    assert!(plugin(node, &operators[0], "status")["reminders"][0].as_str().unwrap().contains("no backup taken"));
    println!(
        "figures: backup of one validator {:.1} s, archive {} bytes, {} attestations",
        backup_time.as_secs_f64(),
        std::fs::metadata(&archive).unwrap().len(),
        history.len()
    );

    // The namespace and its volumes are lost.
    let deleted = node.kubectl(&["delete", "namespace", &lost, "--wait=true", "--timeout=180s"]);
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
    let volumes: Api<PersistentVolume> = Api::all(node.client().await);
    let deadline = Instant::now() + Duration::from_secs(120);
    while volumes.list(&Default::default()).await.unwrap().items.iter().any(|pv| {
        pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).and_then(|c| c.namespace.as_deref()) == Some(&lost)
    }) {
        assert!(Instant::now() < deadline, "the lost namespace's volumes are deleted");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Refused without a change: a wrong passphrase and a truncated archive.
    let restored = format!("{lost}-restored");
    node.create_restricted_namespace(&restored).await;
    let wrong = work.join("wrong-passphrase");
    std::fs::write(&wrong, "wrong horse battery staple\n").unwrap();
    let untouched = objects_in(node, &restored);
    refused(&restore(node, &restored, &archive, &wrong, relay), "passphrase");
    let truncated = work.join("truncated.age");
    let sealed = std::fs::read(&archive).unwrap();
    std::fs::write(&truncated, &sealed[..sealed.len() / 2]).unwrap();
    refused(&restore(node, &restored, &truncated, &passphrase, relay), "truncated");
    assert_eq!(objects_in(node, &restored), untouched, "a refused restore changes nothing");

    // The restore: the same node rejoins its cluster.
    let started = Instant::now();
    let out = restore(node, &restored, &archive, &passphrase, relay);
    assert!(out.status.success(), "kubectl dv restore: {}", String::from_utf8_lossy(&out.stderr));
    let restore_time = started.elapsed();
    operators[2].namespace = restored.clone();
    assert_eq!(enr_of(node, &operators[2]), enr, "the same ENR");
    kept.check(node, &operators, "a restore from backup", work).await;
    let view = plugin(node, &operators[2], "status");
    assert_eq!((&view["charon"]["peers_connected"], &view["charon"]["peers_total"]), (&3.into(), &3.into()), "{view}");
    println!(
        "figures: restore command {:.1} s, restore to duties again {:.1} s",
        restore_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    // A second restore of the same node is refused while the first runs.
    let twice = format!("{lost}-twice");
    node.create_restricted_namespace(&twice).await;
    let untouched = objects_in(node, &twice);
    let again = restore(node, &twice, &archive, &passphrase, relay);
    refused(&again, &format!("already runs as release {RELEASE} in namespace {restored}"));
    assert_eq!(objects_in(node, &twice), untouched, "a refused restore changes nothing");

    // Another node's archive is refused where this node's keys are.
    let other = work.join("operator-4.age");
    backup(node, &operators[3].namespace, &other, &passphrase);
    let untouched = objects_in(node, &restored);
    refused(&restore(node, &restored, &other, &passphrase, relay), "this archive belongs to");
    assert_eq!(objects_in(node, &restored), untouched, "a refused restore changes nothing");
    kept.check(node, &operators, "a backup of operator 4", work).await;
}
