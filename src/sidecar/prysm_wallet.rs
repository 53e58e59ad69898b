//! The wallet Prysm's validator client opens with `--wallet-dir` and
//! `--wallet-password-file`: a local ("direct") keymanager whose one file,
//! `direct/accounts/all-accounts.keystore.json`, is an EIP-2335 envelope
//! around `{"private_keys": [...], "public_keys": [...]}` (each key base64,
//! as Go encodes bytes). Prysm's own `accounts import` needs one run per
//! key share (each has its own password) and its image has no shell to loop
//! in, so the sidecar writes that file itself.
//!
//! Keys are only ever added: an existing wallet is opened with its password,
//! missing shares are appended, and the new file replaces the old one only
//! after the new envelope has been opened again and found to hold every key
//! the old one held.

use std::{fs, path::Path};

use anyhow::{Context, bail, ensure};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::import_keys::{ImportSummary, KeyShare};
use crate::{files, keystore::Crypto};

/// The wallet directory under the VC data directory; the chart passes it as
/// `--wallet-dir`.
const WALLET_DIR: &str = "prysm-wallet";
/// The wallet password file inside the wallet directory
/// (`--wallet-password-file`). Prysm looks only for keymanager folders in the
/// wallet directory, so the file may live there.
const PASSWORD_FILE: &str = "password.txt";
const ACCOUNTS_FILE: &str = "direct/accounts/all-accounts.keystore.json";

/// Prysm's accounts file: the envelope and its identity fields.
#[derive(Serialize, Deserialize)]
struct AccountsFile {
    crypto: Crypto,
    uuid: String,
    version: u32,
    name: String,
}

/// What the envelope holds, in Prysm's field names.
#[derive(Default, Serialize, Deserialize)]
struct AccountStore {
    private_keys: Vec<String>,
    public_keys: Vec<String>,
}

impl Drop for AccountStore {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.private_keys.zeroize();
    }
}

impl AccountStore {
    fn pubkeys_hex(&self) -> anyhow::Result<Vec<String>> {
        self.public_keys
            .iter()
            .map(|b64| Ok(format!("0x{}", hex::encode(BASE64.decode(b64).context("a public key is not base64")?))))
            .collect()
    }
}

/// Adds `shares` to the Prysm wallet under `vc_dir`, creating the wallet and
/// its password on first use.
pub fn add_shares(vc_dir: &Path, shares: &[KeyShare]) -> anyhow::Result<ImportSummary> {
    let wallet = vc_dir.join(WALLET_DIR);
    let accounts_path = wallet.join(ACCOUNTS_FILE);
    let password = wallet_password(&wallet, accounts_path.exists())?;

    let mut store = match fs::read(&accounts_path) {
        Ok(bytes) => open(&bytes, &password).with_context(|| format!("opening {}", accounts_path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => AccountStore::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", accounts_path.display())),
    };
    let before = store.pubkeys_hex()?;

    let ImportSummary { mut added, mut kept } = ImportSummary::default();
    for share in shares {
        if before.contains(&share.pubkey) {
            kept.push(share.pubkey.clone());
            continue;
        }
        let secret = share.secret_key()?;
        store.private_keys.push(BASE64.encode(&*secret));
        store.public_keys.push(BASE64.encode(hex::decode(&share.pubkey[2..])?));
        added.push(share.pubkey.clone());
    }
    if added.is_empty() {
        return Ok(ImportSummary { added, kept });
    }

    let plaintext = Zeroizing::new(serde_json::to_vec(&store)?);
    let file = AccountsFile {
        crypto: Crypto::encrypt(&plaintext, &password),
        uuid: uuid::Uuid::new_v4().to_string(),
        version: 4,
        name: "keystore".into(),
    };
    let encoded = serde_json::to_vec_pretty(&file)?;
    let reread = open(&encoded, &password)?.pubkeys_hex()?;
    ensure!(
        before.iter().all(|pk| reread.contains(pk)) && added.iter().all(|pk| reread.contains(pk)),
        "the rewritten Prysm wallet does not hold every key; the existing wallet was left as it was"
    );
    files::replace(&accounts_path, &encoded, 0o600).with_context(|| format!("writing {}", accounts_path.display()))?;
    Ok(ImportSummary { added, kept })
}

fn open(bytes: &[u8], password: &str) -> anyhow::Result<AccountStore> {
    let file: AccountsFile = serde_json::from_slice(bytes).context("not a Prysm accounts keystore")?;
    let plaintext = file.crypto.decrypt(password).context(
        "the wallet password file does not open the existing wallet; restore the password file that created it",
    )?;
    let store: AccountStore = serde_json::from_slice(&plaintext).context("the decrypted accounts are not JSON")?;
    ensure!(store.private_keys.len() == store.public_keys.len(), "the wallet holds unequal numbers of keys");
    Ok(store)
}

/// The wallet password: read if the file exists, else generated and written
/// (0600). A wallet whose password file is gone is an error, never replaced.
fn wallet_password(wallet: &Path, wallet_exists: bool) -> anyhow::Result<Zeroizing<String>> {
    let path = wallet.join(PASSWORD_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => return Ok(Zeroizing::new(text)),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("reading {}", path.display()));
        }
        Err(_) => {}
    }
    if wallet_exists {
        bail!(
            "{} is missing but the wallet it opens exists; restore the password file (the wallet is left untouched)",
            path.display()
        );
    }
    let password = Zeroizing::new(hex::encode(rand::random::<[u8; 32]>()));
    let written =
        files::write_new(&path, password.as_bytes(), 0o600).with_context(|| format!("creating {}", path.display()))?;
    ensure!(written, "{} appeared while the wallet was being created; run again", path.display());
    Ok(password)
}
