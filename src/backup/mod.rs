//! A node's backup archive (issue 15): everything a node needs to rejoin its
//! cluster, in one age-encrypted tar. It holds the ENR private key, the lock
//! and definition, the key shares with their passwords, the deposit data and
//! the validator client's slashing-protection history, with a manifest of
//! what it holds.
//!
//! This module is the format (sealing and opening) and, in [`node`], what a
//! node's archive must hold. Reading the pieces from a cluster and putting
//! them back is the plugin's job.
//!
//! Everything is checked on opening. Each file's SHA-256 must match the
//! manifest. Unknown names are refused. Whose node an archive is, is
//! [`node::verify_node`]'s and the restore's question.

pub mod node;

use std::{
    collections::BTreeMap,
    io::{Read, Write},
};

use age::secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const SCHEMA: &str = "dv-pod.backup/v1";
const MANIFEST: &str = "manifest.json";
/// Larger than any real node's files (a lock with thousands of validators is
/// a few MB); a bigger tar entry means the archive is not ours.
const MAX_ENTRY_BYTES: u64 = 256 << 20;

/// What an archive holds, readable without the secrets (`--json` prints it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub lock_hash: String,
    pub enr: String,
    pub validator_public_keys: Vec<String>,
    pub validator_client: String,
    pub created_at: String,
    /// What the validator client's exported history covers.
    #[serde(default)]
    pub slashing_protection: Option<node::SlashingSummary>,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The path inside the archive, e.g. `charon/cluster-lock.json`.
    pub name: String,
    pub sha256: String,
    pub size: u64,
}

/// A manifest and the files it lists. The bytes are zeroed when dropped:
/// they hold private keys.
pub struct Contents {
    pub manifest: Manifest,
    pub files: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

/// Who can open the archive.
pub enum Key {
    /// A passphrase typed by a person (age's scrypt recipient).
    Passphrase(SecretString),
    /// An age X25519 public key (`age1...`) to seal for; opening needs the
    /// matching identity.
    Recipient(age::x25519::Recipient),
    /// The identity (`AGE-SECRET-KEY-1...`) that opens a recipient's archive.
    Identity(age::x25519::Identity),
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("the passphrase or identity does not open this archive; nothing was changed")]
    WrongKey,
    #[error("this is not a dv-pod backup archive ({0}); nothing was changed")]
    NotAnArchive(String),
    #[error("the archive is truncated or damaged ({0}); nothing was changed: use another copy of the backup")]
    Damaged(String),
    #[error("the archive's {name} does not match its manifest ({reason}); nothing was changed")]
    Mismatch { name: String, reason: String },
    #[error(
        "this archive belongs to {archived}, but the target is {expected}; nothing was changed: pick the backup of \
         this node, or restore into a new release"
    )]
    AnotherNode { archived: String, expected: String },
    #[error("a recipient can only seal an archive, and an identity only open one")]
    KeyUse,
    #[error("cannot seal the archive: {0}")]
    Seal(String),
}

impl Contents {
    /// The contents with the manifest's file list filled from `files`.
    pub fn new(mut manifest: Manifest, files: BTreeMap<String, Zeroizing<Vec<u8>>>) -> Self {
        manifest.files = files
            .iter()
            .map(|(name, bytes)| FileEntry {
                name: name.clone(),
                sha256: hex::encode(Sha256::digest(bytes.as_slice())),
                size: bytes.len() as u64,
            })
            .collect();
        Contents { manifest, files }
    }
}

