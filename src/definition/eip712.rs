//! The EIP-712 messages operators and the creator sign, and recovery of the
//! signer's address. Domain `{name: "Obol", version: "1", chainId}` with the
//! chain id of the definition's fork version and no verifying contract;
//! every message is one string field holding a `0x`-hex hash or an ENR.

use alloy_primitives::{Address, B256, Signature, U256};
use alloy_sol_types::{Eip712Domain, SolStruct, sol};

use super::{Definition, DefinitionVersion, Network};

sol! {
    struct OperatorConfigHash { string operator_config_hash; }
    struct ConfigHash { string config_hash; }
    struct ENR { string enr; }
    struct CreatorConfigHash { string creator_config_hash; }
    struct TermsAndConditions { string terms_and_conditions_hash; uint256 version; }
}

fn domain(network: Network) -> Eip712Domain {
    Eip712Domain::new(Some("Obol".into()), Some("1".into()), Some(U256::from(network.chain_id())), None, None)
}

/// The digest an operator signs to approve the configuration. v1.3 used the
/// `ConfigHash` type; later versions `OperatorConfigHash`.
pub fn operator_config_digest(def: &Definition, network: Network) -> B256 {
    let hash = def.config_hash_hex();
    if def.version == DefinitionVersion::V1_3 {
        ConfigHash { config_hash: hash }.eip712_signing_hash(&domain(network))
    } else {
        OperatorConfigHash { operator_config_hash: hash }.eip712_signing_hash(&domain(network))
    }
}

/// The digest an operator signs to bind their exact ENR string.
pub fn enr_digest(enr: &str, network: Network) -> B256 {
    ENR { enr: enr.to_string() }.eip712_signing_hash(&domain(network))
}

/// The digest the creator signs.
pub fn creator_config_digest(def: &Definition, network: Network) -> B256 {
    CreatorConfigHash { creator_config_hash: def.config_hash_hex() }.eip712_signing_hash(&domain(network))
}

/// The digest a user signs to accept Obol's terms and conditions (the hash
/// of the terms document and its version), as obol-sdk asks for it.
pub fn terms_digest(terms_hash: &str, version: u64, network: Network) -> B256 {
    TermsAndConditions { terms_and_conditions_hash: terms_hash.to_string(), version: U256::from(version) }
        .eip712_signing_hash(&domain(network))
}

/// Why a signature yields no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature is {0} bytes; a secp256k1 signature is 65 (R, S, V)")]
    Length(usize),
    #[error("the recovery id V is {0}; it must be 0, 1, 27 or 28")]
    RecoveryId(u8),
    #[error("no public key recovers from this signature")]
    Unrecoverable,
}

/// The address that produced a 65-byte R||S||V signature over `digest`.
pub fn recover_signer(digest: B256, signature: &[u8]) -> Result<Address, SignatureError> {
    parse_signature(signature)?.recover_address_from_prehash(&digest).map_err(|_| SignatureError::Unrecoverable)
}

/// The compressed secp256k1 key that produced a 65-byte R||S||V signature
/// over `digest` (Charon's `k1util.Recover`, for node signatures of a lock).
pub fn recover_key(digest: B256, signature: &[u8]) -> Result<[u8; 33], SignatureError> {
    let key = parse_signature(signature)?.recover_from_prehash(&digest).map_err(|_| SignatureError::Unrecoverable)?;
    key.to_encoded_point(true).as_bytes().try_into().map_err(|_| SignatureError::Unrecoverable)
}

/// V is 0/1 or 27/28, as both Charon and wallets write it.
fn parse_signature(signature: &[u8]) -> Result<Signature, SignatureError> {
    let bytes: &[u8; 65] = signature.try_into().map_err(|_| SignatureError::Length(signature.len()))?;
    let parity = match bytes[64] {
        0 | 27 => false,
        1 | 28 => true,
        other => return Err(SignatureError::RecoveryId(other)),
    };
    Ok(Signature::new(U256::from_be_slice(&bytes[..32]), U256::from_be_slice(&bytes[32..64]), parity))
}

/// Signs `digest` with an operator's Ethereum key as wallets do for EIP-712:
/// 65 bytes R||S||V with V = 27 or 28. Used by the Obol API simulator, which
/// plays the other operators.
pub fn sign(digest: B256, key: &k256::ecdsa::SigningKey) -> [u8; 65] {
    let (signature, recovery) = key.sign_prehash_recoverable(digest.as_slice());
    let mut bytes = [0u8; 65];
    bytes[..64].copy_from_slice(&signature.to_bytes());
    bytes[64] = 27 + recovery.to_byte();
    bytes
}

/// The Ethereum address of a secp256k1 key.
pub fn address_of(key: &k256::ecdsa::VerifyingKey) -> Address {
    let point = key.to_sec1_point(false);
    Address::from_raw_public_key(&point.as_bytes()[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_recovers_to_the_signers_address_whatever_the_v_convention() {
        let key = k256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let digest = enr_digest("enr:-example", Network::Hoodi);
        let mut signature = sign(digest, &key);
        assert_eq!(recover_signer(digest, &signature), Ok(address_of(key.verifying_key())));
        signature[64] -= 27;
        assert_eq!(recover_signer(digest, &signature), Ok(address_of(key.verifying_key())));
        signature[64] = 5;
        assert_eq!(recover_signer(digest, &signature), Err(SignatureError::RecoveryId(5)));
        assert_eq!(recover_signer(digest, &signature[..64]), Err(SignatureError::Length(64)));
    }
}
