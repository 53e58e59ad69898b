//! The kubectl plugin (`kubectl dv ...`): its command tree and the release
//! each command works on. Exit codes and `--json` follow [`crate::exit`].

pub mod kubectl_dv;
pub mod lock_verify;

use clap::Args;

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
