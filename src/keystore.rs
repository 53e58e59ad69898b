//! EIP-2335 keystore encryption: the `crypto` object that wraps a secret
//! under a password. dv-pod opens Charon's key shares with it and seals the
//! wallet Prysm reads. Written here over RustCrypto's primitives (scrypt,
//! pbkdf2, aes, ctr, sha2) because no maintained crate on crates.io
//! implements EIP-2335 itself; the format is small and fully specified, and
//! the tests prove it against keystores made by Charon and read by Prysm.

use aes::cipher::{KeyIvInit, StreamCipher};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// PBKDF2 rounds for new keystores: EIP-2335's own example and the default
/// of the keystore library Prysm and Charon use (2^18).
const PBKDF2_ROUNDS: u32 = 1 << 18;
/// Work factors above these would take minutes, or more memory than the
/// import-keys container has (320Mi); they are refused with the field named
/// rather than attempted. 256 MiB is scrypt at EIP-2335's own parameters.
const MAX_SCRYPT_BYTES: u64 = 256 << 20;
const MAX_PBKDF2_ROUNDS: u64 = 1 << 24;

#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("crypto.{field} is missing or malformed: {reason}")]
    Malformed { field: &'static str, reason: String },
    #[error("crypto.{field} is {found:?}; EIP-2335 allows {allowed}")]
    Unsupported { field: &'static str, found: String, allowed: &'static str },
    #[error("the password does not open this keystore (its checksum does not match)")]
    WrongPassword,
}

/// One EIP-2335 module: `{function, params, message}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Module {
    pub function: String,
    #[serde(default)]
    pub params: Map<String, Value>,
    #[serde(default)]
    pub message: String,
}

/// The `crypto` object of an EIP-2335 keystore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Crypto {
    pub kdf: Module,
    pub checksum: Module,
    pub cipher: Module,
}

/// EIP-2335's password processing: NFKD, then the C0, C1 and Delete control
/// codes removed. A password file's trailing newline therefore does not count.
fn normalize_password(password: &str) -> Zeroizing<Vec<u8>> {
    let kept: String = password.nfkd().filter(|c| !matches!(*c as u32, 0x00..=0x1f | 0x7f..=0x9f)).collect();
    Zeroizing::new(kept.into_bytes())
}

