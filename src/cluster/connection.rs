//! Reaching the cluster the way kubectl does: the same flags (`--kubeconfig`,
//! `--context`, `-n`, `--as`, `--as-group`), the same kubeconfig search, and
//! one error for "the cluster cannot be reached" that names the server and
//! the cause, so every command and the wizard's preflight report it alike.
//!
//! The flags are a clap type although this is an adapter: the wizard and the
//! plugin both take them, and apps may not share code with each other.

use std::path::PathBuf;

use kube::{
    Client,
    config::{KubeConfigOptions, Kubeconfig},
};

/// kubectl's connection flags.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeFlags {
    /// Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace of the release (default: the context's namespace).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// User to impersonate for the operation, as kubectl --as.
    #[arg(long = "as", value_name = "USER")]
    pub impersonate: Option<String>,
    /// Group to impersonate (repeatable), as kubectl --as-group.
    #[arg(long = "as-group", value_name = "GROUP", requires = "impersonate")]
    pub impersonate_groups: Vec<String>,
}

impl KubeFlags {
    /// The same flags as arguments, for handing them to another program.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(path) = &self.kubeconfig {
            args.push(format!("--kubeconfig={}", path.display()));
        }
        args.extend(self.context.iter().map(|c| format!("--context={c}")));
        args.extend(self.namespace.iter().map(|n| format!("--namespace={n}")));
        args.extend(self.impersonate.iter().map(|u| format!("--as={u}")));
        args.extend(self.impersonate_groups.iter().map(|g| format!("--as-group={g}")));
        args
    }
}

/// A client for one kubeconfig context.
#[derive(Clone)]
pub struct Connection {
    pub client: Client,
    /// The context's name.
    pub context: String,
    /// The namespace to work in: `-n`, else the context's.
    pub namespace: String,
    /// The API server's address, for messages.
    pub server: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no kubeconfig: {searched} does not exist; point --kubeconfig or KUBECONFIG at your cluster's kubeconfig")]
    NoKubeconfig { searched: String },
    #[error("cannot read the kubeconfig {path}: {cause}; fix the file or point --kubeconfig at another one")]
    BadKubeconfig { path: String, cause: String },
    #[error("the kubeconfig has no context {name:?} (it has: {known}); pick one with --context")]
    UnknownContext { name: String, known: String },
    #[error("cannot use context {context:?} of the kubeconfig: {cause}")]
    BadContext { context: String, cause: String },
    #[error(
        "cannot reach the Kubernetes API server {server} (context {context:?}): {cause}; check that the cluster is \
         up and that the kubeconfig's server address is right"
    )]
    Unreachable { server: String, context: String, cause: String },
    #[error(
        "the Kubernetes API server {server} refused the credentials of context {context:?}: {cause}; log in again \
         or pick another context"
    )]
    Unauthorized { server: String, context: String, cause: String },
}

impl ConnectError {
    /// Whether this is about the kubeconfig rather than the server.
    pub fn is_kubeconfig(&self) -> bool {
        matches!(self, Self::NoKubeconfig { .. } | Self::BadKubeconfig { .. } | Self::UnknownContext { .. })
    }
}

/// Reads the kubeconfig the flags name and builds a client; the server is
/// not contacted yet (see [`Connection::reach`]).
pub async fn connect(flags: &KubeFlags) -> Result<Connection, ConnectError> {
    let kubeconfig = read_kubeconfig(flags.kubeconfig.as_ref())?;
    let context = flags.context.clone().or(kubeconfig.current_context.clone()).unwrap_or_default();
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        let known: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(ConnectError::UnknownContext {
            name: context,
            known: if known.is_empty() { "none".into() } else { known.join(", ") },
        });
    }
    let options = KubeConfigOptions { context: Some(context.clone()), ..Default::default() };
    let bad_context = |cause: String| ConnectError::BadContext { context: context.clone(), cause };
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(|e| bad_context(chain(&e)))?;
    if let Some(user) = &flags.impersonate {
        config.auth_info.impersonate = Some(user.clone());
        if !flags.impersonate_groups.is_empty() {
            config.auth_info.impersonate_groups = Some(flags.impersonate_groups.clone());
        }
    }
    let namespace = flags.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let client = Client::try_from(config).map_err(|e| bad_context(chain(&e)))?;
    Ok(Connection { client, context, namespace, server })
}

