//! `kubectl-dv`: the kubectl plugin (`kubectl dv ...`).

use clap::Parser;

#[derive(Parser)]
#[command(name = "kubectl-dv", version = dv_pod::VERSION, about = "Install and follow a dv-pod distributed validator")]
struct Cli {}

fn main() {
    Cli::parse();
}
