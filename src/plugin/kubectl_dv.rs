//! `kubectl-dv` (run as `kubectl dv ...`): the plugin's commands.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, CommandFactory, Parser, Subcommand};
use serde::Serialize;

use super::ReleaseTarget;

use crate::{
    cluster::release::{self, ReleaseNames, ReleaseView},
    definition::{
        Definition, Network,
        invite::{Invite, OperatorAddress, OurNode, classify},
        verify::{Check, verify},
    },
    enr::{EnrPrivateKey, EnrRecord},
    obol_api::{ClientConfig, ObolApi},
};

#[derive(Parser)]
#[command(name = "kubectl-dv", version = crate::VERSION, about = "Install and follow a dv-pod distributed validator")]
pub struct Cli {
    #[command(flatten)]
    target: ReleaseTarget,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install or upgrade the dv-pod chart (helm upgrade --install).
    Install(InstallArgs),
    /// Print the release's ENR (or a local key file's), optionally as a QR code.
    Enr {
        /// Read this Charon key file (charon-enr-private-key) instead of the cluster.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Also draw the ENR as a QR code to scan into the Launchpad.
        #[arg(long)]
        qr: bool,
        /// Print a JSON document (schema dv-pod.enr/v1) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Formation status, pod and Charon health of the release.
    Status {
        /// Keep printing whenever something changes.
        #[arg(long, short = 'w')]
        watch: bool,
        /// Seconds between reads with --watch.
        #[arg(long, default_value_t = 2)]
        interval: u64,
        /// Print JSON documents (schema dv-pod.release-status/v1), one per line.
        #[arg(long)]
        json: bool,
    },
    /// Print a container's log from the release's pod.
    Logs {
        /// dkg (the sidecar), import-keys, charon or validator-client.
        #[arg(long, short = 'c', default_value = "dkg")]
        container: String,
        /// Keep streaming.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<i64>,
        /// The log of the container's previous run (after a crash or restart).
        #[arg(long, short = 'p')]
        previous: bool,
    },
    /// Open the interactive wizard: runs dv-tui (installed beside kubectl-dv,
    /// or on PATH) with these arguments; `kubectl dv wizard --help` shows them.
    #[command(disable_help_flag = true)]
    Wizard {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// A complete local formation: simulated Launchpad, four real Charon
    /// nodes. Opens the wizard on a terminal; prints progress otherwise.
    Demo {
        /// Print dv-pod.demo/v1 JSON lines and exit when all nodes are healthy.
        #[arg(long)]
        json: bool,
        /// The charon binary (default: the test bed's, else PATH; built if missing).
        #[arg(long)]
        charon: Option<PathBuf>,
        /// Over how many seconds the demo's other three operators sign after you.
        #[arg(long, default_value_t = 60)]
        signing_window_seconds: u64,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Work with cluster definitions.
    Definition {
        #[command(subcommand)]
        command: DefinitionCommand,
    },
    /// Work with cluster locks.
    Lock {
        #[command(subcommand)]
        command: LockCommand,
    },
}

#[derive(Subcommand)]
enum LockCommand {
    /// Verify a cluster lock as Charon loads it, check every deposit, and
    /// print what to check before depositing. Without a file or URL, reads
    /// the lock the release's pod uses (--release, -n). Exit 0 valid,
    /// 1 invalid, 2 usage, I/O or cluster error.
    Verify(LockVerifyArgs),
}

#[derive(Args)]
struct LockVerifyArgs {
    /// A cluster-lock.json file, or an http(s) URL such as
    /// https://api.obol.tech/v1/lock/0x... (default: the release's lock).
    source: Option<String>,
    /// The network you mean to deposit on: a lock for another one fails.
    #[arg(long)]
    network: Option<String>,
    /// Print a JSON document (schema dv-pod.lock-verify/v1).
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum DefinitionCommand {
    /// Verify a definition (file or URL) as Charon would, and say what it
    /// means for an operator. Exit 0 valid, 1 invalid, 2 usage or I/O error.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct VerifyArgs {
    /// A definition file, or an http(s) URL such as https://api.obol.tech/v1/definition/0x...
    source: String,
    /// Classify the definition for this operator address.
    #[arg(long)]
    operator: Option<String>,
    /// This node's ENR (checked against the operator's slot).
    #[arg(long, requires = "operator")]
    enr: Option<String>,
    /// The network this node runs on.
    #[arg(long, requires = "operator")]
    network: Option<String>,
    /// Print a JSON document (schema dv-pod.definition-verify/v1).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct InstallArgs {
    /// Your operator's Ethereum address (sets charon.operatorAddress).
    #[arg(long)]
    operator_address: Option<String>,
    /// The network (sets network).
    #[arg(long)]
    network: Option<String>,
    /// Values files, as for helm.
    #[arg(short = 'f', long = "values")]
    values: Vec<PathBuf>,
    /// Single values, as for helm (--set a.b=c).
    #[arg(long = "set")]
    set: Vec<String>,
    /// The chart (default: the chart of this checkout).
    #[arg(long)]
    chart: Option<String>,
    /// The helm binary.
    #[arg(long, env = "HELM", default_value = "helm")]
    helm: String,
    /// Arguments after -- go to helm as they are.
    #[arg(last = true)]
    helm_args: Vec<String>,
}

/// The `--json` output of `kubectl dv definition verify`
/// (schema `dv-pod.definition-verify/v1`, `assets/schemas/`).
#[derive(Serialize)]
pub struct VerifyDocument {
    pub schema: &'static str,
    pub source: String,
    pub valid: bool,
    /// Why the document could not be read as a definition, if it could not.
    pub parse_error: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub network: Option<Network>,
    pub config_hash: Option<String>,
    pub operators: Option<usize>,
    pub threshold: Option<i64>,
    pub checks: Vec<Check>,
    pub invite: Option<Invite>,
}

/// The `--json` output of `kubectl dv enr` (schema `dv-pod.enr/v1`).
#[derive(Serialize)]
pub struct EnrDocument {
    pub schema: &'static str,
    pub enr: String,
    pub public_key: String,
    pub peer_id: String,
}

pub async fn run(cli: Cli) -> ExitCode {
    let target = cli.target;
    match cli.command {
        Command::Definition { command: DefinitionCommand::Verify(args) } => verify_definition(args).await,
        Command::Lock { command: LockCommand::Verify(args) } => verify_lock(&target, args).await,
        Command::Enr { key_file, qr, json } => {
            let record = match key_file {
                Some(path) => EnrPrivateKey::load(&path).map(|key| key.record()).map_err(anyhow::Error::from),
                None => {
                    with_cluster(&target, |client, names| async move {
                        let view = release::observe(&client, &names).await;
                        let text = view.enr.ok_or_else(|| {
                            anyhow::anyhow!("release {} has no ENR yet: {}", names.release, view.problems.join("; "))
                        })?;
                        text.parse::<EnrRecord>().map_err(|e| anyhow::anyhow!("the release's ENR is invalid: {e}"))
                    })
                    .await
                }
            };
            let record = match record {
                Ok(record) => record,
                Err(message) => return crate::exit::fail(message),
            };
            if json {
                return crate::exit::print_json(&EnrDocument {
                    schema: "dv-pod.enr/v1",
                    enr: record.text().to_string(),
                    public_key: format!("0x{}", hex::encode(record.public_key_compressed())),
                    peer_id: record.peer_id(),
                });
            }
            println!("{record}");
            if qr && let Some(code) = crate::enr::qr::ansi(record.text()) {
                print!("{code}");
            }
            ExitCode::SUCCESS
        }
        Command::Status { watch, interval, json } => {
            status(&target, watch, Duration::from_secs(interval.max(1)), json).await
        }
        Command::Logs { container, follow, tail, previous } => logs(&target, &container, follow, tail, previous).await,
        Command::Install(args) => install(&target, args),
        Command::Wizard { args } => run_wizard(&target, args),
        Command::Demo { json, charon, signing_window_seconds } => {
            let mut args = vec!["--demo".to_string(), format!("--signing-window-seconds={signing_window_seconds}")];
            args.extend(charon.map(|path| format!("--charon={}", path.display())));
            args.extend(json.then(|| "--json".to_string()));
            run_wizard(&target, args)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "kubectl-dv", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

/// Replaces this process with `dv-tui` (the wizard and the demo are their
/// own program: the plugin hands over the terminal, signals and exit code).
fn run_wizard(target: &ReleaseTarget, args: Vec<String>) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let beside = std::env::current_exe().ok().map(|exe| exe.with_file_name("dv-tui")).filter(|p| p.is_file());
    let program = beside.unwrap_or_else(|| PathBuf::from("dv-tui"));
    let mut command = std::process::Command::new(&program);
    command.args(["--release", &target.release]);
    command.args(target.namespace.iter().flat_map(|n| ["--namespace", n]));
    command.args(target.context.iter().flat_map(|c| ["--context", c]));
    let error = command.args(args).exec();
    crate::exit::fail(format!(
        "cannot run {}: {error} (install dv-tui next to kubectl-dv or on PATH)",
        program.display()
    ))
}

/// Runs `work` with a client for the target's context and the release's names.
async fn with_cluster<T, F, Fut>(target: &ReleaseTarget, work: F) -> anyhow::Result<T>
where
    F: FnOnce(kube::Client, ReleaseNames) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let (client, namespace) = connect(target).await?;
    let names = ReleaseNames::find(&client, &namespace, &target.release).await;
    work(client, names).await
}

async fn connect(target: &ReleaseTarget) -> anyhow::Result<(kube::Client, String)> {
    let connection = crate::cluster::connect(target.context.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the kubeconfig: {e:#} (set KUBECONFIG or --context)"))?;
    Ok((connection.client, target.namespace.clone().unwrap_or(connection.namespace)))
}

async fn status(target: &ReleaseTarget, watch: bool, interval: Duration, json: bool) -> ExitCode {
    let outcome = with_cluster(target, |client, names| async move {
        let mut last: Option<ReleaseView> = None;
        loop {
            let view = release::observe(&client, &names).await;
            if last.as_ref() != Some(&view) {
                if json {
                    println!("{}", serde_json::to_string(&view).map_err(anyhow::Error::from)?);
                } else {
                    print_status_text(&view);
                }
                last = Some(view);
            }
            if !watch {
                return Ok(());
            }
            tokio::time::sleep(interval).await;
        }
    })
    .await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => crate::exit::fail(message),
    }
}

fn print_status_text(view: &ReleaseView) {
    println!("release {} in namespace {}", view.release, view.namespace);
    match &view.status {
        Some(status) => {
            println!("  phase      {} (since {})", status.phase.name(), status.phase_since);
            if let Some(detail) = &status.detail {
                println!("  detail     {detail}");
            }
            println!("  polls      {} (last {})", status.polls, status.last_poll_at.as_deref().unwrap_or("-"));
            if let Some(invite) = &status.invite {
                println!(
                    "  invite     {:?} {} signed {}/{}",
                    invite.name, invite.config_hash, invite.signed, invite.total
                );
                for missing in &invite.missing {
                    println!("             waiting for {missing}");
                }
            }
            if let Some(dkg) = &status.dkg {
                println!("  dkg        attempt {}: {}", dkg.attempt, dkg.step);
            }
            if let Some(error) = &status.error {
                match &error.next_retry_at {
                    Some(at) => println!("  error      {} (next try {at})", error.reason),
                    None => println!("  error      {}", error.reason),
                }
            }
            if let Some(lock) = &status.lock_hash {
                println!("  lock       {lock}");
            }
        }
        None => println!("  phase      (no status yet)"),
    }
    if let Some(enr) = &view.enr {
        println!("  enr        {enr}");
    }
    if let Some(pod) = &view.pod {
        println!(
            "  pod        {} {}{}, {} restarts",
            pod.name,
            pod.phase,
            if pod.ready { " ready" } else { "" },
            pod.restarts
        );
        for container in &pod.containers {
            println!("             {:<17} {}", container.name, container.state);
        }
    }
    if let Some(charon) = &view.charon {
        println!(
            "  charon     {}, peers {}/{}, validators {}, duties {}",
            charon.readiness.describe(),
            charon.peers_connected,
            charon.peers_total,
            charon.validators.map_or("-".into(), |v| v.to_string()),
            crate::health::duty_summary(charon)
        );
    }
    for problem in &view.problems {
        println!("  ! {problem}");
    }
}

async fn logs(target: &ReleaseTarget, container: &str, follow: bool, tail: Option<i64>, previous: bool) -> ExitCode {
    use futures_util::{AsyncBufReadExt, TryStreamExt};
    let container = container.to_string();
    let outcome = with_cluster(target, |client, names| async move {
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, &names.namespace);
        let pod = pods.get(names.pod()).await.map_err(|e| anyhow::anyhow!("pod {}: {e}", names.pod()))?;
        let health = release::pod_health(&pod);
        let Some(state) = health.containers.iter().find(|c| c.name == container) else {
            let known: Vec<&str> = health.containers.iter().map(|c| c.name.as_str()).collect();
            return Err(anyhow::anyhow!(
                "pod {} has no container {container:?}; it has {}",
                names.pod(),
                known.join(", ")
            ));
        };
        // A container waiting after a crash has the log of that run (--previous).
        let never_ran = state.state.never_ran(state.restarts);
        if never_ran || (previous && state.restarts == 0) {
            return Err(anyhow::anyhow!(
                "container {container} of pod {} has no log yet: {}",
                names.pod(),
                state.state
            ));
        }
        let params = kube::api::LogParams {
            container: Some(container),
            follow,
            tail_lines: tail,
            previous,
            ..Default::default()
        };
        let stream =
            pods.log_stream(names.pod(), &params).await.map_err(|e| anyhow::anyhow!("pod {}: {e}", names.pod()))?;
        let mut lines = stream.lines();
        while let Some(line) = lines.try_next().await.map_err(anyhow::Error::from)? {
            println!("{line}");
        }
        Ok(())
    })
    .await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => crate::exit::fail(message),
    }
}

fn install(target: &ReleaseTarget, args: InstallArgs) -> ExitCode {
    let mut sets = args.set.clone();
    if let Some(address) = &args.operator_address {
        if let Err(e) = address.parse::<OperatorAddress>() {
            return crate::exit::fail(format!("--operator-address: {e}"));
        }
        sets.push(format!("charon.operatorAddress={address}"));
    }
    if let Some(network) = &args.network {
        if Network::from_name(network).is_none() {
            return crate::exit::fail(format!(
                "--network {network:?} is not one of: {}",
                Network::ALL.map(Network::name).join(", ")
            ));
        }
        sets.push(format!("network={network}"));
    }
    if let Err(message) = crate::chart::refuse_private_key_arguments(sets.iter().chain(&args.helm_args)) {
        return crate::exit::fail(message);
    }
    let mut command = std::process::Command::new(&args.helm);
    command.args(["upgrade", "--install", &target.release]);
    command.arg(args.chart.unwrap_or_else(crate::chart::default_chart));
    if let Some(namespace) = &target.namespace {
        command.args(["--namespace", namespace, "--create-namespace"]);
    }
    if let Some(context) = &target.context {
        command.arg(format!("--kube-context={context}"));
    }
    for file in &args.values {
        command.arg("--values").arg(file);
    }
    for set in &sets {
        command.args(["--set", set]);
    }
    command.args(&args.helm_args);
    match command.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("error: helm ended with {status}");
            ExitCode::from(crate::exit::INVALID)
        }
        Err(e) => crate::exit::fail(format!("cannot run {}: {e} (install Helm 3 or 4, or pass --helm)", args.helm)),
    }
}

async fn verify_definition(args: VerifyArgs) -> ExitCode {
    let us = match our_node(&args) {
        Ok(us) => us,
        Err(message) => return crate::exit::fail(message),
    };
    let document = match read_source(&args.source).await {
        Ok(document) => document,
        Err(message) => return crate::exit::fail(message),
    };
    let mut out = VerifyDocument {
        schema: "dv-pod.definition-verify/v1",
        source: args.source.clone(),
        valid: false,
        parse_error: None,
        name: None,
        version: None,
        network: None,
        config_hash: None,
        operators: None,
        threshold: None,
        checks: Vec::new(),
        invite: None,
    };
    match Definition::from_value(document) {
        Err(e) => out.parse_error = Some(e.to_string()),
        Ok(def) => {
            let report = verify(&def);
            out.valid = report.is_valid();
            out.name = Some(def.name.clone());
            out.version = Some(def.version.to_string());
            out.network = def.network();
            out.config_hash = Some(def.config_hash_hex());
            out.operators = Some(def.operators.len());
            out.threshold = Some(def.threshold);
            out.checks = report.checks;
            out.invite = us.map(|us| classify(&def, &us));
        }
    }
    // With --operator, a definition this node cannot use fails too.
    let usable = !matches!(
        out.invite,
        Some(Invite::NotForUs | Invite::NotTarget { .. } | Invite::WrongNetwork { .. } | Invite::Invalid { .. })
    );
    let code = if out.valid && usable { crate::exit::OK } else { crate::exit::INVALID };
    if args.json {
        if crate::exit::print_json(&out) != ExitCode::SUCCESS {
            return ExitCode::from(crate::exit::USAGE);
        }
    } else {
        print_verify_text(&out);
    }
    ExitCode::from(code)
}

async fn verify_lock(target: &ReleaseTarget, args: LockVerifyArgs) -> ExitCode {
    let network = match args.network.as_deref().map(parse_network).transpose() {
        Ok(network) => network,
        Err(message) => return crate::exit::fail(message),
    };
    let read = match &args.source {
        Some(source) => read_source(source).await.map(|document| (source.clone(), document)),
        None => with_cluster(target, |client, names| async move { published_lock(&client, &names).await }).await,
    };
    let (source, document) = match read {
        Ok(read) => read,
        Err(message) => return crate::exit::fail(message),
    };
    let out = super::lock_verify::verify_document(source, document, network);
    if args.json {
        if crate::exit::print_json(&out) != ExitCode::SUCCESS {
            return ExitCode::from(crate::exit::USAGE);
        }
    } else {
        super::lock_verify::print_text(&out);
    }
    ExitCode::from(if out.valid { crate::exit::OK } else { crate::exit::INVALID })
}

/// The lock the release's sidecar verified and published for its Charon.
async fn published_lock(client: &kube::Client, names: &ReleaseNames) -> anyhow::Result<(String, serde_json::Value)> {
    let configmaps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), &names.namespace);
    let name = names.status_configmap();
    let configmap = configmaps
        .get_opt(name)
        .await
        .map_err(|e| anyhow::anyhow!("reading ConfigMap {name} in {}: {e}", names.namespace))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "ConfigMap {name} not found in {}: is release {} installed?",
                names.namespace,
                names.release
            )
        })?;
    let text = crate::cluster::published_lock(&configmap).ok_or_else(|| {
        anyhow::anyhow!(
            "release {} has no cluster lock yet (ConfigMap {name} has no {}): it is published once formation is \
             done; `kubectl dv status` shows where it stands",
            names.release,
            crate::cluster::LOCK_KEY
        )
    })?;
    let document = serde_json::from_str(text)
        .map_err(|e| anyhow::anyhow!("ConfigMap {name}: the published lock is not JSON: {e}"))?;
    Ok((format!("release {}/{}", names.namespace, names.release), document))
}

