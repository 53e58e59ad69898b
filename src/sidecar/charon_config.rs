//! Charon's config file. Charon reads `charon.yaml` from its working
//! directory besides flags and `CHARON_*` variables; secrets such as beacon
//! node auth headers go there, so they never appear in the pod spec, an
//! environment variable or a process's arguments.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CharonConfigError {
    #[error(
        "the beacon node headers Secret holds an entry that is not name=value (entry {index}); \
         set charon.beaconNodeHeaders.secretKey to a key holding e.g. Authorization=Bearer TOKEN"
    )]
    Malformed { index: usize },
    #[error("the beacon node headers Secret is empty; remove charon.beaconNodeHeaders.secretName or fill the key")]
    Empty,
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Checks `headers` as Charon will (comma-separated name=value pairs) and
/// writes `out_dir/charon.yaml` readable by its owner only.
pub fn write(headers: &str, out_dir: &Path) -> Result<PathBuf, CharonConfigError> {
    if headers.is_empty() {
        return Err(CharonConfigError::Empty);
    }
    for (index, entry) in headers.split(',').enumerate() {
        match entry.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() && !value.is_empty() => {}
            _ => return Err(CharonConfigError::Malformed { index }),
        }
    }
    let document = serde_json::json!({ "beacon-node-headers": headers });
    let path = out_dir.join("charon.yaml");
    // A restarted pod finds the file it wrote before; it is replaced whole.
    serde_norway::to_string(&document)
        .map_err(std::io::Error::other)
        .and_then(|text| super::files::replace(&path, text.as_bytes(), 0o400))
        .map_err(|source| CharonConfigError::Write { path: path.clone(), source })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_become_charons_config_key_readable_by_the_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = write("Authorization=Bearer abc,X-Key=k=v", dir.path()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: serde_json::Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(parsed["beacon-node-headers"], "Authorization=Bearer abc,X-Key=k=v");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o400);
    }

    #[test]
    fn an_entry_without_a_value_is_named_without_echoing_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let error = write("Authorization=Bearer secret,broken", dir.path()).unwrap_err().to_string();
        assert!(error.contains("entry 1") && !error.contains("secret,"), "{error}");
        assert!(matches!(write("", dir.path()), Err(CharonConfigError::Empty)));
    }
}
