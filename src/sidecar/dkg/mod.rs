//! `dv-sidecar dkg`: from "operator address" to key shares on disk.
//!
//! It polls the Obol API for definitions naming our operator, verifies them
//! with Charon's rules, and when exactly one is fully signed it runs the real
//! `charon dkg` in a scratch directory on the same volume. The outputs are
//! judged by what is on disk (Charon can exit non-zero after writing valid
//! outputs) and put in place with one directory rename, so the final
//! directory either holds a complete, verified set or does not exist.
//!
//! Data directory layout (the chart mounts it at `/charon-data`):
//! - `cluster/` — the result: `cluster-lock.json`, `cluster-definition.json`,
//!   `validator_keys/keystore-N.{json,txt}`, `deposit-data*.json`,
//!   `dkg-complete.json`. Never modified or deleted once it exists.
//! - `.dkg-attempt/` — the current attempt's scratch directory.
//! - `dkg-failed-<time>/` — a failed attempt that wrote a lock, kept for
//!   inspection rather than deleted.
//! - `dkg-logs/attempt-N.log` — Charon's output of each attempt.

use std::{
    fs,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, SystemTime},
};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use tokio::{
    io::AsyncWriteExt,
    process::Command,
    signal::unix::{SignalKind, signal},
};

use super::metrics::Metrics;
use crate::{
    cluster::{PhaseEvents, StatusConfigMap},
    definition::{
        Definition, Network,
        invite::{Invite, OperatorAddress, OurNode, classify},
        lock::{self, Lock},
    },
    enr::{EnrPrivateKey, KEY_FILE_NAME},
    obol_api::{ApiError, ClientConfig, ErrorKind, ObolApi},
    status::Listener,
    status::{self, Reporter, Status, timestamp},
};

mod adopt;
mod ceremony;
mod data_dir;
mod poll;

// The submodules share this module's imports and each other's items.
use adopt::*;
use ceremony::*;
pub use data_dir::LockRefused;
use data_dir::*;
use poll::*;

pub const CLUSTER_DIR: &str = "cluster";

pub const LOCK_FILE: &str = "cluster-lock.json";

pub const DEFINITION_FILE: &str = "cluster-definition.json";

pub const KEYS_DIR: &str = "validator_keys";

pub const COMPLETE_MARKER: &str = "dkg-complete.json";

const ATTEMPT_DIR: &str = ".dkg-attempt";

/// The status ConfigMap is written at most this often. Every poll publishes
/// its progress, and a burst of changes (Charon's steps, say) must not turn
/// into a burst of API server writes: it is written as its latest state.
pub const STATUS_CONFIGMAP_WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// Everything `dv-sidecar dkg` is configured with.
#[derive(Debug, Clone)]
pub struct DkgConfig {
    pub data_dir: PathBuf,
    pub key_file: PathBuf,
    pub operator: OperatorAddress,
    pub network: Network,
    pub api: ClientConfig,
    pub target_config_hash: Option<String>,
    /// A definition supplied by the operator: skip polling.
    pub definition_file: Option<PathBuf>,
    pub relays: Vec<String>,
    pub p2p_tcp_address: Option<String>,
    pub publish_address: Option<String>,
    /// Charon's `--timeout` for each exchange of the ceremony.
    pub dkg_timeout: Duration,
    /// How long one attempt may take, waiting for peers included.
    pub attempt_timeout: Duration,
    pub charon: PathBuf,
    pub status_file: Option<PathBuf>,
    /// Serve Prometheus metrics here.
    pub metrics_address: Option<std::net::SocketAddr>,
    /// Keep the status in this ConfigMap (in-cluster).
    pub status_configmap: Option<String>,
    pub namespace: Option<String>,
    /// This pod's name, for Kubernetes Events.
    pub pod_name: Option<String>,
    /// A cluster formed elsewhere to adopt instead of running a DKG.
    pub existing: Option<ExistingCluster>,
}

/// A cluster whose DKG ran elsewhere: its lock and this node's key shares.
#[derive(Debug, Clone)]
pub struct ExistingCluster {
    pub lock: LockSource,
    /// Holds `keystore-N.json` and `keystore-N.txt` (e.g. a mounted Secret).
    pub keys_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub enum LockSource {
    /// A lock file, e.g. from a mounted ConfigMap.
    File(PathBuf),
    /// A lock the Obol API holds, by its lock hash.
    Hash(String),
}

/// Why the sidecar stopped without a result.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    #[error("stopped by a signal")]
    Signal,
}

