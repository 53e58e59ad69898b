//! Which validator-client volume and client a node's key shares are bound
//! to. A VC's slashing-protection database lives on its own volume; every
//! client creates an empty one when none exists (Lighthouse with
//! `--init-slashing-protection`, the others silently). An empty database in
//! front of keys that have signed before is how validators get slashed, so
//! before keys are laid out the sidecar checks that the VC volume and client
//! are the ones the keys were first given to.
//!
//! The binding is two small files: `vc-volume-id` on the VC volume (a random
//! id written on first import) and `vc-binding.json` beside the key shares
//! on Charon's volume (that id and the client). They disagree only when the
//! VC volume was replaced or the client type changed; the operator then moves
//! the slashing history over (EIP-3076 interchange) and removes the binding
//! file to confirm.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::import_keys::ValidatorClient;
use crate::files;

const VOLUME_ID_FILE: &str = "vc-volume-id";
const BINDING_FILE: &str = "vc-binding.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Binding {
    volume_id: String,
    client: ValidatorClient,
}

/// Why keys must not be laid out on this VC volume.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    #[error(
        "the validator client's data volume is not the one these key shares were first imported into \
         (expected volume id {expected}, found {found}); its slashing-protection history would start empty. \
         Restore the original volume, or import the old slashing-protection history (EIP-3076) into {client:?} \
         and then delete {binding} to confirm"
    )]
    VolumeReplaced { expected: String, found: String, client: ValidatorClient, binding: PathBuf },
    #[error(
        "these key shares were imported for {bound:?}, now the validator client is {now:?}; {now:?} would start \
         with no slashing-protection history. Export it from {bound:?} and import it into {now:?} (EIP-3076), \
         then delete {binding} to confirm"
    )]
    ClientChanged { bound: ValidatorClient, now: ValidatorClient, binding: PathBuf },
}

/// Checks (and on first use records) that `vc_dir` and `client` are the
/// volume and client the key shares in `binding_dir` belong to.
pub fn check_and_bind(binding_dir: &Path, vc_dir: &Path, client: ValidatorClient) -> anyhow::Result<()> {
    let binding_path = binding_dir.join(BINDING_FILE);
    let volume_id_path = vc_dir.join(VOLUME_ID_FILE);
    let volume_id = read_optional(&volume_id_path)?.map(|id| id.trim().to_string());
    let binding: Option<Binding> = read_optional(&binding_path)?
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .with_context(|| format!("{} is not a dv-pod VC binding; delete it to rebind", binding_path.display()))?;

    match (binding, volume_id) {
        (Some(bound), Some(id)) if bound.volume_id == id && bound.client == client => Ok(()),
        (Some(bound), Some(id)) if bound.volume_id == id => {
            Err(BindingError::ClientChanged { bound: bound.client, now: client, binding: binding_path }.into())
        }
        (Some(bound), found) => Err(BindingError::VolumeReplaced {
            expected: bound.volume_id,
            found: found.unwrap_or_else(|| "none (a new volume)".into()),
            client,
            binding: binding_path,
        }
        .into()),
        (None, id) => {
            let volume_id = match id {
                Some(id) => id,
                None => {
                    let id = hex::encode(rand::random::<[u8; 16]>());
                    write_new(&volume_id_path, id.as_bytes())?;
                    id
                }
            };
            write_new(&binding_path, &serde_json::to_vec(&Binding { volume_id, client })?)
        }
    }
}

fn read_optional(path: &Path) -> anyhow::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let written = files::write_new(path, bytes, 0o644).with_context(|| format!("creating {}", path.display()))?;
    anyhow::ensure!(written, "{} appeared while it was being created; run again", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let (charon, vc) = (root.path().join("charon"), root.path().join("vc"));
        (root, charon, vc)
    }

    #[test]
    fn the_first_import_binds_and_later_imports_with_the_same_volume_and_client_pass() {
        let (_root, charon, vc) = dirs();
        check_and_bind(&charon, &vc, ValidatorClient::Lighthouse).unwrap();
        assert!(vc.join(VOLUME_ID_FILE).is_file() && charon.join(BINDING_FILE).is_file());
        check_and_bind(&charon, &vc, ValidatorClient::Lighthouse).unwrap();
    }

    #[test]
    fn a_replaced_vc_volume_is_refused_until_the_binding_is_removed() {
        let (_root, charon, vc) = dirs();
        check_and_bind(&charon, &vc, ValidatorClient::Teku).unwrap();
        fs::remove_dir_all(&vc).unwrap();
        let error = check_and_bind(&charon, &vc, ValidatorClient::Teku).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error.downcast_ref(), Some(BindingError::VolumeReplaced { .. })), "{message}");
        assert!(message.contains("a new volume") && message.contains("vc-binding.json"), "{message}");
        assert!(!vc.join(VOLUME_ID_FILE).exists(), "a refused check writes nothing");

        fs::remove_file(charon.join(BINDING_FILE)).unwrap();
        check_and_bind(&charon, &vc, ValidatorClient::Teku).unwrap();
    }

    #[test]
    fn a_changed_client_type_is_refused_with_the_history_move_named() {
        let (_root, charon, vc) = dirs();
        check_and_bind(&charon, &vc, ValidatorClient::Lighthouse).unwrap();
        let message = check_and_bind(&charon, &vc, ValidatorClient::Prysm).unwrap_err().to_string();
        assert!(
            message.contains("Lighthouse") && message.contains("Prysm") && message.contains("EIP-3076"),
            "{message}"
        );
    }

    #[test]
    fn an_existing_volume_id_is_kept_when_the_binding_is_recreated() {
        let (_root, charon, vc) = dirs();
        check_and_bind(&charon, &vc, ValidatorClient::Nimbus).unwrap();
        let id = fs::read(vc.join(VOLUME_ID_FILE)).unwrap();
        fs::remove_file(charon.join(BINDING_FILE)).unwrap();
        check_and_bind(&charon, &vc, ValidatorClient::Lodestar).unwrap();
        assert_eq!(fs::read(vc.join(VOLUME_ID_FILE)).unwrap(), id);
    }
}
