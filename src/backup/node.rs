//! What a node's archive must hold, and the checks that make it safe to
//! restore: the lock verifies as Charon verifies it, the ENR key is an
//! operator of that lock, the key shares are that operator's shares, and the
//! slashing history is EIP-3076 interchange for those shares only. Backup
//! runs them before it seals (a broken node is not archived as if it were
//! whole) and restore runs them again before anything is created.

use std::{collections::BTreeMap, str::FromStr};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{BackupError, Contents, Manifest, SCHEMA};
use crate::{
    definition::lock::{self, Lock},
    enr::{EnrPrivateKey, EnrRecord},
    validator_client::ValidatorClient,
};

/// The archive's file names.
pub const ENR_KEY: &str = "charon/charon-enr-private-key";
pub const LOCK: &str = "charon/cluster-lock.json";
pub const DEFINITION: &str = "charon/cluster-definition.json";
pub const KEYS_DIR: &str = "charon/validator_keys";
pub const SLASHING_PROTECTION: &str = "validator-client/slashing-protection.json";

/// The only interchange version clients write and EIP-3076 defines.
const INTERCHANGE_VERSION: &str = "5";

/// What the slashing history in an archive covers, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlashingSummary {
    pub validators: usize,
    pub signed_blocks: usize,
    pub signed_attestations: usize,
}

/// A node's archive contents, checked.
pub struct NodeArchive {
    pub contents: Contents,
    pub lock: Lock,
    pub enr: EnrRecord,
    pub validator_client: ValidatorClient,
}

impl NodeArchive {
    /// The lock's text as it was on the node.
    pub fn lock_json(&self) -> &[u8] {
        &self.contents.files[LOCK]
    }

    /// The ENR key in Charon's file format.
    pub fn enr_key(&self) -> &[u8] {
        &self.contents.files[ENR_KEY]
    }

    /// The key shares and their passwords, by file name (`keystore-0.json`,
    /// `keystore-0.txt`, ...), as the chart's `charon.lock.keystoresSecret`
    /// holds them.
    pub fn keystores(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.contents.files.iter().filter_map(|(name, bytes)| {
            name.strip_prefix(KEYS_DIR).and_then(|n| n.strip_prefix('/')).map(|n| (n, bytes.as_slice()))
        })
    }

    pub fn slashing_protection(&self) -> &[u8] {
        &self.contents.files[SLASHING_PROTECTION]
    }
}

/// Builds the contents of a node's archive from its files, after checking
/// them; `created_at` is RFC 3339.
pub fn archive_node(
    files: BTreeMap<String, Zeroizing<Vec<u8>>>,
    validator_client: ValidatorClient,
    created_at: String,
) -> Result<NodeArchive, BackupError> {
    let (lock, enr, slashing) = check_files(&files, validator_client)?;
    let manifest = Manifest {
        schema: SCHEMA.into(),
        lock_hash: lock.lock_hash_hex(),
        enr: enr.text().into(),
        validator_public_keys: lock.validators.iter().map(|v| format!("0x{}", hex::encode(&v.public_key))).collect(),
        validator_client: validator_client.name().into(),
        created_at,
        slashing_protection: Some(slashing),
        files: Vec::new(),
    };
    Ok(NodeArchive { contents: Contents::new(manifest, files), lock, enr, validator_client })
}

/// Checks opened contents as a node's archive, and that the manifest tells
/// the truth about them.
pub fn verify_node(contents: Contents) -> Result<NodeArchive, BackupError> {
    let validator_client = ValidatorClient::from_name(&contents.manifest.validator_client).ok_or_else(|| {
        mismatch("manifest.json", format!("unknown validator client {:?}", contents.manifest.validator_client))
    })?;
    let (lock, enr, _) = check_files(&contents.files, validator_client)?;
    if !contents.manifest.lock_hash.eq_ignore_ascii_case(&lock.lock_hash_hex()) {
        return Err(mismatch(
            LOCK,
            format!("the lock hashes to {}, the manifest says {}", lock.lock_hash_hex(), contents.manifest.lock_hash),
        ));
    }
    if contents.manifest.enr != enr.text() {
        return Err(mismatch(ENR_KEY, format!("the key's ENR is {enr}, the manifest says {}", contents.manifest.enr)));
    }
    Ok(NodeArchive { contents, lock, enr, validator_client })
}

