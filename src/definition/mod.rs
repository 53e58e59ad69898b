//! Cluster definitions: the one model of a definition that the sidecar, the
//! TUI and the plugin share, read from the JSON that the Obol API and
//! `charon create dkg` produce, for every version Charon v1.10 accepts.
//!
//! The document is kept exactly as received ([`Definition::json`]), so
//! passing it on (to `charon dkg`, to disk) never changes a byte or drops an
//! unknown field, and the typed view is read from it the way Charon's
//! `UnmarshalJSON` reads each version. Verification lives in [`verify`],
//! the hash roots in [`ssz`], the signatures in [`eip712`]; the cluster
//! lock that a DKG produces from a definition is [`lock`].

pub mod bls;
pub mod eip712;
pub mod invite;
pub mod lock;
pub mod network;
pub mod ssz;
pub mod verify;

use std::fmt;

use serde_json::{Map, Value};

pub use network::Network;

/// The definition versions Charon v1.10 reads, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DefinitionVersion {
    V1_0,
    V1_1,
    V1_2,
    V1_3,
    V1_4,
    V1_5,
    V1_6,
    V1_7,
    V1_8,
    V1_9,
    V1_10,
}

impl DefinitionVersion {
    pub const ALL: [DefinitionVersion; 11] = [
        Self::V1_0,
        Self::V1_1,
        Self::V1_2,
        Self::V1_3,
        Self::V1_4,
        Self::V1_5,
        Self::V1_6,
        Self::V1_7,
        Self::V1_8,
        Self::V1_9,
        Self::V1_10,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0 => "v1.0.0",
            Self::V1_1 => "v1.1.0",
            Self::V1_2 => "v1.2.0",
            Self::V1_3 => "v1.3.0",
            Self::V1_4 => "v1.4.0",
            Self::V1_5 => "v1.5.0",
            Self::V1_6 => "v1.6.0",
            Self::V1_7 => "v1.7.0",
            Self::V1_8 => "v1.8.0",
            Self::V1_9 => "v1.9.0",
            Self::V1_10 => "v1.10.0",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }

    /// Operators sign with EIP-712 from v1.3 on.
    pub fn has_signatures(self) -> bool {
        self >= Self::V1_3
    }

    /// `charon dkg` v1.10 runs ceremonies for v1.6.0 to v1.10.0 only.
    pub fn dkg_supported(self) -> bool {
        self >= Self::V1_6
    }
}

impl fmt::Display for DefinitionVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a document is not a definition Charon can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("the definition is not valid JSON: {0}")]
    Json(String),
    #[error("the definition is not a JSON object")]
    NotAnObject,
    #[error("unsupported definition version {0:?}: Charon v1.10 reads v1.0.0 to v1.10.0")]
    UnsupportedVersion(String),
    #[error("field {field}: expected {expected}")]
    FieldType { field: String, expected: &'static str },
    #[error("field {field}: not valid hex ({value:?})")]
    Hex { field: String, value: String },
    #[error("field {field}: not valid base64")]
    Base64 { field: String },
    #[error("num_validators is {num_validators} but validators lists {listed}")]
    ValidatorCount { num_validators: i64, listed: usize },
}

/// One operator slot of a definition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Operator {
    /// Ethereum address as written (checksummed by the Launchpad, may be empty).
    pub address: String,
    pub enr: String,
    pub config_signature: Vec<u8>,
    pub enr_signature: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Creator {
    pub address: String,
    pub config_signature: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidatorAddresses {
    pub fee_recipient_address: String,
    pub withdrawal_address: String,
}

/// A cluster definition: the document as received plus its typed view.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub version: DefinitionVersion,
    pub uuid: String,
    pub name: String,
    pub timestamp: String,
    /// Signed like Go's `int`, which Charon hashes as `uint64`.
    pub num_validators: i64,
    pub threshold: i64,
    pub dkg_algorithm: String,
    pub fork_version: Vec<u8>,
    pub operators: Vec<Operator>,
    pub creator: Creator,
    /// One entry per validator (legacy versions repeat their single pair).
    pub validators: Vec<ValidatorAddresses>,
    /// Deposit amounts in Gwei (v1.8 and later).
    pub deposit_amounts: Vec<u64>,
    pub consensus_protocol: String,
    pub target_gas_limit: u64,
    pub compounding: bool,
    pub config_hash: Vec<u8>,
    pub definition_hash: Vec<u8>,
    json: Map<String, Value>,
}

