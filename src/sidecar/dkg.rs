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
    status::{self, Dkg, Failure, Phase, Reporter, Status, timestamp},
};

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
    if cluster_dir.exists() || config.existing.is_some() {
        let checked = match &config.existing {
            _ if cluster_dir.exists() => check_existing_cluster(&cluster_dir, enr.text()),
            Some(existing) => adopt_existing_cluster(config, existing, enr.text()).await,
            None => unreachable!("one of the two holds"),
        };
        match checked {
            Ok(lock) => reporter.update(|s| {
                s.phase = Phase::Done;
                s.lock_hash = Some(lock);
                s.error = None;
            }),
            Err(error) => {
                if let Some(refused) = error.downcast_ref::<LockRefused>() {
                    reporter.update(|s| {
                        s.phase = Phase::LockRefused;
                        s.error = Some(Failure { reason: refused.to_string(), next_retry_at: None });
                    });
                }
                return Err(error);
            }
        }
        return Ok(());
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
    reporter.update(|s| s.phase = Phase::WaitingForInvite);

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
                    reporter.update(|s| {
                        s.phase = Phase::Done;
                        s.lock_hash = Some(lock_hash);
                        s.error = None;
                        s.next_poll_at = None;
                    });
                    return Ok(());
                }
                AttemptOutcome::Failed(reason) => {
                    // Charon's key lock goes stale after 5 s; every peer must
                    // restart together, so wait a little longer than that.
                    let delay = backoff.next_delay().max(Duration::from_secs(6));
                    let next = SystemTime::now() + delay;
                    tracing::warn!(attempt, %reason, ?delay, "DKG attempt failed");
                    reporter.update(|s| {
                        s.phase = Phase::DkgFailed;
                        s.error = Some(Failure { reason, next_retry_at: Some(timestamp(next)) });
                    });
                    sleep_or_terminate(delay, &mut terminate).await?;
                }
            }
        } else {
            sleep_or_terminate(delay, &mut terminate).await?;
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

/// One poll: returns a definition to run the DKG for, or how long to wait.
/// Each poll is one change of the status (its count, what it found and when
/// the next one comes together), so one ConfigMap write at most.
async fn poll_once(
    api: &ObolApi,
    us: &OurNode,
    reporter: &mut Reporter,
    backoff: &mut crate::obol_api::Backoff,
    metrics: &Metrics,
) -> anyhow::Result<(Option<Definition>, Duration)> {
    let result = api.definitions_for_operator(&us.operator).await;
    metrics.poll();
    if let Err(error) = &result {
        metrics.api_error(error.kind());
    }
    let polled_at = SystemTime::now();
    let counted = move |s: &mut Status, next_poll: Option<Duration>| {
        s.polls += 1;
        s.last_poll_at = Some(timestamp(polled_at));
        s.next_poll_at = next_poll.map(|delay| timestamp(polled_at + delay));
    };
    // A poll that worked clears a poll error, not the last DKG failure.
    let answered = move |s: &mut Status, next_poll: Option<Duration>| {
        counted(s, next_poll);
        if s.phase != Phase::DkgFailed {
            s.error = None;
        }
    };
    let listed = match result {
        Ok(listed) => listed,
        Err(error) if error.is_retryable() => {
            let delay =
                error.retry_after().unwrap_or_default().max(backoff.next_delay()).max(Duration::from_millis(100));
            tracing::warn!(%error, kind = ?error.kind(), ?delay, "polling the Obol API failed");
            let failure = Failure {
                reason: poll_failure(&api.config().endpoint(), &error),
                next_retry_at: Some(timestamp(polled_at + delay)),
            };
            reporter.update(|s| {
                counted(s, Some(delay));
                s.error = Some(failure);
            });
            return Ok((None, delay));
        }
        Err(error) => {
            reporter.update(|s| counted(s, None));
            return Err(error).context("polling the Obol API");
        }
    };

    let mut ready = Vec::new();
    let mut pending: Option<(Definition, Phase, usize, Vec<String>)> = None;
    let mut unusable: Option<Invite> = None;
    for item in listed {
        let definition = match item.parsed {
            Ok(definition) => definition,
            Err(error) => {
                tracing::warn!(config_hash = ?item.config_hash, %error, "ignoring a definition Charon cannot read");
                continue;
            }
        };
        match classify(&definition, us) {
            Invite::Ready => ready.push(definition),
            Invite::AwaitingOurSignature { signed, missing, .. } => {
                pending.get_or_insert((definition, Phase::AwaitingOurSignature, signed, missing));
            }
            Invite::WaitingForOthers { signed, missing, .. } => {
                pending.get_or_insert((definition, Phase::WaitingForSignatures, signed, missing));
            }
            Invite::NotForUs => {}
            invite => {
                if let Invite::Invalid { reason } = &invite {
                    tracing::warn!(config_hash = %definition.config_hash_hex(), %reason, "refusing an invalid definition");
                }
                if unusable.as_ref().is_none_or(|u| nearness(&invite) > nearness(u)) {
                    unusable = Some(invite);
                }
            }
        }
    }
    if !ready.is_empty() {
        // No poll is due while the DKG runs (or after the error below).
        reporter.update(|s| answered(s, None));
        ensure!(
            ready.len() == 1,
            "{} fully signed definitions name this operator ({}); set charon.dkgSidecar.targetConfigHash to the one to join",
            ready.len(),
            ready.iter().map(Definition::config_hash_hex).collect::<Vec<_>>().join(", ")
        );
        return Ok((ready.pop(), Duration::ZERO));
    }
    if let Some((definition, phase, signed, missing)) = pending {
        // Signatures are arriving: poll at the initial interval so the DKG
        // starts within one interval of the last signature.
        backoff.reset();
        let delay = api.config().retry.initial;
        reporter.update(|s| {
            answered(s, Some(delay));
            s.phase = phase;
            s.detail = None;
            s.invite = Some(invite_status(&definition, signed, missing));
        });
        return Ok((None, delay));
    }
    let delay = backoff.next_delay().max(Duration::from_millis(100));
    let detail = no_invite_detail(&api.config().endpoint(), us, unusable.as_ref());
    reporter.update(|s| {
        answered(s, Some(delay));
        s.phase = Phase::WaitingForInvite;
        s.detail = Some(detail);
        s.invite = None;
    });
    Ok((None, delay))
}

/// What the status says about a poll that failed and is retried.
fn poll_failure(endpoint: &str, error: &ApiError) -> String {
    match error {
        ApiError::Transient { kind: ErrorKind::Connect | ErrorKind::Timeout, reason, .. } => format!(
            "cannot reach the Obol API at {endpoint}: {reason}. Check charon.dkgSidecar.apiEndpoint, and that this pod \
             may connect to it (DNS, NetworkPolicy egress, proxy)"
        ),
        other => other.to_string(),
    }
}

/// How near an invite that names our operator but cannot be used came to
/// usable: the nearest one says what to fix.
fn nearness(invite: &Invite) -> u8 {
    match invite {
        Invite::Invalid { .. } => 2,
        Invite::WrongNetwork { .. } => 1,
        _ => 0,
    }
}

/// Why a poll found nothing to join, and which value to check: `unusable`
/// is the nearest invite that names our operator, if any does.
fn no_invite_detail(endpoint: &str, us: &OurNode, unusable: Option<&Invite>) -> String {
    let operator = us.operator;
    match unusable {
        Some(Invite::Invalid { reason }) => {
            format!("the cluster invite on {endpoint} for operator {operator} cannot be used: {reason}")
        }
        Some(Invite::WrongNetwork { definition, ours }) => format!(
            "the cluster invite on {endpoint} for operator {operator} is for {}, but this node is for {ours}: check \
             the chart's network value",
            definition.map_or("an unknown network".to_string(), |n| n.to_string())
        ),
        Some(Invite::NotTarget { target }) => format!(
            "cluster invites on {endpoint} name operator {operator}, but none has config hash {target}: check \
             charon.dkgSidecar.targetConfigHash"
        ),
        _ => format!(
            "no cluster invite on {endpoint} names operator {operator}. If you have accepted one in the Obol \
             Launchpad, compare this address with the one it shows there (it is set by charon.operatorAddress)"
        ),
    }
}

fn invite_status(definition: &Definition, signed: usize, missing: Vec<String>) -> status::Invite {
    status::Invite {
        config_hash: definition.config_hash_hex(),
        name: definition.name.clone(),
        signed,
        total: definition.operators.len(),
        missing,
        operators: definition.operators.iter().map(|o| o.address.clone()).collect(),
    }
}

enum AttemptOutcome {
    Done(String),
    Failed(String),
}

/// What a finished attempt left on disk, judged without trusting the exit code.
fn judge_outputs(dir: &Path, our_enr: &str, expected: &Definition) -> anyhow::Result<String> {
    let lock = read_lock(&dir.join(LOCK_FILE)).map_err(|e| anyhow::anyhow!("no usable cluster lock: {e}"))?;
    if lock.definition.config_hash != expected.config_hash {
        anyhow::bail!("the cluster lock is for another definition");
    }
    let ours = our_public_shares(&lock, our_enr)
        .ok_or_else(|| anyhow::anyhow!("the cluster lock does not contain this node's ENR"))?;
    check_keystores(&dir.join(KEYS_DIR), &ours)?;
    Ok(lock.lock_hash_hex())
}

/// A cluster that must not run: its lock does not verify, does not name
/// this node, or its key shares are not the ones the lock assigns us.
/// Reported as `lock_refused`; nothing on disk is changed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LockRefused(String);

/// The public key shares (hex) that belong to the operator with `enr`, one
/// per validator; `None` if the lock does not name that ENR.
fn our_public_shares(lock: &Lock, enr: &str) -> Option<Vec<String>> {
    let index = lock.operator_index(enr)?;
    lock.validators.iter().map(|v| v.public_shares.get(index).map(hex::encode)).collect()
}

/// Reads a cluster lock and verifies it as Charon does, deposits included.
fn read_lock(path: &Path) -> anyhow::Result<Lock> {
    let bytes = fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let lock = Lock::from_json(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    verified(lock).map_err(|e| anyhow::anyhow!("{} {e}", path.display()))
}

/// The lock, if every check passes; otherwise the first failing check.
fn verified(lock: Lock) -> anyhow::Result<Lock> {
    match lock::verify(&lock).first_failure() {
        None => Ok(lock),
        Some(failure) => Err(anyhow::anyhow!("does not verify: {failure}")),
    }
}

/// Every validator has its keystore and password, and each keystore holds
/// the public key share the lock assigns to this node (not another node's).
fn check_keystores(dir: &Path, our_shares: &[String]) -> anyhow::Result<()> {
    for (i, expected) in our_shares.iter().enumerate() {
        let password = dir.join(format!("keystore-{i}.txt"));
        if fs::metadata(&password).map(|m| m.len()).unwrap_or(0) == 0 {
            return Err(anyhow::anyhow!("{} is missing or empty", password.display()));
        }
        let keystore = dir.join(format!("keystore-{i}.json"));
        let pubkey = fs::read(&keystore)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|v| v["pubkey"].as_str().map(str::to_ascii_lowercase))
            .ok_or_else(|| anyhow::anyhow!("{} is missing or has no pubkey", keystore.display()))?;
        if pubkey.trim_start_matches("0x") != expected.to_ascii_lowercase().trim_start_matches("0x") {
            return Err(anyhow::anyhow!(
                "{} holds public key 0x{pubkey}, but the lock assigns this node 0x{} for validator {i}: the key \
                 shares belong to another node",
                keystore.display(),
                expected.trim_start_matches("0x")
            ));
        }
    }
    Ok(())
}

/// A cluster directory exists: it must be complete and ours. It is never
/// changed here, whatever state it is in.
fn check_existing_cluster(cluster_dir: &Path, our_enr: &str) -> anyhow::Result<String> {
    let lock = read_lock(&cluster_dir.join(LOCK_FILE)).map_err(|e| {
        LockRefused(format!("{e}; {} is left untouched and Charon does not start", cluster_dir.display()))
    })?;
    let Some(ours) = our_public_shares(&lock, our_enr) else {
        return Err(LockRefused(format!(
            "the cluster lock in {} does not contain this node's ENR {our_enr}: the ENR key and the lock belong to \
             different nodes (was the key Secret replaced?)",
            cluster_dir.display()
        ))
        .into());
    };
    check_keystores(&cluster_dir.join(KEYS_DIR), &ours).map_err(|e| LockRefused(format!("{e:#}")))?;
    tracing::info!(lock_hash = %lock.lock_hash_hex(), "a verified cluster lock is already in place; nothing to do");
    Ok(lock.lock_hash_hex())
}

/// A previous run died mid-attempt. A result that is complete and verified
/// (Charon finished; the move did not) is put in place, since the other
/// nodes may already be done and will never repeat the ceremony. An
/// incomplete one that wrote a lock is set aside; anything else goes.
fn finish_interrupted_attempt(config: &DkgConfig, enr: &crate::enr::EnrRecord) -> anyhow::Result<()> {
    let scratch = config.data_dir.join(ATTEMPT_DIR);
    let cluster_dir = config.data_dir.join(CLUSTER_DIR);
    if !scratch.exists() || cluster_dir.exists() {
        return Ok(());
    }
    if !scratch.join(LOCK_FILE).exists() {
        return fs::remove_dir_all(&scratch).context("removing an interrupted attempt that wrote no lock");
    }
    let definition = fs::read(scratch.join(DEFINITION_FILE))
        .ok()
        .and_then(|bytes| Definition::from_json(&bytes).ok())
        .context("an interrupted attempt has a lock but no readable definition")?;
    match judge_outputs(&scratch, enr.text(), &definition) {
        Ok(lock_hash) => {
            tracing::info!(%lock_hash, "completing a finished DKG whose move a restart interrupted");
            move_into_place(config, &scratch, &lock_hash, 0)
        }
        Err(problem) => {
            let kept = set_aside_path(&config.data_dir);
            tracing::warn!(kept = %kept.display(), %problem, "an interrupted attempt left an incomplete lock; keeping it aside");
            fs::rename(&scratch, &kept).context("setting aside an interrupted attempt")
        }
    }
}

/// Removes our key copy from the result, marks it complete and renames the
/// scratch directory to `cluster/`: one atomic step.
fn move_into_place(config: &DkgConfig, scratch: &Path, lock_hash: &str, attempt: u32) -> anyhow::Result<()> {
    // Our key copy and Charon's key lock stay out of the result.
    let _ = fs::remove_file(scratch.join(KEY_FILE_NAME));
    let _ = fs::remove_file(scratch.join(format!("{KEY_FILE_NAME}.lock")));
    let marker = json!({"lock_hash": lock_hash, "completed_at": timestamp(SystemTime::now()), "attempt": attempt});
    crate::files::replace(&scratch.join(COMPLETE_MARKER), marker.to_string().as_bytes(), 0o644)?;
    sync_dir(scratch)?;
    fs::rename(scratch, config.data_dir.join(CLUSTER_DIR)).context("moving the DKG result into place")?;
    sync_dir(&config.data_dir)
}

async fn run_attempt(
    config: &DkgConfig,
    definition: &Definition,
    attempt: u32,
    reporter: &mut Reporter,
    terminate: &mut tokio::signal::unix::Signal,
) -> anyhow::Result<AttemptOutcome> {
    let scratch = config.data_dir.join(ATTEMPT_DIR);
    if scratch.exists() {
        fs::remove_dir_all(&scratch).context("clearing the scratch directory")?;
    }
    fs::create_dir_all(&scratch).context("creating the scratch directory")?;
    copy_key(&config.key_file, &scratch.join(KEY_FILE_NAME))?;
    let definition_json = serde_json::to_vec_pretty(definition.json()).expect("a JSON object serialises");
    fs::write(scratch.join(DEFINITION_FILE), &definition_json).context("writing the definition")?;
    let logs = config.data_dir.join("dkg-logs");
    fs::create_dir_all(&logs)?;
    let log_path = logs.join(format!("attempt-{attempt}.log"));

    let started_at = timestamp(SystemTime::now());
    tracing::info!(attempt, config_hash = %definition.config_hash_hex(), "starting charon dkg");
    reporter.update(|s| {
        s.phase = Phase::DkgRunning;
        s.detail = None;
        s.invite = Some(invite_status(definition, definition.operators.len(), Vec::new()));
        s.dkg = Some(Dkg { attempt, step: "starting".into(), started_at: started_at.clone() });
        s.error = None;
    });

    let mut command = Command::new(&config.charon);
    command
        .arg("dkg")
        .arg(format!("--data-dir={}", scratch.display()))
        .arg(format!("--definition-file={}", scratch.join(DEFINITION_FILE).display()))
        .arg(format!("--timeout={}s", config.dkg_timeout.as_secs().max(1)))
        .arg("--log-format=json")
        .arg("--shutdown-delay=1s");
    if !config.relays.is_empty() {
        command.arg(format!("--p2p-relays={}", config.relays.join(",")));
    }
    if let Some(address) = &config.p2p_tcp_address {
        command.arg(format!("--p2p-tcp-address={address}"));
    }
    if let Some(address) = &config.publish_address {
        command.arg("--publish").arg(format!("--publish-address={address}"));
    }
    // Charon reads every CHARON_* variable as a flag; only ours apply.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CHARON_") {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    crate::process::die_with_parent(command.as_std_mut());
    let mut child = command.spawn().with_context(|| format!("starting {}", config.charon.display()))?;

    let mut lines = crate::process::output::lines(&mut child);

    let mut log = tokio::fs::File::create(&log_path).await?;
    let deadline = tokio::time::sleep(config.attempt_timeout);
    tokio::pin!(deadline);
    let mut last_error = None;
    let exit = loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    log.write_all(line.as_bytes()).await?;
                    log.write_all(b"\n").await?;
                    if let Some((level, message)) = charon_log_message(&line) {
                        if level == "error" {
                            last_error = Some(message.clone());
                        }
                        if level == "info" || level == "error" {
                            reporter.update(|s| if let Some(dkg) = s.dkg.as_mut() { dkg.step = message });
                        }
                    }
                }
                None => break child.wait().await?,
            },
            _ = &mut deadline => {
                crate::process::stop(&mut child, CHARON_STOP_GRACE).await;
                break child.wait().await?;
            }
            _ = terminate.recv() => {
                tracing::info!("SIGTERM: stopping charon dkg");
                crate::process::stop(&mut child, CHARON_STOP_GRACE).await;
                // A lock may be complete already: the restart judges it
                // (finish_interrupted_attempt) rather than this shutdown.
                if !scratch.join(LOCK_FILE).exists() {
                    let _ = fs::remove_dir_all(&scratch);
                }
                return Err(Stopped::Signal.into());
            }
        }
    };
    log.flush().await?;

    match judge_outputs(&scratch, reporter.current().enr.as_str(), definition) {
        Ok(lock_hash) => {
            if !exit.success() {
                tracing::warn!(?exit, "charon dkg exited with an error but its outputs are complete and valid");
            }
            move_into_place(config, &scratch, &lock_hash, attempt)?;
            tracing::info!(%lock_hash, "DKG complete; cluster lock and key shares in place");
            Ok(AttemptOutcome::Done(lock_hash))
        }
        Err(problem) => {
            let reason = match (&last_error, exit.code()) {
                (Some(error), _) => format!("charon dkg: {error} ({problem}); log {}", log_path.display()),
                (None, None) => {
                    format!("charon dkg did not finish within {:?}; log {}", config.attempt_timeout, log_path.display())
                }
                (None, Some(code)) => format!("charon dkg exited {code}: {problem}; log {}", log_path.display()),
            };
            if scratch.join(LOCK_FILE).exists() {
                let kept = set_aside_path(&config.data_dir);
                fs::rename(&scratch, &kept).context("setting aside a failed attempt that wrote a lock")?;
            } else {
                fs::remove_dir_all(&scratch).context("removing the failed attempt")?;
            }
            Ok(AttemptOutcome::Failed(reason))
        }
    }
}

