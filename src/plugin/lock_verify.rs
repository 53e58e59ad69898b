//! `kubectl dv lock verify`: a cluster lock checked as Charon loads it, plus
//! the deposit checks, and the summary a person reads before sending ETH.
//! The verdict is the sidecar's own ([`crate::definition::lock::verify`]).

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::{
    ReleaseArgs,
    output::{OutputArgs, print_then},
};
use crate::{
    cluster::release::ReleaseNames,
    definition::{
        Network,
        lock::{self, DepositSummary, Lock, LockReport},
        verify::{Check, Status},
    },
};

/// Verify a cluster lock as Charon loads it, check every deposit, and print
/// what to check before depositing. Without a file or URL, reads the lock
/// the release's pod uses. Exit 0 valid, 1 invalid, 2 usage, I/O or cluster
/// error.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  kubectl dv lock verify -n dv\n  kubectl dv lock verify cluster-lock.json --network \
                        hoodi\n  kubectl dv lock verify https://api.obol.tech/v1/lock/0x... -o json"
)]
pub struct LockVerifyArgs {
    /// A cluster-lock.json file, or an http(s) URL such as
    /// https://api.obol.tech/v1/lock/0x... (default: the release's lock).
    #[arg(value_hint = clap::ValueHint::FilePath)]
    source: Option<String>,
    /// The network you mean to deposit on: a lock for another one fails.
    #[arg(long, value_parser = Network::ALL.map(Network::name))]
    network: Option<String>,
    #[command(flatten)]
    target: ReleaseArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// `-o json|yaml` (schema `dv-pod.lock-verify/v1`, `assets/schemas/`).
#[derive(Serialize)]
pub struct LockVerifyDocument {
    pub schema: &'static str,
    /// The file, URL or `release NAMESPACE/RELEASE` as read.
    pub source: String,
    /// Every check passed: Charon loads this lock and every deposit verifies.
    pub valid: bool,
    /// Whether `charon run` would load it (the checks of group `charon`).
    pub charon_loads: bool,
    /// Whether every deposit and registration fact holds (group `deposits`).
    pub deposits_verify: bool,
    pub parse_error: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub network: Option<Network>,
    pub lock_hash: Option<String>,
    pub config_hash: Option<String>,
    pub operators: Option<usize>,
    pub threshold: Option<i64>,
    pub checks: Vec<GroupedCheck>,
    /// One entry per validator: what to check before depositing.
    pub validators: Vec<DepositSummary>,
}

/// A check and the group it belongs to.
#[derive(Serialize)]
pub struct GroupedCheck {
    pub group: &'static str,
    #[serde(flatten)]
    pub check: Check,
}

/// Verifies `document`; with `network`, a lock for another network fails.
pub fn verify_document(source: String, document: serde_json::Value, network: Option<Network>) -> LockVerifyDocument {
    let mut out = LockVerifyDocument {
        schema: "dv-pod.lock-verify/v1",
        source,
        valid: false,
        charon_loads: false,
        deposits_verify: false,
        parse_error: None,
        name: None,
        version: None,
        network: None,
        lock_hash: None,
        config_hash: None,
        operators: None,
        threshold: None,
        checks: Vec::new(),
        validators: Vec::new(),
    };
    let parsed = match Lock::from_value(document) {
        Ok(parsed) => parsed,
        Err(e) => {
            out.parse_error = Some(e.to_string());
            return out;
        }
    };
    let report: LockReport = lock::verify(&parsed);
    let def = &parsed.definition;
    out.charon_loads = report.charon.is_valid();
    out.deposits_verify = report.deposits.is_valid();
    out.name = Some(def.name.clone());
    out.version = Some(def.version.to_string());
    out.network = def.network();
    out.lock_hash = Some(parsed.lock_hash_hex());
    out.config_hash = Some(def.config_hash_hex());
    out.operators = Some(def.operators.len());
    out.threshold = Some(def.threshold);
    out.validators = lock::deposit_summary(&parsed, &report);
    out.checks = report
        .charon
        .checks
        .iter()
        .map(|check| GroupedCheck { group: "charon", check: check.clone() })
        .chain(report.deposits.checks.iter().map(|check| GroupedCheck { group: "deposits", check: check.clone() }))
        .collect();
    let mut network_matches = true;
    if let Some(expected) = network {
        network_matches = out.network == Some(expected);
        let detail = match out.network {
            Some(actual) if network_matches => format!("{actual}, as asked"),
            Some(actual) => format!("the lock is for {actual}, not {expected}: depositing would use the wrong chain"),
            None => format!("the lock's fork version names no network; {expected} was asked for"),
        };
        let status = if network_matches { Status::Pass } else { Status::Fail };
        out.checks.push(GroupedCheck { group: "request", check: Check { name: "network".into(), status, detail } });
    }
    out.valid = out.charon_loads && out.deposits_verify && network_matches;
    out
}

pub fn print_text(out: &LockVerifyDocument) {
    if let Some(error) = &out.parse_error {
        println!("INVALID: {} is not a cluster lock Charon can read: {error}", out.source);
        return;
    }
    println!(
        "{} {} ({}), lock hash {}, {} of {} operators",
        out.name.as_deref().unwrap_or_default(),
        out.version.as_deref().unwrap_or_default(),
        out.network.map(|n| n.name()).unwrap_or("unknown network"),
        out.lock_hash.as_deref().unwrap_or_default(),
        out.threshold.unwrap_or_default(),
        out.operators.unwrap_or_default(),
    );
    for grouped in &out.checks {
        let mark = match grouped.check.status {
            Status::Pass => "ok     ",
            Status::Fail => "FAILED ",
            Status::Missing => "missing",
        };
        println!("  {mark} {}: {}", grouped.check.name, grouped.check.detail);
    }
    println!();
    println!("Before you deposit, check each validator against what you expect:");
    for v in &out.validators {
        let amounts: Vec<String> = v.amounts_gwei.iter().map(|a| format!("{} ETH", lock::format_eth(*a))).collect();
        println!("  validator {}  {}", v.index, v.distributed_public_key);
        println!("    withdrawal address  {}  (credentials {})", v.withdrawal_address, v.withdrawal_type);
        println!("    fee recipient       {}", v.fee_recipient);
        println!(
            "    deposit data        {} on {}: {}",
            if amounts.is_empty() { "none".into() } else { amounts.join(", ") },
            v.network,
            if v.deposits_verify { "every deposit message verifies" } else { "DO NOT DEPOSIT: not verified" }
        );
    }
    println!();
    println!(
        "{}",
        match (out.valid, out.charon_loads) {
            (true, _) => "VALID",
            (false, true) => "INVALID: Charon would load it, but its deposits or the network do not check out",
            (false, false) => "INVALID",
        }
    );
}

pub async fn run(args: LockVerifyArgs) -> ExitCode {
    let network = args.network.as_deref().and_then(Network::from_name);
    let read = match &args.source {
        Some(source) => super::definition_verify::read_source(source).await.map(|document| (source.clone(), document)),
        None => {
            super::with_release(&args.target, |client, names| async move { published_lock(&client, &names).await })
                .await
        }
    };
    let (source, document) = match read {
        Ok(read) => read,
        Err(message) => return crate::exit::fail(format!("{message:#}")),
    };
    let out = verify_document(source, document, network);
    let code = if out.valid { crate::exit::OK } else { crate::exit::INVALID };
    match args.output.format() {
        Some(format) => print_then(&out, format, code),
        None => {
            print_text(&out);
            ExitCode::from(code)
        }
    }
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
