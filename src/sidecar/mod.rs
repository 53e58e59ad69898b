//! `dv-sidecar`: the in-pod program's commands.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::obol_api::simulator::{Simulator, SimulatorConfig};

#[derive(Parser)]
#[command(name = "dv-sidecar", version = crate::VERSION, about = "In-pod helper for dv-pod")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Obol API simulator (for tests, `helm test` and the demo).
    MockApi {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3650")]
        listen: SocketAddr,
        /// JSON file with clusters to create and fault rules at start-up.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Number pages from 1 instead of 0.
        #[arg(long)]
        one_based_pages: bool,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    crate::logging::init_json();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "dv-sidecar failed");
            ExitCode::from(crate::cli::EXIT_USAGE)
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::MockApi { listen, state, one_based_pages } => {
            let mut config = match state {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                    serde_json::from_str::<SimulatorConfig>(&text)
                        .with_context(|| format!("{} is not a simulator state file", path.display()))?
                }
                None => SimulatorConfig::default(),
            };
            config.one_based_pages |= one_based_pages;
            let simulator = Simulator::new(&config)?;
            let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
            tracing::info!(address = %listener.local_addr()?, "Obol API simulator listening");
            tokio::select! {
                served = simulator.serve(listener) => served.context("serving")?,
                _ = tokio::signal::ctrl_c() => {}
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
