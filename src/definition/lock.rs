//! Cluster locks: the one model of `cluster-lock.json` that the sidecar and
//! the plugin share, read the way Charon v1.10's `Lock.UnmarshalJSON` reads
//! each version (v1.0 to v1.10), and verified the way `charon run` verifies
//! it when it loads the lock, plus the deposit checks a staker relies on.
//!
//! [`verify`] returns every check, in two groups:
//! - `charon`: what `cluster.LoadClusterLock` checks, in its order: the
//!   definition's hashes, the lock hash, the definition's signatures, the
//!   aggregate BLS signature of every key share over the lock hash, each
//!   validator's builder registration, and each node's k1 signature;
//! - `deposits`: what Charon's lock loading leaves out but a deposit needs:
//!   one validator per definition slot, each partial deposit signed for the
//!   network and made for the validator's key, withdrawal address and
//!   compounding choice, the amounts the definition asks for, and the
//!   definition's fee recipient in the builder registration.
//!
//! A lock is usable only when both groups pass. The document is kept as
//! received ([`Lock::json`]), so writing it on never changes a byte.

use serde::Serialize;
use serde_json::{Map, Value};

use super::verify::{Check, Failed, Finding, Report, Status};
use super::{
    Definition, DefinitionError, DefinitionVersion, Fields, Network, bls, decode_bytes, eip712, object, ssz, verify,
};
use crate::enr::EnrRecord;

const GWEI_PER_ETH: u64 = 1_000_000_000;
const MIN_DEPOSIT_GWEI: u64 = GWEI_PER_ETH;
const MAX_STANDARD_DEPOSIT_GWEI: u64 = 32 * GWEI_PER_ETH;
const MAX_COMPOUNDING_DEPOSIT_GWEI: u64 = 2048 * GWEI_PER_ETH;

/// One partial deposit of a validator.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DepositData {
    pub public_key: Vec<u8>,
    pub withdrawal_credentials: Vec<u8>,
    /// Gwei; signed like Go's `int`, hashed as `uint64`.
    pub amount: i64,
    pub signature: Vec<u8>,
}

/// A validator's pre-signed builder registration (v1.7 and later).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuilderRegistration {
    pub fee_recipient: Vec<u8>,
    pub gas_limit: i64,
    /// Unix seconds.
    pub timestamp: i64,
    pub public_key: Vec<u8>,
    pub signature: Vec<u8>,
}

impl BuilderRegistration {
    /// Charon treats a registration with no signature, fee recipient or key
    /// as absent.
    fn is_absent(&self) -> bool {
        self.signature.is_empty() || self.fee_recipient.is_empty() || self.public_key.is_empty()
    }
}

/// One distributed validator of a lock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DistValidator {
    pub public_key: Vec<u8>,
    /// One public key share per operator, in operator order.
    pub public_shares: Vec<Vec<u8>>,
    pub deposits: Vec<DepositData>,
    pub builder_registration: BuilderRegistration,
}

/// A cluster lock: the document as received plus its typed view.
#[derive(Debug, Clone, PartialEq)]
pub struct Lock {
    pub definition: Definition,
    pub validators: Vec<DistValidator>,
    pub lock_hash: Vec<u8>,
    pub signature_aggregate: Vec<u8>,
    pub node_signatures: Vec<Vec<u8>>,
    json: Map<String, Value>,
}

impl Lock {
    pub fn from_json(bytes: &[u8]) -> Result<Self, DefinitionError> {
        Self::from_value(super::parse_json(bytes)?)
    }

