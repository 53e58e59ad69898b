//! `kubectl dv definition verify`: a definition (file or URL) checked as
//! Charon checks it, and what it means for one operator.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::output::{OutputArgs, print_then};
use crate::{
    definition::{
        Definition, Network,
        invite::{Invite, OperatorAddress, OurNode, classify},
        verify::{Check, verify},
    },
    enr::EnrRecord,
    obol_api::{ClientConfig, ObolApi},
};

/// Verify a definition (file or URL) as Charon would, and say what it means
/// for an operator. Exit 0 valid, 1 invalid, 2 usage or I/O error.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  kubectl dv definition verify cluster-definition.json\n  kubectl dv definition verify \
                        https://api.obol.tech/v1/definition/0x... --operator 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed \
                        --network hoodi -o json"
)]
pub struct VerifyArgs {
    /// A definition file, or an http(s) URL such as https://api.obol.tech/v1/definition/0x...
    #[arg(value_hint = clap::ValueHint::FilePath)]
    source: String,
    /// Classify the definition for this operator address.
    #[arg(long, value_name = "ADDRESS")]
    operator: Option<String>,
    /// This node's ENR (checked against the operator's slot).
    #[arg(long, requires = "operator")]
    enr: Option<String>,
    /// The network this node runs on.
    #[arg(long, requires = "operator", value_parser = Network::ALL.map(Network::name))]
    network: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// `kubectl dv definition verify -o json|yaml`
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

pub async fn run(args: VerifyArgs) -> ExitCode {
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
    match args.output.format() {
        Some(format) => print_then(&out, format, code),
        None => {
            print_verify_text(&out);
            ExitCode::from(code)
        }
    }
}

fn our_node(args: &VerifyArgs) -> anyhow::Result<Option<OurNode>> {
    let Some(operator) = &args.operator else { return Ok(None) };
    let operator: OperatorAddress = operator.parse().map_err(|e| anyhow::anyhow!("--operator: {e}"))?;
    let enr = args
        .enr
        .as_deref()
        .map(|text| text.parse::<EnrRecord>().map_err(|e| anyhow::anyhow!("--enr: {e}")))
        .transpose()?;
    // clap has checked the name against the same list.
    let network = args.network.as_deref().and_then(Network::from_name);
    Ok(Some(OurNode { operator, enr, network, target_config_hash: None }))
}

pub async fn read_source(source: &str) -> anyhow::Result<serde_json::Value> {
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
