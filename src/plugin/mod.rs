//! The kubectl plugin (`kubectl dv ...`): its command tree, the flags each
//! command takes (kubectl's own connection flags, only where a command talks
//! to the cluster), and one module per command. Exit codes follow
//! [`crate::exit`]; `-o json|yaml` (and `--json`) follow [`output`].

mod archive_key;
mod backup;
mod complete;
mod definition_verify;
mod enr;
mod install;
pub mod lock_verify;
mod logs;
mod output;
mod restore;
mod status;

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

pub use complete::{complete_for_kubectl, complete_from_env};
pub use definition_verify::VerifyDocument;
pub use enr::EnrDocument;

use crate::cluster::{
    KubeFlags,
    release::{ReleaseNames, observe},
};

const EXAMPLES: &str = "\
Examples:
  kubectl dv install --operator-address 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed --network hoodi -n dv
  kubectl dv status -n dv --watch
  kubectl dv status -A
  kubectl dv enr -n dv --qr
  kubectl dv lock verify -n dv
  kubectl dv backup -n dv -o dv-node.age
  kubectl dv restore dv-node.age --release dv -n dv-restored
  kubectl dv wizard";

#[derive(Parser)]
#[command(
    name = "kubectl-dv",
    bin_name = "kubectl dv",
    version = crate::VERSION,
    about = "Install and follow a dv-pod distributed validator",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Install(install::InstallArgs),
    Enr(enr::EnrArgs),
    Status(status::StatusArgs),
    Logs(logs::LogsArgs),
    Backup(backup::BackupArgs),
    Restore(restore::RestoreArgs),
    /// Open the interactive wizard: runs dv-tui (installed beside kubectl-dv,
    /// or on PATH) with these arguments; `kubectl dv wizard --help` shows them.
    #[command(
        disable_help_flag = true,
        after_help = "Examples:\n  kubectl dv wizard -n dv\n  kubectl dv wizard --kubeconfig ~/.kube/prod --release dv-2"
    )]
    Wizard {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    Demo(DemoArgs),
    /// Print the shell completion script (bash, zsh or fish).
    #[command(
        visible_alias = "completions",
        after_help = "Examples:\n  kubectl dv completion bash > ~/.local/share/bash-completion/completions/kubectl-dv\n  kubectl dv completion zsh > \"${fpath[1]}/_kubectl-dv\"\n  kubectl dv completion fish > ~/.config/fish/completions/kubectl-dv.fish\n  source <(kubectl dv completion bash)     # this bash only\n\n`kubectl dv <TAB>` (kubectl 1.26+) uses the kubectl_complete-dv program installed beside kubectl-dv."
    )]
    Completion {
        shell: complete::Shell,
    },
    /// Work with cluster definitions.
    Definition {
        #[command(subcommand)]
        command: DefinitionCommand,
    },
    /// Work with cluster locks.
    Lock {
        #[command(subcommand)]
        command: LockCommand,
    },
}

#[derive(Subcommand)]
enum DefinitionCommand {
    Verify(definition_verify::VerifyArgs),
}

#[derive(Subcommand)]
enum LockCommand {
    Verify(lock_verify::LockVerifyArgs),
}

/// Which release a command works on and how to reach its cluster.
#[derive(Args, Debug, Clone)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub kube: KubeFlags,
    /// The Helm release name.
    #[arg(long, default_value = "dv-pod", value_name = "NAME")]
    pub release: String,
}

/// A local formation: simulated Launchpad, four real Charon nodes. Opens the
/// wizard on a terminal; prints progress otherwise.
#[derive(Args)]
#[command(after_help = "Examples:\n  kubectl dv demo\n  kubectl dv demo -o json --signing-window-seconds 20")]
struct DemoArgs {
    /// Print dv-pod.demo/v1 JSON lines and exit when all nodes are healthy.
    #[arg(short = 'o', long = "output", value_parser = ["json"])]
    output: Option<String>,
    /// Same as -o json.
    #[arg(long, conflicts_with = "output")]
    json: bool,
    /// The charon binary (default: the test bed's, else PATH).
    #[arg(long, value_hint = clap::ValueHint::ExecutablePath)]
    charon: Option<PathBuf>,
    /// Over how many seconds the demo's other three operators sign after you.
    #[arg(long, default_value_t = 60)]
    signing_window_seconds: u64,
}

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Install(args) => install::run(args).await,
        Command::Enr(args) => enr::run(args).await,
        Command::Status(args) => status::run(args).await,
        Command::Logs(args) => logs::run(args).await,
        Command::Backup(args) => backup::run(args).await,
        Command::Restore(args) => restore::run(args).await,
        Command::Wizard { args } => run_wizard(args),
        Command::Demo(demo) => {
            let mut args =
                vec!["--demo".to_string(), format!("--signing-window-seconds={}", demo.signing_window_seconds)];
            args.extend(demo.charon.map(|path| format!("--charon={}", path.display())));
            args.extend((demo.json || demo.output.is_some()).then(|| "--json".to_string()));
            run_wizard(args)
        }
        Command::Completion { shell } => complete::print_registration(shell),
        Command::Definition { command: DefinitionCommand::Verify(args) } => definition_verify::run(args).await,
        Command::Lock { command: LockCommand::Verify(args) } => lock_verify::run(args).await,
    }
}

/// Replaces this process with `dv-tui` (the wizard and the demo are their
/// own program: the plugin hands over the terminal, signals and exit code).
fn run_wizard(args: Vec<String>) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let beside = std::env::current_exe().ok().map(|exe| exe.with_file_name("dv-tui")).filter(|p| p.is_file());
    let program = beside.unwrap_or_else(|| PathBuf::from("dv-tui"));
    let error = std::process::Command::new(&program).args(args).exec();
    crate::exit::fail(format!(
        "cannot run {}: {error} (install dv-tui next to kubectl-dv or on PATH)",
        program.display()
    ))
}

/// A reachable cluster: the connection, checked with one request, so that
/// every command fails the same way (exit 2, the server named) when the
/// cluster cannot be reached.
async fn reach(kube: &KubeFlags) -> anyhow::Result<crate::cluster::Connection> {
    let connection = crate::cluster::connect(kube).await?;
    connection.reach().await?;
    Ok(connection)
}

/// Runs `work` with a client for the target and the release's names.
async fn with_release<T, F, Fut>(target: &ReleaseArgs, work: F) -> anyhow::Result<T>
where
    F: FnOnce(kube::Client, ReleaseNames) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let connection = reach(&target.kube).await?;
    let names = ReleaseNames::find(&connection.client, &connection.namespace, &target.release).await;
    work(connection.client, names).await
}

/// Reads a release once, for commands that show one.
async fn observe_release(target: &ReleaseArgs) -> anyhow::Result<crate::cluster::release::ReleaseView> {
    with_release(target, |client, names| async move { Ok(observe(&client, &names).await) }).await
}

/// The outcome of a command that either worked or failed for a usage or
/// environment reason.
fn finish(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => crate::exit::fail(format!("{message:#}")),
    }
}
