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
    #[error("the ENR private key has {found} characters, expected 64 hex characters (32 bytes)")]
    KeyLength { found: usize },
    #[error(
        "the ENR private key has the non-hex character {character:?} at position {position} (counting from 1); \
         Charon's key file holds only the 64 hex characters"
    )]
    KeyCharacter { character: char, position: usize },
    #[error(
        "the ENR private key starts with a 0x prefix, which Charon refuses: the file holds the 64 hex characters alone"
    )]
    KeyPrefix,
    #[error(
        "the ENR private key is not a valid secp256k1 scalar (zero or not below the curve order); Charon would \
         silently reduce it to another key"
    )]
    KeyOutOfRange,
    #[error("the ENR private key file holds a byte that is not text at position {position} (counting from 1)")]
    KeyNotText { position: usize },
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

    /// Reads a key as Charon's `k1util.Load` does: surrounding whitespace
    /// (Unicode's, as Go's `strings.TrimSpace`) is ignored and the hex may be
    /// in either case. Where Charon would read a different key than the text
    /// says (fewer or more than 64 hex characters are padded or cut, an
    /// out-of-range value is reduced) the key is refused instead. Errors name
    /// the problem and never echo the key.
    pub fn from_charon_hex(text: &str) -> Result<Self, EnrError> {
        let leading = text.chars().take_while(|c| c.is_whitespace()).count();
        let key = text.trim();
        if key.starts_with("0x") || key.starts_with("0X") {
            return Err(EnrError::KeyPrefix);
        }
        if let Some((i, character)) = key.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(EnrError::KeyCharacter { character, position: leading + i + 1 });
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(key, bytes.as_mut()).map_err(|_| EnrError::KeyLength { found: key.len() })?;
        SigningKey::from_slice(bytes.as_ref()).map(Self).map_err(|_| EnrError::KeyOutOfRange)
    }

    /// The key in Charon's format: lower-case hex, no prefix, no newline.
    pub fn to_charon_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.to_bytes()))
    }

    /// Loads a key file as Charon loads it (see [`EnrPrivateKey::from_charon_hex`]).
    /// Charon reads the file whatever its mode, so a mode open to others is
    /// logged as a warning with the fix rather than refused.
    pub fn load(path: &Path) -> Result<Self, EnrError> {
        let io = |source| EnrError::KeyFileIo { path: path.display().to_string(), source };
        let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if let Some(warning) = key_file_mode_warning(path, mode) {
            tracing::warn!("{warning}");
        }
        let bytes = Zeroizing::new(fs::read(path).map_err(io)?);
        let text = std::str::from_utf8(&bytes).map_err(|e| EnrError::KeyNotText {
            position: String::from_utf8_lossy(&bytes[..e.valid_up_to()]).chars().count() + 1,
        })?;
        Self::from_charon_hex(text)
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

/// Why a key file's mode deserves a warning, if it does. Charon writes
/// 0600; group read is what a Kubernetes Secret volume with an fsGroup adds
/// and stays private to the pod, but others reading it, or anyone but the
/// owner replacing it, is not.
pub fn key_file_mode_warning(path: &Path, mode: u32) -> Option<String> {
    let mode = mode & 0o777;
    (mode & 0o026 != 0).then(|| {
        format!(
            "ENR key file {path} has mode {mode:o}, open to others; Charon reads it anyway but writes its keys 0600 \
             (fix with: chmod 600 {path})",
            path = path.display()
        )
    })
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

    /// The secp256k1 group order n: the first value that is not a key.
    const ORDER: &str = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";

    fn assert_never_echoes(message: &str, hex: &str) {
        for window in hex.as_bytes().windows(6) {
            let window = std::str::from_utf8(window).unwrap();
            assert!(!message.to_lowercase().contains(window), "the error leaks key material: {message}");
        }
    }

    #[test]
    fn key_text_is_read_as_charon_reads_it_whitespace_around_and_either_case() {
        let key = EnrPrivateKey::generate().unwrap();
        let hex = key.to_charon_hex();
        let mixed: String =
            hex.chars().enumerate().map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c }).collect();
        for form in [
            format!("{}\n", *hex),
            format!("{}\r\n", *hex),
            format!("  \t{}  \n\n", *hex),
            format!("\u{a0}{}\u{2003}", *hex),
            hex.to_uppercase(),
            mixed,
        ] {
            let read = EnrPrivateKey::from_charon_hex(&form).unwrap_or_else(|e| panic!("{form:?}: {e}"));
            assert_eq!(read.record(), key.record(), "{form:?} is the same key");
        }
    }

    #[test]
    fn key_text_of_the_wrong_length_is_refused_with_its_length() {
        let hex = EnrPrivateKey::generate().unwrap().to_charon_hex();
        for (text, found) in [(&hex[..63], 63), (&hex[..62], 62), ("", 0), ("\n", 0)] {
            let error = EnrPrivateKey::from_charon_hex(text).unwrap_err();
            assert!(matches!(error, EnrError::KeyLength { found: f } if f == found), "{text:?}: {error:?}");
            assert!(error.to_string().contains(&format!("{found} characters, expected 64")), "{error}");
        }
        let longer = format!("{}ab", *hex);
        let message = EnrPrivateKey::from_charon_hex(&longer).unwrap_err().to_string();
        assert!(message.contains("66 characters, expected 64"), "{message}");
        assert_never_echoes(&message, &hex);
    }

    #[test]
    fn a_non_hex_character_is_named_with_its_position_but_not_the_key() {
        let hex = EnrPrivateKey::generate().unwrap().to_charon_hex();
        let cases = [
            (format!("{}g{}", &hex[..9], &hex[10..]), 'g', 10),
            (format!("{} {}", &hex[..32], &hex[32..]), ' ', 33),
            (format!("\n  {}z", &hex[..63]), 'z', 67),
            (format!("{}é", &hex[..63]), 'é', 64),
        ];
        for (text, character, position) in cases {
            let error = EnrPrivateKey::from_charon_hex(&text).unwrap_err();
            assert!(
                matches!(error, EnrError::KeyCharacter { character: c, position: p } if c == character && p == position),
                "{text:?}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains(&format!("{character:?} at position {position}")), "{message}");
            assert_never_echoes(&message, &hex);
        }
    }

    #[test]
    fn a_0x_prefix_is_refused_as_a_prefix() {
        let hex = EnrPrivateKey::generate().unwrap().to_charon_hex();
        for text in [format!("0x{}", *hex), format!(" 0X{}\n", *hex)] {
            let error = EnrPrivateKey::from_charon_hex(&text).unwrap_err();
            assert!(matches!(error, EnrError::KeyPrefix), "{error:?}");
            assert!(error.to_string().contains("0x prefix"));
            assert_never_echoes(&error.to_string(), &hex);
        }
    }

    #[test]
    fn zero_and_values_from_the_group_order_up_are_refused_as_out_of_range() {
        let max = "f".repeat(64);
        for text in ["0".repeat(64).as_str(), ORDER, ORDER.to_uppercase().as_str(), max.as_str()] {
            let error = EnrPrivateKey::from_charon_hex(text).unwrap_err();
            assert!(matches!(error, EnrError::KeyOutOfRange), "{error:?}");
        }
        let below = format!("{}40", &ORDER[..62]);
        assert!(EnrPrivateKey::from_charon_hex(&below).is_ok(), "n - 1 is the largest key");
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

    /// Runs `f` with `tracing` output captured, and returns what it logged.
    fn logged(f: impl FnOnce()) -> String {
        let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(move || Sink(writer.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(sink.lock().unwrap().clone()).unwrap()
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_key_file_with_a_trailing_newline_and_mode_0644_loads_with_a_warning_naming_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        let key = EnrPrivateKey::generate().unwrap();
        fs::write(&path, format!("{}\n", *key.to_charon_hex())).unwrap();
        for mode in [0o644, 0o666, 0o604, 0o620] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let mut loaded = None;
            let log = logged(|| loaded = Some(EnrPrivateKey::load(&path)));
            assert_eq!(loaded.unwrap().unwrap().record(), key.record(), "mode {mode:o}");
            assert!(log.contains("WARN") && log.contains(&format!("mode {mode:o}")), "mode {mode:o}: {log}");
            assert!(log.contains(&format!("chmod 600 {}", path.display())), "{log}");
            assert_never_echoes(&log, &key.to_charon_hex());
        }
    }

    #[test]
    fn a_key_file_private_to_its_owner_or_group_loads_without_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        let key = EnrPrivateKey::generate().unwrap();
        key.save_new(&path).unwrap();
        for mode in [0o600, 0o400, 0o640, 0o440] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let log = logged(|| assert_eq!(EnrPrivateKey::load(&path).unwrap().record(), key.record()));
            assert!(log.is_empty(), "mode {mode:o}: {log}");
        }
    }

    #[test]
    fn a_key_file_that_is_not_text_is_refused_with_the_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        fs::write(&path, b"\n0123\xff").unwrap();
        let error = EnrPrivateKey::load(&path).unwrap_err();
        assert!(matches!(error, EnrError::KeyNotText { position: 6 }), "{error:?}");
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
