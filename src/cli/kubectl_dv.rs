//! `kubectl-dv` (run as `kubectl dv ...`): the plugin's commands.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::enr::EnrPrivateKey;

#[derive(Parser)]
#[command(name = "kubectl-dv", version = crate::VERSION, about = "Install and follow a dv-pod distributed validator")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the ENR of a Charon key file (charon-enr-private-key).
    Enr {
        /// Path of the key file.
        #[arg(long)]
        key_file: PathBuf,
        /// Print a JSON document (schema dv-pod.enr/v1) instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// The `--json` output of `kubectl dv enr` (schema `dv-pod.enr/v1`).
#[derive(Serialize)]
pub struct EnrDocument {
    pub schema: &'static str,
    pub enr: String,
    pub public_key: String,
    pub peer_id: String,
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Enr { key_file, json } => {
            let key = match EnrPrivateKey::load(&key_file) {
                Ok(key) => key,
                Err(e) => return super::fail(e),
            };
            let record = key.record();
            if json {
                super::print_json(&EnrDocument {
                    schema: "dv-pod.enr/v1",
                    enr: record.text().to_string(),
                    public_key: format!("0x{}", hex::encode(record.public_key_compressed())),
                    peer_id: record.peer_id(),
                })
            } else {
                println!("{record}");
                ExitCode::SUCCESS
            }
        }
    }
}
