//! `dv-sidecar`: the in-pod program's commands.

pub mod beacon_proxy;
pub mod dkg;
pub mod import_keys;
pub mod metrics;
pub mod node_files;
pub mod prysm_db;
pub mod prysm_wallet;
pub mod simnet_gateway;
pub mod vc_volume;

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::{
    definition::{Network, invite::OperatorAddress},
    obol_api::{
        ClientConfig, RetryPolicy,
        simulator::{Simulator, SimulatorConfig},
    },
    validator_client::ValidatorClient,
};

#[derive(Parser)]
#[command(name = "dv-sidecar", version = crate::VERSION, about = "In-pod helper for dv-pod")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Wait for a fully signed cluster definition naming this operator, run
    /// the DKG with Charon, and put the cluster lock and key shares in place.
    Dkg(Box<DkgArgs>),
    /// The chart's ENR Job: make sure the ENR key Secret exists (creating it
    /// with a new key only if it is missing) and print the ENR, nothing else.
    Enr {
        /// The Secret holding the key.
        #[arg(long, env = "DV_ENR_SECRET")]
        secret_name: String,
        /// Namespace of the Secret (default: the pod's own).
        #[arg(long, env = "DV_NAMESPACE")]
        namespace: Option<String>,
        /// Create the Secret with a new key when it is missing.
        #[arg(long)]
        create: bool,
        /// The Helm release, for the Secret's labels.
        #[arg(long, env = "DV_RELEASE", default_value = "dv-pod")]
        release: String,
        /// The chart's name (`nameOverride`), for the Secret's labels.
        #[arg(long, env = "DV_APP_NAME", default_value = "dv-pod")]
        app_name: String,
        /// Create the Secret with this key (charon-enr-private-key format)
        /// instead of a new one; an existing Secret with another key is an error.
        #[arg(long, env = "DV_SUPPLIED_KEY_FILE", requires = "create")]
        key_file: Option<PathBuf>,
    },
    /// Lay out the DKG's key shares the way a validator client reads them
    /// (adds missing keys, keeps existing ones, never touches anything else).
    ImportKeys {
        #[arg(long, env = "DV_VC_TYPE", value_enum)]
        client: import_keys::ValidatorClient,
        /// Directory with keystore-N.json and keystore-N.txt.
        #[arg(long, env = "DV_KEYS_FROM")]
        from: PathBuf,
        /// The validator client's data directory.
        #[arg(long, env = "DV_KEYS_TO")]
        to: PathBuf,
        /// Directory on Charon's volume that records which VC volume and
        /// client the key shares belong to; a replaced VC volume or a changed
        /// client is then refused (see `vc_volume`).
        #[arg(long, env = "DV_VC_BINDING_DIR")]
        binding_dir: PathBuf,
        /// A restored node's slashing history is imported next (the chart's
        /// import-slashing-protection step): give Prysm the empty database
        /// its import needs (see `prysm_db`).
        #[arg(long, env = "DV_SLASHING_IMPORT")]
        slashing_import: bool,
    },
    /// Write a stopped node's files as a tar on stdout (see `node_files`);
    /// `kubectl dv backup` runs it by exec in its one-off pod.
    NodeFiles {
        /// Charon's cluster directory.
        #[arg(long, default_value = "/charon-data/cluster")]
        cluster_dir: PathBuf,
        /// The interchange file the validator client exported.
        #[arg(long)]
        slashing_protection_file: PathBuf,
    },
    /// Wait until terminated: the main container of `kubectl dv backup`'s
    /// one-off pod, which keeps the pod up for the exec of `node-files`.
    Hold,
    /// Forward Charon's beacon API requests to the beacon nodes, adding the
    /// auth headers from a mounted Secret (Charon logs whatever headers it is
    /// given; see `beacon_proxy`).
    BeaconProxy {
        /// File holding the headers as Charon takes them: name=value[,name=value].
        #[arg(long, env = "DV_BEACON_NODE_HEADERS_FILE")]
        beacon_node_headers_file: PathBuf,
        /// Beacon node URLs in Charon's order: endpoints, then fallbacks.
        #[arg(long = "upstream", env = "DV_BEACON_UPSTREAMS", value_delimiter = ',', required = true)]
        upstreams: Vec<String>,
        /// Loopback port Charon reaches the first upstream on; the others follow.
        #[arg(long, env = "DV_BEACON_PROXY_FIRST_PORT", default_value_t = 15052)]
        first_port: u16,
    },
    /// For tests with Charon's simulated beacon node only: stand between the
    /// validator client and Charon, filling the two gaps of Charon's mock
    /// that stop a real client (see `simnet_gateway`).
    SimnetGateway {
        #[arg(long, default_value = "127.0.0.1:3601")]
        listen: SocketAddr,
        /// Charon's validator API.
        #[arg(long, default_value = "http://127.0.0.1:3600")]
        charon: url::Url,
    },
    /// The chart's `helm test`: the status ConfigMap says the cluster is
    /// formed and Charon reports ready. Exit 0 if so, 1 with the reason if not.
    Check {
        /// The release's status ConfigMap.
        #[arg(long, env = "DV_STATUS_CONFIGMAP")]
        status_configmap: String,
        /// Namespace of the ConfigMap (default: the pod's own).
        #[arg(long, env = "DV_NAMESPACE")]
        namespace: Option<String>,
        /// Charon's monitoring address, e.g. http://my-dv-0.my-dv-headless:3620.
        #[arg(long, env = "DV_CHARON_MONITORING_URL")]
        charon_url: String,
    },
    /// Serve the Obol API simulator (for tests and the demo).
    MockApi {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3650")]
        listen: SocketAddr,
        /// JSON file with clusters to create and fault rules at start-up.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Number pages from 1 instead of 0.
        #[arg(long)]
        one_based_pages: bool,
    },
}