    pub fn from_value(value: Value) -> Result<Self, DefinitionError> {
        let json = super::json_object(value)?;
        let doc = Fields(&json);
        let definition = match json.get("cluster_definition") {
            Some(value @ Value::Object(_)) => Definition::from_value(value.clone()),
            Some(Value::Null) | None => Definition::from_value(Value::Object(Map::new())),
            Some(_) => Err(DefinitionError::FieldType { field: "cluster_definition".into(), expected: "an object" }),
        }
        .map_err(in_definition)?;
        let version = definition.version;
        let validators = doc
            .objects("distributed_validators")?
            .into_iter()
            .map(|(prefix, v)| read_dist_validator(&v, &prefix, version))
            .collect::<Result<_, _>>()?;
        let node_signatures = if version >= DefinitionVersion::V1_7 {
            doc.array("node_signatures")?
                .iter()
                .enumerate()
                .map(|(i, item)| hex_value(item, &format!("node_signatures[{i}]")))
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        Ok(Lock {
            validators,
            lock_hash: doc.bytes(version, "lock_hash", "")?,
            signature_aggregate: doc.bytes(version, "signature_aggregate", "")?,
            node_signatures,
            definition,
            json,
        })
    }

    /// The document exactly as it was received.
    pub fn json(&self) -> &Map<String, Value> {
        &self.json
    }

    /// `0x`-hex of the stated lock hash.
    pub fn lock_hash_hex(&self) -> String {
        format!("0x{}", hex::encode(&self.lock_hash))
    }

    /// The index of the operator whose ENR this is, if the lock names it.
    pub fn operator_index(&self, enr: &str) -> Option<usize> {
        self.definition.operators.iter().position(|op| op.enr == enr)
    }

    /// The public key shares (hex, no `0x`) that belong to the operator with
    /// `enr`, one per validator; `None` if the lock does not name that ENR.
    pub fn public_shares_of(&self, enr: &str) -> Option<Vec<String>> {
        let index = self.operator_index(enr)?;
        self.validators.iter().map(|v| v.public_shares.get(index).map(hex::encode)).collect()
    }
}

fn in_definition(e: DefinitionError) -> DefinitionError {
    match e {
        DefinitionError::FieldType { field, expected } => {
            DefinitionError::FieldType { field: format!("cluster_definition.{field}"), expected }
        }
        DefinitionError::Hex { field, value } => {
            DefinitionError::Hex { field: format!("cluster_definition.{field}"), value }
        }
        DefinitionError::Base64 { field } => DefinitionError::Base64 { field: format!("cluster_definition.{field}") },
        other => other,
    }
}

fn read_dist_validator(v: &Fields, prefix: &str, version: DefinitionVersion) -> Result<DistValidator, DefinitionError> {
    if version <= DefinitionVersion::V1_5 && !v.eth_hex("fee_recipient_address", prefix)?.is_empty() {
        return Err(DefinitionError::FieldType {
            field: format!("{prefix}fee_recipient_address"),
            expected: "no value: a distributed validator's own fee recipient is not supported any more",
        });
    }
    let public_shares = v
        .array("public_shares")?
        .iter()
        .enumerate()
        .map(|(j, share)| {
            let field = format!("{prefix}public_shares[{j}]");
            match share {
                Value::String(text) => decode_bytes(version, text, &field),
                _ => Err(DefinitionError::FieldType { field, expected: "a string" }),
            }
        })
        .collect::<Result<_, _>>()?;
    let deposits = match version {
        v if v <= DefinitionVersion::V1_5 => Vec::new(),
        DefinitionVersion::V1_6 | DefinitionVersion::V1_7 => {
            vec![deposit(v.get("deposit_data"), &format!("{prefix}deposit_data"))?]
        }
        _ => v
            .array("partial_deposit_data")?
            .iter()
            .enumerate()
            .map(|(j, item)| deposit(Some(item), &format!("{prefix}partial_deposit_data[{j}]")))
            .collect::<Result<_, _>>()?,
    };
    let builder_registration = if version >= DefinitionVersion::V1_7 {
        registration(v.get("builder_registration"), &format!("{prefix}builder_registration"))?
    } else {
        BuilderRegistration::default()
    };
    Ok(DistValidator {
        public_key: v.eth_hex("distributed_public_key", prefix)?,
        public_shares,
        deposits,
        builder_registration,
    })
}

fn hex_value(value: &Value, field: &str) -> Result<Vec<u8>, DefinitionError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => {
            super::hex_field(text).ok_or_else(|| DefinitionError::Hex { field: field.into(), value: text.clone() })
        }
        _ => Err(DefinitionError::FieldType { field: field.into(), expected: "a hex string" }),
    }
}