/// The kubeconfig files kubectl would read: `--kubeconfig`, else every file
/// of `$KUBECONFIG` (merged), else `~/.kube/config`.
fn read_kubeconfig(path: Option<&PathBuf>) -> Result<Kubeconfig, ConnectError> {
    let paths: Vec<PathBuf> = match (path, std::env::var_os("KUBECONFIG")) {
        (Some(path), _) => vec![path.clone()],
        (None, Some(list)) if !list.is_empty() => std::env::split_paths(&list).collect(),
        _ => vec![home_kubeconfig()],
    };
    let existing: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
    if existing.is_empty() {
        let searched: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(ConnectError::NoKubeconfig { searched: searched.join(", ") });
    }
    let mut merged: Option<Kubeconfig> = None;
    for path in existing {
        let read = Kubeconfig::read_from(path)
            .map_err(|e| ConnectError::BadKubeconfig { path: path.display().to_string(), cause: chain(&e) })?;
        merged = Some(match merged {
            None => read,
            Some(so_far) => so_far
                .merge(read)
                .map_err(|e| ConnectError::BadKubeconfig { path: path.display().to_string(), cause: chain(&e) })?,
        });
    }
    Ok(merged.unwrap_or_default())
}

fn home_kubeconfig() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".kube").join("config")
}

impl Connection {
    /// Asks the API server for its version: the one round trip that tells
    /// "unreachable" and "not let in" apart from everything later.
    pub async fn reach(&self) -> Result<String, ConnectError> {
        match self.client.apiserver_version().await {
            Ok(info) => Ok(info.git_version),
            Err(error) => Err(self.classify(&error)),
        }
    }

    /// The connection-level meaning of an error from any request, if it has one.
    pub fn classify(&self, error: &kube::Error) -> ConnectError {
        let (server, context) = (self.server.clone(), self.context.clone());
        match error {
            kube::Error::Api(status) if status.code == 401 => {
                ConnectError::Unauthorized { server, context, cause: status.message.clone() }
            }
            _ => ConnectError::Unreachable { server, context, cause: cause_of(error) },
        }
    }
}

/// An error's own message and its sources', outermost first, each left out
/// when an outer one already says it.
fn messages(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut messages: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(inner) = source {
        let message = inner.to_string();
        if !messages.iter().any(|m| m.contains(&message)) {
            messages.push(message);
        }
        source = inner.source();
    }
    messages
}

/// The innermost causes of an error, which say what happened ("Connection
/// refused"), where kube's own text says only where ("client error (Connect)").
fn cause_of(error: &(dyn std::error::Error + 'static)) -> String {
    let messages = messages(error);
    messages[messages.len().saturating_sub(2)..].join(": ")
}

/// The whole chain, for errors of the kubeconfig where every level helps.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    messages(error).join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(server: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters:\n- name: c\n  cluster:\n    server: {server}\n\
             contexts:\n- name: a\n  context:\n    cluster: c\n    user: u\n    namespace: team\n\
             - name: b\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n"
        )
    }

    fn flags_for(file: &std::path::Path) -> KubeFlags {
        KubeFlags { kubeconfig: Some(file.to_path_buf()), ..KubeFlags::default() }
    }

    #[tokio::test]
    async fn a_missing_kubeconfig_names_the_file_and_the_ways_to_point_at_one() {
        let flags = KubeFlags { kubeconfig: Some("/nonexistent/kubeconfig".into()), ..KubeFlags::default() };
        let error = connect(&flags).await.err().unwrap();
        assert!(error.is_kubeconfig());
        let text = error.to_string();
        assert!(text.contains("/nonexistent/kubeconfig") && text.contains("--kubeconfig"), "{text}");
    }

    #[tokio::test]
    async fn an_unknown_context_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, kubeconfig("https://127.0.0.1:1")).unwrap();
        let flags = KubeFlags { context: Some("prod".into()), ..flags_for(&file) };
        let text = connect(&flags).await.err().unwrap().to_string();
        assert!(text.contains("\"prod\"") && text.contains("a, b"), "{text}");
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_server_and_says_refused() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, kubeconfig(&format!("https://127.0.0.1:{port}"))).unwrap();
        let connection = connect(&flags_for(&file)).await.unwrap();
        assert_eq!(connection.namespace, "team", "the context's namespace is the default");
        let text = connection.reach().await.unwrap_err().to_string();
        assert!(text.contains(&format!("https://127.0.0.1:{port}")), "{text}");
        assert!(text.to_lowercase().contains("refused"), "{text}");
    }

    #[test]
    fn the_flags_pass_on_as_the_same_arguments() {
        let flags = KubeFlags {
            kubeconfig: Some("/k".into()),
            context: Some("c".into()),
            namespace: Some("n".into()),
            impersonate: Some("u".into()),
            impersonate_groups: vec!["g".into()],
        };
        assert_eq!(flags.to_args(), ["--kubeconfig=/k", "--context=c", "--namespace=n", "--as=u", "--as-group=g"]);
    }
}
