//! Kubeconfigs for tests of what happens when the cluster cannot be reached.

use std::path::{Path, PathBuf};

use super::process::free_port;

/// A kubeconfig in `dir` whose only context, `lab`, points at a server
/// that refuses connections (nothing listens on its port); returns the file
/// and the server's address.
pub fn refusing(dir: &Path) -> (PathBuf, String) {
    let server = format!("https://127.0.0.1:{}", free_port());
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n- name: lab\n  cluster:\n    server: \
             {server}\ncontexts:\n- name: lab\n  context:\n    cluster: lab\n    user: me\nusers:\n- name: me\n  \
             user:\n    token: t\n"
        ),
    )
    .unwrap();
    (path, server)
}