impl Definition {
    /// Reads a definition the way Charon's `Definition.UnmarshalJSON` does
    /// for its version: missing or null fields are empty, wrong types and
    /// malformed hex are errors.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DefinitionError> {
        Self::from_value(parse_json(bytes)?)
    }

    pub fn from_value(value: Value) -> Result<Self, DefinitionError> {
        let json = json_object(value)?;
        let doc = Fields(&json);
        let version_text = doc.string("version")?;
        let version =
            DefinitionVersion::parse(&version_text).ok_or(DefinitionError::UnsupportedVersion(version_text))?;
        let num_validators = doc.int("num_validators")?;
        Ok(Definition {
            version,
            uuid: doc.string("uuid")?,
            name: doc.string("name")?,
            timestamp: doc.string("timestamp")?,
            num_validators,
            threshold: doc.int("threshold")?,
            dkg_algorithm: doc.string("dkg_algorithm")?,
            fork_version: read_fork_version(&doc, version)?,
            operators: read_operators(&doc, version)?,
            creator: read_creator(&doc, version)?,
            validators: read_validator_addresses(&doc, version, num_validators)?,
            deposit_amounts: if version >= DefinitionVersion::V1_8 {
                doc.gwei_list("deposit_amounts")?
            } else {
                Vec::new()
            },
            consensus_protocol: if version >= DefinitionVersion::V1_9 {
                doc.string("consensus_protocol")?
            } else {
                String::new()
            },
            target_gas_limit: if version >= DefinitionVersion::V1_10 { doc.uint("target_gas_limit")? } else { 0 },
            compounding: version >= DefinitionVersion::V1_10 && doc.bool("compounding")?,
            config_hash: doc.bytes(version, "config_hash", "")?,
            definition_hash: doc.bytes(version, "definition_hash", "")?,
            json,
        })
    }

    /// The document exactly as it was received.
    pub fn json(&self) -> &Map<String, Value> {
        &self.json
    }

    /// The network of the fork version, if Charon knows it.
    pub fn network(&self) -> Option<Network> {
        Network::from_fork_version(&self.fork_version)
    }

    /// `0x`-hex of the stated config hash, the key the Obol API files it under.
    pub fn config_hash_hex(&self) -> String {
        format!("0x{}", hex::encode(&self.config_hash))
    }

    /// The single fee recipient / withdrawal pair of a pre-v1.5 definition,
    /// or `None` when the validators disagree (Charon refuses to hash that).
    pub fn legacy_validator_addresses(&self) -> Option<ValidatorAddresses> {
        let first = self.validators.first().cloned().unwrap_or_default();
        self.validators.iter().all(|v| *v == first).then_some(first)
    }
}

fn parse_json(bytes: &[u8]) -> Result<Value, DefinitionError> {
    serde_json::from_slice(bytes).map_err(|e| DefinitionError::Json(e.to_string()))
}

fn json_object(value: Value) -> Result<Map<String, Value>, DefinitionError> {
    match value {
        Value::Object(json) => Ok(json),
        _ => Err(DefinitionError::NotAnObject),
    }
}

fn read_operators(doc: &Fields, version: DefinitionVersion) -> Result<Vec<Operator>, DefinitionError> {
    doc.objects("operators")?
        .into_iter()
        .map(|(prefix, op)| {
            Ok(Operator {
                address: op.string_at("address", &prefix)?,
                enr: op.string_at("enr", &prefix)?,
                config_signature: op.bytes(version, "config_signature", &prefix)?,
                enr_signature: op.bytes(version, "enr_signature", &prefix)?,
            })
        })
        .collect()
}

/// The creator arrived with v1.4; earlier definitions have none.
fn read_creator(doc: &Fields, version: DefinitionVersion) -> Result<Creator, DefinitionError> {
    if version < DefinitionVersion::V1_4 {
        return Ok(Creator::default());
    }
    match doc.get("creator") {
        Some(value) => {
            let c = object(value, "creator")?;
            Ok(Creator {
                address: c.string_at("address", "creator.")?,
                config_signature: c.eth_hex("config_signature", "creator.")?,
            })
        }
        None => Ok(Creator::default()),
    }
}

/// Up to v1.4 one address pair serves every validator; from v1.5 each
/// validator lists its own.
fn read_validator_addresses(
    doc: &Fields,
    version: DefinitionVersion,
    num_validators: i64,
) -> Result<Vec<ValidatorAddresses>, DefinitionError> {
    if version <= DefinitionVersion::V1_4 {
        let pair = ValidatorAddresses {
            fee_recipient_address: doc.string("fee_recipient_address")?,
            withdrawal_address: doc.string("withdrawal_address")?,
        };
        // Charon repeats the pair num_validators times; bound it first.
        if num_validators > 65536 {
            return Err(DefinitionError::FieldType {
                field: "num_validators".into(),
                expected: "at most 65536 validators",
            });
        }
        return Ok(vec![pair; num_validators.max(0) as usize]);
    }
    let listed = doc
        .objects("validators")?
        .into_iter()
        .map(|(prefix, v)| {
            Ok(ValidatorAddresses {
                fee_recipient_address: v.string_at("fee_recipient_address", &prefix)?,
                withdrawal_address: v.string_at("withdrawal_address", &prefix)?,
            })
        })
        .collect::<Result<Vec<_>, DefinitionError>>()?;
    if listed.len() as i64 != num_validators {
        return Err(DefinitionError::ValidatorCount { num_validators, listed: listed.len() });
    }
    Ok(listed)
}

