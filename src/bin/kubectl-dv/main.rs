//! `kubectl-dv`: the kubectl plugin (`kubectl dv ...`). Logic lives in
//! `dv_pod::plugin::kubectl_dv`.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    dv_pod::plugin::kubectl_dv::run(dv_pod::plugin::kubectl_dv::Cli::parse()).await
}
