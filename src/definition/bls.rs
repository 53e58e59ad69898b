//! BLS12-381 signatures as Ethereum uses them (the proof-of-possession
//! scheme, public keys in G1), and the two signing roots a cluster lock
//! carries signatures over: the deposit message and the builder
//! registration.
//!
//! Verification goes through `blst`, the library Lighthouse, Prysm, Teku
//! and Nimbus all use: audited, constant-time and maintained by
//! Supranational. Signing is here only for tests that re-sign a changed
//! lock; the product never holds a validator key outside the VC.

use blst::BLST_ERROR;
use blst::min_pk::{PublicKey, SecretKey, Signature};
use sha2::{Digest, Sha256};

/// The ciphersuite of Ethereum's consensus layer.
const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

const DOMAIN_DEPOSIT: [u8; 4] = [0x03, 0x00, 0x00, 0x00];
const DOMAIN_APPLICATION_BUILDER: [u8; 4] = [0x00, 0x00, 0x00, 0x01];

pub const PUBLIC_KEY_LEN: usize = 48;
pub const SIGNATURE_LEN: usize = 96;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlsError {
    #[error("not a BLS public key ({0} bytes, need a 48-byte compressed G1 point)")]
    PublicKey(usize),
    #[error("not a BLS signature ({0} bytes, need a 96-byte compressed G2 point)")]
    Signature(usize),
    #[error("the signature does not verify")]
    Mismatch,
}

fn public_key(bytes: &[u8]) -> Result<PublicKey, BlsError> {
    let key = PublicKey::from_bytes(bytes).map_err(|_| BlsError::PublicKey(bytes.len()))?;
    key.validate().map_err(|_| BlsError::PublicKey(bytes.len()))?;
    Ok(key)
}

fn signature(bytes: &[u8]) -> Result<Signature, BlsError> {
    Signature::from_bytes(bytes).map_err(|_| BlsError::Signature(bytes.len()))
}

/// One key's signature over `message`.
pub fn verify(public_key_bytes: &[u8], message: &[u8], signature_bytes: &[u8]) -> Result<(), BlsError> {
    let key = public_key(public_key_bytes)?;
    match signature(signature_bytes)?.verify(true, message, DST, &[], &key, false) {
        BLST_ERROR::BLST_SUCCESS => Ok(()),
        _ => Err(BlsError::Mismatch),
    }
}

/// Many keys' aggregate signature over one message (FastAggregateVerify).
pub fn verify_aggregate(public_keys: &[&[u8]], message: &[u8], signature_bytes: &[u8]) -> Result<(), BlsError> {
    let keys = public_keys.iter().map(|k| public_key(k)).collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&PublicKey> = keys.iter().collect();
    match signature(signature_bytes)?.fast_aggregate_verify(true, message, DST, &refs) {
        BLST_ERROR::BLST_SUCCESS => Ok(()),
        _ => Err(BlsError::Mismatch),
    }
}

/// Signs `message` with a 32-byte secret key (tests re-signing a lock).
pub fn sign(secret_key: &[u8], message: &[u8]) -> Result<[u8; SIGNATURE_LEN], BlsError> {
    let key = SecretKey::from_bytes(secret_key).map_err(|_| BlsError::PublicKey(secret_key.len()))?;
    Ok(key.sign(message, DST, &[]).to_bytes())
}

/// The public key of a 32-byte secret key.
pub fn public_key_of(secret_key: &[u8]) -> Result<[u8; PUBLIC_KEY_LEN], BlsError> {
    let key = SecretKey::from_bytes(secret_key).map_err(|_| BlsError::PublicKey(secret_key.len()))?;
    Ok(key.sk_to_pk().to_bytes())
}

/// Aggregates signatures (tests re-signing a lock).
pub fn aggregate(signatures: &[[u8; SIGNATURE_LEN]]) -> Result<[u8; SIGNATURE_LEN], BlsError> {
    let parsed = signatures.iter().map(|s| signature(s)).collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&Signature> = parsed.iter().collect();
    let aggregate = blst::min_pk::AggregateSignature::aggregate(&refs, true).map_err(|_| BlsError::Mismatch)?;
    Ok(aggregate.to_signature().to_bytes())
}