/// A fresh `dkg-failed-<time>` path: attempt numbers restart with the
/// process, times do not.
fn set_aside_path(data_dir: &Path) -> PathBuf {
    let stamp = timestamp(SystemTime::now()).replace(':', "-");
    (0..)
        .map(|n| data_dir.join(if n == 0 { format!("dkg-failed-{stamp}") } else { format!("dkg-failed-{stamp}-{n}") }))
        .find(|path| !path.exists())
        .expect("an unused name exists")
}

/// SIGTERM, then SIGKILL after 10 s.
/// Charon gets this long to stop after SIGTERM.
const CHARON_STOP_GRACE: Duration = Duration::from_secs(10);

/// `(level, msg)` of a Charon JSON log line.
fn charon_log_message(line: &str) -> Option<(String, String)> {
    let value: Value = serde_json::from_str(line).ok()?;
    Some((value["level"].as_str()?.to_string(), value["msg"].as_str()?.to_string()))
}

/// Puts a cluster formed elsewhere in place the way a DKG result is: copied
/// into the scratch directory, checked (the lock verifies, names our ENR and
/// has a key share per validator), then renamed to `cluster/` with its
/// completion marker. The sources are only read.
async fn adopt_existing_cluster(
    config: &DkgConfig,
    existing: &ExistingCluster,
    our_enr: &str,
) -> anyhow::Result<String> {
    let (lock, source): (Value, String) = match &existing.lock {
        LockSource::File(path) => {
            let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let value = serde_json::from_slice(&bytes)
                .map_err(|e| LockRefused(format!("{} is not a JSON cluster lock: {e}", path.display())))?;
            (value, path.display().to_string())
        }
        LockSource::Hash(hash) => {
            // Fetched once per start: a transient failure is retried here.
            let mut api_config = config.api.clone();
            api_config.retry.attempts_per_call = 3;
            let api = ObolApi::new(api_config);
            let lock = api
                .lock_by_hash(hash)
                .await
                .with_context(|| format!("fetching lock {hash} from {}", config.api.base_url))?
                .with_context(|| format!("the Obol API has no lock {hash}: check charon.lock.hash"))?;
            (lock, format!("{hash} from {}", config.api.base_url))
        }
    };
    // Nothing is written before the lock verifies; a fetched one must also
    // hash to the value asked for (its stated hash is checked against its
    // content by the verification).
    let lock = Lock::from_value(lock)
        .map_err(|e| LockRefused(format!("the lock {source}: {e}")))
        .and_then(|lock| verified(lock).map_err(|e| LockRefused(format!("the lock {source} {e}"))))?;
    if let LockSource::Hash(hash) = &existing.lock {
        let asked = hash.trim_start_matches("0x");
        if !lock.lock_hash_hex().trim_start_matches("0x").eq_ignore_ascii_case(asked) {
            return Err(LockRefused(format!(
                "the Obol API answered lock {hash} with a lock that hashes to {}: check charon.lock.hash",
                lock.lock_hash_hex()
            ))
            .into());
        }
    }
    let scratch = config.data_dir.join(ATTEMPT_DIR);
    let staged = stage_existing_cluster(&scratch, &Value::Object(lock.json().clone()), &existing.keys_dir)
        .and_then(|()| judge_outputs(&scratch, our_enr, &lock.definition));
    match staged {
        Ok(lock_hash) => {
            tracing::info!(%lock_hash, "adopting a cluster formed elsewhere; no DKG runs");
            move_into_place(config, &scratch, &lock_hash, 0)?;
            Ok(lock_hash)
        }
        Err(problem) => {
            fs::remove_dir_all(&scratch).context("removing the rejected copy")?;
            Err(LockRefused(format!("the existing cluster cannot be used: {problem:#}")).into())
        }
    }
}

