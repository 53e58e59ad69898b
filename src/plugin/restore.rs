//! `kubectl dv restore`: a node back from its archive, as a new release in
//! the chart's adoption mode. Nothing in the cluster changes until the
//! archive has opened and every check passed; a node already running where
//! the user can see is never started a second time.

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode};

use clap::Args;

use super::{ReleaseArgs, archive_key::OpenArgs, install::HelmArgs};
use crate::{
    backup::{self, BackupError, node::NodeArchive},
    cluster::node_backup::{
        create_restored, enr_in_secret, ensure_namespace, restored_lock_configmap, restored_secret, seen_nodes,
    },
};

/// Restore a node from its backup archive into a new release: creates the
/// ENR key Secret, the key-share Secret, the slashing-history Secret and the
/// lock ConfigMap, then installs the chart to adopt them, so the node
/// rejoins its cluster with no ceremony. Refused while the node runs
/// anywhere you can see.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  kubectl dv restore dv-node.age --release dv -n dv-restored\n  kubectl dv restore \
                        dv-node.age --release dv -n dv --passphrase-file ~/.dv-passphrase -f my-values.yaml\n  kubectl \
                        dv restore dv-node.age --release dv -n dv --identity-file ~/.age/dv.key"
)]
pub struct RestoreArgs {
    /// The archive `kubectl dv backup` wrote.
    #[arg(value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    file: PathBuf,
    #[command(flatten)]
    target: ReleaseArgs,
    #[command(flatten)]
    key: OpenArgs,
    #[command(flatten)]
    helm: HelmArgs,
}

pub async fn run(args: RestoreArgs) -> ExitCode {
    match restore(&args).await {
        Ok(code) => code,
        Err(error) if error.is::<BackupError>() || error.is::<Refused>() => {
            eprintln!("error: {error:#}");
            ExitCode::from(crate::exit::INVALID)
        }
        Err(error) => crate::exit::fail(format!("{error:#}")),
    }
}

/// A restore that would run a node twice, or over another node's objects.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

async fn restore(args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    let sealed = std::fs::read(&args.file).map_err(|e| anyhow::anyhow!("reading {}: {e}", args.file.display()))?;
    let key = args.key.key()?;
    let archive = backup::node::verify_node(backup::open(&sealed, &key)?)?;
    let connection = super::reach(&args.target.kube).await?;
    let (client, namespace, release) = (&connection.client, &connection.namespace, &args.target.release);
    let names = RestoredNames::new(release);
    let enr = archive.enr.text();
    if let Some(existing) = enr_in_secret(client, namespace, &names.enr_secret).await?
        && existing != enr
    {
        return Err(BackupError::AnotherNode {
            archived: format!("node {enr}"),
            expected: format!("node {existing} (Secret {namespace}/{})", names.enr_secret),
        }
        .into());
    }
    let running = seen_nodes(client, namespace).await?;
    if let Some(twin) = running.iter().find(|seen| {
        same_key(&seen.enr, enr) && (seen.reported || (&seen.namespace, &seen.release) != (namespace, release))
    }) {
        return Err(Refused(format!(
            "node {enr} (cluster lock {}) already runs as release {} in namespace {}; a distributed validator node \
             must never run twice, and nothing was changed. Uninstall that release first (its keys stay), or \
             restore another node's backup",
            archive.lock.lock_hash_hex(),
            twin.release,
            twin.namespace
        ))
        .into());
    }
    ensure_namespace(client, namespace).await?;
    create_objects(client, namespace, release, &names, &archive).await?;
    eprintln!(
        "restored the keys of node {enr} (cluster lock {}) into namespace {namespace}; installing release {release}",
        archive.lock.lock_hash_hex()
    );
    let sets = chart_values(&names, &archive)?;
    Ok(super::install::run_helm(&args.helm, &args.target, &connection, &["install"], &sets))
}

/// The objects a restore creates for release `R`, none owned by Helm, so
/// that uninstalling the release keeps them.
struct RestoredNames {
    enr_secret: String,
    key_shares: String,
    slashing_protection: String,
    lock: String,
}