/// Flags of `dv-sidecar dkg`; each has a `DV_*` environment twin for the chart.
#[derive(Args)]
struct DkgArgs {
    /// Charon's data directory (a persistent volume).
    #[arg(long, env = "DV_DATA_DIR")]
    data_dir: PathBuf,
    /// The ENR private key file (charon-enr-private-key, mode 0600).
    #[arg(long, env = "DV_ENR_KEY_FILE")]
    enr_key_file: PathBuf,
    /// The operator's Ethereum address (charon.operatorAddress).
    #[arg(long, env = "DV_OPERATOR_ADDRESS")]
    operator_address: String,
    /// The network this node runs on (mainnet, hoodi, sepolia, gnosis, ...).
    #[arg(long, env = "DV_NETWORK")]
    network: String,
    /// The Obol API (charon.dkgSidecar.apiEndpoint).
    #[arg(long, env = "DV_API_ENDPOINT", default_value = "https://api.obol.tech")]
    api_endpoint: String,
    #[arg(long, env = "DV_INITIAL_RETRY_DELAY_SECONDS", default_value_t = 5.0)]
    initial_retry_delay_seconds: f64,
    #[arg(long, env = "DV_MAX_RETRY_DELAY_SECONDS", default_value_t = 300.0)]
    max_retry_delay_seconds: f64,
    #[arg(long, env = "DV_RETRY_DELAY_FACTOR", default_value_t = 1.5)]
    retry_delay_factor: f64,
    #[arg(long, env = "DV_PAGE_LIMIT", default_value_t = 10)]
    page_limit: u32,
    /// Join only the definition with this config hash.
    #[arg(long, env = "DV_TARGET_CONFIG_HASH")]
    target_config_hash: Option<String>,
    /// Use this definition file instead of polling the API.
    #[arg(long, env = "DV_DEFINITION_FILE")]
    definition_file: Option<PathBuf>,
    /// Charon relays, comma-separated.
    #[arg(long, env = "DV_P2P_RELAYS", value_delimiter = ',')]
    p2p_relays: Vec<String>,
    /// Charon's --p2p-tcp-address for the DKG.
    #[arg(long, env = "DV_P2P_TCP_ADDRESS")]
    p2p_tcp_address: Option<String>,
    /// Publish the lock to this address (Charon's --publish-address).
    #[arg(long, env = "DV_PUBLISH_ADDRESS")]
    publish_address: Option<String>,
    /// Charon's --timeout for each DKG exchange.
    #[arg(long, env = "DV_DKG_TIMEOUT_SECONDS", default_value_t = 120)]
    dkg_timeout_seconds: u64,
    /// How long one DKG attempt may take, waiting for peers included.
    #[arg(long, env = "DV_DKG_ATTEMPT_TIMEOUT_SECONDS", default_value_t = 600)]
    dkg_attempt_timeout_seconds: u64,
    /// The charon binary.
    #[arg(long, env = "DV_CHARON", default_value = "charon")]
    charon: PathBuf,
    /// Also keep the status snapshot in this file.
    #[arg(long, env = "DV_STATUS_FILE")]
    status_file: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (e.g. 0.0.0.0:3680).
    #[arg(long, env = "DV_METRICS_ADDRESS")]
    metrics_address: Option<SocketAddr>,
    /// Keep the status in this ConfigMap (in-cluster; needs get/patch on it).
    #[arg(long, env = "DV_STATUS_CONFIGMAP")]
    status_configmap: Option<String>,
    /// Namespace of the status ConfigMap (default: the pod's own).
    #[arg(long, env = "DV_NAMESPACE")]
    namespace: Option<String>,
    /// This pod's name, to record Kubernetes Events on it.
    #[arg(long, env = "DV_POD_NAME")]
    pod_name: Option<String>,
    /// Adopt the cluster in this lock file (formed elsewhere) instead of running a DKG.
    #[arg(long, env = "DV_LOCK_FILE", conflicts_with = "lock_hash", requires = "keys_dir")]
    lock_file: Option<PathBuf>,
    /// Adopt the cluster whose lock the Obol API holds under this hash.
    #[arg(long, env = "DV_LOCK_HASH", requires = "keys_dir")]
    lock_hash: Option<String>,
    /// This node's key shares (keystore-N.json/.txt) for --lock-file or --lock-hash.
    #[arg(long, env = "DV_KEYS_DIR")]
    keys_dir: Option<PathBuf>,
}

