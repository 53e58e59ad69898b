//! `kubectl dv enr`: the release's ENR (or a local key file's), as text, a
//! QR code to scan into the Launchpad, or a document.

use std::{path::PathBuf, process::ExitCode};

use clap::Args;
use serde::Serialize;

use super::{
    ReleaseArgs,
    output::{OutputArgs, print_then},
};
use crate::enr::{EnrPrivateKey, EnrRecord};

/// Print the release's ENR (or a local key file's), optionally as a QR code.
#[derive(Args)]
#[command(after_help = "Examples:\n  kubectl dv enr -n dv\n  kubectl dv enr -n dv --qr\n  kubectl dv enr --key-file \
                        .charon/charon-enr-private-key -o json")]
pub struct EnrArgs {
    #[command(flatten)]
    target: ReleaseArgs,
    /// Read this Charon key file (charon-enr-private-key) instead of the cluster.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    key_file: Option<PathBuf>,
    /// Also draw the ENR as a QR code to scan into the Launchpad.
    #[arg(long)]
    qr: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// `kubectl dv enr -o json|yaml` (schema `dv-pod.enr/v1`).
#[derive(Serialize)]
pub struct EnrDocument {
    pub schema: &'static str,
    pub enr: String,
    pub public_key: String,
    pub peer_id: String,
}

pub async fn run(args: EnrArgs) -> ExitCode {
    let record = match &args.key_file {
        Some(path) => {
            // Loading logs this, but the plugin has no log: say it on stderr.
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map(|m| m.permissions().mode()).unwrap_or(0o600);
            if let Some(warning) = crate::enr::key_file_mode_warning(path, mode) {
                eprintln!("warning: {warning}");
            }
            EnrPrivateKey::load(path).map(|key| key.record()).map_err(anyhow::Error::from)
        }
        None => from_release(&args.target).await,
    };
    let record = match record {
        Ok(record) => record,
        Err(message) => return crate::exit::fail(format!("{message:#}")),
    };
    if let Some(format) = args.output.format() {
        let document = EnrDocument {
            schema: "dv-pod.enr/v1",
            enr: record.text().to_string(),
            public_key: format!("0x{}", hex::encode(record.public_key_compressed())),
            peer_id: record.peer_id(),
        };
        return print_then(&document, format, crate::exit::OK);
    }
    println!("{record}");
    if args.qr
        && let Some(code) = crate::enr::qr::ansi(record.text())
    {
        print!("{code}");
    }
    ExitCode::SUCCESS
}

async fn from_release(target: &ReleaseArgs) -> anyhow::Result<EnrRecord> {
    let view = super::observe_release(target).await?;
    let text = view
        .enr
        .ok_or_else(|| anyhow::anyhow!("release {} has no ENR yet: {}", view.release, view.problems.join("; ")))?;
    text.parse::<EnrRecord>().map_err(|e| anyhow::anyhow!("the release's ENR is invalid: {e}"))
}