/// A deposit as Charon's `depositDataJSON`: hex fields and the amount in
/// Gwei as a decimal string.
fn deposit(value: Option<&Value>, field: &str) -> Result<DepositData, DefinitionError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(DepositData::default());
    };
    let d = object(value, field)?;
    let prefix = format!("{field}.");
    let amount = match d.get("amount") {
        None => 0,
        Some(Value::String(text)) => text.parse::<i64>().map_err(|_| DefinitionError::FieldType {
            field: format!("{prefix}amount"),
            expected: "Gwei as a decimal string",
        })?,
        Some(_) => {
            return Err(DefinitionError::FieldType {
                field: format!("{prefix}amount"),
                expected: "Gwei as a decimal string",
            });
        }
    };
    Ok(DepositData {
        public_key: d.eth_hex("pubkey", &prefix)?,
        withdrawal_credentials: d.eth_hex("withdrawal_credentials", &prefix)?,
        amount,
        signature: d.eth_hex("signature", &prefix)?,
    })
}

fn registration(value: Option<&Value>, field: &str) -> Result<BuilderRegistration, DefinitionError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(BuilderRegistration::default());
    };
    let r = object(value, field)?;
    let message_field = format!("{field}.message");
    let (fee_recipient, gas_limit, timestamp, public_key) = match r.get("message") {
        None => (Vec::new(), 0, 0, Vec::new()),
        Some(message) => {
            let m = object(message, &message_field)?;
            let prefix = format!("{message_field}.");
            (
                m.eth_hex("fee_recipient", &prefix)?,
                m.int("gas_limit").map_err(|_| int_error(&prefix, "gas_limit"))?,
                m.int("timestamp").map_err(|_| int_error(&prefix, "timestamp"))?,
                m.eth_hex("pubkey", &prefix)?,
            )
        }
    };
    Ok(BuilderRegistration {
        fee_recipient,
        gas_limit,
        timestamp,
        public_key,
        signature: r.eth_hex("signature", &format!("{field}."))?,
    })
}

fn int_error(prefix: &str, key: &str) -> DefinitionError {
    DefinitionError::FieldType { field: format!("{prefix}{key}"), expected: "an integer" }
}

/// Every check made on a lock, in its two groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockReport {
    /// What `charon run` checks when it loads the lock.
    pub charon: Report,
    /// What a deposit relies on beyond that.
    pub deposits: Report,
}

impl LockReport {
    pub fn is_valid(&self) -> bool {
        self.charon.is_valid() && self.deposits.is_valid()
    }

    /// Every check, Charon's first.
    pub fn checks(&self) -> impl Iterator<Item = &Check> {
        self.charon.checks.iter().chain(&self.deposits.checks)
    }

    /// The first failure as one line, for logs and status messages.
    pub fn first_failure(&self) -> Option<String> {
        self.charon.first_failure().or_else(|| self.deposits.first_failure())
    }

    /// Where Charon's own loading stops: "hashes", "signatures" or `None`.
    pub fn charon_stage(&self) -> Option<&'static str> {
        let first = self.charon.failures().next()?;
        Some(if HASH_CHECKS.contains(&first.name.as_str()) { "hashes" } else { "signatures" })
    }
}

const HASH_CHECKS: [&str; 3] = ["config_hash", "definition_hash", "lock_hash"];

/// Verifies a parsed lock.
pub fn verify(lock: &Lock) -> LockReport {
    let def = &lock.definition;
    let mut charon = Report { checks: Vec::new() };
    verify::check_hashes(def, &mut charon);
    let computed = ssz::lock_hash(lock);
    charon.record(
        "lock_hash",
        match &computed {
            Err(e) => Err(Failed(format!("cannot compute the lock hash: {e}"))),
            Ok(root) if root.as_slice() == lock.lock_hash => Ok(format!("0x{}", hex::encode(root))),
            Ok(root) => Err(Failed(format!(
                "stated {} but the lock hashes to 0x{}: the lock was changed after it was hashed",
                lock.lock_hash_hex(),
                hex::encode(root)
            ))),
        },
    );
    let network = def.network();
    verify::check_signatures(def, network, &mut charon);
    let lock_root = computed.ok();
    let aggregate_required = def.version >= DefinitionVersion::V1_2 || !lock.signature_aggregate.is_empty();
    if aggregate_required {
        charon.record("signature_aggregate", check_aggregate(lock, lock_root));
    } else {
        charon.pass("signature_aggregate", format!("{} locks were written without one", def.version));
    }
    for (i, validator) in lock.validators.iter().enumerate() {
        charon.record(
            format!("distributed_validators[{i}].builder_registration"),
            check_registration(lock, i, validator),
        );
    }
    check_node_signatures(lock, &mut charon);

    let mut deposits = Report { checks: Vec::new() };
    check_deposits(lock, network, &mut deposits);
    LockReport { charon, deposits }
}