impl Crypto {
    /// The secret inside, if `password` opens it.
    pub fn decrypt(&self, password: &str) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        // Everything that can be refused is refused before the costly KDF.
        if self.checksum.function != "sha256" {
            return Err(unsupported("checksum.function", &self.checksum.function, "sha256"));
        }
        if self.cipher.function != "aes-128-ctr" {
            return Err(unsupported("cipher.function", &self.cipher.function, "aes-128-ctr"));
        }
        let cipher_message = hex_field(&self.cipher.message, "cipher.message")?;
        let checksum = hex_field(&self.checksum.message, "checksum.message")?;
        let iv = hex_param(&self.cipher.params, "iv", "cipher.params.iv")?;
        let iv: [u8; 16] = iv.try_into().map_err(|_| malformed("cipher.params.iv", "must be 16 bytes"))?;
        let key = self.derive_key(&normalize_password(password))?;
        if checksum_of(&key, &cipher_message) != checksum.as_slice() {
            return Err(KeystoreError::WrongPassword);
        }
        let mut secret = Zeroizing::new(cipher_message);
        Aes128Ctr::new(key[..16].into(), &iv.into()).apply_keystream(&mut secret);
        Ok(secret)
    }

    /// Seals `secret` under `password` with PBKDF2-SHA256, a fresh salt and IV.
    pub fn encrypt(secret: &[u8], password: &str) -> Crypto {
        let salt: [u8; 32] = rand::random();
        let iv: [u8; 16] = rand::random();
        let mut key = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(&normalize_password(password), &salt, PBKDF2_ROUNDS, &mut key[..]);
        let mut cipher_message = secret.to_vec();
        Aes128Ctr::new(key[..16].into(), &iv.into()).apply_keystream(&mut cipher_message);
        let checksum = checksum_of(&key[..], &cipher_message);
        Crypto {
            kdf: Module {
                function: "pbkdf2".into(),
                params: params(
                    json!({"dklen": 32, "c": PBKDF2_ROUNDS, "prf": "hmac-sha256", "salt": hex::encode(salt)}),
                ),
                message: String::new(),
            },
            checksum: Module { function: "sha256".into(), params: Map::new(), message: hex::encode(checksum) },
            cipher: Module {
                function: "aes-128-ctr".into(),
                params: params(json!({"iv": hex::encode(iv)})),
                message: hex::encode(cipher_message),
            },
        }
    }

    fn derive_key(&self, password: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        let p = &self.kdf.params;
        let salt = hex_param(p, "salt", "kdf.params.salt")?;
        let dklen = uint_param(p, "dklen", "kdf.params.dklen")?;
        if dklen != 32 {
            return Err(malformed("kdf.params.dklen", "must be 32"));
        }
        let mut key = Zeroizing::new(vec![0u8; 32]);
        match self.kdf.function.as_str() {
            "scrypt" => {
                let n = uint_param(p, "n", "kdf.params.n")?;
                if !n.is_power_of_two() || n < 2 {
                    return Err(malformed("kdf.params.n", "must be a power of two"));
                }
                let r = uint_param(p, "r", "kdf.params.r")?;
                let p = uint_param(p, "p", "kdf.params.p")?;
                // scrypt needs 128 * r * n bytes, p times over.
                let memory = 128u64.saturating_mul(r).saturating_mul(n).saturating_mul(p.max(1));
                if memory > MAX_SCRYPT_BYTES {
                    return Err(malformed(
                        "kdf.params",
                        &format!("scrypt n={n} r={r} p={p} needs {} MiB, above the 256 MiB limit", memory >> 20),
                    ));
                }
                let (log_n, r, p) = (n.trailing_zeros() as u8, r as u32, p as u32);
                let params = scrypt::Params::new(log_n, r, p, 32)
                    .map_err(|e| malformed("kdf.params", &format!("invalid scrypt parameters: {e}")))?;
                scrypt::scrypt(password, &salt, &params, &mut key)
                    .map_err(|e| malformed("kdf.params", &e.to_string()))?;
            }
            "pbkdf2" => {
                let prf = p.get("prf").and_then(Value::as_str).unwrap_or_default();
                if prf != "hmac-sha256" {
                    return Err(unsupported("kdf.params.prf", prf, "hmac-sha256"));
                }
                let rounds = uint_param(p, "c", "kdf.params.c")?;
                if rounds == 0 || rounds > MAX_PBKDF2_ROUNDS {
                    return Err(malformed("kdf.params.c", "must be between 1 and 2^24"));
                }
                pbkdf2::pbkdf2_hmac::<Sha256>(password, &salt, rounds as u32, &mut key);
            }
            other => return Err(unsupported("kdf.function", other, "scrypt or pbkdf2")),
        }
        Ok(key)
    }
}

fn checksum_of(key: &[u8], cipher_message: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update(&key[16..32]).chain_update(cipher_message).finalize().into()
}

