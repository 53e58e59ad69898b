//! `kubectl dv backup`: one encrypted archive with everything a node needs
//! to rejoin its cluster (see `backup` for the format and checks, and
//! `cluster::node_backup` for how the files are read).

use std::{path::PathBuf, process::ExitCode};

use clap::Args;

use super::{ReleaseArgs, archive_key::SealArgs};
use crate::{
    backup::{self, node},
    cluster::{
        node_backup::{self, backup_permissions, missing_permissions},
        release::ReleaseNames,
    },
    definition::lock::Lock,
};

/// Back up a formed node: its ENR key, cluster lock and definition, key
/// shares, deposit data and slashing-protection history, in one encrypted
/// archive. The node is stopped while its files are read (a minute or so).
#[derive(Args)]
#[command(
    after_help = "Examples:\n  kubectl dv backup -n dv -o dv-node.age\n  kubectl dv backup -n dv --release dv-2 \
                        -o dv-2.age --passphrase-file ~/.dv-passphrase\n  kubectl dv backup -n dv -o dv.age --recipient \
                        age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
)]
pub struct BackupArgs {
    #[command(flatten)]
    target: ReleaseArgs,
    /// The archive to write; an existing file is never overwritten.
    #[arg(short = 'o', long = "output", value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    output: PathBuf,
    #[command(flatten)]
    key: SealArgs,
    /// Run the slashing-protection export with this image instead of the
    /// validator client's (Nimbus: its validator client image has no
    /// export, the beacon node image has `slashingdb`).
    #[arg(long, value_name = "IMAGE")]
    export_image: Option<String>,
    /// Print the archive's manifest as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: BackupArgs) -> ExitCode {
    match backup(&args).await {
        Ok(manifest) if args.json => super::output::print_then(&manifest, super::output::Format::Json, 0),
        Ok(manifest) => {
            let history = manifest.slashing_protection.clone().unwrap_or(node::SlashingSummary {
                validators: 0,
                signed_blocks: 0,
                signed_attestations: 0,
            });
            println!(
                "Wrote {}: node {} of cluster lock {}, {} validator(s), slashing history of {} attestation(s) and {} \
                 block(s).\nKeep it off the cluster, and the passphrase apart from it. Restore with: kubectl dv \
                 restore {} --release NAME -n NAMESPACE",
                args.output.display(),
                manifest.enr,
                manifest.lock_hash,
                manifest.validator_public_keys.len(),
                history.signed_attestations,
                history.signed_blocks,
                args.output.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) if error.is::<backup::BackupError>() => {
            eprintln!("error: {error:#}");
            ExitCode::from(crate::exit::INVALID)
        }
        Err(error) => crate::exit::fail(format!("{error:#}")),
    }
}

async fn backup(args: &BackupArgs) -> anyhow::Result<backup::Manifest> {
    if args.output.exists() {
        anyhow::bail!("{} exists; a backup never overwrites a file: choose another name", args.output.display());
    }
    let key = args.key.key()?;
    let connection = super::reach(&args.target.kube).await?;
    let client = connection.client;
    let names = ReleaseNames::find(&client, &connection.namespace, &args.target.release).await;
    let missing = missing_permissions(&client, &names.namespace, &backup_permissions(&names)).await?;
    if !missing.is_empty() {
        let list = missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        anyhow::bail!(
            "a backup of {}/{} needs permissions you lack in namespace {}: {list} (kubectl auth can-i shows the same; \
             the chart README lists a Role with them)",
            names.namespace,
            names.release,
            names.namespace
        );
    }
    let network = formed_network(&client, &names).await?;
    let enr_key = node_backup::read_enr_key(&client, &names).await?;
    let (validator_client, tar) =
        node_backup::read_node_files(&client, &names, &network, args.export_image.clone()).await?;
    let mut files = backup::read_tar(&tar)?;
    files.insert(node::ENR_KEY.to_string(), enr_key);
    let created_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let archive = node::archive_node(files, validator_client, created_at.clone())?;
    let sealed = backup::seal(&archive.contents, &key)?;
    let written = crate::files::write_new(&args.output, &sealed, 0o600)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", args.output.display()))?;
    if !written {
        anyhow::bail!(
            "{} appeared while the backup ran; it was left as it is and nothing was written",
            args.output.display()
        );
    }
    if let Err(e) = node_backup::record_backup(&client, &names, &created_at).await {
        eprintln!("warning: the backup was written, but recording it on the status ConfigMap failed: {e}");
    }
    Ok(archive.contents.manifest)
}

/// The release's network, from the lock its sidecar published; a release
/// without one has not formed, and there is nothing to back up yet.
async fn formed_network(client: &kube::Client, names: &ReleaseNames) -> anyhow::Result<String> {
    let configmaps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), &names.namespace);
    let status = configmaps.get_opt(names.status_configmap()).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "release {} has no status ConfigMap in namespace {}: is it installed there (--release, -n)?",
            names.release,
            names.namespace
        )
    })?;
    let lock = crate::cluster::published_lock(&status).ok_or_else(|| {
        anyhow::anyhow!(
            "release {}/{} has not formed its cluster yet: there are no keys to back up (kubectl dv status shows \
             its progress)",
            names.namespace,
            names.release
        )
    })?;
    let lock = Lock::from_json(lock.as_bytes())
        .map_err(|e| anyhow::anyhow!("the lock release {} published does not parse: {e}", names.release))?;
    let network = lock.definition.network().ok_or_else(|| {
        anyhow::anyhow!(
            "the lock's fork version 0x{} is no network dv-pod knows",
            hex::encode(&lock.definition.fork_version)
        )
    })?;
    Ok(network.name().to_string())
}