fn check_aggregate(lock: &Lock, lock_root: Option<[u8; 32]>) -> Finding {
    if lock.signature_aggregate.is_empty() {
        return Err(Failed("the lock has no aggregate signature".into()));
    }
    let root = lock_root.ok_or("cannot check it: the lock hash cannot be computed")?;
    let shares: Vec<&[u8]> = lock.validators.iter().flat_map(|v| v.public_shares.iter().map(Vec::as_slice)).collect();
    bls::verify_aggregate(&shares, &root, &lock.signature_aggregate)
        .map(|()| format!("{} key shares signed the lock hash", shares.len()))
        .map_err(|e| Failed(format!("the aggregate of every key share's signature over the lock hash: {e}")))
}

fn address20(text: &str) -> Option<[u8; 20]> {
    let digits = text.strip_prefix("0x")?;
    (digits.len() == 40).then(|| hex::decode(digits).ok()?.try_into().ok()).flatten()
}

fn fork_version(def: &Definition) -> Option<[u8; 4]> {
    def.fork_version.as_slice().try_into().ok()
}

/// Charon's `verifyBuilderRegistrations` for one validator: the message it
/// rebuilds from the validator's key, the definition's fee recipient and the
/// lock's gas limit and timestamp must carry the stated signature.
fn check_registration(lock: &Lock, index: usize, validator: &DistValidator) -> Finding {
    let reg = &validator.builder_registration;
    if lock.definition.version < DefinitionVersion::V1_7 {
        return if reg.is_absent() {
            Ok(format!("{} has no builder registrations", lock.definition.version))
        } else {
            Err(Failed(format!("{} has no builder registrations, but this lock carries one", lock.definition.version)))
        };
    }
    if reg.is_absent() {
        return Err(Failed("missing: a v1.7+ lock pre-signs one builder registration per validator".into()));
    }
    let fee_recipient = lock.definition.validators.get(index).map(|v| v.fee_recipient_address.as_str()).unwrap_or("");
    let fee_recipient = address20(fee_recipient)
        .ok_or_else(|| format!("the definition's fee recipient {fee_recipient:?} is not an address"))?;
    let public_key: [u8; 48] =
        validator.public_key.as_slice().try_into().map_err(|_| "the distributed public key is not 48 bytes")?;
    let fork = fork_version(&lock.definition).ok_or("the definition's fork version is not 4 bytes")?;
    let root =
        bls::registration_signing_root(&fee_recipient, reg.gas_limit as u64, reg.timestamp as u64, &public_key, fork);
    bls::verify(&public_key, &root, &reg.signature)
        .map(|()| "signed by the distributed validator for the definition's fee recipient".to_string())
        .map_err(|e| Failed(format!("signature over the registration for the definition's fee recipient: {e}")))
}

fn check_node_signatures(lock: &Lock, report: &mut Report) {
    let def = &lock.definition;
    if def.version < DefinitionVersion::V1_7 {
        report.record(
            "node_signatures",
            if lock.node_signatures.is_empty() {
                Ok(format!("{} locks carry no node signatures", def.version))
            } else {
                Err(Failed(format!("{} locks carry no node signatures, but this one does", def.version)))
            },
        );
        return;
    }
    if lock.node_signatures.len() != def.operators.len() {
        report.fail(
            "node_signatures",
            format!(
                "{} node signatures for {} operators: every node signs the lock",
                lock.node_signatures.len(),
                def.operators.len()
            ),
        );
        return;
    }
    let Ok(digest) = <[u8; 32]>::try_from(lock.lock_hash.as_slice()) else {
        report.fail("node_signatures", "the stated lock hash is not 32 bytes");
        return;
    };
    for (i, (operator, signature)) in def.operators.iter().zip(&lock.node_signatures).enumerate() {
        let outcome =
            operator.enr.parse::<EnrRecord>().map_err(|e| Failed(format!("operators[{i}].enr: {e}"))).and_then(
                |record| {
                    let signer = eip712::recover_key(digest.into(), signature).map_err(|e| Failed(e.to_string()))?;
                    if signer == record.public_key_compressed() {
                        Ok(format!("signed by node {i}'s ENR key"))
                    } else {
                        Err(Failed(format!(
                            "not signed by operators[{i}]'s ENR key: the lock hash or the signature was changed"
                        )))
                    }
                },
            );
        report.record(format!("node_signatures[{i}]"), outcome);
    }
}