impl RestoredNames {
    fn new(release: &str) -> Self {
        RestoredNames {
            enr_secret: format!("{release}-enr-key"),
            key_shares: format!("{release}-key-shares"),
            slashing_protection: format!("{release}-slashing-protection"),
            lock: format!("{release}-cluster-lock"),
        }
    }
}

async fn create_objects(
    client: &kube::Client,
    namespace: &str,
    release: &str,
    names: &RestoredNames,
    archive: &NodeArchive,
) -> anyhow::Result<()> {
    let enr_key = restored_secret(
        &names.enr_secret,
        release,
        "enr-key",
        BTreeMap::from([
            (crate::cluster::SECRET_KEY_FIELD.to_string(), archive.enr_key().to_vec()),
            (crate::cluster::SECRET_ENR_FIELD.to_string(), archive.enr.text().as_bytes().to_vec()),
        ]),
    );
    let shares = archive.keystores().map(|(name, bytes)| (name.to_string(), bytes.to_vec())).collect();
    let key_shares = restored_secret(&names.key_shares, release, "key-shares", shares);
    let history = restored_secret(
        &names.slashing_protection,
        release,
        "slashing-protection",
        BTreeMap::from([("slashing-protection.json".to_string(), history_for_secret(archive)?)]),
    );
    let lock_text = String::from_utf8(archive.lock_json().to_vec())
        .map_err(|_| anyhow::anyhow!("the archive's cluster lock is not UTF-8 text"))?;
    let lock = restored_lock_configmap(
        &names.lock,
        release,
        archive.enr.text(),
        BTreeMap::from([("cluster-lock.json".to_string(), lock_text)]),
    );
    create_restored(client, namespace, &lock).await?;
    create_restored(client, namespace, &enr_key).await?;
    create_restored(client, namespace, &key_shares).await?;
    create_restored(client, namespace, &history).await
}

/// Above this the full history would not fit a Secret (1 MiB with its
/// base64 and the object around it).
const MAX_HISTORY_IN_SECRET: usize = 700 << 10;

/// The history as the restored Secret holds it: in full, or in EIP-3076's
/// minimal form when the full one is too large for a Secret.
fn history_for_secret(archive: &NodeArchive) -> anyhow::Result<Vec<u8>> {
    let full = archive.slashing_protection();
    if full.len() <= MAX_HISTORY_IN_SECRET {
        return Ok(full.to_vec());
    }
    let minimal = backup::node::minimal_interchange(full)?;
    eprintln!(
        "the slashing history ({} KiB) is too large for a Secret: importing EIP-3076's minimal form (each \
         validator's highest slot, source and target), which protects the same",
        full.len() >> 10
    );
    Ok(minimal)
}

/// The chart values of the adoption mode, from the archive.
fn chart_values(names: &RestoredNames, archive: &NodeArchive) -> anyhow::Result<Vec<String>> {
    let network = archive.lock.definition.network().ok_or_else(|| {
        anyhow::anyhow!(
            "the lock's fork version 0x{} is no network dv-pod knows",
            hex::encode(&archive.lock.definition.fork_version)
        )
    })?;
    let operator = archive
        .lock
        .definition
        .operators
        .iter()
        .find(|op| same_key(&op.enr, archive.enr.text()))
        .map(|op| op.address.clone())
        .unwrap_or_default();
    let mut sets = vec![
        format!("network={}", network.name()),
        format!("validatorClient.type={}", archive.validator_client.name()),
        format!("charon.enr.existingSecret={}", names.enr_secret),
        format!("charon.lock.existingConfigMap={}", names.lock),
        format!("charon.lock.keystoresSecret={}", names.key_shares),
        format!("validatorClient.slashingProtection.importSecret={}", names.slashing_protection),
    ];
    if !operator.is_empty() {
        sets.push(format!("charon.operatorAddress={operator}"));
    }
    Ok(sets)
}

/// Two ENRs of the same key (their other fields may differ).
fn same_key(a: &str, b: &str) -> bool {
    use std::str::FromStr;
    match (crate::enr::EnrRecord::from_str(a), crate::enr::EnrRecord::from_str(b)) {
        (Ok(a), Ok(b)) => a.public_key_compressed() == b.public_key_compressed(),
        _ => false,
    }
}
