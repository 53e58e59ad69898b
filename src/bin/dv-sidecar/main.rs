//! `dv-sidecar`: the in-pod program (ENR job, DKG init container, key import).

use clap::Parser;

#[derive(Parser)]
#[command(name = "dv-sidecar", version = dv_pod::VERSION, about = "In-pod helper for dv-pod")]
struct Cli {}

fn main() {
    Cli::parse();
}