/// The archive's bytes: a tar of the manifest and the files, encrypted with age.
pub fn seal(contents: &Contents, key: &Key) -> Result<Vec<u8>, BackupError> {
    let seal_error = |e: &dyn std::fmt::Display| BackupError::Seal(e.to_string());
    let manifest = serde_json::to_vec_pretty(&contents.manifest).map_err(|e| seal_error(&e))?;
    // Reserved up front so the buffer holding keys is never reallocated,
    // which would leave a copy that is not zeroed.
    let room = manifest.len() + contents.files.values().map(|f| f.len() + 1024).sum::<usize>() + 4096;
    let mut plain = Zeroizing::new(Vec::with_capacity(room));
    {
        let mut builder = tar::Builder::new(&mut *plain);
        append(&mut builder, MANIFEST, &manifest).map_err(|e| seal_error(&e))?;
        for (name, bytes) in &contents.files {
            append(&mut builder, name, bytes).map_err(|e| seal_error(&e))?;
        }
        builder.finish().map_err(|e| seal_error(&e))?;
    }
    let encryptor = match key {
        Key::Passphrase(passphrase) => age::Encryptor::with_user_passphrase(passphrase.clone()),
        Key::Recipient(recipient) => age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .map_err(|e| seal_error(&e))?,
        Key::Identity(_) => return Err(BackupError::KeyUse),
    };
    let mut sealed = Vec::new();
    let mut writer = encryptor.wrap_output(&mut sealed).map_err(|e| seal_error(&e))?;
    writer.write_all(&plain).map_err(|e| seal_error(&e))?;
    writer.finish().map_err(|e| seal_error(&e))?;
    Ok(sealed)
}

fn append(builder: &mut tar::Builder<&mut Vec<u8>>, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(0);
    header.set_cksum();
    builder.append_data(&mut header, name, bytes)
}

/// Opens and checks an archive: decrypts it, reads every entry, and holds
/// each file against the manifest.
pub fn open(sealed: &[u8], key: &Key) -> Result<Contents, BackupError> {
    let decryptor = age::Decryptor::new(sealed).map_err(|e| match e {
        age::DecryptError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            BackupError::Damaged(e.to_string())
        }
        other => BackupError::NotAnArchive(other.to_string()),
    })?;
    let scrypt;
    let identity: &dyn age::Identity = match key {
        Key::Passphrase(passphrase) => {
            scrypt = age::scrypt::Identity::new(passphrase.clone());
            &scrypt
        }
        Key::Identity(identity) => identity,
        Key::Recipient(_) => return Err(BackupError::KeyUse),
    };
    let mut reader = decryptor.decrypt(std::iter::once(identity)).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed => BackupError::WrongKey,
        age::DecryptError::KeyDecryptionFailed => BackupError::WrongKey,
        other => BackupError::Damaged(other.to_string()),
    })?;
    let mut plain = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut plain).map_err(|e| BackupError::Damaged(e.to_string()))?;
    let mut entries = read_tar(&plain)?;
    let manifest =
        entries.remove(MANIFEST).ok_or_else(|| BackupError::NotAnArchive(format!("it has no {MANIFEST}")))?;
    let manifest: Manifest = serde_json::from_slice(&manifest)
        .map_err(|e| BackupError::Mismatch { name: MANIFEST.into(), reason: e.to_string() })?;
    if manifest.schema != SCHEMA {
        return Err(BackupError::NotAnArchive(format!("schema {:?}, expected {SCHEMA}", manifest.schema)));
    }
    check_files(&manifest, &entries)?;
    Ok(Contents { manifest, files: entries })
}

/// The files of a tar, by name (the node's files arrive as one too).
pub fn read_tar(plain: &[u8]) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>, BackupError> {
    let damaged = |e: std::io::Error| BackupError::Damaged(e.to_string());
    let mut archive = tar::Archive::new(plain);
    let mut entries = BTreeMap::new();
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let name = entry.path().map_err(damaged)?.display().to_string();
        if entry.size() > MAX_ENTRY_BYTES {
            return Err(BackupError::NotAnArchive(format!("{name} is {} bytes", entry.size())));
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(entry.size() as usize));
        entry.read_to_end(&mut bytes).map_err(damaged)?;
        entries.insert(name, bytes);
    }
    Ok(entries)
}

