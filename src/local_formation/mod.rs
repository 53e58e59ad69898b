//! The demo: a complete cluster formation on this machine, with no cluster.
//! The Obol API simulator stands in for the Obol API; the demo plays the
//! Launchpad and the four operators' wallets through the API's own write
//! endpoints (terms, the creator's proposal, each operator's acceptance), a
//! local `charon relay` connects the nodes, four real `dv-sidecar dkg`
//! processes (ours first) wait for the invite and run the DKG with real
//! Charon, then four `charon run` processes validate against Charon's simnet
//! beacon mock. Progress is read from the sidecars' status files - the same
//! status contract the wizard reads from a cluster.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::sync::watch;

use crate::process::{Children, free_port, tail};
use crate::{
    definition::Network,
    enr::EnrPrivateKey,
    health::{CharonHealth, NodeHealth},
    obol_api::{
        ClientConfig, ObolApi,
        launchpad::{self, ClusterProposal, Wallet},
        simulator::{Simulator, SimulatorConfig, TERMS_HASH, TERMS_VERSION},
    },
    status::{self, Phase, Status},
};

pub const SCHEMA: &str = "dv-pod.demo/v1";
const NODES: usize = 4;
const NODE_NAMES: [&str; NODES] = ["you", "operator-2", "operator-3", "operator-4"];
/// Formation plus start-up must finish within this, or the demo fails.
const DEADLINE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub charon: PathBuf,
    pub sidecar: PathBuf,
    /// Keys, data directories and every process's log.
    pub work_dir: PathBuf,
    /// When the Launchpad creates the cluster, after the start.
    pub invite_after: Duration,
    /// Over how long the other three operators sign after ours.
    pub signing_window: Duration,
}

impl DemoOptions {
    /// Finds (or builds) the programs before any screen opens, so build
    /// progress prints on a normal terminal; the work directory is this
    /// process's own.
    pub fn prepare(charon: Option<PathBuf>, signing_window_seconds: u64) -> anyhow::Result<Self> {
        Ok(DemoOptions {
            charon: find_or_build_charon(charon)?,
            sidecar: find_sidecar(None)?,
            work_dir: std::env::temp_dir().join(format!("dv-pod-demo-{}", std::process::id())),
            invite_after: Duration::from_secs(3),
            signing_window: Duration::from_secs(signing_window_seconds),
        })
    }
}

/// What the demo does in the user's place, said before it starts: it plays every operator's part
/// in the Launchpad, including the user's.
pub const LAUNCHPAD_NOTICE: &str = "In this demo nobody opens the Launchpad: a simulated Launchpad proposes the \
     cluster 3 s after the start, signs for you (operator 1) once your node shows the invite (after a sixth of the \
     signing window), then for the three other operators at a third, two thirds and all of the window after you \
     (--signing-window-seconds, 60 s unless set).";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Relay, simulator and sidecars are starting.
    Starting,
    /// Invite, signatures and DKG.
    Forming,
    /// Key shares are in place; Charon nodes are coming up.
    StartingNodes,
    /// Every Charon node reports ready.
    Healthy,
    Failed,
}

impl Stage {
    /// The stage in words, for the wizard's title and the demo's text lines.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Starting => "starting",
            Stage::Forming => "forming the cluster",
            Stage::StartingNodes => "Charon nodes starting",
            Stage::Healthy => "four healthy nodes",
            Stage::Failed => "demo failed",
        }
    }
}

/// Everything the demo shows (schema `dv-pod.demo/v1`, `assets/schemas/`).
#[derive(Debug, Clone, Serialize)]
pub struct DemoView {
    pub schema: &'static str,
    pub stage: Stage,
    pub work_dir: String,
    pub api_endpoint: Option<String>,
    /// Our node's status contract, as our sidecar publishes it.
    pub ours: Option<Status>,
    /// The formation phase each node's sidecar reports, ours first.
    pub sidecars: Vec<Option<Phase>>,
    pub nodes: Vec<NodeHealth>,
    pub error: Option<String>,
    pub elapsed_seconds: f64,
}