/// The amounts `charon dkg` makes partial deposits for: the definition's
/// (deduplicated), or its defaults.
pub fn expected_deposit_amounts(def: &Definition) -> Vec<u64> {
    let mut amounts = if !def.deposit_amounts.is_empty() {
        def.deposit_amounts.clone()
    } else if def.version >= DefinitionVersion::V1_8 {
        if def.compounding {
            vec![GWEI_PER_ETH, 8 * GWEI_PER_ETH, 32 * GWEI_PER_ETH, 256 * GWEI_PER_ETH]
        } else {
            vec![GWEI_PER_ETH, 32 * GWEI_PER_ETH]
        }
    } else {
        vec![32 * GWEI_PER_ETH]
    };
    amounts.sort_unstable();
    amounts.dedup();
    amounts
}

/// The withdrawal credentials of an address: 0x02 (compounding, EIP-7251)
/// or 0x01, eleven zero bytes, the address.
fn withdrawal_credentials(address: &[u8; 20], compounding: bool) -> [u8; 32] {
    let mut creds = [0u8; 32];
    creds[0] = if compounding { 0x02 } else { 0x01 };
    creds[12..].copy_from_slice(address);
    creds
}

fn check_deposits(lock: &Lock, network: Option<Network>, report: &mut Report) {
    let def = &lock.definition;
    report.record(
        "distributed_validators",
        if lock.validators.len() as i64 == def.num_validators {
            Ok(format!("{} validators, as the definition asks", lock.validators.len()))
        } else {
            Err(Failed(format!(
                "{} validators, but the definition asks for {}: the lock does not cover the cluster",
                lock.validators.len(),
                def.num_validators
            )))
        },
    );
    for (i, validator) in lock.validators.iter().enumerate() {
        let slot = def.validators.get(i).cloned().unwrap_or_default();
        if def.version >= DefinitionVersion::V1_7 {
            let reg = &validator.builder_registration;
            let outcome = match address20(&slot.fee_recipient_address) {
                None => Err(Failed(format!(
                    "the definition's fee recipient {:?} is not an address",
                    slot.fee_recipient_address
                ))),
                Some(fee) if reg.fee_recipient != fee => Err(Failed(format!(
                    "the registration names fee recipient 0x{}, the definition {}",
                    hex::encode(&reg.fee_recipient),
                    slot.fee_recipient_address
                ))),
                Some(_) if reg.public_key != validator.public_key => {
                    Err(Failed("the registration is for another validator key".to_string()))
                }
                Some(_) => Ok(format!("fee recipient {}", slot.fee_recipient_address)),
            };
            report.record(format!("distributed_validators[{i}].builder_registration.message"), outcome);
        }
        if def.version < DefinitionVersion::V1_6 {
            continue;
        }
        let name = |suffix: &str| format!("distributed_validators[{i}].{suffix}");
        if validator.deposits.is_empty() {
            report.fail(name("deposits"), "no deposit data: nothing to deposit with");
            continue;
        }
        for (j, data) in validator.deposits.iter().enumerate() {
            let outcome = check_deposit(def, network, &slot.withdrawal_address, validator, data);
            report.record(name(&format!("deposits[{j}]")), outcome);
        }
        let mut amounts: Vec<u64> = validator.deposits.iter().map(|d| d.amount as u64).collect();
        amounts.sort_unstable();
        amounts.dedup();
        let expected = expected_deposit_amounts(def);
        report.record(
            name("deposit_amounts"),
            if amounts == expected {
                Ok(format!("{} ETH", eth_list(&amounts)))
            } else {
                Err(Failed(format!(
                    "deposits of {} ETH, but the definition asks for {} ETH",
                    eth_list(&amounts),
                    eth_list(&expected)
                )))
            },
        );
    }
}

