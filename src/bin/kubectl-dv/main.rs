//! `kubectl-dv`: the kubectl plugin (`kubectl dv ...`). Logic lives in
//! `dv_pod::plugin`.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    dv_pod::plugin::complete_from_env();
    dv_pod::plugin::run(dv_pod::plugin::Cli::parse()).await
}
