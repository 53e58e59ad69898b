//! A cluster formed elsewhere (`--lock-file`, `--lock-hash`): verified in
//! memory first, then laid out and judged like a DKG result.

use super::*;

/// Puts a cluster formed elsewhere in place the way a DKG result is: copied
/// into the scratch directory, checked (the lock verifies, names our ENR and
/// has a key share per validator), then renamed to `cluster/` with its
/// completion marker. The sources are only read.
pub(super) async fn adopt_existing_cluster(
    config: &DkgConfig,
    existing: &ExistingCluster,
    our_enr: &str,
) -> anyhow::Result<String> {
    let (lock, source): (Value, String) = match &existing.lock {
        LockSource::File(path) => {
            let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let value = serde_json::from_slice(&bytes)
                .map_err(|e| LockRefused(format!("{} is not a JSON cluster lock: {e}", path.display())))?;
            (value, path.display().to_string())
        }
        LockSource::Hash(hash) => {
            // Fetched once per start: a transient failure is retried here.
            let mut api_config = config.api.clone();
            api_config.retry.attempts_per_call = 3;
            let api = ObolApi::new(api_config);
            let lock = api
                .lock_by_hash(hash)
                .await
                .with_context(|| format!("fetching lock {hash} from {}", config.api.base_url))?
                .with_context(|| format!("the Obol API has no lock {hash}: check charon.lock.hash"))?;
            (lock, format!("{hash} from {}", config.api.base_url))
        }
    };
    // Nothing is written before the lock verifies; a fetched one must also
    // hash to the value asked for (its stated hash is checked against its
    // content by the verification).
    let lock = Lock::from_value(lock)
        .map_err(|e| LockRefused(format!("the lock {source}: {e}")))
        .and_then(|lock| verified(lock).map_err(|e| LockRefused(format!("the lock {source} {e}"))))?;
    if let LockSource::Hash(hash) = &existing.lock {
        let asked = hash.trim_start_matches("0x");
        if !lock.lock_hash_hex().trim_start_matches("0x").eq_ignore_ascii_case(asked) {
            return Err(LockRefused(format!(
                "the Obol API answered lock {hash} with a lock that hashes to {}: check charon.lock.hash",
                lock.lock_hash_hex()
            ))
            .into());
        }
    }
    let scratch = config.data_dir.join(ATTEMPT_DIR);
    let staged = stage_existing_cluster(&scratch, &Value::Object(lock.json().clone()), &existing.keys_dir)
        .and_then(|()| judge_outputs(&scratch, our_enr, &lock.definition));
    match staged {
        Ok(lock_hash) => {
            tracing::info!(%lock_hash, "adopting a cluster formed elsewhere; no DKG runs");
            move_into_place(config, &scratch, &lock_hash, 0)?;
            Ok(lock_hash)
        }
        Err(problem) => {
            fs::remove_dir_all(&scratch).context("removing the rejected copy")?;
            Err(LockRefused(format!("the existing cluster cannot be used: {problem:#}")).into())
        }
    }
}

/// Lays out an adopted cluster in the scratch directory as a DKG would leave
/// it: the definition first, so an interrupted adoption is judged like an
/// interrupted DKG on restart, then the lock and this node's key shares.
pub(super) fn stage_existing_cluster(scratch: &Path, lock: &Value, keys_dir: &Path) -> anyhow::Result<()> {
    let write_new = |path: &Path, bytes: &[u8]| -> anyhow::Result<()> {
        ensure!(crate::files::write_new(path, bytes, 0o600)?, "{} already exists in a fresh directory", path.display());
        Ok(())
    };
    fs::create_dir_all(scratch.join(KEYS_DIR))?;
    write_new(&scratch.join(DEFINITION_FILE), &serde_json::to_vec_pretty(&lock["cluster_definition"])?)?;
    write_new(&scratch.join(LOCK_FILE), &serde_json::to_vec_pretty(lock)?)?;
    let validators = lock["distributed_validators"].as_array().map_or(0, Vec::len);
    for i in 0..validators {
        for extension in ["json", "txt"] {
            let name = format!("keystore-{i}.{extension}");
            let from = keys_dir.join(&name);
            let bytes = fs::read(&from).with_context(|| format!("reading this node's key share {}", from.display()))?;
            write_new(&scratch.join(KEYS_DIR).join(&name), &bytes)?;
        }
    }
    Ok(())
}
