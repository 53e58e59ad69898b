//! The operator's Charon node identity: the secp256k1 ENR private key in
//! Charon's on-disk format, and the ENR record derived from it exactly as
//! Charon derives it, so one key always gives the byte-identical `enr:-...`.
//!
//! Parsing and signature checks come from the `enr` crate. Encoding is done
//! here with `alloy-rlp` because that crate's k256 signer mixes random entropy
//! into the nonce (so the string would change on every call) and does not
//! export the types needed to plug in another signer. Charon signs with
//! decred's `SignCompact`, which is deterministic RFC 6979, as is k256's
//! `sign_prehash`.

pub mod qr;

use std::{
    fmt, fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
    str::FromStr,
};

use alloy_rlp::{BufMut, Encodable, Header};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey, signature::hazmat::PrehashSigner};
use sha3::{Digest, Keccak256};
use zeroize::Zeroizing;

/// The file name Charon reads the key from inside its data directory.
pub const KEY_FILE_NAME: &str = "charon-enr-private-key";

/// What can be wrong with an ENR key or record.
#[derive(Debug, thiserror::Error)]
pub enum EnrError {
    #[error(
        "the ENR private key must be exactly 64 lower-case hex characters (Charon's format: no 0x prefix, \
         no whitespace or newline); found {found}"
    )]
    KeyFormat { found: String },
    #[error("the ENR private key is not a valid secp256k1 scalar (zero or not below the curve order)")]
    KeyOutOfRange,
    #[error(
        "ENR key file {path} has mode {mode:o}, open to others; Charon keeps it at 0600 (fix with: chmod 600 {path})"
    )]
    KeyFileMode { path: String, mode: u32 },
    #[error("ENR key file {path}: {source}")]
    KeyFileIo { path: String, source: std::io::Error },
    #[error("refusing to overwrite the existing ENR key file {path}: an existing key is never replaced")]
    KeyFileExists { path: String },
    #[error("not an ENR: {reason} (an ENR starts with \"enr:-\" and comes from `charon enr`)")]
    Record { reason: String },
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

/// An ENR private key. Its `Debug` output is redacted and its bytes are
/// zeroed on drop; the only way to see the secret is [`EnrKey::to_charon_hex`].
pub struct EnrPrivateKey(SigningKey);

impl fmt::Debug for EnrPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnrPrivateKey(<redacted>, {})", self.record().text())
    }
}

impl EnrPrivateKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self, EnrError> {
        loop {
            let mut bytes = Zeroizing::new([0u8; 32]);
            getrandom::fill(bytes.as_mut()).map_err(|e| EnrError::Random(e.to_string()))?;
            // A 32-byte string is a valid scalar except with probability ~2^-128.
            if let Ok(key) = SigningKey::from_slice(bytes.as_ref()) {
                return Ok(Self(key));
            }
        }
    }

    /// Parses Charon's key format strictly: 64 lower-case hex characters and
    /// nothing else, so a key that Charon would read differently is refused.
    pub fn from_charon_hex(text: &str) -> Result<Self, EnrError> {
        let well_formed = text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !well_formed {
            return Err(EnrError::KeyFormat { found: describe_key_text(text) });
        }
        let bytes =
            Zeroizing::new(hex::decode(text).map_err(|_| EnrError::KeyFormat { found: describe_key_text(text) })?);
        SigningKey::from_slice(&bytes).map(Self).map_err(|_| EnrError::KeyOutOfRange)
    }

    /// The key in Charon's format: lower-case hex, no prefix, no newline.
    pub fn to_charon_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.to_bytes()))
    }

    /// Loads a key file written by Charon (or by [`EnrPrivateKey::save_new`]).
    pub fn load(path: &Path) -> Result<Self, EnrError> {
        let io = |source| EnrError::KeyFileIo { path: path.display().to_string(), source };
        // Charon writes 0600. A Kubernetes Secret volume with an fsGroup adds
        // group read, which is still private to the pod; anything wider is not.
        let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o137 != 0 {
            return Err(EnrError::KeyFileMode { path: path.display().to_string(), mode });
        }
        let text = Zeroizing::new(fs::read_to_string(path).map_err(io)?);
        Self::from_charon_hex(&text)
    }

    /// Writes the key to a new file with mode 0600. Never overwrites: an
    /// existing file is an error, whatever it holds.
    pub fn save_new(&self, path: &Path) -> Result<(), EnrError> {
        let mut file =
            fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    EnrError::KeyFileExists { path: path.display().to_string() }
                } else {
                    EnrError::KeyFileIo { path: path.display().to_string(), source }
                }
            })?;
        let io = |source| EnrError::KeyFileIo { path: path.display().to_string(), source };
        file.write_all(self.to_charon_hex().as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// The ENR record of this key, as `charon enr` prints it: the RLP list
    /// `[signature, seq = 0, "id", "v4", "secp256k1", compressed key]`, the
    /// signature being over keccak256 of the same list without it.
    pub fn record(&self) -> EnrRecord {
        let public_key = *self.0.verifying_key();
        let compressed = public_key.to_sec1_point(true);
        let content = |out: &mut Vec<u8>| {
            0u64.encode(out);
            b"id".as_slice().encode(out);
            b"v4".as_slice().encode(out);
            b"secp256k1".as_slice().encode(out);
            compressed.as_bytes().encode(out);
        };
        let signed = rlp_list(|out| content(out));
        let signature: Signature =
            self.0.sign_prehash(&Keccak256::digest(&signed)).expect("signing a 32-byte digest cannot fail");
        let record = rlp_list(|out| {
            signature.to_bytes().as_slice().encode(out);
            content(out);
        });
        use base64::Engine;
        let text = format!("enr:{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(record));
        EnrRecord { public_key, text }
    }
}

fn rlp_list(write_items: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut payload = Vec::new();
    write_items(&mut payload);
    let mut out = Vec::with_capacity(payload.len() + 3);
    Header { list: true, payload_length: payload.len() }.encode(&mut out);
    out.put_slice(&payload);
    out
}

/// Describes malformed key text without echoing any of it: the text may be a
/// real key with a stray character, and errors end up in logs.
fn describe_key_text(text: &str) -> String {
    let mut problems = vec![format!("{} characters", text.len())];
    if text.starts_with("0x") {
        problems.push("a 0x prefix".into());
    }
    if text.chars().any(char::is_whitespace) {
        problems.push("whitespace or a newline".into());
    }
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        problems.push("upper-case letters".into());
    }
    problems.join(", ")
}