fn parse_network(name: &str) -> anyhow::Result<Network> {
    Network::from_name(name).ok_or_else(|| {
        anyhow::anyhow!("--network {name:?} is not one of: {}", Network::ALL.map(Network::name).join(", "))
    })
}

fn our_node(args: &VerifyArgs) -> anyhow::Result<Option<OurNode>> {
    let Some(operator) = &args.operator else { return Ok(None) };
    let operator: OperatorAddress = operator.parse().map_err(|e| anyhow::anyhow!("--operator: {e}"))?;
    let enr = args
        .enr
        .as_deref()
        .map(|text| text.parse::<EnrRecord>().map_err(|e| anyhow::anyhow!("--enr: {e}")))
        .transpose()?;
    let network = args.network.as_deref().map(parse_network).transpose()?;
    Ok(Some(OurNode { operator, enr, network, target_config_hash: None }))
}

async fn read_source(source: &str) -> anyhow::Result<serde_json::Value> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let url: url::Url = source.parse().map_err(|e| anyhow::anyhow!("{source} is not a valid URL: {e}"))?;
        let api = ObolApi::new(ClientConfig::new(url.clone()));
        api.fetch_json(url)
            .await
            .map_err(anyhow::Error::from)?
            .ok_or_else(|| anyhow::anyhow!("{source}: not found (404)"))
    } else {
        let text = std::fs::read(source).map_err(|e| anyhow::anyhow!("cannot read {source}: {e}"))?;
        serde_json::from_slice(&text).map_err(|e| anyhow::anyhow!("{source} is not JSON: {e}"))
    }
}

fn print_verify_text(out: &VerifyDocument) {
    if let Some(error) = &out.parse_error {
        println!("INVALID: {error}");
        return;
    }
    println!(
        "{} {} ({}), config hash {}",
        out.name.as_deref().unwrap_or_default(),
        out.version.as_deref().unwrap_or_default(),
        out.network.map(|n| n.name()).unwrap_or("unknown network"),
        out.config_hash.as_deref().unwrap_or_default()
    );
    for check in &out.checks {
        let mark = match check.status {
            crate::definition::verify::Status::Pass => "ok     ",
            crate::definition::verify::Status::Fail => "FAILED ",
            crate::definition::verify::Status::Missing => "missing",
        };
        println!("  {mark} {}: {}", check.name, check.detail);
    }
    println!("{}", if out.valid { "VALID" } else { "INVALID" });
    if let Some(invite) = &out.invite {
        println!("for this operator: {}", serde_json::to_string(invite).unwrap_or_default());
    }
}
