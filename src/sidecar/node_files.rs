//! `dv-sidecar node-files`: the files of a stopped node, as a tar on stdout,
//! for `kubectl dv backup`. It runs in the backup's one-off pod (the
//! StatefulSet scaled to zero, so neither Charon nor the VC writes while it
//! reads) and is reached by `exec`, so the files travel only through the API
//! server to the user who may exec there: never a log, a volume of another
//! pod, or an object in the cluster. The ENR key is not among them: it lives
//! in its Secret, which the plugin reads with the user's own permissions.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;

use crate::backup::node::{DEFINITION, KEYS_DIR, LOCK, SLASHING_PROTECTION, is_deposit_data};

/// Where the node's files are in the one-off pod.
pub struct NodeFiles {
    /// Charon's cluster directory (`/charon-data/cluster`).
    pub cluster_dir: PathBuf,
    /// The interchange file the VC's export wrote.
    pub slashing_protection: PathBuf,
}

impl NodeFiles {
    /// Writes the tar, each file under its archive name: the lock, the
    /// definition if Charon kept one, the deposit data, every file of the key
    /// shares directory, and the slashing history.
    pub fn write_tar(&self, out: impl Write) -> anyhow::Result<()> {
        let mut tar = tar::Builder::new(out);
        let mut add = |name: &str, path: &Path| -> anyhow::Result<()> {
            let bytes = zeroize::Zeroizing::new(fs::read(path).with_context(|| format!("reading {}", path.display()))?);
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o600);
            header.set_cksum();
            tar.append_data(&mut header, name, bytes.as_slice()).with_context(|| format!("writing {name}"))
        };
        add(LOCK, &self.cluster_dir.join("cluster-lock.json"))?;
        let definition = self.cluster_dir.join("cluster-definition.json");
        if definition.exists() {
            add(DEFINITION, &definition)?;
        }
        for name in sorted_names(&self.cluster_dir)? {
            let archived = format!("charon/{name}");
            if is_deposit_data(&archived) {
                add(&archived, &self.cluster_dir.join(&name))?;
            }
        }
        let keys = self.cluster_dir.join("validator_keys");
        for name in sorted_names(&keys)? {
            add(&format!("{KEYS_DIR}/{name}"), &keys.join(&name))?;
        }
        add(SLASHING_PROTECTION, &self.slashing_protection)?;
        tar.into_inner().context("finishing the tar")?.flush().context("writing stdout")
    }
}

fn sorted_names(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tar_holds_the_node_files_under_their_archive_names_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = dir.path().join("cluster");
        fs::create_dir_all(cluster.join("validator_keys")).unwrap();
        for (name, text) in [
            ("cluster-lock.json", "{}"),
            ("deposit-data-32eth.json", "[]"),
            ("charon-enr-private-key", "secret"),
            ("validator_keys/keystore-0.json", "{}"),
            ("validator_keys/keystore-0.txt", "pw"),
        ] {
            fs::write(cluster.join(name), text).unwrap();
        }
        fs::write(dir.path().join("history.json"), "{}").unwrap();
        let files = NodeFiles { cluster_dir: cluster, slashing_protection: dir.path().join("history.json") };
        let mut tar = Vec::new();
        files.write_tar(&mut tar).unwrap();
        let names: Vec<String> = tar::Archive::new(tar.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "charon/cluster-lock.json",
                "charon/deposit-data-32eth.json",
                "charon/validator_keys/keystore-0.json",
                "charon/validator_keys/keystore-0.txt",
                "validator-client/slashing-protection.json"
            ]
        );
    }
}