impl DemoView {
    /// The view before anything has started.
    pub fn empty(work_dir: &Path) -> Self {
        DemoView {
            schema: SCHEMA,
            stage: Stage::Starting,
            work_dir: work_dir.display().to_string(),
            api_endpoint: None,
            ours: None,
            sidecars: vec![None; NODES],
            nodes: NODE_NAMES
                .iter()
                .map(|name| NodeHealth { name: name.to_string(), pod: None, charon: None, charon_error: None })
                .collect(),
            error: None,
            elapsed_seconds: 0.0,
        }
    }

    pub fn healthy_nodes(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_healthy()).count()
    }
}

struct Node {
    dir: PathBuf,
    key_file: PathBuf,
    status_file: PathBuf,
    /// The operator's wallet, which signs at the Launchpad.
    wallet: Wallet,
    sidecar: Option<usize>,
    charon: Option<usize>,
    monitoring_url: Option<String>,
}

/// Runs the demo, publishing every change on `view`. Returns once every node
/// is healthy when `stop_when_healthy`, else keeps refreshing health until the
/// future is dropped; either way every process it started is stopped. The
/// work directory is removed at the end unless the demo failed, when it keeps
/// every process's log.
pub async fn run(
    options: DemoOptions,
    view: watch::Sender<DemoView>,
    stop_when_healthy: bool,
) -> anyhow::Result<DemoView> {
    let started = Instant::now();
    let mut work_dir = WorkDir { path: options.work_dir.clone(), keep: false };
    let mut current = DemoView::empty(&options.work_dir);
    let outcome = drive(&options, &view, &mut current, started, stop_when_healthy).await;
    work_dir.keep = outcome.is_err();
    if let Err(error) = &outcome {
        current.stage = Stage::Failed;
        current.error = Some(format!("{error:#}"));
        current.elapsed_seconds = started.elapsed().as_secs_f64();
        view.send_replace(current.clone());
    }
    outcome.map(|()| current)
}

/// Removes the demo's files when dropped - also when the demo's future is
/// dropped mid-run, after the processes (dropped first) have stopped.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

