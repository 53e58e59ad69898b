//! `kubectl dv install`: `helm upgrade --install` of the dv-pod chart with
//! the same connection flags, after checking the cluster can be reached.

use std::{path::PathBuf, process::ExitCode};

use clap::Args;

use super::ReleaseArgs;
use crate::definition::{Network, invite::OperatorAddress};

/// Install or upgrade the dv-pod chart (helm upgrade --install).
#[derive(Args)]
#[command(
    after_help = "Examples:\n  kubectl dv install --operator-address 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed \
                        --network hoodi -n dv\n  kubectl dv install -n dv -f my-values.yaml\n  kubectl dv install -n dv \
                        --set validatorClient.type=teku -- --wait --timeout 10m"
)]
pub struct InstallArgs {
    #[command(flatten)]
    target: ReleaseArgs,
    /// Your operator's Ethereum address (sets charon.operatorAddress).
    #[arg(long, value_name = "ADDRESS")]
    operator_address: Option<String>,
    /// The network (sets network); retired testnets are not offered.
    #[arg(long, value_parser = Network::OFFERED.map(Network::name))]
    network: Option<String>,
    /// Values files, as for helm.
    #[arg(short = 'f', long = "values", value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    values: Vec<PathBuf>,
    /// Single values, as for helm (--set a.b=c).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The chart: a directory, an archive or a chart reference (default: the
    /// chart built into this program).
    #[arg(long, value_name = "CHART")]
    chart: Option<String>,
    /// The helm binary.
    #[arg(long, env = "HELM", default_value = "helm", value_hint = clap::ValueHint::ExecutablePath)]
    helm: String,
    /// Arguments after -- go to helm as they are.
    #[arg(last = true)]
    helm_args: Vec<String>,
}

pub async fn run(args: InstallArgs) -> ExitCode {
    let sets = match value_sets(&args) {
        Ok(sets) => sets,
        Err(message) => return crate::exit::fail(message),
    };
    let connection = match super::reach(&args.target.kube).await {
        Ok(connection) => connection,
        Err(message) => return crate::exit::fail(format!("{message:#}")),
    };
    // Lives until helm has finished: it may be the embedded chart's temp file.
    let chart = match crate::chart::Chart::resolve(args.chart.clone()) {
        Ok(chart) => chart,
        Err(e) => return crate::exit::fail(e),
    };
    let kube = &args.target.kube;
    let mut command = std::process::Command::new(&args.helm);
    command.args(["upgrade", "--install", &args.target.release, chart.reference()]);
    command.args(["--namespace", &connection.namespace]);
    if kube.namespace.is_some() {
        command.arg("--create-namespace");
    }
    command.args(kube.kubeconfig.iter().map(|path| format!("--kubeconfig={}", path.display())));
    command.arg(format!("--kube-context={}", connection.context));
    command.args(kube.impersonate.iter().map(|user| format!("--kube-as-user={user}")));
    command.args(kube.impersonate_groups.iter().map(|group| format!("--kube-as-group={group}")));
    for file in &args.values {
        command.arg("--values").arg(file);
    }
    for set in &sets {
        command.args(["--set", set]);
    }
    command.args(&args.helm_args);
    match command.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("error: helm ended with {status}");
            ExitCode::from(crate::exit::INVALID)
        }
        Err(e) => crate::exit::fail(format!("cannot run {}: {e} (install Helm 3 or 4, or pass --helm)", args.helm)),
    }
}

/// The `--set` values, with the typed flags checked and added.
fn value_sets(args: &InstallArgs) -> anyhow::Result<Vec<String>> {
    let mut sets = args.set.clone();
    if let Some(address) = &args.operator_address {
        address.parse::<OperatorAddress>().map_err(|e| anyhow::anyhow!("--operator-address: {e}"))?;
        sets.push(format!("charon.operatorAddress={address}"));
    }
    if let Some(network) = &args.network {
        sets.push(format!("network={network}"));
    }
    crate::chart::refuse_private_key_arguments(sets.iter().chain(&args.helm_args))?;
    Ok(sets)
}
