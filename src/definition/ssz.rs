//! `config_hash` and `definition_hash` as Charon computes them.
//!
//! Charon feeds each definition version through fastssz's `HashWalker` in
//! its own order, and the oldest versions hash strings through `PutBytes`
//! rather than as SSZ types, so no SSZ type derivation reproduces them. This
//! module therefore mirrors the walker itself (a byte buffer of 32-byte
//! chunks, merkleised in place) and, per version, the order of fields that
//! Charon's `cluster/ssz.go` walks.

use sha2::{Digest, Sha256};

use super::lock::{BuilderRegistration, DepositData, DistValidator, Lock};
use super::{Definition, DefinitionVersion, hex_field};

const MAX_UUID: usize = 64;
const MAX_NAME: usize = 256;
const MAX_VERSION: usize = 16;
const MAX_TIMESTAMP: usize = 32;
const MAX_DKG_ALGORITHM: usize = 32;
const MAX_ENR: usize = 1024;
const MAX_OPERATORS: u64 = 256;
const MAX_VALIDATORS: u64 = 65536;
const MAX_DEPOSIT_AMOUNTS: u64 = 256;
const K1_SIGNATURE_LEN: usize = 65;
const ADDRESS_LEN: usize = 20;

/// Why a hash could not be computed (Charon fails the same way).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("{field} is longer than its SSZ limit of {limit} bytes")]
    TooLong { field: &'static str, limit: usize },
    #[error("{field} has more than its SSZ limit of {limit} entries")]
    TooMany { field: &'static str, limit: u64 },
    #[error("{field} is not a 0x-prefixed 20-byte hex address")]
    Address { field: &'static str },
    #[error("all validators must share one fee recipient and one withdrawal address in definition {0}")]
    LegacyAddresses(&'static str),
}

/// The two roots of a definition.
pub fn config_hash(def: &Definition) -> Result<[u8; 32], HashError> {
    hash(def, true)
}

pub fn definition_hash(def: &Definition) -> Result<[u8; 32], HashError> {
    hash(def, false)
}

fn hash(def: &Definition, config_only: bool) -> Result<[u8; 32], HashError> {
    let mut h = Hasher::default();
    walk_definition(def, &mut h, config_only)?;
    Ok(h.root())
}

fn walk_definition(def: &Definition, h: &mut Hasher, config_only: bool) -> Result<(), HashError> {
    match def.version {
        DefinitionVersion::V1_0 | DefinitionVersion::V1_1 | DefinitionVersion::V1_2 => legacy(def, h, config_only),
        DefinitionVersion::V1_3 | DefinitionVersion::V1_4 => v1_3_or_4(def, h, config_only),
        _ => v1_5_or_later(def, h, config_only),
    }
}

const PUBLIC_KEY_LEN: usize = 48;
const WITHDRAWAL_CREDENTIALS_LEN: usize = 32;
const BLS_SIGNATURE_LEN: usize = 96;

/// The lock hash as Charon's `hashLock` computes it: the definition (with
/// its signatures) followed by the validators, each in its version's shape.
pub fn lock_hash(lock: &Lock) -> Result<[u8; 32], HashError> {
    let version = lock.definition.version;
    let mut h = Hasher::default();
    let index = h.index();
    walk_definition(&lock.definition, &mut h, false)?;
    let validators = h.index();
    for validator in &lock.validators {
        if version <= DefinitionVersion::V1_2 {
            legacy_validator(validator, &mut h);
        } else {
            validator_v1_3_or_later(validator, version, &mut h)?;
        }
    }
    let count = lock.validators.len() as u64;
    if version <= DefinitionVersion::V1_2 {
        h.merkleize_with_mixin(validators, count, count);
    } else {
        if count > MAX_VALIDATORS {
            return Err(HashError::TooMany { field: "distributed_validators", limit: MAX_VALIDATORS });
        }
        h.merkleize_with_mixin(validators, count, MAX_VALIDATORS);
    }
    h.merkleize(index);
    Ok(h.root())
}

/// v1.0-v1.2: the public key hashed as its 0x-hex text, shares as raw bytes.
fn legacy_validator(validator: &DistValidator, h: &mut Hasher) {
    let index = h.index();
    h.put_bytes(to_0x_hex(&validator.public_key).as_bytes());
    let shares = h.index();
    for share in &validator.public_shares {
        h.put_bytes(share);
    }
    let count = validator.public_shares.len() as u64;
    h.merkleize_with_mixin(shares, count, count);
    h.merkleize(index);
}

fn validator_v1_3_or_later(
    validator: &DistValidator,
    version: DefinitionVersion,
    h: &mut Hasher,
) -> Result<(), HashError> {
    let index = h.index();
    if version <= DefinitionVersion::V1_4 {
        h.put_bytes(&validator.public_key);
    } else {
        h.put_bytes_n(&validator.public_key, PUBLIC_KEY_LEN, "distributed_public_key")?;
    }
    let shares = h.index();
    if validator.public_shares.len() as u64 > MAX_OPERATORS {
        return Err(HashError::TooMany { field: "public_shares", limit: MAX_OPERATORS });
    }
    for share in &validator.public_shares {
        h.put_bytes_n(share, PUBLIC_KEY_LEN, "public_shares[]")?;
    }
    h.merkleize_with_mixin(shares, validator.public_shares.len() as u64, MAX_OPERATORS);
    match version {
        DefinitionVersion::V1_3 | DefinitionVersion::V1_4 | DefinitionVersion::V1_5 => {}
        // v1.6 appends the deposit's fields without merkleizing them
        // (a bug Charon keeps for compatibility).
        DefinitionVersion::V1_6 => deposit_fields(validator.deposits.first().unwrap_or(&DepositData::default()), h)?,
        DefinitionVersion::V1_7 => deposit(validator.deposits.first().unwrap_or(&DepositData::default()), h)?,
        _ => {
            let deposits = h.index();
            if validator.deposits.len() as u64 > MAX_DEPOSIT_AMOUNTS {
                return Err(HashError::TooMany { field: "partial_deposit_data", limit: MAX_DEPOSIT_AMOUNTS });
            }
            for data in &validator.deposits {
                deposit(data, h)?;
            }
            h.merkleize_with_mixin(deposits, validator.deposits.len() as u64, MAX_DEPOSIT_AMOUNTS);
        }
    }
    if version >= DefinitionVersion::V1_7 {
        registration(&validator.builder_registration, h)?;
    }
    h.merkleize(index);
    Ok(())
}

fn deposit_fields(data: &DepositData, h: &mut Hasher) -> Result<(), HashError> {
    h.put_bytes_n(&data.public_key, PUBLIC_KEY_LEN, "deposit pubkey")?;
    h.put_bytes_n(&data.withdrawal_credentials, WITHDRAWAL_CREDENTIALS_LEN, "withdrawal_credentials")?;
    h.put_uint64(data.amount as u64);
    h.put_bytes_n(&data.signature, BLS_SIGNATURE_LEN, "deposit signature")
}

fn deposit(data: &DepositData, h: &mut Hasher) -> Result<(), HashError> {
    let index = h.index();
    deposit_fields(data, h)?;
    h.merkleize(index);
    Ok(())
}

fn registration(reg: &BuilderRegistration, h: &mut Hasher) -> Result<(), HashError> {
    let index = h.index();
    let message = h.index();
    h.put_bytes(&reg.fee_recipient);
    h.put_uint64(reg.gas_limit as u64);
    h.put_uint64(reg.timestamp as u64);
    h.put_bytes_n(&reg.public_key, PUBLIC_KEY_LEN, "builder_registration.message.pubkey")?;
    h.merkleize(message);
    h.put_bytes_n(&reg.signature, BLS_SIGNATURE_LEN, "builder_registration.signature")?;
    h.merkleize(index);
    Ok(())
}

/// A mirror of fastssz's `Hasher`: values are appended as 32-byte chunks and
/// `merkleize*` collapse everything since an index into one root.
#[derive(Default)]
struct Hasher {
    buf: Vec<u8>,
}

impl Hasher {
    fn index(&self) -> usize {
        self.buf.len()
    }

    fn append_bytes32(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        let rest = bytes.len() % 32;
        if rest != 0 {
            self.buf.resize(self.buf.len() + 32 - rest, 0);
        }
    }

    fn put_uint64(&mut self, value: u64) {
        self.append_bytes32(&value.to_le_bytes());
    }

    fn put_bool(&mut self, value: bool) {
        self.append_bytes32(&[value as u8]);
    }

    fn put_bytes(&mut self, bytes: &[u8]) {
        if bytes.len() <= 32 {
            self.append_bytes32(bytes);
        } else {
            let index = self.index();
            self.append_bytes32(bytes);
            self.merkleize(index);
        }
    }

    fn put_byte_list(&mut self, bytes: &[u8], limit: usize, field: &'static str) -> Result<(), HashError> {
        if bytes.len() > limit {
            return Err(HashError::TooLong { field, limit });
        }
        let index = self.index();
        self.append_bytes32(bytes);
        self.merkleize_with_mixin(index, bytes.len() as u64, limit.div_ceil(32) as u64);
        Ok(())
    }

    /// Fixed-size bytes, left-padded with zeros to `n` as Charon's `putBytesN`.
    fn put_bytes_n(&mut self, bytes: &[u8], n: usize, field: &'static str) -> Result<(), HashError> {
        if bytes.len() > n {
            return Err(HashError::TooLong { field, limit: n });
        }
        let mut padded = vec![0u8; n - bytes.len()];
        padded.extend_from_slice(bytes);
        self.put_bytes(&padded);
        Ok(())
    }

    fn put_uint64_list(&mut self, values: &[u64], max: u64) {
        let index = self.index();
        for value in values {
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
        self.fill_up_to_32();
        self.merkleize_with_mixin(index, values.len() as u64, (max * 8).div_ceil(32));
    }

    fn fill_up_to_32(&mut self) {
        let rest = self.buf.len() % 32;
        if rest != 0 {
            self.buf.resize(self.buf.len() + 32 - rest, 0);
        }
    }

    fn merkleize(&mut self, index: usize) {
        let root = merkleize(&self.buf[index..], 0);
        self.buf.truncate(index);
        self.buf.extend_from_slice(&root);
    }

    fn merkleize_with_mixin(&mut self, index: usize, length: u64, limit: u64) {
        self.fill_up_to_32();
        let root = merkleize(&self.buf[index..], limit);
        let mut length_chunk = [0u8; 32];
        length_chunk[..8].copy_from_slice(&length.to_le_bytes());
        let mixed = hash_pair(&root, &length_chunk);
        self.buf.truncate(index);
        self.buf.extend_from_slice(&mixed);
    }

    fn root(self) -> [u8; 32] {
        self.buf.try_into().expect("a complete walk leaves exactly one 32-byte root")
    }
}

fn hash_pair(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of `chunks` padded with zero subtrees to `limit` leaves (or to
/// its own chunk count when `limit` is 0), as fastssz's `merkleizeImpl`.
fn merkleize(input: &[u8], limit: u64) -> [u8; 32] {
    let count = input.len().div_ceil(32) as u64;
    let limit = if limit == 0 { count } else { limit };
    debug_assert!(count <= limit, "callers check lengths against limits first");
    if limit == 0 {
        return [0u8; 32];
    }
    if limit == 1 {
        let mut chunk = [0u8; 32];
        if count == 1 {
            chunk.copy_from_slice(&input[..32]);
        }
        return chunk;
    }
    let depth = 64 - (limit.next_power_of_two()).leading_zeros() - 1;
    let mut zero_hashes = vec![[0u8; 32]];
    for i in 0..depth as usize {
        let next = hash_pair(&zero_hashes[i], &zero_hashes[i]);
        zero_hashes.push(next);
    }
    if input.is_empty() {
        return zero_hashes[depth as usize];
    }
    let mut layer: Vec<[u8; 32]> = input.chunks(32).map(|c| c.try_into().expect("aligned to 32 bytes")).collect();
    for zero in zero_hashes.iter().take(depth as usize) {
        if layer.len() % 2 == 1 {
            layer.push(*zero);
        }
        layer = layer.chunks(2).map(|pair| hash_pair(&pair[0], &pair[1])).collect();
    }
    layer[0]
}

fn address_bytes(address: &str, field: &'static str) -> Result<Vec<u8>, HashError> {
    if address.is_empty() {
        return Ok(Vec::new());
    }
    match hex_field(address) {
        Some(bytes) if bytes.len() == ADDRESS_LEN => Ok(bytes),
        _ => Err(HashError::Address { field }),
    }
}

/// v1.0-v1.2: strings hashed as raw bytes, in the original field order.
fn legacy(def: &Definition, h: &mut Hasher, config_only: bool) -> Result<(), HashError> {
    let addresses = def.legacy_validator_addresses().ok_or(HashError::LegacyAddresses(def.version.as_str()))?;
    let index = h.index();
    h.put_bytes(def.uuid.as_bytes());
    h.put_bytes(def.name.as_bytes());
    h.put_bytes(def.version.as_str().as_bytes());
    h.put_uint64(def.num_validators as u64);
    h.put_uint64(def.threshold as u64);
    h.put_bytes(addresses.fee_recipient_address.as_bytes());
    h.put_bytes(addresses.withdrawal_address.as_bytes());
    h.put_bytes(def.dkg_algorithm.as_bytes());
    h.put_bytes(to_0x_hex(&def.fork_version).as_bytes());
    let operators = h.index();
    for operator in &def.operators {
        if config_only {
            h.put_bytes(operator.address.as_bytes());
            continue;
        }
        let start = h.index();
        h.put_bytes(operator.address.as_bytes());
        h.put_bytes(operator.enr.as_bytes());
        if matches!(def.version, DefinitionVersion::V1_0 | DefinitionVersion::V1_1) {
            h.put_uint64(0); // the always-zero nonce of those versions
        }
        h.put_bytes(&operator.config_signature);
        h.put_bytes(&operator.enr_signature);
        h.merkleize(start);
    }
    let count = def.operators.len() as u64;
    h.merkleize_with_mixin(operators, count, count);
    let hash_timestamp = if config_only { !def.timestamp.is_empty() } else { def.version != DefinitionVersion::V1_0 };
    if hash_timestamp {
        h.put_bytes(def.timestamp.as_bytes());
    }
    h.merkleize(index);
    Ok(())
}

/// Charon's hasher panics on lists over their limit; refuse them instead.
fn check_list_limits(def: &Definition) -> Result<(), HashError> {
    let limits = [
        ("operators", def.operators.len(), MAX_OPERATORS),
        ("validators", def.validators.len(), MAX_VALIDATORS),
        ("deposit_amounts", def.deposit_amounts.len(), MAX_DEPOSIT_AMOUNTS),
    ];
    match limits.into_iter().find(|(_, len, limit)| *len as u64 > *limit) {
        Some((field, _, limit)) => Err(HashError::TooMany { field, limit }),
        None => Ok(()),
    }
}

fn v1_3_or_4(def: &Definition, h: &mut Hasher, config_only: bool) -> Result<(), HashError> {
    check_list_limits(def)?;
    let addresses = def.legacy_validator_addresses().ok_or(HashError::LegacyAddresses(def.version.as_str()))?;
    let fee_recipient = address_bytes(&addresses.fee_recipient_address, "fee_recipient_address")?;
    let withdrawal = address_bytes(&addresses.withdrawal_address, "withdrawal_address")?;
    let index = h.index();
    put_header(def, h)?;
    h.put_bytes(&fee_recipient);
    h.put_bytes(&withdrawal);
    h.put_byte_list(def.dkg_algorithm.as_bytes(), MAX_DKG_ALGORITHM, "dkg_algorithm")?;
    h.put_bytes(&def.fork_version);
    let operators = h.index();
    for operator in &def.operators {
        let start = h.index();
        h.put_bytes(&address_bytes(&operator.address, "operators[].address")?);
        if !config_only {
            h.put_byte_list(operator.enr.as_bytes(), MAX_ENR, "operators[].enr")?;
            h.put_bytes(&operator.config_signature);
            h.put_bytes(&operator.enr_signature);
        }
        h.merkleize(start);
    }
    h.merkleize_with_mixin(operators, def.operators.len() as u64, MAX_OPERATORS);
    if def.version == DefinitionVersion::V1_4 {
        let start = h.index();
        h.put_bytes(&address_bytes(&def.creator.address, "creator.address")?);
        if !config_only {
            h.put_bytes(&def.creator.config_signature);
        }
        h.merkleize(start);
    }
    if !config_only {
        h.put_bytes(&def.config_hash);
    }
    h.merkleize(index);
    Ok(())
}

fn put_header(def: &Definition, h: &mut Hasher) -> Result<(), HashError> {
    h.put_byte_list(def.uuid.as_bytes(), MAX_UUID, "uuid")?;
    h.put_byte_list(def.name.as_bytes(), MAX_NAME, "name")?;
    h.put_byte_list(def.version.as_str().as_bytes(), MAX_VERSION, "version")?;
    h.put_byte_list(def.timestamp.as_bytes(), MAX_TIMESTAMP, "timestamp")?;
    h.put_uint64(def.num_validators as u64);
    h.put_uint64(def.threshold as u64);
    Ok(())
}

fn put_address20(h: &mut Hasher, address: &str, field: &'static str) -> Result<(), HashError> {
    h.put_bytes_n(&address_bytes(address, field)?, ADDRESS_LEN, field)
}

fn v1_5_or_later(def: &Definition, h: &mut Hasher, config_only: bool) -> Result<(), HashError> {
    check_list_limits(def)?;
    let index = h.index();
    put_header(def, h)?;
    h.put_byte_list(def.dkg_algorithm.as_bytes(), MAX_DKG_ALGORITHM, "dkg_algorithm")?;
    h.put_bytes_n(&def.fork_version, 4, "fork_version")?;
    let operators = h.index();
    for operator in &def.operators {
        let start = h.index();
        put_address20(h, &operator.address, "operators[].address")?;
        if !config_only {
            h.put_byte_list(operator.enr.as_bytes(), MAX_ENR, "operators[].enr")?;
            h.put_bytes_n(&operator.config_signature, K1_SIGNATURE_LEN, "operators[].config_signature")?;
            h.put_bytes_n(&operator.enr_signature, K1_SIGNATURE_LEN, "operators[].enr_signature")?;
        }
        h.merkleize(start);
    }
    h.merkleize_with_mixin(operators, def.operators.len() as u64, MAX_OPERATORS);
    let creator = h.index();
    put_address20(h, &def.creator.address, "creator.address")?;
    if !config_only {
        h.put_bytes_n(&def.creator.config_signature, K1_SIGNATURE_LEN, "creator.config_signature")?;
    }
    h.merkleize(creator);
    let validators = h.index();
    for validator in &def.validators {
        let start = h.index();
        put_address20(h, &validator.fee_recipient_address, "validators[].fee_recipient_address")?;
        put_address20(h, &validator.withdrawal_address, "validators[].withdrawal_address")?;
        h.merkleize(start);
    }
    h.merkleize_with_mixin(validators, def.validators.len() as u64, MAX_VALIDATORS);
    if def.version >= DefinitionVersion::V1_8 {
        h.put_uint64_list(&def.deposit_amounts, MAX_DEPOSIT_AMOUNTS);
    }
    if def.version >= DefinitionVersion::V1_9 {
        h.put_byte_list(def.consensus_protocol.as_bytes(), MAX_NAME, "consensus_protocol")?;
    }
    if def.version >= DefinitionVersion::V1_10 {
        h.put_uint64(def.target_gas_limit);
        h.put_bool(def.compounding);
    }
    if !config_only {
        h.put_bytes_n(&def.config_hash, 32, "config_hash")?;
    }
    h.merkleize(index);
    Ok(())
}

/// Charon's `to0xHex`: empty bytes give an empty string, not "0x".
pub(super) fn to_0x_hex(bytes: &[u8]) -> String {
    if bytes.is_empty() { String::new() } else { format!("0x{}", hex::encode(bytes)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merkleizing_nothing_against_a_limit_gives_the_zero_subtree_root() {
        let zero = [0u8; 32];
        let one_level = hash_pair(&zero, &zero);
        assert_eq!(merkleize(&[], 2), one_level);
        assert_eq!(merkleize(&[], 4), hash_pair(&one_level, &one_level));
        assert_eq!(merkleize(&[], 1), zero);
    }

    #[test]
    fn an_odd_layer_is_padded_with_the_zero_subtree_of_its_depth() {
        let chunk = [7u8; 32];
        let expected = hash_pair(&hash_pair(&chunk, &chunk), &hash_pair(&chunk, &[0u8; 32]));
        assert_eq!(merkleize(&[chunk, chunk, chunk].concat(), 0), expected);
    }
}