/// Lays out an adopted cluster in the scratch directory as a DKG would leave
/// it: the definition first, so an interrupted adoption is judged like an
/// interrupted DKG on restart, then the lock and this node's key shares.
fn stage_existing_cluster(scratch: &Path, lock: &Value, keys_dir: &Path) -> anyhow::Result<()> {
    let write_new = |path: &Path, bytes: &[u8]| -> anyhow::Result<()> {
        ensure!(crate::files::write_new(path, bytes, 0o600)?, "{} already exists in a fresh directory", path.display());
        Ok(())
    };
    fs::create_dir_all(scratch.join(KEYS_DIR))?;
    write_new(&scratch.join(DEFINITION_FILE), &serde_json::to_vec_pretty(&lock["cluster_definition"])?)?;
    write_new(&scratch.join(LOCK_FILE), &serde_json::to_vec_pretty(lock)?)?;
    let validators = lock["distributed_validators"].as_array().map_or(0, Vec::len);
    for i in 0..validators {
        for extension in ["json", "txt"] {
            let name = format!("keystore-{i}.{extension}");
            let from = keys_dir.join(&name);
            let bytes = fs::read(&from).with_context(|| format!("reading this node's key share {}", from.display()))?;
            write_new(&scratch.join(KEYS_DIR).join(&name), &bytes)?;
        }
    }
    Ok(())
}

/// Copies the key into the scratch directory with mode 0600, never
/// overwriting, never through a buffer that outlives the copy.
fn copy_key(from: &Path, to: &Path) -> anyhow::Result<()> {
    let key = EnrPrivateKey::load(from).context("loading the ENR private key")?;
    key.save_new(to).context("copying the ENR key into the DKG directory")?;
    debug_assert_eq!(fs::metadata(to)?.permissions().mode() & 0o777, 0o600);
    Ok(())
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(dir)?.sync_all()?;
    Ok(())
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
