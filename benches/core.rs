//! Figures for the core library (`cargo bench --bench core`):
//! - verifying a fully signed 10-operator definition (target < 5 ms);
//! - reading a 1 MiB page of the operator endpoint (target < 20 ms);
//! - client memory across 10,000 polls of the simulator (target: flat);
//! - peak RSS of a `dv-sidecar dkg` process polling (target <= 15 MiB);
//! - drawing one wizard frame (target < 5 ms);
//! - opening one EIP-2335 key share and writing a 10-share Prysm wallet
//!   (2^18 PBKDF2 rounds each; target: the wallet within the import-keys
//!   container's 500m CPU limit in under 10 s, i.e. < 2 s on a full core);
//! - a beacon API request through `dv-sidecar beacon-proxy` against one
//!   straight to the beacon node (target: < 1 ms added on loopback), and the
//!   proxy's peak RSS while streaming 1 MiB answers (target: < 32 MiB, its
//!   container's limit is 128Mi).
//! - the load one waiting node puts on the Obol API at the PRD's polling
//!   defaults (5 s initial, x1.5, 300 s cap) with no invite (target: within
//!   10% of the anchor's 12 requests an hour), and during a 15 s spell of
//!   server errors (target: no more than the anchor's 6);
//! - the time from the last operator's signature to the sidecar starting
//!   `charon dkg`, at the PRD's polling defaults, after the invite waited
//!   7.5, 33 and 91 s for it (target: under the 5 s initial interval; the
//!   anchor's sidecar took 13-83 s);
//! - verifying a cluster lock of 10 validators across 4 operators (target
//!   < 50 ms: the sidecar does it on every start);
//! - a node's backup archive for 1 and 10 validators with a day of
//!   attestations each: its size (target: < 1 MiB for 10, so a Secret of
//!   the restore holds it) and the time to check and seal it, and to open
//!   and check it again (age's passphrase work is about a second by design).

use std::time::{Duration, Instant};