fn check_files(manifest: &Manifest, entries: &BTreeMap<String, Zeroizing<Vec<u8>>>) -> Result<(), BackupError> {
    for file in &manifest.files {
        let Some(bytes) = entries.get(&file.name) else {
            return Err(BackupError::Mismatch { name: file.name.clone(), reason: "missing from the archive".into() });
        };
        let sha256 = hex::encode(Sha256::digest(bytes.as_slice()));
        if sha256 != file.sha256 || bytes.len() as u64 != file.size {
            return Err(BackupError::Mismatch {
                name: file.name.clone(),
                reason: format!("sha256 {sha256}, the manifest says {}", file.sha256),
            });
        }
    }
    if let Some(extra) = entries.keys().find(|name| !manifest.files.iter().any(|f| &f.name == *name)) {
        return Err(BackupError::Mismatch { name: extra.clone(), reason: "not listed in the manifest".into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(lock_hash: &str) -> Contents {
        let manifest = Manifest {
            schema: SCHEMA.into(),
            lock_hash: lock_hash.into(),
            enr: "enr:-x".into(),
            validator_public_keys: vec!["0xaa".into()],
            validator_client: "lighthouse".into(),
            created_at: "2026-12-02T19:00:00Z".into(),
            slashing_protection: None,
            files: Vec::new(),
        };
        let mut files = BTreeMap::new();
        files.insert("charon/charon-enr-private-key".to_string(), Zeroizing::new(b"ab".repeat(32)));
        files.insert("charon/cluster-lock.json".to_string(), Zeroizing::new(b"{}".to_vec()));
        Contents::new(manifest, files)
    }

    fn keys() -> (Key, Key) {
        let identity = age::x25519::Identity::generate();
        (Key::Recipient(identity.to_public()), Key::Identity(identity))
    }

    #[test]
    fn a_sealed_archive_opens_with_its_key_to_the_same_files_and_manifest() {
        let (recipient, identity) = keys();
        let original = contents("0x01");
        let sealed = seal(&original, &recipient).unwrap();
        assert!(!sealed.windows(64).any(|w| w == b"ab".repeat(32).as_slice()), "the key is not in the clear");
        let opened = open(&sealed, &identity).unwrap();
        assert_eq!(opened.manifest, original.manifest);
        assert_eq!(opened.files.keys().collect::<Vec<_>>(), original.files.keys().collect::<Vec<_>>());
    }

    #[test]
    fn a_passphrase_archive_refuses_a_wrong_passphrase() {
        let sealed = seal(&contents("0x01"), &Key::Passphrase(SecretString::from("right horse".to_string()))).unwrap();
        let wrong = open(&sealed, &Key::Passphrase(SecretString::from("wrong horse".to_string())));
        assert!(matches!(wrong, Err(BackupError::WrongKey)), "{:?}", wrong.err());
        assert!(open(&sealed, &Key::Passphrase(SecretString::from("right horse".to_string()))).is_ok());
    }

    #[test]
    fn a_truncated_archive_is_refused_as_damaged_and_another_file_as_not_an_archive() {
        let (recipient, identity) = keys();
        let sealed = seal(&contents("0x01"), &recipient).unwrap();
        let truncated = open(&sealed[..sealed.len() - 40], &identity);
        assert!(matches!(truncated, Err(BackupError::Damaged(_))), "{:?}", truncated.err());
        let other = open(b"{\"not\": \"an archive\"}", &identity);
        assert!(matches!(other, Err(BackupError::NotAnArchive(_))), "{:?}", other.err());
    }

    #[test]
    fn an_archive_of_another_node_names_both_nodes_and_says_nothing_changed() {
        let error =
            BackupError::AnotherNode { archived: "node enr:-a".into(), expected: "node enr:-b".into() }.to_string();
        assert!(
            error.contains("enr:-a") && error.contains("enr:-b") && error.contains("nothing was changed"),
            "{error}"
        );
    }

    #[test]
    fn a_file_that_does_not_match_the_manifest_is_refused() {
        let mut changed = contents("0x01");
        changed.files.insert("charon/cluster-lock.json".into(), Zeroizing::new(b"{\"x\":1}".to_vec()));
        let (recipient, identity) = keys();
        let refused = open(&seal(&changed, &recipient).unwrap(), &identity);
        assert!(
            matches!(&refused, Err(BackupError::Mismatch { name, .. }) if name == "charon/cluster-lock.json"),
            "{:?}",
            refused.err()
        );
    }
}
