//! The data directory: what a finished attempt left (judged, never
//! trusted), the move of a verified result into `cluster/` in one rename,
//! attempts set aside, and the check of a cluster already in place, which
//! is never modified.

use super::*;

/// What a finished attempt left on disk, judged without trusting the exit code.
pub(super) fn judge_outputs(dir: &Path, our_enr: &str, expected: &Definition) -> anyhow::Result<String> {
    let lock = read_lock(&dir.join(LOCK_FILE)).map_err(|e| anyhow::anyhow!("no usable cluster lock: {e}"))?;
    if lock.definition.config_hash != expected.config_hash {
        anyhow::bail!("the cluster lock is for another definition");
    }
    let ours = lock
        .public_shares_of(our_enr)
        .ok_or_else(|| anyhow::anyhow!("the cluster lock does not contain this node's ENR"))?;
    check_keystores(&dir.join(KEYS_DIR), &ours)?;
    Ok(lock.lock_hash_hex())
}

/// A cluster that must not run: its lock does not verify, does not name
/// this node, or its key shares are not the ones the lock assigns us.
/// Reported as `lock_refused`; nothing on disk is changed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LockRefused(pub(super) String);

/// Reads a cluster lock and verifies it as Charon does, deposits included.
pub(super) fn read_lock(path: &Path) -> anyhow::Result<Lock> {
    let bytes = fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let lock = Lock::from_json(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    verified(lock).map_err(|e| anyhow::anyhow!("{} {e}", path.display()))
}

/// The lock, if every check passes; otherwise the first failing check.
pub(super) fn verified(lock: Lock) -> anyhow::Result<Lock> {
    match lock::verify(&lock).first_failure() {
        None => Ok(lock),
        Some(failure) => Err(anyhow::anyhow!("does not verify: {failure}")),
    }
}

/// Every validator has its keystore and password, and each keystore holds
/// the public key share the lock assigns to this node (not another node's).
pub(super) fn check_keystores(dir: &Path, our_shares: &[String]) -> anyhow::Result<()> {
    for (i, expected) in our_shares.iter().enumerate() {
        let password = dir.join(format!("keystore-{i}.txt"));
        if fs::metadata(&password).map(|m| m.len()).unwrap_or(0) == 0 {
            return Err(anyhow::anyhow!("{} is missing or empty", password.display()));
        }
        let keystore = dir.join(format!("keystore-{i}.json"));
        let pubkey = fs::read(&keystore)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|v| v["pubkey"].as_str().map(str::to_ascii_lowercase))
            .ok_or_else(|| anyhow::anyhow!("{} is missing or has no pubkey", keystore.display()))?;
        if pubkey.trim_start_matches("0x") != expected.to_ascii_lowercase().trim_start_matches("0x") {
            return Err(anyhow::anyhow!(
                "{} holds public key 0x{pubkey}, but the lock assigns this node 0x{} for validator {i}: the key \
                 shares belong to another node",
                keystore.display(),
                expected.trim_start_matches("0x")
            ));
        }
    }
    Ok(())
}

/// A cluster directory exists: it must be complete and ours. It is never
/// changed here, whatever state it is in.
pub(super) fn check_existing_cluster(cluster_dir: &Path, our_enr: &str) -> anyhow::Result<String> {
    let lock = read_lock(&cluster_dir.join(LOCK_FILE)).map_err(|e| {
        LockRefused(format!("{e}; {} is left untouched and Charon does not start", cluster_dir.display()))
    })?;
    let Some(ours) = lock.public_shares_of(our_enr) else {
        return Err(LockRefused(format!(
            "the cluster lock in {} does not contain this node's ENR {our_enr}: the ENR key and the lock belong to \
             different nodes (was the key Secret replaced?)",
            cluster_dir.display()
        ))
        .into());
    };
    check_keystores(&cluster_dir.join(KEYS_DIR), &ours).map_err(|e| LockRefused(format!("{e:#}")))?;
    tracing::info!(lock_hash = %lock.lock_hash_hex(), "a verified cluster lock is already in place; nothing to do");
    Ok(lock.lock_hash_hex())
}