use dv_pod::{
    definition::{Definition, Network, eip712, verify::verify},
    enr::EnrPrivateKey,
    obol_api::{
        ClientConfig, ObolApi,
        client::parse_page,
        simulator::{ClusterPlan, OperatorPlan, SignAt, Simulator, SimulatorConfig},
    },
};
use serde_json::{Value, json};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<T>(iterations: usize, mut f: impl FnMut() -> T) -> Duration {
    let samples = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    median(samples)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

const OUR_KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

fn plan(operators: usize) -> ClusterPlan {
    ClusterPlan {
        name: "bench".into(),
        network: Network::Hoodi,
        num_validators: 1,
        threshold: None,
        operators: (0..operators)
            .map(|i| OperatorPlan {
                enr: Some(EnrPrivateKey::generate().unwrap().record().text().to_string()),
                eth_private_key: (i == 0).then(|| OUR_KEY.to_string()),
                sign: SignAt::Now,
            })
            .collect(),
    }
}

fn main() {
    core_figures();
    sidecar_peak_rss();
    frame_render();
    key_intake();
    beacon_proxy_figures();
    polling_load();
    lock_verification();
    last_signature_to_dkg();
    backup_archive_figures();
}

/// A 4-node cluster of `validators` made by the real `charon create cluster`.
fn create_cluster(charon: &std::path::Path, validators: usize) -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(charon)
        .args(["create", "cluster", "--nodes=4", "--network=hoodi", "--insecure-keys"])
        .arg(format!("--num-validators={validators}"))
        .args(["--withdrawal-addresses=0x52908400098527886E0F7030069857D2E4169EE7"])
        .args(["--fee-recipient-addresses=0x52908400098527886E0F7030069857D2E4169EE7"])
        .arg(format!("--cluster-dir={}", work.path().display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    work
}

/// Node 0's files of a real `charon create cluster` as a backup holds them,
/// with a synthetic day (225 epochs) of attestations per validator.
fn backup_archive_figures() {
    use dv_pod::backup::{self, Key, node};
    let charon = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".bed/bin/charon");
    if !charon.exists() {
        println!("backup archive: skipped ({} is not built)", charon.display());
        return;
    }
    for validators in [1, 10] {
        let work = create_cluster(&charon, validators);
        let dir = work.path().join("node0");
        let mut files = std::collections::BTreeMap::new();
        let mut add = |name: String, path: std::path::PathBuf| {
            files.insert(name, zeroize::Zeroizing::new(std::fs::read(path).unwrap()));
        };
        add(node::ENR_KEY.into(), dir.join("charon-enr-private-key"));
        add(node::LOCK.into(), dir.join("cluster-lock.json"));
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if node::is_deposit_data(&format!("charon/{name}")) {
                add(format!("charon/{name}"), dir.join(&name));
            }
        }
        let mut pubkeys = Vec::new();
        for i in 0..validators {
            // `--insecure-keys` names them keystore-insecure-N; a DKG, keystore-N.
            for ext in ["json", "txt"] {
                add(
                    format!("{}/keystore-{i}.{ext}", node::KEYS_DIR),
                    dir.join(format!("validator_keys/keystore-insecure-{i}.{ext}")),
                );
            }
            let keystore: Value = serde_json::from_slice(
                &std::fs::read(dir.join(format!("validator_keys/keystore-insecure-{i}.json"))).unwrap(),
            )
            .unwrap();
            pubkeys.push(format!("0x{}", keystore["pubkey"].as_str().unwrap()));
        }
        let data: Vec<Value> = pubkeys
            .iter()
            .map(|pubkey| {
                let attestations: Vec<Value> = (1000..1225u64)
                    .map(|epoch| {
                        json!({"source_epoch": (epoch - 1).to_string(), "target_epoch": epoch.to_string(),
                               "signing_root": format!("0x{:064x}", epoch)})
                    })
                    .collect();
                json!({"pubkey": pubkey, "signed_blocks": [], "signed_attestations": attestations})
            })
            .collect();
        let history = json!({"metadata": {"interchange_format_version": "5",
            "genesis_validators_root": format!("0x{:064x}", 1)}, "data": data});
        files.insert(node::SLASHING_PROTECTION.into(), zeroize::Zeroizing::new(history.to_string().into_bytes()));

        let passphrase = || Key::Passphrase("correct horse battery staple".to_string().into());
        let start = Instant::now();
        let archive =
            node::archive_node(files, dv_pod::validator_client::ValidatorClient::Prysm, "now".into()).unwrap();
        let sealed = backup::seal(&archive.contents, &passphrase()).unwrap();
        let sealed_in = start.elapsed();
        let start = Instant::now();
        node::verify_node(backup::open(&sealed, &passphrase()).unwrap()).unwrap();
        let opened_in = start.elapsed();
        println!(
            "backup archive, {validators} validator(s), 225 attestations each: {} bytes ({:.1} KiB); check and seal {:.2} s, open and check {:.2} s",
            sealed.len(),
            sealed.len() as f64 / 1024.0,
            sealed_in.as_secs_f64(),
            opened_in.as_secs_f64()
        );
    }
}

/// A lock from the real `charon create cluster` of the test bed, when it
/// has been built (`make bed`); the figure is skipped otherwise.
fn lock_verification() {
    let charon = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".bed/bin/charon");
    if !charon.exists() {
        println!("verify a 10-validator cluster lock: skipped ({} is not built)", charon.display());
        return;
    }
    let work = create_cluster(&charon, 10);
    let bytes = std::fs::read(work.path().join("node0/cluster-lock.json")).unwrap();
    let verify_time = time(20, || {
        let parsed = dv_pod::definition::lock::Lock::from_json(&bytes).unwrap();
        assert!(dv_pod::definition::lock::verify(&parsed).is_valid());
    });
    println!(
        "verify a 10-validator, 4-operator cluster lock (hashes, aggregate over 40 shares, 10 registrations, 20 \
         deposits, 4 node signatures): {verify_time:?} median of 20"
    );
}

