//! `kubectl-dv` (run as `kubectl dv ...`): the plugin's commands.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::{
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
    /// Work with cluster definitions.
    Definition {
        #[command(subcommand)]
        command: DefinitionCommand,
    },
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

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Definition { command: DefinitionCommand::Verify(args) } => verify_definition(args),
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

fn verify_definition(args: VerifyArgs) -> ExitCode {
    let us = match our_node(&args) {
        Ok(us) => us,
        Err(message) => return super::fail(message),
    };
    let document = match read_source(&args.source) {
        Ok(document) => document,
        Err(message) => return super::fail(message),
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
    let code = if out.valid { super::EXIT_OK } else { super::EXIT_INVALID };
    if args.json {
        if super::print_json(&out) != ExitCode::SUCCESS {
            return ExitCode::from(super::EXIT_USAGE);
        }
    } else {
        print_verify_text(&out);
    }
    ExitCode::from(code)
}

fn our_node(args: &VerifyArgs) -> Result<Option<OurNode>, String> {
    let Some(operator) = &args.operator else { return Ok(None) };
    let operator: OperatorAddress = operator.parse().map_err(|e| format!("--operator: {e}"))?;
    let enr =
        args.enr.as_deref().map(|text| text.parse::<EnrRecord>().map_err(|e| format!("--enr: {e}"))).transpose()?;
    let network = args
        .network
        .as_deref()
        .map(|name| {
            Network::from_name(name).ok_or_else(|| {
                format!("--network {name:?} is not one of: {}", Network::ALL.map(Network::name).join(", "))
            })
        })
        .transpose()?;
    Ok(Some(OurNode { operator, enr, network, target_config_hash: None }))
}

fn read_source(source: &str) -> Result<serde_json::Value, String> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let url: url::Url = source.parse().map_err(|e| format!("{source} is not a valid URL: {e}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let api = ObolApi::new(ClientConfig::new(url.clone()));
        runtime
            .block_on(api.fetch_json(url))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{source}: not found (404)"))
    } else {
        let text = std::fs::read(source).map_err(|e| format!("cannot read {source}: {e}"))?;
        serde_json::from_slice(&text).map_err(|e| format!("{source} is not JSON: {e}"))
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