/// Runs until the key shares are in place (Ok) or a fatal error.
pub async fn run(config: DkgConfig) -> anyhow::Result<()> {
    let key = EnrPrivateKey::load(&config.key_file).context("loading the ENR private key")?;
    let enr = key.record();
    let metrics = Metrics::default();
    if let Some(address) = config.metrics_address {
        let bound = metrics.clone().serve(address).await.with_context(|| format!("serving metrics on {address}"))?;
        tracing::info!(address = %bound, "serving metrics");
    }
    let phase_metric = metrics.clone();
    let mut listeners: Vec<Listener> = vec![Box::new(move |status: &Status| phase_metric.set_phase(status.phase))];
    let mut publishers = Vec::new();
    let mut lock_publisher = None;
    if let Some(name) = &config.status_configmap {
        let client = kube::Client::try_default().await.context("connecting to the Kubernetes API")?;
        let namespace = config.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
        let configmap = StatusConfigMap::new(client.clone(), &namespace, name);
        lock_publisher = Some(StatusConfigMap::new(client.clone(), &namespace, name));
        let (sender, receiver) = tokio::sync::watch::channel(None::<Status>);
        publishers.push(tokio::spawn(async move {
            let mut paced = Paced::new(receiver, STATUS_CONFIGMAP_WRITE_INTERVAL);
            while let Some(status) = paced.next().await {
                configmap.write(&status).await;
            }
        }));
        listeners.push(Box::new(move |status: &Status| {
            sender.send_replace(Some(status.clone()));
        }));
        // Events are not paced: a phase shorter than the ConfigMap's pace
        // still gets its own.
        if let Some(pod) = &config.pod_name {
            let events = PhaseEvents::new(client, &namespace, pod).await;
            let (sender, mut entered) = tokio::sync::mpsc::unbounded_channel::<Status>();
            publishers.push(tokio::spawn(async move {
                while let Some(status) = entered.recv().await {
                    events.record(&status).await;
                }
            }));
            let last_phase = std::cell::Cell::new(None);
            listeners.push(Box::new(move |status: &Status| {
                if last_phase.replace(Some(status.phase)) != Some(status.phase) {
                    let _ = sender.send(status.clone());
                }
            }));
        }
    }
    let reporter = Reporter::new(
        Status::new(config.operator.to_string(), enr.text().to_string()),
        config.status_file.clone(),
        listeners,
    );
    let result = form(&config, enr, reporter, &metrics).await;
    // The reporter (and with it the channels) is gone: the publishers write
    // what is left and stop.
    let _ = tokio::time::timeout(Duration::from_secs(10), futures_util::future::join_all(publishers)).await;
    // The lock Charon will load, verified above, for `kubectl dv lock verify
    // --release`: published after the status, so its ConfigMap exists.
    if let (Ok(()), Some(configmap)) = (&result, lock_publisher) {
        match fs::read_to_string(config.data_dir.join(CLUSTER_DIR).join(LOCK_FILE)) {
            Ok(lock) => configmap.publish_lock(&lock).await,
            Err(error) => tracing::warn!(%error, "cannot read the cluster lock to publish it"),
        }
    }
    result
}

/// The snapshots to write, paced: the latest one the channel holds, at most
/// one per `interval`. Changes that arrive meanwhile wait in the channel,
/// which keeps only the newest, so the last one is always handed out.
struct Paced {
    changes: tokio::sync::watch::Receiver<Option<Status>>,
    interval: Duration,
    not_before: tokio::time::Instant,
}

impl Paced {
    fn new(changes: tokio::sync::watch::Receiver<Option<Status>>, interval: Duration) -> Self {
        Paced { changes, interval, not_before: tokio::time::Instant::now() }
    }

    /// The next snapshot to write; `None` once the sender is gone and its
    /// last snapshot was handed out.
    async fn next(&mut self) -> Option<Status> {
        loop {
            self.changes.changed().await.ok()?;
            tokio::time::sleep_until(self.not_before).await;
            let latest = self.changes.borrow_and_update().clone();
            if latest.is_some() {
                self.not_before = tokio::time::Instant::now() + self.interval;
                return latest;
            }
        }
    }
}