async fn drive(
    options: &DemoOptions,
    view: &watch::Sender<DemoView>,
    current: &mut DemoView,
    started: Instant,
    stop_when_healthy: bool,
) -> anyhow::Result<()> {
    let work = &options.work_dir;
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let mut children = Children::default();
    let http = reqwest::Client::new();
    let relay_url = start_relay(options, &mut children, &http).await?;

    let simulator = Simulator::new(&SimulatorConfig::default())?;
    let api_address = simulator.clone().spawn(([127, 0, 0, 1], free_port()?).into()).await?;
    let api_endpoint = format!("http://{api_address}");
    current.api_endpoint = Some(api_endpoint.clone());
    let api = ObolApi::new(ClientConfig::new(api_endpoint.parse()?));

    let mut nodes =
        (0..NODES).map(|i| Node::create(&work.join(format!("node{i}")))).collect::<anyhow::Result<Vec<_>>>()?;
    for node in &mut nodes {
        let sidecar = sidecar_dkg(options, node, &api_endpoint, &relay_url)?;
        node.sidecar = Some(children.start("dv-sidecar dkg", sidecar, &node.dir.join("sidecar.log"))?);
    }
    current.stage = Stage::Forming;

    let mut launchpad = LaunchpadPlay::default();
    let mut last_probe = Instant::now() - Duration::from_secs(1);
    let mut was_healthy = false;
    loop {
        if !was_healthy && started.elapsed() > DEADLINE {
            bail!("the demo did not reach four healthy nodes within {}", humantime::format_duration(DEADLINE));
        }
        let ours_awaits_signature = current.ours.as_ref().is_some_and(|s| s.phase == Phase::AwaitingOurSignature);
        launchpad.step(&api, &nodes, options, started, ours_awaits_signature).await?;
        supervise(options, &mut children, &mut nodes, current, &relay_url)?;
        if last_probe.elapsed() >= Duration::from_secs(1) {
            last_probe = Instant::now();
            probe_health(&http, &nodes, current).await;
        }
        let all_started = nodes.iter().all(|n| n.charon.is_some());
        current.stage = if all_started && current.healthy_nodes() == NODES {
            Stage::Healthy
        } else if all_started {
            Stage::StartingNodes
        } else {
            Stage::Forming
        };
        was_healthy |= current.stage == Stage::Healthy;
        current.elapsed_seconds = started.elapsed().as_secs_f64();
        view.send_replace(current.clone());
        if current.stage == Stage::Healthy && stop_when_healthy {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl Node {
    /// A node directory with a fresh ENR key and an operator wallet.
    fn create(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir.join("data"))?;
        let key_file = dir.join("charon-enr-private-key");
        EnrPrivateKey::generate()?.save_new(&key_file)?;
        Ok(Node {
            dir: dir.to_path_buf(),
            key_file,
            status_file: dir.join("status.json"),
            wallet: Wallet::generate()?,
            sidecar: None,
            charon: None,
            monitoring_url: None,
        })
    }
}

/// Starts the local `charon relay` the nodes meet through; returns its URL
/// once it serves its ENR.
async fn start_relay(options: &DemoOptions, children: &mut Children, http: &reqwest::Client) -> anyhow::Result<String> {
    let work = &options.work_dir;
    let relay_port = free_port()?;
    let relay_url = format!("http://127.0.0.1:{relay_port}");
    let mut relay = Command::new(&options.charon);
    relay.args([
        "relay".to_string(),
        format!("--data-dir={}", work.join("relay").display()),
        format!("--http-address=127.0.0.1:{relay_port}"),
        format!("--p2p-tcp-address=127.0.0.1:{}", free_port()?),
        "--p2p-advertise-private-addresses=true".into(),
        "--log-format=json".into(),
    ]);
    let relay_index = children.start("charon relay", relay, &work.join("relay.log"))?;
    wait_until_served(http, &format!("{relay_url}/enr"), Duration::from_secs(60)).await.with_context(|| {
        format!("the local charon relay never served:\n{}", tail(&children.get_mut(relay_index).log, 20))
    })?;
    Ok(relay_url)
}

/// What the demo does at the Launchpad for the four operators, on a schedule
/// that lets the screen be read.
#[derive(Default)]
struct LaunchpadPlay {
    /// The proposed cluster's config hash and when it was proposed.
    invite: Option<(String, Instant)>,
    we_signed_at: Option<Instant>,
    others_signed: usize,
}

impl LaunchpadPlay {
    async fn step(
        &mut self,
        api: &ObolApi,
        nodes: &[Node],
        options: &DemoOptions,
        started: Instant,
        ours_awaits_signature: bool,
    ) -> anyhow::Result<()> {
        if self.invite.is_none() && started.elapsed() >= options.invite_after {
            self.invite = Some((create_cluster(api, nodes).await?, Instant::now()));
        }
        let Some((config_hash, invited_at)) = &self.invite else { return Ok(()) };
        // Like an operator at the Launchpad, we sign once our node has told
        // us it waits for our signature (and not before a sixth of the
        // window, so the screen can be read).
        if self.we_signed_at.is_none() && ours_awaits_signature && invited_at.elapsed() >= options.signing_window / 6 {
            accept_invite(api, config_hash, &nodes[0]).await?;
            self.we_signed_at = Some(Instant::now());
        }
        // The other three follow a third, two thirds and a whole window
        // after us, so our node is seen waiting for them.
        if let Some(at) = self.we_signed_at
            && self.others_signed < NODES - 1
            && at.elapsed() >= options.signing_window.mul_f64((self.others_signed + 1) as f64 / 3.0)
        {
            self.others_signed += 1;
            accept_invite(api, config_hash, &nodes[self.others_signed]).await?;
        }
        Ok(())
    }
}

/// Reads each sidecar's status, starts `charon run` where a sidecar has
/// finished its DKG, and fails when a process ends badly.
fn supervise(
    options: &DemoOptions,
    children: &mut Children,
    nodes: &mut [Node],
    current: &mut DemoView,
    relay_url: &str,
) -> anyhow::Result<()> {
    for (i, node) in nodes.iter_mut().enumerate() {
        let snapshot = status::read_file(&node.status_file).ok();
        current.sidecars[i] = snapshot.as_ref().map(|s| s.phase);
        if i == 0 {
            current.ours = snapshot.or(current.ours.take());
        }
        if let Some(index) = node.sidecar
            && let Some(exit) = children.get_mut(index).exited()?
        {
            node.sidecar = None;
            let log = &children.get_mut(index).log;
            if !exit.success() {
                bail!("the sidecar of {} ended with {exit}:\n{}", NODE_NAMES[i], tail(log, 20));
            }
            let monitoring = free_port()?;
            node.monitoring_url = Some(format!("http://127.0.0.1:{monitoring}"));
            node.charon = Some(children.start(
                "charon run",
                charon_run(options, node, relay_url, monitoring)?,
                &node.dir.join("charon.log"),
            )?);
        }
        if let Some(index) = node.charon
            && let Some(exit) = children.get_mut(index).exited()?
        {
            bail!("charon of {} ended with {exit}:\n{}", NODE_NAMES[i], tail(&children.get_mut(index).log, 20));
        }
    }
    Ok(())
}

/// Probes every running Charon at once: a node that hangs must not hold
/// back the others' figures.
async fn probe_health(http: &reqwest::Client, nodes: &[Node], current: &mut DemoView) {
    let probes = nodes.iter().map(|node| async {
        match &node.monitoring_url {
            Some(url) => Some(CharonHealth::probe(http, url).await),
            None => None,
        }
    });
    for (i, probed) in futures_util::future::join_all(probes).await.into_iter().enumerate() {
        if let Some(probed) = probed {
            current.nodes[i].charon_error = probed.as_ref().err().map(ToString::to_string);
            current.nodes[i].charon = probed.ok();
        }
    }
}

fn sidecar_dkg(options: &DemoOptions, node: &Node, api_endpoint: &str, relay_url: &str) -> anyhow::Result<Command> {
    let mut sidecar = Command::new(&options.sidecar);
    sidecar
        .arg("dkg")
        .arg(format!("--data-dir={}", node.dir.join("data").display()))
        .arg(format!("--enr-key-file={}", node.key_file.display()))
        .arg(format!("--operator-address={}", node.wallet.address()))
        .arg(format!("--network={}", Network::Hoodi.name()))
        .arg(format!("--api-endpoint={api_endpoint}"))
        .args(["--initial-retry-delay-seconds=1", "--max-retry-delay-seconds=4"])
        .arg(format!("--p2p-relays={relay_url}"))
        .arg(format!("--p2p-tcp-address=127.0.0.1:{}", free_port()?))
        .arg(format!("--charon={}", options.charon.display()))
        .arg(format!("--status-file={}", node.status_file.display()));
    Ok(sidecar)
}

/// At the Launchpad, every operator accepts the terms and the second
/// operator proposes the cluster (an invitation, as the user would receive
/// one); returns its config hash. Every operator accepts it later, from the
/// demo loop.
async fn create_cluster(api: &ObolApi, nodes: &[Node]) -> anyhow::Result<String> {
    for node in nodes {
        api.accept_terms(&launchpad::accept_terms(TERMS_HASH, TERMS_VERSION, Network::Hoodi, &node.wallet)).await?;
    }
    let creator = &nodes[1].wallet;
    let proposal = ClusterProposal {
        name: "dv-pod demo".into(),
        network: Network::Hoodi,
        num_validators: 1,
        threshold: None,
        operators: nodes.iter().map(|node| node.wallet.address()).collect(),
        withdrawal_address: creator.address(),
        fee_recipient_address: creator.address(),
    }
    .sign(creator)?;
    api.propose_cluster(&proposal).await?;
    Ok(proposal.config_hash)
}

/// The operator accepts the invite with their node's ENR, as they would at
/// the Launchpad with their wallet.
async fn accept_invite(api: &ObolApi, config_hash: &str, node: &Node) -> anyhow::Result<()> {
    let definition =
        api.definition(config_hash).await?.with_context(|| format!("the API lost definition {config_hash}"))?.parsed?;
    let enr = EnrPrivateKey::load(&node.key_file)?.record().text().to_string();
    api.accept_invite(config_hash, &launchpad::accept(&definition, Network::Hoodi, &enr, &node.wallet)).await?;
    Ok(())
}

fn charon_run(options: &DemoOptions, node: &Node, relay_url: &str, monitoring: u16) -> anyhow::Result<Command> {
    let cluster = node.dir.join("data").join("cluster");
    let mut command = Command::new(&options.charon);
    command.args([
        "run".to_string(),
        format!("--lock-file={}", cluster.join("cluster-lock.json").display()),
        format!("--private-key-file={}", node.key_file.display()),
        "--simnet-beacon-mock".into(),
        "--simnet-validator-mock".into(),
        format!("--simnet-validator-keys-dir={}", cluster.join("validator_keys").display()),
        format!("--p2p-relays={relay_url}"),
        format!("--p2p-tcp-address=127.0.0.1:{}", free_port()?),
        format!("--monitoring-address=127.0.0.1:{monitoring}"),
        format!("--validator-api-address=127.0.0.1:{}", free_port()?),
        "--log-format=json".into(),
    ]);
    Ok(command)
}

async fn wait_until_served(http: &reqwest::Client, url: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if http.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("{url} did not answer within {}", humantime::format_duration(timeout))
}

/// Where the test bed keeps its programs: `$DV_BED_DIR` or `.bed` in the
/// checkout this binary was built from.
fn bed_dir() -> PathBuf {
    std::env::var_os("DV_BED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".bed"))
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// The charon binary: `explicit`, `$DV_CHARON`, the test bed's, or one on
/// PATH. When none exists and this is a dv-pod checkout, builds it with the
/// test bed's recipe (`tests/bed/setup charon`, a few minutes, once).
pub fn find_or_build_charon(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit.or_else(|| std::env::var_os("DV_CHARON").map(PathBuf::from)) {
        if !path.is_file() {
            bail!(
                "charon binary {} does not exist: pass --charon with the path of a charon v1.10 binary, or unset \
                 DV_CHARON to use the test bed's",
                path.display()
            );
        }
        return check_charon(path);
    }
    let bed_charon = bed_dir().join("bin/charon");
    if let Some(found) = [Some(bed_charon.clone()), on_path("charon")].into_iter().flatten().find(|p| p.is_file()) {
        return check_charon(found);
    }
    let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed/setup");
    if !setup.is_file() {
        bail!("charon was not found: pass --charon PATH, set DV_CHARON, or put charon v1.10 on PATH");
    }
    eprintln!("charon is missing; building it from the Go module proxy with {} (once)", setup.display());
    let status = Command::new(&setup).arg("charon").status().with_context(|| format!("running {}", setup.display()))?;
    if !status.success() || !bed_charon.is_file() {
        bail!(
            "building charon with {} failed ({status}); its log is in {}",
            setup.display(),
            bed_dir().join("logs").display()
        );
    }
    Ok(bed_charon)
}

/// `path` if it is a charon v1 binary, asked with `charon version` (which
/// prints e.g. `v1.10.3 [git_commit_hash: ...]`). Anything else would
/// only show as a DKG that never starts, a minute later.
fn check_charon(path: PathBuf) -> anyhow::Result<PathBuf> {
    let fix = "pass --charon with the path of a charon v1.10 binary (or set DV_CHARON)";
    let mut child = Command::new(&path)
        .arg("version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("{} cannot be run; {fix}", path.display()))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait()?.is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("`{} version` did not answer within 10 s, so it is not charon; {fix}", path.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut printed = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        use std::io::Read;
        stdout.read_to_string(&mut printed)?;
    }
    let first = printed.lines().next().unwrap_or_default().trim();
    if !first.starts_with("v1.") {
        bail!("{} is not charon: `{} version` printed {first:?}; {fix}", path.display(), path.display());
    }
    Ok(path)
}

/// The dv-sidecar binary: `explicit`, the one beside this program, or on PATH.
pub fn find_sidecar(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path);
    }
    let beside = std::env::current_exe()?.parent().map(|dir| dir.join("dv-sidecar"));
    beside.filter(|p| p.is_file()).or_else(|| on_path("dv-sidecar")).context(
        "dv-sidecar was not found beside this program or on PATH: build it with `cargo build --release` or pass --sidecar",
    )
}