impl DkgArgs {
    fn into_config(self) -> anyhow::Result<dkg::DkgConfig> {
        let operator: OperatorAddress = self.operator_address.parse().context("--operator-address")?;
        let network = Network::from_name(&self.network).with_context(|| {
            format!("--network {:?} is not one of: {}", self.network, Network::ALL.map(Network::name).join(", "))
        })?;
        let seconds = |value: f64, name: &str| {
            Duration::try_from_secs_f64(value)
                .with_context(|| format!("{name} must be a non-negative number of seconds"))
        };
        let retry = RetryPolicy {
            initial: seconds(self.initial_retry_delay_seconds, "initialRetryDelaySeconds")?,
            max: seconds(self.max_retry_delay_seconds, "maxRetryDelaySeconds")?,
            factor: self.retry_delay_factor,
            // One request per poll: the poll loop's backoff is the retry, so
            // a failing API sees fewer requests, never more.
            attempts_per_call: 1,
        }
        .validate()?;
        let mut api = ClientConfig::new(
            self.api_endpoint.parse().with_context(|| format!("apiEndpoint {:?} is not a URL", self.api_endpoint))?,
        );
        api.retry = retry;
        api.page_limit = self.page_limit.clamp(1, 100);
        Ok(dkg::DkgConfig {
            data_dir: self.data_dir,
            key_file: self.enr_key_file,
            operator,
            network,
            api,
            target_config_hash: self.target_config_hash.filter(|h| !h.is_empty()),
            definition_file: self.definition_file,
            relays: self.p2p_relays,
            p2p_tcp_address: self.p2p_tcp_address,
            publish_address: self.publish_address,
            dkg_timeout: Duration::from_secs(self.dkg_timeout_seconds),
            attempt_timeout: Duration::from_secs(self.dkg_attempt_timeout_seconds),
            charon: self.charon,
            status_file: self.status_file,
            metrics_address: self.metrics_address,
            status_configmap: self.status_configmap,
            namespace: self.namespace,
            pod_name: self.pod_name,
            existing: match (self.lock_file, self.lock_hash.filter(|h| !h.is_empty()), self.keys_dir) {
                (Some(path), _, Some(keys_dir)) => {
                    Some(dkg::ExistingCluster { lock: dkg::LockSource::File(path), keys_dir })
                }
                (None, Some(hash), Some(keys_dir)) => {
                    Some(dkg::ExistingCluster { lock: dkg::LockSource::Hash(hash), keys_dir })
                }
                _ => None,
            },
        })
    }
}

