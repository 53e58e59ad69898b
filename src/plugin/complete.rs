//! Shell completion from the command tree itself (clap_complete's engine),
//! so subcommands, flags and their values never drift from what the plugin
//! accepts. Three ways in:
//! - `kubectl dv completion SHELL` prints the shell's registration, which
//!   makes the shell call `kubectl-dv` with `COMPLETE=<shell>` set
//!   ([`complete_from_env`], run first thing by the binary);
//! - kubectl 1.26+ completes `kubectl dv ...` by running
//!   `kubectl_complete-dv WORDS...` and reading cobra's `__complete`
//!   answer: one candidate per line, then `:<directive>`
//!   ([`complete_for_kubectl`]).

use std::{ffi::OsString, io::Write, process::ExitCode};

use clap::CommandFactory;
use clap_complete::env::EnvCompleter;

use super::Cli;

/// The program the shells call back, found on PATH like kubectl finds it.
const PROGRAM: &str = "kubectl-dv";
/// The environment variable that turns a run into a completion request.
const VARIABLE: &str = "COMPLETE";
/// Cobra's ShellCompDirectiveNoFileComp: the candidates are complete (file
/// names are among them when a value is a path).
const NO_FILE_COMPLETION: u8 = 4;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

fn command() -> clap::Command {
    Cli::command().bin_name(PROGRAM)
}

/// Answers a completion request when the shell made one (`COMPLETE` set) and
/// exits; returns otherwise.
pub fn complete_from_env() {
    clap_complete::CompleteEnv::with_factory(command).var(VARIABLE).bin(PROGRAM).completer(PROGRAM).complete();
}

pub fn print_registration(shell: Shell) -> ExitCode {
    let completer: &dyn EnvCompleter = match shell {
        Shell::Bash => &clap_complete::env::Bash,
        Shell::Zsh => &clap_complete::env::Zsh,
        Shell::Fish => &clap_complete::env::Fish,
    };
    let mut script = Vec::new();
    if let Err(e) = completer.write_registration(VARIABLE, PROGRAM, PROGRAM, PROGRAM, &mut script) {
        return crate::exit::fail(format!("cannot write the completion script: {e}"));
    }
    match std::io::stdout().write_all(&script) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::exit::fail(format!("cannot write the completion script: {e}")),
    }
}

/// `kubectl_complete-dv WORDS...`: the words after `kubectl dv`, the last
/// one being completed (empty for a new word).
pub fn complete_for_kubectl(words: Vec<OsString>) -> ExitCode {
    let mut args = vec![OsString::from(PROGRAM)];
    args.extend(words);
    if args.len() == 1 {
        args.push(OsString::new());
    }
    let index = args.len() - 1;
    let current_dir = std::env::current_dir().ok();
    let candidates = match clap_complete::engine::complete(&mut command(), args, index, current_dir.as_deref()) {
        Ok(candidates) => candidates,
        Err(e) => return crate::exit::fail(format!("cannot complete: {e}")),
    };
    let mut out = String::new();
    for candidate in candidates.iter().filter(|c| !c.is_hide_set()) {
        out.push_str(&candidate.get_value().to_string_lossy());
        if let Some(help) = candidate.get_help() {
            let help = help.to_string();
            out.push('\t');
            out.push_str(help.lines().next().unwrap_or_default());
        }
        out.push('\n');
    }
    out.push_str(&format!(":{NO_FILE_COMPLETION}\n"));
    match std::io::stdout().write_all(out.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::exit::fail(format!("cannot write the completions: {e}")),
    }
}