fn sha256_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// A value of up to 32 bytes as one SSZ chunk, right-padded with zeros.
fn chunk(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..bytes.len()].copy_from_slice(bytes);
    out
}

/// The hash tree root of a 48-byte public key: two chunks.
fn public_key_root(key: &[u8; PUBLIC_KEY_LEN]) -> [u8; 32] {
    sha256_pair(&chunk(&key[..32]), &chunk(&key[32..]))
}

/// The root of a container of up to four chunks.
fn container4(fields: [[u8; 32]; 4]) -> [u8; 32] {
    sha256_pair(&sha256_pair(&fields[0], &fields[1]), &sha256_pair(&fields[2], &fields[3]))
}

/// `compute_domain` with a zero genesis validators root, as deposits and
/// builder registrations use.
fn domain(domain_type: [u8; 4], fork_version: [u8; 4]) -> [u8; 32] {
    let fork_data_root = sha256_pair(&chunk(&fork_version), &[0u8; 32]);
    let mut out = [0u8; 32];
    out[..4].copy_from_slice(&domain_type);
    out[4..].copy_from_slice(&fork_data_root[..28]);
    out
}

/// The signing root of a deposit message on the network of `fork_version`.
pub fn deposit_signing_root(
    public_key: &[u8; PUBLIC_KEY_LEN],
    withdrawal_credentials: &[u8; 32],
    amount_gwei: u64,
    fork_version: [u8; 4],
) -> [u8; 32] {
    let message =
        container4([public_key_root(public_key), *withdrawal_credentials, chunk(&amount_gwei.to_le_bytes()), [0; 32]]);
    sha256_pair(&message, &domain(DOMAIN_DEPOSIT, fork_version))
}

/// The signing root of a builder validator registration.
pub fn registration_signing_root(
    fee_recipient: &[u8; 20],
    gas_limit: u64,
    timestamp: u64,
    public_key: &[u8; PUBLIC_KEY_LEN],
    fork_version: [u8; 4],
) -> [u8; 32] {
    let message = container4([
        chunk(fee_recipient),
        chunk(&gas_limit.to_le_bytes()),
        chunk(&timestamp.to_le_bytes()),
        public_key_root(public_key),
    ]);
    sha256_pair(&message, &domain(DOMAIN_APPLICATION_BUILDER, fork_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_for_its_key_and_message_only() {
        let secret = [7u8; 32];
        let public = public_key_of(&secret).unwrap();
        let signature = sign(&secret, b"lock hash").unwrap();
        assert_eq!(verify(&public, b"lock hash", &signature), Ok(()));
        assert_eq!(verify(&public, b"other", &signature), Err(BlsError::Mismatch));
        assert_eq!(verify(&public[..47], b"lock hash", &signature), Err(BlsError::PublicKey(47)));
    }

    #[test]
    fn an_aggregate_verifies_against_every_signer() {
        let secrets = [[1u8; 32], [2u8; 32], [3u8; 32]];
        let publics: Vec<_> = secrets.iter().map(|s| public_key_of(s).unwrap()).collect();
        let aggregate = aggregate(&secrets.map(|s| sign(&s, b"m").unwrap())).unwrap();
        let keys: Vec<&[u8]> = publics.iter().map(|k| k.as_slice()).collect();
        assert_eq!(verify_aggregate(&keys, b"m", &aggregate), Ok(()));
        assert_eq!(verify_aggregate(&keys[..2], b"m", &aggregate), Err(BlsError::Mismatch));
    }

    /// The mainnet deposit domain, a constant every deposit tool agrees on.
    #[test]
    fn the_mainnet_deposit_domain_is_the_well_known_one() {
        assert_eq!(
            hex::encode(domain(DOMAIN_DEPOSIT, [0, 0, 0, 0])),
            "03000000f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a9"
        );
    }
}
