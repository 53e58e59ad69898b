//! `kubectl dv install`: `helm upgrade --install` of the dv-pod chart with
//! the same connection flags, after checking the cluster can be reached.
//! [`HelmArgs`] and [`run_helm`] are shared with `kubectl dv restore`.

use std::{path::PathBuf, process::ExitCode};

use clap::Args;

use super::ReleaseArgs;
use crate::{
    cluster::Connection,
    definition::{Network, invite::OperatorAddress},
};

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
    #[command(flatten)]
    helm: HelmArgs,
}

/// How a command runs Helm: the values and chart it passes on.
#[derive(Args)]
pub struct HelmArgs {
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
    run_helm(&args.helm, &args.target, &connection, &["upgrade", "--install"], &sets)
}

/// Runs `helm <verb> RELEASE CHART` with the connection's flags, the user's
/// values files and `--set` values, then `sets` (the command's own, which
/// win), then the user's arguments after `--`.
pub fn run_helm(
    helm: &HelmArgs,
    target: &ReleaseArgs,
    connection: &Connection,
    verb: &[&str],
    sets: &[String],
) -> ExitCode {
    if let Err(e) = crate::chart::refuse_private_key_arguments(helm.set.iter().chain(&helm.helm_args)) {
        return crate::exit::fail(e);
    }
    // Lives until helm has finished: it may be the embedded chart's temp file.
    let chart = match crate::chart::Chart::resolve(helm.chart.clone()) {
        Ok(chart) => chart,
        Err(e) => return crate::exit::fail(e),
    };
    let kube = &target.kube;
    let mut command = std::process::Command::new(&helm.helm);
    command.args(verb).args([&target.release, chart.reference()]);
    command.args(["--namespace", &connection.namespace]);
    if kube.namespace.is_some() {
        command.arg("--create-namespace");
    }
    command.args(kube.kubeconfig.iter().map(|path| format!("--kubeconfig={}", path.display())));
    command.arg(format!("--kube-context={}", connection.context));
    command.args(kube.impersonate.iter().map(|user| format!("--kube-as-user={user}")));
    command.args(kube.impersonate_groups.iter().map(|group| format!("--kube-as-group={group}")));
    for file in &helm.values {
        command.arg("--values").arg(file);
    }
    for set in helm.set.iter().chain(sets) {
        command.args(["--set", set]);
    }
    command.args(&helm.helm_args);
    match command.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("error: helm ended with {status}");
            ExitCode::from(crate::exit::INVALID)
        }
        Err(e) => crate::exit::fail(format!("cannot run {}: {e} (install Helm 3 or 4, or pass --helm)", helm.helm)),
    }
}

/// The typed flags' `--set` values, checked.
fn value_sets(args: &InstallArgs) -> anyhow::Result<Vec<String>> {
    let mut sets = Vec::new();
    if let Some(address) = &args.operator_address {
        address.parse::<OperatorAddress>().map_err(|e| anyhow::anyhow!("--operator-address: {e}"))?;
        sets.push(format!("charon.operatorAddress={address}"));
    }
    if let Some(network) = &args.network {
        sets.push(format!("network={network}"));
    }
    Ok(sets)
}