fn check_deposit(
    def: &Definition,
    network: Option<Network>,
    withdrawal_address: &str,
    validator: &DistValidator,
    data: &DepositData,
) -> Finding {
    let address = address20(withdrawal_address)
        .ok_or_else(|| format!("the definition's withdrawal address {withdrawal_address:?} is not an address"))?;
    let amount = data.amount as u64;
    let max = if def.compounding { MAX_COMPOUNDING_DEPOSIT_GWEI } else { MAX_STANDARD_DEPOSIT_GWEI };
    if data.amount < MIN_DEPOSIT_GWEI as i64 || amount > max {
        return Err(Failed(format!("amount {} Gwei is outside 1 to {} ETH", data.amount, max / GWEI_PER_ETH)));
    }
    if data.public_key != validator.public_key {
        return Err(Failed("made for another validator key than the distributed public key".into()));
    }
    let expected = withdrawal_credentials(&address, def.compounding);
    if data.withdrawal_credentials != expected {
        return Err(Failed(format!(
            "withdrawal credentials 0x{}, but the definition's withdrawal address gives 0x{}",
            hex::encode(&data.withdrawal_credentials),
            hex::encode(expected)
        )));
    }
    let network = network.ok_or("the fork version names no network, so no deposit domain")?;
    let public_key: [u8; 48] = data.public_key.as_slice().try_into().map_err(|_| "the public key is not 48 bytes")?;
    let root = bls::deposit_signing_root(&public_key, &expected, amount, network.genesis_fork_version());
    bls::verify(&public_key, &root, &data.signature)
        .map(|()| format!("{} ETH to {withdrawal_address}, signed for {network}", format_eth(amount)))
        .map_err(|e| Failed(format!("the deposit signature for {network}: {e}")))
}

/// Gwei as ETH for a person: `32`, `1.5`.
pub fn format_eth(gwei: u64) -> String {
    let (whole, rest) = (gwei / GWEI_PER_ETH, gwei % GWEI_PER_ETH);
    if rest == 0 { whole.to_string() } else { format!("{whole}.{}", format!("{rest:09}").trim_end_matches('0')) }
}

fn eth_list(amounts: &[u64]) -> String {
    amounts.iter().map(|a| format_eth(*a)).collect::<Vec<_>>().join(" + ")
}

/// What a person checks before sending ETH for one validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepositSummary {
    pub index: usize,
    pub distributed_public_key: String,
    pub withdrawal_address: String,
    /// "0x01" or "0x02 (compounding)".
    pub withdrawal_type: String,
    pub fee_recipient: String,
    pub amounts_gwei: Vec<u64>,
    pub network: String,
    /// Every deposit message of this validator verifies.
    pub deposits_verify: bool,
}

/// One summary per validator of a verified (or refused) lock.
pub fn deposit_summary(lock: &Lock, report: &LockReport) -> Vec<DepositSummary> {
    let def = &lock.definition;
    lock.validators
        .iter()
        .enumerate()
        .map(|(i, validator)| {
            let slot = def.validators.get(i).cloned().unwrap_or_default();
            let prefix = format!("distributed_validators[{i}].deposits");
            let deposits_verify = def.version >= DefinitionVersion::V1_6
                && report
                    .deposits
                    .checks
                    .iter()
                    .filter(|c| c.name.starts_with(&prefix))
                    .all(|c| c.status == Status::Pass)
                && !validator.deposits.is_empty();
            DepositSummary {
                index: i,
                distributed_public_key: format!("0x{}", hex::encode(&validator.public_key)),
                withdrawal_address: slot.withdrawal_address,
                withdrawal_type: if def.compounding { "0x02 (compounding)".into() } else { "0x01".into() },
                fee_recipient: slot.fee_recipient_address,
                amounts_gwei: validator.deposits.iter().map(|d| d.amount as u64).collect(),
                network: def
                    .network()
                    .map_or_else(|| format!("unknown (fork 0x{})", hex::encode(&def.fork_version)), |n| n.to_string()),
                deposits_verify,
            }
        })
        .collect()
}