pub async fn run(cli: Cli) -> ExitCode {
    crate::logging::init_json();
    match dispatch(cli).await {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "dv-sidecar failed");
            ExitCode::from(crate::exit::USAGE)
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Enr { secret_name, namespace, create, release, app_name, key_file } => {
            let labels = crate::cluster::release_labels(&app_name, &release, "enr-key");
            ensure_enr(&secret_name, namespace, create, labels, key_file).await
        }
        Command::ImportKeys { client, from, to, binding_dir, slashing_import } => {
            let shares = import_keys::read_key_shares(&from)?;
            vc_volume::check_and_bind(&binding_dir, &to, client)?;
            let summary = import_keys::import(client, &shares, &to)?;
            tracing::info!(client = ?client, added = ?summary.added, kept = summary.kept.len(), "key shares laid out");
            if slashing_import && client == ValidatorClient::Prysm {
                let dir = to.join("prysm");
                if prysm_db::create_if_missing(&dir).with_context(|| format!("creating {}", dir.display()))? {
                    tracing::info!(dir = %dir.display(), "created an empty Prysm database for the history import");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::NodeFiles { cluster_dir, slashing_protection_file } => {
            node_files::NodeFiles { cluster_dir, slashing_protection: slashing_protection_file }
                .write_tar(std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Hold => serve_until_sigterm("hold", std::future::pending::<Result<(), std::io::Error>>()).await,
        Command::Dkg(args) => form(args).await,
        Command::BeaconProxy { beacon_node_headers_file, upstreams, first_port } => {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(&beacon_node_headers_file)
                    .with_context(|| format!("reading {}", beacon_node_headers_file.display()))?,
            );
            let headers = beacon_proxy::BeaconHeaders::parse(&text)?;
            let routes = beacon_proxy::Route::consecutive(&upstreams, first_port)?;
            serve_until_sigterm("beacon proxy", beacon_proxy::serve(headers, routes)).await
        }
        Command::SimnetGateway { listen, charon } => {
            serve_until_sigterm("simnet gateway", simnet_gateway::serve(listen, charon)).await
        }
        Command::Check { status_configmap, namespace, charon_url } => {
            check(&status_configmap, namespace, &charon_url).await
        }
        Command::MockApi { listen, state, one_based_pages } => mock_api(listen, state, one_based_pages).await,
    }
}

/// `enr`: the ENR Secret, created once (from a supplied key, or a new one)
/// and only ever read after.
async fn ensure_enr(
    secret_name: &str,
    namespace: Option<String>,
    create: bool,
    labels: std::collections::BTreeMap<String, String>,
    key_file: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let client = kube::Client::try_default().await.context("connecting to the Kubernetes API")?;
    let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
    let when_missing = match (create, key_file) {
        (true, Some(path)) => crate::cluster::WhenMissing::CreateWith(
            crate::enr::EnrPrivateKey::load(&path)
                .with_context(|| format!("the supplied ENR key {} (charon.enr.privateKey)", path.display()))?,
        ),
        (true, None) => crate::cluster::WhenMissing::Create,
        (false, _) => crate::cluster::WhenMissing::Fail,
    };
    let record = crate::cluster::ensure_enr_secret(client, &namespace, secret_name, when_missing, labels).await?;
    println!("{record}");
    Ok(ExitCode::SUCCESS)
}

/// `dkg`, with its exit codes: 143 when stopped, 1 for a refused lock.
async fn form(args: Box<DkgArgs>) -> anyhow::Result<ExitCode> {
    match dkg::run(args.into_config()?).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) if error.is::<dkg::Stopped>() => Ok(ExitCode::from(143)),
        Err(error) if error.is::<dkg::LockRefused>() => {
            tracing::error!(error = format!("{error:#}"), "the cluster lock is refused; Charon does not start");
            Ok(ExitCode::from(crate::exit::INVALID))
        }
        Err(error) => Err(error),
    }
}

/// `check` (the chart's `helm test`): exit 1 with the reason when not healthy.
async fn check(status_configmap: &str, namespace: Option<String>, charon_url: &str) -> anyhow::Result<ExitCode> {
    let client = kube::Client::try_default().await.context("connecting to the Kubernetes API")?;
    let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
    match check_release(client, &namespace, status_configmap, charon_url).await {
        Ok(summary) => {
            println!("ok: {summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            println!("not healthy: {reason}");
            Ok(ExitCode::from(crate::exit::INVALID))
        }
    }
}

/// `mock-api`: the Obol API simulator until Ctrl-C.
async fn mock_api(listen: SocketAddr, state: Option<PathBuf>, one_based_pages: bool) -> anyhow::Result<ExitCode> {
    let mut config = match state {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str::<SimulatorConfig>(&text)
                .with_context(|| format!("{} is not a simulator state file", path.display()))?
        }
        None => SimulatorConfig::default(),
    };
    config.one_based_pages |= one_based_pages;
    let simulator = Simulator::new(&config)?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, "Obol API simulator listening");
    tokio::select! {
        served = simulator.serve(listener) => served.context("serving")?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// What `check` verifies, in order; the first failure is the reason.
async fn check_release(
    client: kube::Client,
    namespace: &str,
    configmap: &str,
    charon_url: &str,
) -> anyhow::Result<String> {
    let configmaps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(client, namespace);
    let found = configmaps
        .get(configmap)
        .await
        .map_err(|e| anyhow::anyhow!("reading ConfigMap {namespace}/{configmap}: {e}"))?;
    let status = crate::cluster::published_status(&found)
        .map_err(|e| anyhow::anyhow!("ConfigMap {namespace}/{configmap} holds no valid status: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("the sidecar has not published a status yet"))?;
    if status.phase != crate::status::Phase::Done {
        return Err(anyhow::anyhow!("formation is not complete: phase {}", status.phase.name()));
    }
    let health =
        crate::health::CharonHealth::probe(&reqwest::Client::new(), charon_url).await.map_err(anyhow::Error::from)?;
    if health.readiness != crate::health::Readiness::Ready {
        return Err(anyhow::anyhow!("Charon is not ready: {}", health.readiness.describe()));
    }
    Ok(format!(
        "cluster lock {}, Charon ready, {}/{} peers, {} validator(s)",
        status.lock_hash.unwrap_or_default(),
        health.peers_connected,
        health.peers_total,
        health.validators.unwrap_or_default()
    ))
}

/// Serves until SIGTERM, which the kubelet sends to stop the container: a
/// clean exit, not an error.
async fn serve_until_sigterm<E>(
    what: &str,
    serving: impl std::future::Future<Output = Result<(), E>>,
) -> anyhow::Result<ExitCode>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("SIGTERM handler")?;
    tokio::select! {
        served = serving => served?,
        _ = terminate.recv() => tracing::info!("SIGTERM: {what} stopping"),
    }
    Ok(ExitCode::SUCCESS)
}
