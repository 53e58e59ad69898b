//! `dv-sidecar`: the in-pod program. Logic lives in `dv_pod::sidecar`.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    dv_pod::sidecar::run(dv_pod::sidecar::Cli::parse()).await
}
