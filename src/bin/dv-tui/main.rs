//! `dv-tui`: the interactive wizard. All logic lives in `dv_pod::wizard`.

use clap::Parser;

#[derive(Parser)]
#[command(name = "dv-tui", version = dv_pod::VERSION, about = "Guide a dv-pod distributed validator from install to healthy")]
struct Cli {
    #[command(flatten)]
    target: dv_pod::plugin::ReleaseTarget,
    #[command(flatten)]
    wizard: dv_pod::wizard::WizardArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    dv_pod::plugin::kubectl_dv::open_wizard(cli.target, cli.wizard, false)
}