/// A parsed and signature-checked ENR.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrRecord {
    public_key: VerifyingKey,
    text: String,
}

impl fmt::Debug for EnrRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for EnrRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for EnrRecord {
    type Err = EnrError;

    /// Accepts what Charon's `enr.Parse` accepts: the `enr:` scheme, the v4
    /// identity with a secp256k1 key and a valid signature, and a trailing
    /// `=` left by old Charon versions.
    fn from_str(text: &str) -> Result<Self, EnrError> {
        let record = |reason: &str| EnrError::Record { reason: reason.to_string() };
        let body = text.strip_prefix("enr:").ok_or_else(|| record("missing the \"enr:\" prefix"))?;
        let body = body.strip_suffix('=').unwrap_or(body);
        let parsed: enr::Enr<SigningKey> =
            format!("enr:{body}").parse().map_err(|e: String| EnrError::Record { reason: e })?;
        if parsed.id().as_deref() != Some("v4") {
            return Err(record("identity scheme is not v4"));
        }
        let canonical = parsed.to_base64();
        Ok(EnrRecord { public_key: parsed.public_key(), text: canonical })
    }
}

impl EnrRecord {
    /// The canonical `enr:-...` text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The 33-byte compressed secp256k1 public key.
    pub fn public_key_compressed(&self) -> [u8; 33] {
        let point = self.public_key.to_sec1_point(true);
        point.as_bytes().try_into().expect("a compressed secp256k1 point is 33 bytes")
    }

    /// The libp2p peer ID Charon derives from the key (an identity multihash
    /// of the protobuf-encoded secp256k1 public key, in base58).
    pub fn peer_id(&self) -> String {
        // protobuf PublicKey { Type = Secp256k1 (2), Data = 33 bytes }
        let mut protobuf = vec![0x08, 0x02, 0x12, 33];
        protobuf.extend_from_slice(&self.public_key_compressed());
        let mut multihash = vec![0x00, protobuf.len() as u8];
        multihash.extend_from_slice(&protobuf);
        bs58::encode(multihash).into_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_always_gives_the_same_enr() {
        let key = EnrPrivateKey::generate().unwrap();
        assert_eq!(key.record().text(), key.record().text());
        assert!(key.record().text().starts_with("enr:-"));
    }

    #[test]
    fn a_record_round_trips_through_its_text() {
        let record = EnrPrivateKey::generate().unwrap().record();
        let parsed: EnrRecord = record.text().parse().unwrap();
        assert_eq!(parsed, record);
    }

    #[test]
    fn key_text_with_a_prefix_newline_or_capitals_is_refused_without_echoing_it() {
        let key = EnrPrivateKey::generate().unwrap();
        let hex = key.to_charon_hex();
        for bad in [format!("0x{}", *hex), format!("{}\n", *hex), hex.to_uppercase(), hex[..63].to_string()] {
            let message = EnrPrivateKey::from_charon_hex(&bad).unwrap_err().to_string();
            assert!(message.contains("64 lower-case hex"), "{message}");
            assert!(!message.contains(&hex[..8]), "the error leaks key material: {message}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let key = EnrPrivateKey::generate().unwrap();
        let debug = format!("{key:?}");
        assert!(!debug.contains(key.to_charon_hex().as_str()));
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn save_new_writes_mode_0600_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        let key = EnrPrivateKey::generate().unwrap();
        key.save_new(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_to_string(&path).unwrap(), *key.to_charon_hex());

        let other = EnrPrivateKey::generate().unwrap();
        assert!(matches!(other.save_new(&path), Err(EnrError::KeyFileExists { .. })));
        assert_eq!(EnrPrivateKey::load(&path).unwrap().record(), key.record());
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        EnrPrivateKey::generate().unwrap().save_new(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let message = EnrPrivateKey::load(&path).unwrap_err().to_string();
        assert!(message.contains("chmod 600"), "{message}");
    }

    #[test]
    fn a_record_with_a_broken_signature_or_scheme_is_refused() {
        let text = EnrPrivateKey::generate().unwrap().record().text().to_string();
        assert!(matches!("node:abc".parse::<EnrRecord>(), Err(EnrError::Record { .. })));
        let mut tampered = text.clone().into_bytes();
        let i = tampered.len() - 10;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        assert!(String::from_utf8(tampered).unwrap().parse::<EnrRecord>().is_err());
        assert!(format!("{text}=").parse::<EnrRecord>().is_ok(), "a trailing = is tolerated like Charon does");
    }
}
