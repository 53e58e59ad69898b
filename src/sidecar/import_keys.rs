//! `dv-sidecar import-keys`: lays out Charon's key shares
//! (`keystore-N.json` + `keystore-N.txt`) the way each validator client reads
//! them. Incremental: keys already laid out are left as they are, new ones
//! are added, and nothing else in the client's data directory (above all its
//! slashing-protection database) is touched. Files are written to a temp
//! name and renamed, so a crash never leaves half a keystore.
//!
//! | client | layout under the VC data directory |
//! |---|---|
//! | lighthouse | `validators/0x<pk>/voting-keystore.json`, `validators/0x<pk>/password.txt`, entries in `validators/validator_definitions.yml` (run with `--disable-auto-discover`) |
//! | teku | `keys/0x<pk>.json` paired with `passwords/0x<pk>.txt` (`--validator-keys=keys:passwords`) |
//! | prysm | one wallet, `prysm-wallet/direct/accounts/all-accounts.keystore.json`, sealed with `prysm-wallet/password.txt` (see `prysm_wallet`) |
//! | nimbus | `validators/0x<pk>/keystore.json`, `secrets/0x<pk>` |
//! | lodestar | `keystores/0x<pk>/voting-keystore.json`, `secrets/0x<pk>` |

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};

pub use crate::validator_client::ValidatorClient;

/// One key share as Charon wrote it.
#[derive(Clone)]
pub struct KeyShare {
    /// `0x`-prefixed lower-case hex of the share's BLS public key.
    pub pubkey: String,
    pub keystore: Vec<u8>,
    pub password: zeroize::Zeroizing<Vec<u8>>,
}

/// Shows the public key only: the password must never reach a log line.
impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyShare").field("pubkey", &self.pubkey).finish_non_exhaustive()
    }
}

/// Reads every `keystore-*.json` with its `.txt` password from `dir`.
pub fn read_key_shares(dir: &Path) -> anyhow::Result<Vec<KeyShare>> {
    let mut shares = Vec::new();
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading key shares from {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("keystore-"))
        })
        .collect();
    names.sort();
    for path in names {
        let keystore = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_slice(&keystore)
            .with_context(|| format!("{} is not an EIP-2335 keystore", path.display()))?;
        let pubkey = value["pubkey"]
            .as_str()
            .filter(|pk| pk.len() == 96 && pk.bytes().all(|b| b.is_ascii_hexdigit()))
            .with_context(|| format!("{} has no 48-byte pubkey", path.display()))?
            .to_ascii_lowercase();
        let password_path = path.with_extension("txt");
        let password = zeroize::Zeroizing::new(
            fs::read(&password_path)
                .with_context(|| format!("the password file {} is missing", password_path.display()))?,
        );
        shares.push(KeyShare { pubkey: format!("0x{pubkey}"), keystore, password });
    }
    if shares.is_empty() {
        bail!("no keystore-*.json key shares in {}", dir.display());
    }
    Ok(shares)
}

impl KeyShare {
    /// The share's BLS secret key, decrypted with its password.
    pub fn secret_key(&self) -> anyhow::Result<zeroize::Zeroizing<Vec<u8>>> {
        #[derive(serde::Deserialize)]
        struct Envelope {
            crypto: crate::keystore::Crypto,
        }
        let envelope: Envelope = serde_json::from_slice(&self.keystore)
            .with_context(|| format!("the keystore of {} has no EIP-2335 crypto object", self.pubkey))?;
        let password = std::str::from_utf8(&self.password)
            .map_err(|_| anyhow::anyhow!("the password of {} is not UTF-8", self.pubkey))?;
        let secret =
            envelope.crypto.decrypt(password).with_context(|| format!("opening the key share {}", self.pubkey))?;
        anyhow::ensure!(
            secret.len() == 32,
            "the key share {} holds {} bytes, not a 32-byte BLS key",
            self.pubkey,
            secret.len()
        );
        Ok(secret)
    }
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub added: Vec<String>,
    pub kept: Vec<String>,
}

/// Lays out `shares` for `client` under `vc_dir`.
pub fn import(client: ValidatorClient, shares: &[KeyShare], vc_dir: &Path) -> anyhow::Result<ImportSummary> {
    let layout = match client {
        ValidatorClient::Prysm => return super::prysm_wallet::add_shares(vc_dir, shares),
        ValidatorClient::Lighthouse => lighthouse_files,
        ValidatorClient::Teku => teku_files,
        ValidatorClient::Nimbus => nimbus_files,
        ValidatorClient::Lodestar => lodestar_files,
    };
    let mut summary = ImportSummary::default();
    for share in shares {
        let pk = &share.pubkey;
        let (keystore, password) = layout(vc_dir, pk);
        // The password goes first: a keystore a client can see always has one.
        let wrote_password = write_new(&password, &share.password)?;
        let wrote_keystore = write_new(&keystore, &share.keystore)?;
        if client == ValidatorClient::Lighthouse {
            add_lighthouse_definition(vc_dir, pk, &keystore, &password)?;
        }
        if wrote_keystore || wrote_password { summary.added.push(pk.clone()) } else { summary.kept.push(pk.clone()) }
    }
    Ok(summary)
}

/// Where each file-reading client finds a share's keystore and password.
fn lighthouse_files(vc_dir: &Path, pk: &str) -> (PathBuf, PathBuf) {
    let dir = vc_dir.join("validators").join(pk);
    (dir.join("voting-keystore.json"), dir.join("password.txt"))
}

fn teku_files(vc_dir: &Path, pk: &str) -> (PathBuf, PathBuf) {
    (vc_dir.join("keys").join(format!("{pk}.json")), vc_dir.join("passwords").join(format!("{pk}.txt")))
}

fn nimbus_files(vc_dir: &Path, pk: &str) -> (PathBuf, PathBuf) {
    (vc_dir.join("validators").join(pk).join("keystore.json"), vc_dir.join("secrets").join(pk))
}

fn lodestar_files(vc_dir: &Path, pk: &str) -> (PathBuf, PathBuf) {
    (vc_dir.join("keystores").join(pk).join("voting-keystore.json"), vc_dir.join("secrets").join(pk))
}

fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<bool> {
    crate::files::write_new(path, bytes, 0o600).with_context(|| format!("writing {}", path.display()))
}

/// Appends an entry for `pk` to Lighthouse's `validator_definitions.yml`
/// unless one exists. Existing entries (which Lighthouse itself edits, e.g.
/// to disable a validator) are never rewritten.
fn add_lighthouse_definition(vc_dir: &Path, pk: &str, keystore: &Path, password: &Path) -> anyhow::Result<()> {
    let path = vc_dir.join("validators").join("validator_definitions.yml");
    let existing = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        // Rewriting from nothing would drop the entries Lighthouse keeps there.
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if existing.contains(&format!("voting_public_key: \"{pk}\"")) {
        return Ok(());
    }
    let mut text = if existing.trim().is_empty() { "---\n".to_string() } else { existing };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "- enabled: true\n  voting_public_key: \"{pk}\"\n  type: local_keystore\n  voting_keystore_path: \"{}\"\n  voting_keystore_password_path: \"{}\"\n",
        keystore.display(),
        password.display()
    ));
    crate::files::replace(&path, text.as_bytes(), 0o600).with_context(|| format!("updating {}", path.display()))
}