fn check_files(
    files: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    validator_client: ValidatorClient,
) -> Result<(Lock, EnrRecord, SlashingSummary), BackupError> {
    let file = |name: &str| files.get(name).ok_or_else(|| mismatch(name, "missing from the node's files".into()));
    let lock = Lock::from_json(file(LOCK)?).map_err(|e| mismatch(LOCK, e.to_string()))?;
    let report = lock::verify(&lock);
    if let Some(failure) = report.first_failure() {
        return Err(mismatch(LOCK, format!("the lock does not verify: {failure}")));
    }
    let key_text = std::str::from_utf8(file(ENR_KEY)?).map_err(|_| mismatch(ENR_KEY, "not text".into()))?;
    let enr = EnrPrivateKey::from_charon_hex(key_text.trim()).map_err(|e| mismatch(ENR_KEY, e.to_string()))?.record();
    let shares = shares_of(&lock, &enr).ok_or_else(|| {
        mismatch(ENR_KEY, format!("its ENR {enr} is not an operator of cluster lock {}", lock.lock_hash_hex()))
    })?;
    check_keystores(files, &shares)?;
    check_deposit_data(files, &lock)?;
    let slashing = check_interchange(file(SLASHING_PROTECTION)?, &shares, validator_client)?;
    Ok((lock, enr, slashing))
}

/// The shares of the operator whose ENR carries `enr`'s public key (the
/// record's other fields may differ from the one in the lock).
fn shares_of(lock: &Lock, enr: &EnrRecord) -> Option<Vec<String>> {
    let ours = enr.public_key_compressed();
    let operator = lock
        .definition
        .operators
        .iter()
        .find(|op| EnrRecord::from_str(&op.enr).is_ok_and(|r| r.public_key_compressed() == ours))?;
    lock.public_shares_of(&operator.enr)
}

fn check_keystores(files: &BTreeMap<String, Zeroizing<Vec<u8>>>, shares: &[String]) -> Result<(), BackupError> {
    for (i, expected) in shares.iter().enumerate() {
        let keystore = format!("{KEYS_DIR}/keystore-{i}.json");
        let password = format!("{KEYS_DIR}/keystore-{i}.txt");
        if files.get(&password).is_none_or(|p| p.is_empty()) {
            return Err(mismatch(&password, "missing or empty".into()));
        }
        let pubkey = files
            .get(&keystore)
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(bytes).ok())
            .and_then(|v| v["pubkey"].as_str().map(str::to_ascii_lowercase))
            .ok_or_else(|| mismatch(&keystore, "missing or has no pubkey".into()))?;
        if pubkey.trim_start_matches("0x") != expected.as_str() {
            return Err(mismatch(
                &keystore,
                format!("it holds public key 0x{pubkey}, but the lock gives this node 0x{expected}"),
            ));
        }
    }
    let expected = shares.len() * 2;
    let held = files.keys().filter(|name| name.starts_with(&format!("{KEYS_DIR}/"))).count();
    if held != expected {
        return Err(mismatch(
            KEYS_DIR,
            format!("{held} files, the lock's {} validators need {expected}", shares.len()),
        ));
    }
    Ok(())
}

/// Each deposit-data file names only the lock's validators, with the
/// lock's (verified) deposit signatures.
fn check_deposit_data(files: &BTreeMap<String, Zeroizing<Vec<u8>>>, lock: &Lock) -> Result<(), BackupError> {
    #[derive(Deserialize)]
    struct Entry {
        pubkey: String,
        signature: String,
    }
    let signed: Vec<(String, String)> = lock
        .validators
        .iter()
        .flat_map(|v| v.deposits.iter().map(|d| (hex::encode(&d.public_key), hex::encode(&d.signature))))
        .collect();
    for (name, bytes) in files.iter().filter(|(name, _)| is_deposit_data(name)) {
        let entries: Vec<Entry> = serde_json::from_slice(bytes).map_err(|e| mismatch(name, e.to_string()))?;
        for entry in entries {
            let wanted = (
                entry.pubkey.trim_start_matches("0x").to_ascii_lowercase(),
                entry.signature.trim_start_matches("0x").to_ascii_lowercase(),
            );
            if !signed.contains(&wanted) {
                return Err(mismatch(name, format!("deposit of 0x{} is not one the lock signed", wanted.0)));
            }
        }
    }
    Ok(())
}

/// Deposit-data files as Charon names them: `deposit-data.json`, or one per
/// amount (`deposit-data-32eth.json`).
pub fn is_deposit_data(name: &str) -> bool {
    name.strip_prefix("charon/deposit-data").is_some_and(|rest| rest.ends_with(".json") && !rest.contains('/'))
}

