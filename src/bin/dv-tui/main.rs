//! `dv-tui`: the interactive wizard. All logic lives in `dv_pod::tui`.

use clap::Parser;

#[derive(Parser)]
#[command(name = "dv-tui", version = dv_pod::VERSION, about = "Guide a dv-pod distributed validator from install to healthy")]
struct Cli {
    #[command(flatten)]
    target: dv_pod::cli::ReleaseTarget,
    #[command(flatten)]
    wizard: dv_pod::tui::WizardArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    dv_pod::cli::kubectl_dv::open_wizard(cli.target, cli.wizard, false)
}
