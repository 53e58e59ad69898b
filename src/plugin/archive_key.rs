//! Who can open a backup archive: a passphrase (from a file or typed at the
//! terminal, never an argument) or an age key pair. Shared by `kubectl dv
//! backup` (which seals) and `kubectl dv restore` (which opens).

use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use anyhow::Context;
use clap::Args;

use crate::backup::Key;

/// A shorter passphrase is refused when sealing: the archive holds the keys
/// of a validator and may sit in a cloud bucket for years.
const MIN_PASSPHRASE_CHARS: usize = 12;

#[derive(Args, Debug, Clone)]
pub struct SealArgs {
    /// Read the passphrase from this file (its first line); without it and
    /// --recipient, the passphrase is asked for at the terminal, twice.
    #[arg(long, value_name = "FILE", conflicts_with = "recipient", value_hint = clap::ValueHint::FilePath)]
    passphrase_file: Option<PathBuf>,
    /// Seal for this age public key (age1...) instead of a passphrase.
    #[arg(long, value_name = "AGE_PUBLIC_KEY")]
    recipient: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct OpenArgs {
    /// Read the passphrase from this file (its first line); without it and
    /// --identity-file, the passphrase is asked for at the terminal.
    #[arg(long, value_name = "FILE", conflicts_with = "identity_file", value_hint = clap::ValueHint::FilePath)]
    passphrase_file: Option<PathBuf>,
    /// An age identity file (AGE-SECRET-KEY-1...) for an archive sealed
    /// with --recipient.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    identity_file: Option<PathBuf>,
}

impl SealArgs {
    pub fn key(&self) -> anyhow::Result<Key> {
        if let Some(recipient) = &self.recipient {
            let parsed = recipient
                .parse::<age::x25519::Recipient>()
                .map_err(|e| anyhow::anyhow!("--recipient {recipient:?}: {e} (an age public key starts with age1)"))?;
            return Ok(Key::Recipient(parsed));
        }
        let passphrase = match &self.passphrase_file {
            Some(path) => read_passphrase(path)?,
            None => {
                let first = prompt("Passphrase for the backup: ")?;
                if prompt("The same passphrase again: ")?.as_bytes() != first.as_bytes() {
                    anyhow::bail!("the two passphrases differ; nothing was written");
                }
                first
            }
        };
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            anyhow::bail!(
                "the passphrase has fewer than {MIN_PASSPHRASE_CHARS} characters; choose a longer one (several \
                 words), or seal for an age key with --recipient"
            );
        }
        Ok(Key::Passphrase(SecretString::from(passphrase.to_string())))
    }
}

impl OpenArgs {
    pub fn key(&self) -> anyhow::Result<Key> {
        if let Some(path) = &self.identity_file {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
            );
            let line = text.lines().map(str::trim).find(|l| l.starts_with("AGE-SECRET-KEY-")).ok_or_else(|| {
                anyhow::anyhow!("{} holds no age identity (a line starting AGE-SECRET-KEY-)", path.display())
            })?;
            let identity = line
                .parse::<age::x25519::Identity>()
                .map_err(|e| anyhow::anyhow!("{}: the age identity is not valid: {e}", path.display()))?;
            return Ok(Key::Identity(identity));
        }
        let passphrase = match &self.passphrase_file {
            Some(path) => read_passphrase(path)?,
            None => prompt("Passphrase of the backup: ")?,
        };
        Ok(Key::Passphrase(SecretString::from(passphrase.to_string())))
    }
}

fn read_passphrase(path: &Path) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?);
    let first = text.lines().next().unwrap_or_default();
    if first.is_empty() {
        anyhow::bail!("{}: the first line is empty; put the passphrase on it", path.display());
    }
    Ok(zeroize::Zeroizing::new(first.to_string()))
}

fn prompt(question: &str) -> anyhow::Result<zeroize::Zeroizing<String>> {
    rpassword::prompt_password(question).map(zeroize::Zeroizing::new).map_err(|e| {
        anyhow::anyhow!(
            "cannot ask for the passphrase ({e}): run on a terminal, or pass --passphrase-file FILE (or an age key)"
        )
    })
}
