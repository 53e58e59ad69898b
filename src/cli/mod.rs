//! Command-line front ends: the `kubectl-dv` command tree and the output
//! conventions (`--json` documents and exit codes) shared by every command.

pub mod demo;
pub mod kubectl_dv;

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

/// Which release a command works on; global flags of every command.
#[derive(Args, Debug, Clone)]
pub struct ReleaseTarget {
    /// Namespace of the release (default: the kube context's).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// The kube context (default: the current one).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The Helm release name.
    #[arg(long, global = true, default_value = "dv-pod")]
    pub release: String,
}

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
/// Exit code when the input was read but is invalid (e.g. a bad definition).
pub const EXIT_INVALID: u8 = 1;
/// Exit code for usage and I/O errors.
pub const EXIT_USAGE: u8 = 2;

/// Prints a `--json` document on stdout, one line, with its schema name.
pub fn print_json<T: Serialize>(document: &T) -> ExitCode {
    match serde_json::to_string(document) {
        Ok(text) => {
            println!("{text}");
            ExitCode::from(EXIT_OK)
        }
        Err(e) => fail(format!("cannot encode the JSON output: {e}")),
    }
}

/// Reports an error on stderr and returns the usage/I-O exit code.
pub fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}
