//! Command-line front ends: the `kubectl-dv` command tree and the output
//! conventions (`--json` documents and exit codes) shared by every command.

pub mod demo;
pub mod kubectl_dv;
pub mod lock_verify;

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

/// The chart value that holds a private key. It may come from a values file
/// (mode 0600, `-f`) but never from a command line, where `ps`, shell history
/// and the wizard's log would see it.
const PRIVATE_KEY_VALUE: &str = "charon.enr.privateKey";

/// Refuses helm arguments that would put the ENR private key on a command line.
pub fn refuse_private_key_arguments<'a>(args: impl IntoIterator<Item = &'a String>) -> Result<(), String> {
    match args.into_iter().find(|arg| arg.contains(PRIVATE_KEY_VALUE)) {
        Some(_) => Err(format!(
            "{PRIVATE_KEY_VALUE} must not be given on the command line (process lists, shell history and logs would \
             see the key); put it in a values file passed with -f, or use charon.enr.existingSecret"
        )),
        None => Ok(()),
    }
}

/// Reports an error on stderr and returns the usage/I-O exit code.
pub fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_private_key_in_helm_arguments_is_refused_with_the_safe_ways_named() {
        let args = ["--set=network=hoodi".to_string(), "--set-string=charon.enr.privateKey=ab12".to_string()];
        let error = super::refuse_private_key_arguments(&args).unwrap_err();
        assert!(
            error.contains("values file") && error.contains("existingSecret") && !error.contains("ab12"),
            "{error}"
        );
        assert!(super::refuse_private_key_arguments(&args[..1]).is_ok());
    }
}
