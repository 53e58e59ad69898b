//! `kubectl-dv`: the kubectl plugin (`kubectl dv ...`). Logic lives in
//! `dv_pod::cli::kubectl_dv`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    dv_pod::cli::kubectl_dv::run(dv_pod::cli::kubectl_dv::Cli::parse())
}