fn params(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn malformed(field: &'static str, reason: &str) -> KeystoreError {
    KeystoreError::Malformed { field, reason: reason.into() }
}

fn unsupported(field: &'static str, found: &str, allowed: &'static str) -> KeystoreError {
    KeystoreError::Unsupported { field, found: found.into(), allowed }
}

fn hex_field(text: &str, field: &'static str) -> Result<Vec<u8>, KeystoreError> {
    hex::decode(text).map_err(|e| malformed(field, &format!("not hex: {e}")))
}

fn hex_param(params: &Map<String, Value>, name: &str, field: &'static str) -> Result<Vec<u8>, KeystoreError> {
    hex_field(params.get(name).and_then(Value::as_str).ok_or_else(|| malformed(field, "missing"))?, field)
}

fn uint_param(params: &Map<String, Value>, name: &str, field: &'static str) -> Result<u64, KeystoreError> {
    params.get(name).and_then(Value::as_u64).ok_or_else(|| malformed(field, "missing or not an unsigned integer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EIP-2335's published test vectors: password "𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑", secret
    /// 0x000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f.
    const VECTOR_PASSWORD: &str = "\u{1d531}\u{1d522}\u{1d530}\u{1d531}\u{1d52d}\u{1d51e}\u{1d530}\u{1d530}\u{1d534}\u{1d52c}\u{1d52f}\u{1d521}\u{1f511}";
    const VECTOR_SECRET: &str = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";

    fn vector(kdf: Value, checksum: &str, iv: &str, cipher: &str) -> Crypto {
        serde_json::from_value(json!({
            "kdf": kdf,
            "checksum": {"function": "sha256", "params": {}, "message": checksum},
            "cipher": {"function": "aes-128-ctr", "params": {"iv": iv}, "message": cipher},
        }))
        .unwrap()
    }

    fn scrypt_vector() -> Crypto {
        vector(
            json!({"function": "scrypt", "params": {"dklen": 32, "n": 262144, "p": 1, "r": 8,
                "salt": "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"}, "message": ""}),
            "d2217fe5f3e9a1e34581ef8a78f7c9928e436d36dacc5e846690a5581e8ea484",
            "264daa3f303d7259501c93d997d84fe6",
            "06ae90d55fe0a6e9c5c3bc5b170827b2e5cce3929ed3f116c2811e6366dfe20f",
        )
    }

    fn pbkdf2_vector() -> Crypto {
        vector(
            json!({"function": "pbkdf2", "params": {"dklen": 32, "c": 262144, "prf": "hmac-sha256",
                "salt": "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"}, "message": ""}),
            "8a9f5d9912ed7e75ea794bc5a89bca5f193721d30868ade6f73043c6ea6febf1",
            "264daa3f303d7259501c93d997d84fe6",
            "cee03fde2af33149775b7223e7845e4fb2c8ae1792e5f99fe9ecf474cc8c16ad",
        )
    }

    #[test]
    fn the_eip_2335_scrypt_vector_opens_to_its_secret() {
        assert_eq!(hex::encode(&*scrypt_vector().decrypt(VECTOR_PASSWORD).unwrap()), VECTOR_SECRET);
    }

    #[test]
    fn the_eip_2335_pbkdf2_vector_opens_to_its_secret() {
        assert_eq!(hex::encode(&*pbkdf2_vector().decrypt(VECTOR_PASSWORD).unwrap()), VECTOR_SECRET);
    }

    #[test]
    fn a_wrong_password_is_named_as_such() {
        assert!(matches!(pbkdf2_vector().decrypt("testpassword"), Err(KeystoreError::WrongPassword)));
    }

    #[test]
    fn control_codes_do_not_count_and_compatibility_forms_are_decomposed() {
        assert_eq!(*normalize_password("pass\nword\u{7f}\u{85}"), b"password");
        assert_eq!(*normalize_password("\u{fb01}"), b"fi");
    }

    #[test]
    fn what_is_sealed_opens_with_the_same_password_and_only_with_it() {
        let secret = br#"{"private_keys":[],"public_keys":[]}"#;
        let crypto = Crypto::encrypt(secret, "wallet password");
        assert_eq!(crypto.kdf.params["c"], PBKDF2_ROUNDS);
        assert_eq!(&*crypto.decrypt("wallet password\n").unwrap(), secret);
        assert!(matches!(crypto.decrypt("another"), Err(KeystoreError::WrongPassword)));
    }

    #[test]
    fn unknown_functions_and_oversized_work_factors_are_refused_by_field() {
        let mut crypto = pbkdf2_vector();
        crypto.kdf.function = "argon2".into();
        let error = crypto.decrypt(VECTOR_PASSWORD).unwrap_err().to_string();
        assert!(error.contains("crypto.kdf.function") && error.contains("argon2"), "{error}");

        let mut crypto = scrypt_vector();
        crypto.kdf.params.insert("n".into(), json!(1u64 << 30));
        let error = crypto.decrypt(VECTOR_PASSWORD).unwrap_err().to_string();
        assert!(error.contains("crypto.kdf.params") && error.contains("above the 256 MiB limit"), "{error}");
    }
}
