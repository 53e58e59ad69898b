//! The Launchpad's side of the API, as a person's wallet drives it: the
//! creator proposes a cluster (`POST /v1/definition`, signed with their
//! key), and each operator accepts it with their node's ENR (`PUT
//! /v1/definition/{config_hash}`, two EIP-712 signatures). The demo and the
//! tests play the operators through this; the simulator checks and applies
//! the same documents, so both sides share one definition of them.

use k256::ecdsa::SigningKey;
use serde_json::{Value, json};

use crate::definition::{Definition, DefinitionError, Network, eip712, ssz};

/// An operator's or creator's Ethereum key, as their wallet holds it.
#[derive(Clone)]
pub struct Wallet(SigningKey);

#[derive(Debug, thiserror::Error)]
pub enum LaunchpadError {
    #[error("a wallet key is 64 hex characters (32 bytes) of a valid secp256k1 scalar")]
    WalletKey,
    #[error("the operating system's random number generator failed")]
    Random,
    #[error("the proposed cluster is not a valid definition: {0}")]
    Definition(#[from] DefinitionError),
    #[error("the proposed cluster does not fit Charon's SSZ limits: {0}")]
    Hash(String),
}

impl Wallet {
    pub fn from_hex(text: &str) -> Result<Wallet, LaunchpadError> {
        hex::decode(text.trim().trim_start_matches("0x"))
            .ok()
            .and_then(|bytes| SigningKey::from_slice(&bytes).ok())
            .map(Wallet)
            .ok_or(LaunchpadError::WalletKey)
    }

    pub fn generate() -> Result<Wallet, LaunchpadError> {
        loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|_| LaunchpadError::Random)?;
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return Ok(Wallet(key));
            }
        }
    }

    /// The EIP-55 checksummed address.
    pub fn address(&self) -> String {
        eip712::address_of(self.0.verifying_key()).to_checksum(None)
    }

    fn sign_hex(&self, digest: alloy_primitives::B256) -> String {
        format!("0x{}", hex::encode(eip712::sign(digest, &self.0)))
    }
}

/// What a creator fills in on the Launchpad.
#[derive(Debug, Clone)]
pub struct ClusterProposal {
    pub name: String,
    pub network: Network,
    pub num_validators: u64,
    /// Charon's ceil(2n/3) when absent.
    pub threshold: Option<u64>,
    /// The operators' addresses, in the order of the definition.
    pub operators: Vec<String>,
    pub withdrawal_address: String,
    pub fee_recipient_address: String,
}

/// A proposal ready to post: the definition and the creator's signature,
/// which the API takes as the bearer token.
pub struct SignedProposal {
    pub definition: Value,
    pub config_hash: String,
    pub creator_signature: String,
}

impl ClusterProposal {
    /// The v1.10.0 definition the Launchpad writes today, with its config
    /// hash, signed by `creator`.
    pub fn sign(&self, creator: &Wallet) -> Result<SignedProposal, LaunchpadError> {
        let mut uuid = [0u8; 16];
        getrandom::fill(&mut uuid).map_err(|_| LaunchpadError::Random)?;
        let uuid = hex::encode_upper(uuid);
        let n = self.operators.len() as u64;
        let mut definition = json!({
            "name": self.name,
            "creator": {"address": creator.address(), "config_signature": ""},
            "operators": self.operators.iter()
                .map(|address| json!({"address": address, "enr": "", "config_signature": "", "enr_signature": ""}))
                .collect::<Vec<_>>(),
            "uuid": format!("{}-{}-{}-{}-{}", &uuid[..8], &uuid[8..12], &uuid[12..16], &uuid[16..20], &uuid[20..]),
            "version": "v1.10.0",
            "timestamp": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            "num_validators": self.num_validators,
            "threshold": self.threshold.unwrap_or((2 * n).div_ceil(3)),
            "validators": (0..self.num_validators)
                .map(|_| json!({
                    "fee_recipient_address": self.fee_recipient_address,
                    "withdrawal_address": self.withdrawal_address,
                }))
                .collect::<Vec<_>>(),
            "dkg_algorithm": "default",
            "fork_version": format!("0x{}", hex::encode(self.network.genesis_fork_version())),
            "deposit_amounts": ["32000000000"],
            "consensus_protocol": "",
            "target_gas_limit": 60000000,
            "compounding": false,
            "config_hash": "",
            "definition_hash": "",
        });
        let config_hash = ssz::config_hash(&Definition::from_value(definition.clone())?)
            .map_err(|e| LaunchpadError::Hash(e.to_string()))?;
        let config_hash = format!("0x{}", hex::encode(config_hash));
        definition["config_hash"] = json!(config_hash);
        let digest = eip712::creator_config_digest(&Definition::from_value(definition.clone())?, self.network);
        let creator_signature = creator.sign_hex(digest);
        definition["creator"]["config_signature"] = json!(creator_signature);
        let definition = with_definition_hash(definition)?;
        Ok(SignedProposal { definition, config_hash, creator_signature })
    }
}

/// A user's acceptance of Obol's terms and conditions (`POST
/// /v1/termsAndConditions`), which the API asks for before a proposal or an
/// acceptance from their address.
pub struct TermsAcceptance {
    pub body: Value,
    pub signature: String,
}

/// What `wallet` signs to accept the terms whose document hashes to
/// `terms_hash` (version `version`) on `network`.
pub fn accept_terms(terms_hash: &str, version: u64, network: Network, wallet: &Wallet) -> TermsAcceptance {
    let signature = wallet.sign_hex(eip712::terms_digest(terms_hash, version, network));
    let body = json!({
        "address": wallet.address(),
        "version": version,
        "terms_and_conditions_hash": terms_hash,
        "fork_version": format!("0x{}", hex::encode(network.genesis_fork_version())),
    });
    TermsAcceptance { body, signature }
}

/// An operator's acceptance: the body of the `PUT` and its bearer token
/// (the operator's signature over the config hash).
pub struct Acceptance {
    pub body: Value,
    pub config_signature: String,
}

/// What `wallet` signs to accept `definition` with their node's `enr`.
pub fn accept(definition: &Definition, network: Network, enr: &str, wallet: &Wallet) -> Acceptance {
    let config_signature = wallet.sign_hex(eip712::operator_config_digest(definition, network));
    let body = json!({
        "address": wallet.address(),
        "enr": enr,
        "fork_version": format!("0x{}", hex::encode(network.genesis_fork_version())),
        "version": definition.version.as_str(),
        "enr_signature": wallet.sign_hex(eip712::enr_digest(enr, network)),
        "config_signature": config_signature,
    });
    Acceptance { body, config_signature }
}

/// Recomputes `definition_hash`, which covers the signatures, after any
/// change to the document.
pub fn with_definition_hash(mut definition: Value) -> Result<Value, LaunchpadError> {
    let hash = ssz::definition_hash(&Definition::from_value(definition.clone())?)
        .map_err(|e| LaunchpadError::Hash(e.to_string()))?;
    definition["definition_hash"] = json!(format!("0x{}", hex::encode(hash)));
    Ok(definition)
}