/// A previous run died mid-attempt. A result that is complete and verified
/// (Charon finished; the move did not) is put in place, since the other
/// nodes may already be done and will never repeat the ceremony. An
/// incomplete one that wrote a lock is set aside; anything else goes.
pub(super) fn finish_interrupted_attempt(config: &DkgConfig, enr: &crate::enr::EnrRecord) -> anyhow::Result<()> {
    let scratch = config.data_dir.join(ATTEMPT_DIR);
    let cluster_dir = config.data_dir.join(CLUSTER_DIR);
    if !scratch.exists() || cluster_dir.exists() {
        return Ok(());
    }
    if !scratch.join(LOCK_FILE).exists() {
        return fs::remove_dir_all(&scratch).context("removing an interrupted attempt that wrote no lock");
    }
    let definition = fs::read(scratch.join(DEFINITION_FILE))
        .ok()
        .and_then(|bytes| Definition::from_json(&bytes).ok())
        .context("an interrupted attempt has a lock but no readable definition")?;
    match judge_outputs(&scratch, enr.text(), &definition) {
        Ok(lock_hash) => {
            tracing::info!(%lock_hash, "completing a finished DKG whose move a restart interrupted");
            move_into_place(config, &scratch, &lock_hash, 0)
        }
        Err(problem) => {
            let kept = set_aside_path(&config.data_dir);
            tracing::warn!(kept = %kept.display(), %problem, "an interrupted attempt left an incomplete lock; keeping it aside");
            fs::rename(&scratch, &kept).context("setting aside an interrupted attempt")
        }
    }
}

/// Removes our key copy from the result, marks it complete and renames the
/// scratch directory to `cluster/`: one atomic step.
pub(super) fn move_into_place(config: &DkgConfig, scratch: &Path, lock_hash: &str, attempt: u32) -> anyhow::Result<()> {
    // Our key copy and Charon's key lock stay out of the result.
    let _ = fs::remove_file(scratch.join(KEY_FILE_NAME));
    let _ = fs::remove_file(scratch.join(format!("{KEY_FILE_NAME}.lock")));
    let marker = json!({"lock_hash": lock_hash, "completed_at": timestamp(SystemTime::now()), "attempt": attempt});
    crate::files::replace(&scratch.join(COMPLETE_MARKER), marker.to_string().as_bytes(), 0o644)?;
    sync_dir(scratch)?;
    fs::rename(scratch, config.data_dir.join(CLUSTER_DIR)).context("moving the DKG result into place")?;
    sync_dir(&config.data_dir)
}

/// A failed attempt that wrote a lock is kept aside for the operator (it
/// may be the only copy of key shares); any other is removed.
pub(super) fn set_aside_or_remove(config: &DkgConfig, scratch: &Path) -> anyhow::Result<()> {
    if scratch.join(LOCK_FILE).exists() {
        let kept = set_aside_path(&config.data_dir);
        fs::rename(scratch, &kept).context("setting aside a failed attempt that wrote a lock")?;
    } else {
        fs::remove_dir_all(scratch).context("removing the failed attempt")?;
    }
    Ok(())
}

/// A fresh `dkg-failed-<time>` path: attempt numbers restart with the
/// process, times do not.
fn set_aside_path(data_dir: &Path) -> PathBuf {
    let stamp = timestamp(SystemTime::now()).replace(':', "-");
    (0..)
        .map(|n| data_dir.join(if n == 0 { format!("dkg-failed-{stamp}") } else { format!("dkg-failed-{stamp}-{n}") }))
        .find(|path| !path.exists())
        .expect("an unused name exists")
}

/// Copies the key into the scratch directory with mode 0600, never
/// overwriting, never through a buffer that outlives the copy.
pub(super) fn copy_key(from: &Path, to: &Path) -> anyhow::Result<()> {
    let key = EnrPrivateKey::load(from).context("loading the ENR private key")?;
    key.save_new(to).context("copying the ENR key into the DKG directory")?;
    debug_assert_eq!(fs::metadata(to)?.permissions().mode() & 0o777, 0o600);
    Ok(())
}

pub(super) fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(dir)?.sync_all()?;
    Ok(())
}
