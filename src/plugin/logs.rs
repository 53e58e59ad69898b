//! `kubectl dv logs`: one container's log from the release's pod, by the
//! chart's container names.

use std::process::ExitCode;

use clap::Args;

use super::ReleaseArgs;
use crate::cluster::release::{self, ReleaseNames};

/// The chart's containers, init containers first (`chart/templates/statefulset.yaml`).
const CONTAINERS: [&str; 6] = ["dkg", "import-keys", "charon", "beacon-proxy", "simnet-gateway", "validator-client"];

/// Print a container's log from the release's pod.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  kubectl dv logs -n dv\n  kubectl dv logs -n dv -c charon -f --tail 100\n  kubectl \
                        dv logs -n dv -c validator-client --previous"
)]
pub struct LogsArgs {
    #[command(flatten)]
    target: ReleaseArgs,
    /// The container: dkg (the sidecar), import-keys, charon, beacon-proxy or validator-client.
    #[arg(long, short = 'c', default_value = "dkg", value_parser = CONTAINERS)]
    container: String,
    /// Keep streaming.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    tail: Option<i64>,
    /// The log of the container's previous run (after a crash or restart).
    #[arg(long, short = 'p')]
    previous: bool,
}

pub async fn run(args: LogsArgs) -> ExitCode {
    let target = args.target.clone();
    super::finish(super::with_release(&target, |client, names| async move { stream(client, names, args).await }).await)
}

async fn stream(client: kube::Client, names: ReleaseNames, args: LogsArgs) -> anyhow::Result<()> {
    use futures_util::{AsyncBufReadExt, TryStreamExt};
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, &names.namespace);
    let pod = pods.get(names.pod()).await.map_err(|e| anyhow::anyhow!("pod {}: {e}", names.pod()))?;
    let health = release::pod_health(&pod);
    let container = args.container;
    let Some(state) = health.containers.iter().find(|c| c.name == container) else {
        let known: Vec<&str> = health.containers.iter().map(|c| c.name.as_str()).collect();
        anyhow::bail!("pod {} has no container {container:?}; it has {}", names.pod(), known.join(", "));
    };
    // A container waiting after a crash has the log of that run (--previous).
    let never_ran = state.state.never_ran(state.restarts);
    if never_ran || (args.previous && state.restarts == 0) {
        anyhow::bail!("container {container} of pod {} has no log yet: {}", names.pod(), state.state);
    }
    let params = kube::api::LogParams {
        container: Some(container),
        follow: args.follow,
        tail_lines: args.tail,
        previous: args.previous,
        ..Default::default()
    };
    let stream =
        pods.log_stream(names.pod(), &params).await.map_err(|e| anyhow::anyhow!("pod {}: {e}", names.pod()))?;
    let mut lines = stream.lines();
    while let Some(line) = lines.try_next().await? {
        println!("{line}");
    }
    Ok(())
}