/// v1.0 and v1.1 wrote the fork version as a hex string of exactly 4 bytes
/// (or nothing); later versions as any `ethHex`.
fn read_fork_version(doc: &Fields, version: DefinitionVersion) -> Result<Vec<u8>, DefinitionError> {
    if version > DefinitionVersion::V1_1 {
        return doc.eth_hex("fork_version", "");
    }
    let text = doc.string("fork_version")?;
    match hex_field(&text) {
        _ if text.is_empty() => Ok(Vec::new()),
        Some(bytes) if bytes.len() == 4 => Ok(bytes),
        _ => Err(DefinitionError::Hex { field: "fork_version".into(), value: text }),
    }
}

/// Charon's `ethHex`/`from0xHex` reading: an optional `0x`, then hex digits
/// of either case.
pub(crate) fn hex_field(text: &str) -> Option<Vec<u8>> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text)).ok()
}

/// `text` in the byte encoding of `version` (see [`Fields::bytes`]).
fn decode_bytes(version: DefinitionVersion, text: &str, field: &str) -> Result<Vec<u8>, DefinitionError> {
    use base64::Engine;
    if version <= DefinitionVersion::V1_1 {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| DefinitionError::Base64 { field: field.into() })
    } else {
        hex_field(text).ok_or_else(|| DefinitionError::Hex { field: field.into(), value: text.into() })
    }
}

fn object<'a>(value: &'a Value, field: &str) -> Result<Fields<'a>, DefinitionError> {
    match value {
        Value::Object(map) => Ok(Fields(map)),
        _ => Err(DefinitionError::FieldType { field: field.into(), expected: "an object" }),
    }
}

/// Typed reads of one JSON object, with Go's zero-value rules.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> Result<String, DefinitionError> {
        self.string_at(key, "")
    }

    fn string_at(&self, key: &str, prefix: &str) -> Result<String, DefinitionError> {
        match self.get(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(DefinitionError::FieldType { field: format!("{prefix}{key}"), expected: "a string" }),
        }
    }

    fn int(&self, key: &str) -> Result<i64, DefinitionError> {
        match self.get(key) {
            None => Ok(0),
            Some(v) => v.as_i64().ok_or(DefinitionError::FieldType { field: key.into(), expected: "an integer" }),
        }
    }

    fn uint(&self, key: &str) -> Result<u64, DefinitionError> {
        match self.get(key) {
            None => Ok(0),
            Some(v) => {
                v.as_u64().ok_or(DefinitionError::FieldType { field: key.into(), expected: "an unsigned integer" })
            }
        }
    }

    fn bool(&self, key: &str) -> Result<bool, DefinitionError> {
        match self.get(key) {
            None => Ok(false),
            Some(v) => v.as_bool().ok_or(DefinitionError::FieldType { field: key.into(), expected: "true or false" }),
        }
    }

    /// Each item of the array `key` as an object, with the prefix that
    /// names its fields in errors (`key[i].`).
    fn objects(&self, key: &str) -> Result<Vec<(String, Fields<'_>)>, DefinitionError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, item)| Ok((format!("{key}[{i}]."), object(item, &format!("{key}[{i}]"))?)))
            .collect()
    }

    fn array(&self, key: &str) -> Result<&[Value], DefinitionError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(DefinitionError::FieldType { field: key.into(), expected: "an array" }),
        }
    }

    fn eth_hex(&self, key: &str, prefix: &str) -> Result<Vec<u8>, DefinitionError> {
        let text = self.string_at(key, prefix)?;
        hex_field(&text).ok_or(DefinitionError::Hex { field: format!("{prefix}{key}"), value: text })
    }

    /// Bytes as the version wrote them: v1.0 and v1.1 by Go's default
    /// `[]byte` encoding (base64), later versions as `ethHex`.
    fn bytes(&self, version: DefinitionVersion, key: &str, prefix: &str) -> Result<Vec<u8>, DefinitionError> {
        let text = self.string_at(key, prefix)?;
        decode_bytes(version, &text, &format!("{prefix}{key}"))
    }

    /// Deposit amounts: Gwei as decimal strings (go-eth2-client's encoding).
    fn gwei_list(&self, key: &str) -> Result<Vec<u64>, DefinitionError> {
        let wrong =
            || DefinitionError::FieldType { field: key.into(), expected: "a list of Gwei amounts as decimal strings" };
        self.array(key)?
            .iter()
            .map(|item| item.as_str().and_then(|s| s.parse::<u64>().ok()).ok_or_else(wrong))
            .collect()
    }
}