/// A real sidecar at the PRD's polling defaults waits with its signature
/// given; the other operators sign after `wait`; the figure is the time
/// until its status says `dkg_running`.
#[tokio::main(flavor = "current_thread")]
async fn last_signature_to_dkg() {
    let mut figures = Vec::new();
    // Off the 5 s poll grid (which starts at launch), so the figures show
    // the wait for the next poll rather than a lucky alignment.
    for wait in [7.5, 33.0, 91.0] {
        let (simulator, address, work, created) = invite_waiting_for_others().await;
        let status_file = work.path().join("status.json");
        std::fs::create_dir_all(work.path().join("data")).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dv-sidecar"))
            .arg("dkg")
            .arg("--data-dir")
            .arg(work.path().join("data"))
            .arg("--enr-key-file")
            .arg(work.path().join("key"))
            .args(["--operator-address", &created.operator_addresses[0], "--network", "hoodi"])
            .args(["--api-endpoint", &format!("http://{address}"), "--charon", "/bin/false"])
            .arg("--status-file")
            .arg(&status_file)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        for index in 1..4 {
            simulator.sign(&created.config_hash, index).unwrap();
        }
        let signed = Instant::now();
        loop {
            let phase = dv_pod::status::read_file(&status_file).map(|s| s.phase).ok();
            if phase == Some(dv_pod::status::Phase::DkgRunning) || phase == Some(dv_pod::status::Phase::DkgFailed) {
                break;
            }
            assert!(signed.elapsed() < Duration::from_secs(120), "the sidecar never started the DKG");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        figures.push(format!("{:.1} s after waiting {wait} s", signed.elapsed().as_secs_f64()));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    println!("last signature to charon dkg starting, PRD polling defaults: {}", figures.join(", "));
}

#[tokio::main(flavor = "current_thread")]
async fn beacon_proxy_figures() {
    let big = vec![b'x'; 1 << 20];
    let beacon = axum::Router::new()
        .route("/eth/v1/node/version", axum::routing::get(|| async { r#"{"data":{"version":"bench"}}"# }))
        .route("/eth/v2/debug/beacon/states/head", axum::routing::get(move || async move { big.clone() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let beacon_address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, beacon).await });
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("headers"), "Authorization=Bearer bench").unwrap();
    let port = dv_pod::process::free_port().unwrap();
    let mut proxy = std::process::Command::new(env!("CARGO_BIN_EXE_dv-sidecar"))
        .arg("beacon-proxy")
        .arg(format!("--beacon-node-headers-file={}", work.path().join("headers").display()))
        .arg(format!("--upstream=http://{beacon_address}"))
        .arg(format!("--first-port={port}"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let direct = format!("http://{beacon_address}");
    let proxied = format!("http://127.0.0.1:{port}");
    while client.get(format!("{proxied}/eth/v1/node/version")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut figures = Vec::new();
    for base in [&direct, &proxied] {
        let mut samples = Vec::new();
        for _ in 0..2000 {
            let start = Instant::now();
            client.get(format!("{base}/eth/v1/node/version")).send().await.unwrap().bytes().await.unwrap();
            samples.push(start.elapsed());
        }
        figures.push(median(samples));
    }
    println!(
        "beacon API GET on loopback: {:?} direct, {:?} through beacon-proxy (median of 2000)",
        figures[0], figures[1]
    );
    for _ in 0..200 {
        let answer = client.get(format!("{proxied}/eth/v2/debug/beacon/states/head")).send().await.unwrap();
        assert_eq!(answer.bytes().await.unwrap().len(), 1 << 20);
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", proxy.id())).unwrap();
    let peak = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap().split_whitespace().nth(1).unwrap();
    println!(
        "dv-sidecar beacon-proxy peak RSS after 2000 small and 200 1 MiB answers: {:.1} MiB",
        peak.parse::<f64>().unwrap() / 1024.0
    );
    proxy.kill().unwrap();
    proxy.wait().unwrap();
}

/// Key shares sealed like Charon's (PBKDF2, 2^18 rounds), opened one by one
/// and gathered into a Prysm wallet, as `import-keys` does on first start.
fn key_intake() {
    use dv_pod::{
        keystore::Crypto,
        sidecar::import_keys::{KeyShare, ValidatorClient, import},
    };
    let shares: Vec<KeyShare> = (0..10)
        .map(|_| {
            let password = hex::encode(rand::random::<[u8; 16]>());
            let crypto = Crypto::encrypt(&rand::random::<[u8; 32]>(), &password);
            KeyShare {
                pubkey: format!("0x{}", hex::encode([rand::random::<[u8; 24]>(), rand::random()].concat())),
                keystore: serde_json::to_vec(&json!({"crypto": crypto, "version": 4})).unwrap(),
                password: zeroize::Zeroizing::new(password.into_bytes()),
            }
        })
        .collect();
    let open = time(5, || shares[0].secret_key().unwrap());
    println!("open one EIP-2335 key share (PBKDF2 2^18): {open:?} median of 5");
    let wallet = time(3, || {
        let dir = tempfile::tempdir().unwrap();
        import(ValidatorClient::Prysm, &shares, dir.path()).unwrap()
    });
    println!("write a new Prysm wallet holding 10 key shares: {wallet:?} median of 3");
}

/// The two busiest screens (ENR with its QR code, formation with the
/// signature table) on a 200x60 terminal.
fn frame_render() {
    use dv_pod::wizard::{
        app::{App, Mode, Screen},
        screens,
        values::Form,
    };
    use ratatui::{Terminal, backend::TestBackend};
    let key = EnrPrivateKey::generate().unwrap();
    let mut status =
        dv_pod::status::Status::new("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".into(), key.record().text().into());
    status.phase = dv_pod::status::Phase::WaitingForSignatures;
    status.invite = Some(dv_pod::status::Invite {
        config_hash: format!("0x{}", "ab".repeat(32)),
        name: "bench".into(),
        signed: 5,
        total: 10,
        missing: (0..5).map(|i| format!("0x{i:040x}")).collect(),
        operators: (0..10).map(|i| format!("0x{i:040x}")).collect(),
    });
    let mut app = App::new(Mode::Demo, Form::default(), "bench", "local", std::path::PathBuf::new());
    app.enr = Some(status.enr.clone());
    app.status = Some(status);
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    for screen in [Screen::Enr, Screen::Formation] {
        app.screen = screen;
        let frame = time(500, || terminal.draw(|f| screens::draw(f, &app)).map(|_| ()).unwrap());
        println!("draw one {} frame at 200x60: {frame:?} median of 500", screen.title());
    }
}

#[tokio::main]
async fn core_figures() {
    let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
    let created = simulator.create(plan(10)).unwrap();
    let address = simulator.clone().spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let api = ObolApi::new(ClientConfig::new(format!("http://{address}").parse().unwrap()));
    let document: Value =
        api.definition(&created.config_hash).await.unwrap().unwrap().parsed.map(|d| json!(d.json())).unwrap();

    let verify_time = time(200, || {
        let def = Definition::from_value(document.clone()).unwrap();
        assert!(verify(&def).is_valid());
    });
    println!("verify a signed 10-operator definition (parse + hashes + 21 signatures): {verify_time:?} median of 200");

    let mut items = Vec::new();
    while serde_json::to_vec(&items).unwrap().len() < 1 << 20 {
        items.push(document.clone());
    }
    let page_bytes =
        serde_json::to_vec(&json!({"cluster_definitions": items, "total_count": items.len(), "total_pages": 1}))
            .unwrap();
    let parse_time = time(50, || {
        let value: Value = serde_json::from_slice(&page_bytes).unwrap();
        parse_page(value, "bench").unwrap().len()
    });
    println!(
        "read a {:.2} MiB operator page ({} definitions, JSON + typed view): {parse_time:?} median of 50",
        page_bytes.len() as f64 / (1 << 20) as f64,
        items.len()
    );

    for _ in 0..4 {
        simulator.create(plan(4)).unwrap();
    }
    let operator = eip712::address_of(
        k256::ecdsa::SigningKey::from_slice(&hex::decode(OUR_KEY).unwrap()).unwrap().verifying_key(),
    )
    .to_checksum(None)
    .parse()
    .unwrap();
    let mut marks = Vec::new();
    let started = Instant::now();
    for poll in 1..=10_000 {
        let listed = api.definitions_for_operator(&operator).await.unwrap();
        assert_eq!(listed.len(), 5);
        if poll % 2_000 == 0 {
            marks.push((poll, rss_kib()));
        }
    }
    println!(
        "client RSS across 10,000 polls of 5 definitions ({:?} in all): {}",
        started.elapsed(),
        marks
            .iter()
            .map(|(poll, kib)| format!("{poll}: {:.1} MiB", *kib as f64 / 1024.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// A simulator serving an invite that our node (ENR key in `work/key`) has
/// signed and the three others have not.
async fn invite_waiting_for_others()
-> (Simulator, std::net::SocketAddr, tempfile::TempDir, dv_pod::obol_api::simulator::CreatedCluster) {
    let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
    let address = simulator.clone().spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let key = EnrPrivateKey::generate().unwrap();
    key.save_new(&work.path().join("key")).unwrap();
    let mut plan = plan(4);
    plan.operators[0].enr = Some(key.record().text().to_string());
    for operator in &mut plan.operators[1..] {
        operator.sign = SignAt::Manual;
    }
    let created = simulator.create(plan).unwrap();
    (simulator, address, work, created)
}

/// Peak RSS (VmHWM) of a real sidecar process polling the simulator every
/// 100 ms while signatures are outstanding.
#[tokio::main(flavor = "current_thread")]
async fn sidecar_peak_rss() {
    let (_simulator, address, work, created) = invite_waiting_for_others().await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dv-sidecar"))
        .arg("dkg")
        .arg("--data-dir")
        .arg(work.path())
        .arg("--enr-key-file")
        .arg(work.path().join("key"))
        .args(["--operator-address", &created.operator_addresses[0], "--network", "hoodi"])
        .args(["--api-endpoint", &format!("http://{address}"), "--initial-retry-delay-seconds", "0.1"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let peak = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap().split_whitespace().nth(1).unwrap();
    let polls = simulator_polls(address).await;
    println!("dv-sidecar dkg peak RSS after {polls} polls in 20 s: {:.1} MiB", peak.parse::<f64>().unwrap() / 1024.0);
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn simulator_polls(address: std::net::SocketAddr) -> u64 {
    let state: Value = reqwest::get(format!("http://{address}/control/state")).await.unwrap().json().await.unwrap();
    state["requests"]["OperatorDefinitions"].as_u64().unwrap_or(0)
}

/// Requests per poll measured against the simulator with the sidecar's
/// client settings (one attempt per poll), and the sidecar's own backoff for
/// when polls come: no invite for an hour, then 15 s of 5xx answers.
#[tokio::main(flavor = "current_thread")]
async fn polling_load() {
    use dv_pod::obol_api::{
        RetryPolicy,
        simulator::{Endpoint, Fault, FaultRule},
    };
    let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
    let address = simulator.clone().spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let policy = RetryPolicy { attempts_per_call: 1, ..RetryPolicy::default() };
    let mut config = ClientConfig::new(format!("http://{address}").parse().unwrap());
    config.retry = policy;
    let api = ObolApi::new(config);
    let operator = "0x52908400098527886E0F7030069857D2E4169EE7".parse().unwrap();
    let requests = || async {
        let state: Value = reqwest::get(format!("http://{address}/control/state")).await.unwrap().json().await.unwrap();
        state["requests"]["OperatorDefinitions"].as_u64().unwrap_or(0)
    };
    const POLLS: u64 = 100;
    for _ in 0..POLLS {
        assert!(api.definitions_for_operator(&operator).await.unwrap().is_empty());
    }
    let per_poll = requests().await as f64 / POLLS as f64;
    let mut backoff = policy.backoff();
    let (mut elapsed, mut polls) = (0.0, 0u32);
    while elapsed < 3600.0 {
        polls += 1;
        elapsed += backoff.next_delay().as_secs_f64();
    }
    let at_cap: f64 = (0..10_000).map(|_| backoff.next_delay().as_secs_f64()).sum::<f64>() / 10_000.0;
    println!(
        "polling with no invite at the PRD's defaults: {per_poll:.2} requests per poll; {:.1} requests in the first hour \
         (from 5 s up), {:.1} an hour at the 300 s cap (mean interval {at_cap:.0} s)",
        polls as f64 * per_poll,
        3600.0 / at_cap * per_poll
    );

    // A spell of server errors that starts while the node polls at its
    // initial interval (an invite waiting for signatures): its worst case.
    simulator.set_faults(vec![FaultRule { endpoint: Endpoint::Any, fault: Fault::ServerError, times: None }]);
    let before = requests().await;
    let mut backoff = policy.backoff();
    let spell = Instant::now();
    while spell.elapsed() < Duration::from_secs(15) {
        assert!(api.definitions_for_operator(&operator).await.is_err());
        let delay = backoff.next_delay().min(Duration::from_secs(15).saturating_sub(spell.elapsed()));
        tokio::time::sleep(delay).await;
    }
    println!(
        "a 15 s spell of 5xx answers: {} requests (each poll once, the next one backed off)",
        requests().await - before
    );
}