fn check_interchange(
    bytes: &[u8],
    shares: &[String],
    validator_client: ValidatorClient,
) -> Result<SlashingSummary, BackupError> {
    #[derive(Deserialize)]
    struct Interchange {
        metadata: Metadata,
        data: Vec<Record>,
    }
    #[derive(Deserialize)]
    struct Metadata {
        interchange_format_version: String,
    }
    #[derive(Deserialize)]
    struct Record {
        pubkey: String,
        #[serde(default)]
        signed_blocks: Vec<serde_json::Value>,
        #[serde(default)]
        signed_attestations: Vec<serde_json::Value>,
    }
    let bad = |reason: String| mismatch(SLASHING_PROTECTION, reason);
    let interchange: Interchange =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not EIP-3076 interchange JSON ({e})")))?;
    if interchange.metadata.interchange_format_version != INTERCHANGE_VERSION {
        return Err(bad(format!(
            "interchange format version {:?}, expected {INTERCHANGE_VERSION:?}",
            interchange.metadata.interchange_format_version
        )));
    }
    for record in &interchange.data {
        let pubkey = record.pubkey.trim_start_matches("0x").to_ascii_lowercase();
        if !shares.contains(&pubkey) {
            return Err(bad(format!(
                "{validator_client} exported history for 0x{pubkey}, which is not one of this node's key shares"
            )));
        }
    }
    Ok(SlashingSummary {
        validators: interchange.data.len(),
        signed_blocks: interchange.data.iter().map(|r| r.signed_blocks.len()).sum(),
        signed_attestations: interchange.data.iter().map(|r| r.signed_attestations.len()).sum(),
    })
}

/// The interchange reduced to EIP-3076's minimal form: per validator, its
/// highest block slot and one attestation of its highest source and highest
/// target epochs. Every client treats these as low watermarks on import, so
/// the protection is the same; only the record of what was signed goes.
/// For a restore whose full history would not fit a Secret (1 MiB).
pub fn minimal_interchange(bytes: &[u8]) -> Result<Vec<u8>, BackupError> {
    let bad = |reason: String| mismatch(SLASHING_PROTECTION, reason);
    let mut interchange: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let epoch = |v: &serde_json::Value, key: &str| v[key].as_str().and_then(|t| t.parse::<u64>().ok());
    for record in interchange["data"].as_array_mut().ok_or_else(|| bad("no data list".into()))? {
        let blocks = record["signed_blocks"].as_array().cloned().unwrap_or_default();
        let top_slot = blocks.iter().filter_map(|b| epoch(b, "slot")).max();
        let attestations = record["signed_attestations"].as_array().cloned().unwrap_or_default();
        let source = attestations.iter().filter_map(|a| epoch(a, "source_epoch")).max();
        let target = attestations.iter().filter_map(|a| epoch(a, "target_epoch")).max();
        record["signed_blocks"] = serde_json::json!(
            top_slot.map(|slot| vec![serde_json::json!({"slot": slot.to_string()})]).unwrap_or_default()
        );
        record["signed_attestations"] = serde_json::json!(match (source, target) {
            (Some(source), Some(target)) => {
                vec![serde_json::json!({"source_epoch": source.to_string(), "target_epoch": target.to_string()})]
            }
            _ => Vec::new(),
        });
    }
    serde_json::to_vec(&interchange).map_err(|e| bad(e.to_string()))
}

fn mismatch(name: &str, reason: String) -> BackupError {
    BackupError::Mismatch { name: name.into(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimal_interchange_keeps_each_validators_highest_slot_source_and_target() {
        let full = serde_json::json!({
            "metadata": {"interchange_format_version": "5", "genesis_validators_root": "0x01"},
            "data": [{
                "pubkey": "0xaa",
                "signed_blocks": [{"slot": "7", "signing_root": "0x02"}, {"slot": "12"}],
                "signed_attestations": [
                    {"source_epoch": "3", "target_epoch": "9"},
                    {"source_epoch": "5", "target_epoch": "6"}
                ]
            }, {"pubkey": "0xbb", "signed_blocks": [], "signed_attestations": []}]
        });
        let minimal: serde_json::Value =
            serde_json::from_slice(&minimal_interchange(full.to_string().as_bytes()).unwrap()).unwrap();
        assert_eq!(minimal["metadata"], full["metadata"]);
        assert_eq!(minimal["data"][0]["signed_blocks"], serde_json::json!([{"slot": "12"}]));
        assert_eq!(
            minimal["data"][0]["signed_attestations"],
            serde_json::json!([{"source_epoch": "5", "target_epoch": "9"}])
        );
        assert_eq!(minimal["data"][1]["signed_attestations"], serde_json::json!([]));
    }
}