async fn form(
    config: &DkgConfig,
    enr: crate::enr::EnrRecord,
    mut reporter: Reporter,
    metrics: &Metrics,
) -> anyhow::Result<()> {
    let cluster_dir = config.data_dir.join(CLUSTER_DIR);

    finish_interrupted_attempt(config, &enr)?;
    let checked = match &config.existing {
        _ if cluster_dir.exists() => Some(check_existing_cluster(&cluster_dir, enr.text())),
        Some(existing) => Some(adopt_existing_cluster(config, existing, enr.text()).await),
        None => None,
    };
    if let Some(checked) = checked {
        return report_settled(checked, &mut reporter);
    }

    let mut terminate = signal(SignalKind::terminate())?;
    let us = OurNode {
        operator: config.operator,
        enr: Some(enr.clone()),
        network: Some(config.network),
        target_config_hash: config.target_config_hash.clone(),
    };
    let api = ObolApi::new(config.api.clone());
    let mut backoff = config.api.retry.backoff();
    let mut attempt = 0;
    reporter.update(|s| s.waiting_for_invite(None));

    loop {
        let (found, delay) = match &config.definition_file {
            Some(path) => (Some(read_supplied_definition(path, &us)?), Duration::ZERO),
            // A poll can take long (timeouts, Retry-After): SIGTERM ends it too.
            None => tokio::select! {
                polled = poll_once(&api, &us, &mut reporter, &mut backoff, metrics) => polled?,
                _ = terminate.recv() => return Err(Stopped::Signal.into()),
            },
        };
        if let Some(definition) = found {
            attempt += 1;
            metrics.dkg_attempt();
            let started = std::time::Instant::now();
            let outcome = run_attempt(config, &definition, attempt, &mut reporter, &mut terminate).await?;
            metrics.dkg_finished(started.elapsed().as_secs_f64());
            match outcome {
                AttemptOutcome::Done(lock_hash) => {
                    reporter.update(|s| s.formed(lock_hash));
                    return Ok(());
                }
                AttemptOutcome::Failed(reason) => {
                    // Charon's key lock goes stale after 5 s; every peer must
                    // restart together, so wait a little longer than that.
                    let delay = backoff.next_delay().max(Duration::from_secs(6));
                    let next = SystemTime::now() + delay;
                    tracing::warn!(attempt, %reason, ?delay, "DKG attempt failed");
                    reporter.update(|s| s.dkg_failed(reason, timestamp(next)));
                    sleep_or_terminate(delay, &mut terminate).await?;
                }
            }
        } else {
            sleep_or_terminate(delay, &mut terminate).await?;
        }
    }
}

/// A cluster already in place or adopted: formed, or refused with its reason.
fn report_settled(checked: anyhow::Result<String>, reporter: &mut Reporter) -> anyhow::Result<()> {
    match checked {
        Ok(lock) => {
            reporter.update(|s| s.formed(lock));
            Ok(())
        }
        Err(error) => {
            if let Some(refused) = error.downcast_ref::<LockRefused>() {
                reporter.update(|s| s.lock_refused(refused.to_string()));
            }
            Err(error)
        }
    }
}

async fn sleep_or_terminate(delay: Duration, terminate: &mut tokio::signal::unix::Signal) -> anyhow::Result<()> {
    tokio::select! {
        _ = tokio::time::sleep(delay) => Ok(()),
        _ = terminate.recv() => Err(Stopped::Signal.into()),
    }
}

fn read_supplied_definition(path: &Path, us: &OurNode) -> anyhow::Result<Definition> {
    let bytes = fs::read(path).with_context(|| format!("reading the supplied definition {}", path.display()))?;
    let definition =
        Definition::from_json(&bytes).with_context(|| format!("{} is not a definition", path.display()))?;
    match classify(&definition, us) {
        Invite::Ready => Ok(definition),
        other => bail!("the supplied definition {} cannot be used: {other:?}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn a_burst_of_status_changes_is_written_at_most_once_per_interval_and_ends_with_the_latest() {
        let interval = Duration::from_millis(100);
        let (sender, receiver) = tokio::sync::watch::channel(None::<Status>);
        let writer = tokio::spawn(async move {
            let mut paced = Paced::new(receiver, interval);
            let mut written = Vec::new();
            while let Some(status) = paced.next().await {
                written.push((Instant::now(), status.polls));
            }
            written
        });
        let mut status = Status::new("0x52908400098527886E0F7030069857D2E4169EE7".into(), "enr:-x".into());
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(350) {
            status.polls += 1;
            sender.send_replace(Some(status.clone()));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(sender);
        let written = writer.await.unwrap();

        assert!(written.windows(2).all(|w| w[1].0 - w[0].0 >= interval), "two writes within {interval:?}");
        assert!(written.len() < status.polls as usize, "{} writes of {} changes", written.len(), status.polls);
        assert_eq!(written.last().unwrap().1, status.polls, "the latest snapshot is written last");
    }
}
