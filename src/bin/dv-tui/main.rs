//! `dv-tui`: the interactive wizard (`dv_pod::wizard`); a demo without a
//! terminal, or with `--json`, prints lines instead (`dv_pod::demo`).

use std::io::IsTerminal;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = dv_pod::wizard::Cli::parse();
    let args = &cli.wizard;
    if args.demo && (args.json || !std::io::stdout().is_terminal()) {
        return dv_pod::demo::run(args.charon.clone(), args.signing_window_seconds, args.json).await;
    }
    dv_pod::wizard::main(cli).await
}
