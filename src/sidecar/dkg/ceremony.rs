//! One `charon dkg` attempt: started in the scratch directory, its log
//! read for progress and kept per attempt, its outputs judged on disk.

use super::*;

pub(super) enum AttemptOutcome {
    Done(String),
    Failed(String),
}

pub(super) async fn run_attempt(
    config: &DkgConfig,
    definition: &Definition,
    attempt: u32,
    reporter: &mut Reporter,
    terminate: &mut tokio::signal::unix::Signal,
) -> anyhow::Result<AttemptOutcome> {
    let scratch = prepare_scratch(config, definition)?;
    let logs = config.data_dir.join("dkg-logs");
    fs::create_dir_all(&logs)?;
    let log_path = logs.join(format!("attempt-{attempt}.log"));

    let started_at = timestamp(SystemTime::now());
    tracing::info!(attempt, config_hash = %definition.config_hash_hex(), "starting charon dkg");
    reporter.update(|s| {
        s.dkg_started(attempt, started_at.clone(), invite_status(definition, definition.operators.len(), Vec::new()))
    });

    let mut command = charon_dkg(config, &scratch);
    let mut child = command.spawn().with_context(|| format!("starting {}", config.charon.display()))?;
    let Some(ended) = follow(&mut child, config, &log_path, reporter, terminate).await? else {
        // A lock may be complete already: the restart judges it
        // (finish_interrupted_attempt) rather than this shutdown.
        if !scratch.join(LOCK_FILE).exists() {
            let _ = fs::remove_dir_all(&scratch);
        }
        return Err(Stopped::Signal.into());
    };

    match judge_outputs(&scratch, reporter.current().enr.as_str(), definition) {
        Ok(lock_hash) => {
            if !ended.exit.success() {
                tracing::warn!(exit = ?ended.exit, "charon dkg exited with an error but its outputs are complete and valid");
            }
            move_into_place(config, &scratch, &lock_hash, attempt)?;
            tracing::info!(%lock_hash, "DKG complete; cluster lock and key shares in place");
            Ok(AttemptOutcome::Done(lock_hash))
        }
        Err(problem) => {
            let reason = match (&ended.last_error, ended.exit.code()) {
                (Some(error), _) => format!("charon dkg: {error} ({problem}); log {}", log_path.display()),
                (None, None) => {
                    format!("charon dkg did not finish within {:?}; log {}", config.attempt_timeout, log_path.display())
                }
                (None, Some(code)) => format!("charon dkg exited {code}: {problem}; log {}", log_path.display()),
            };
            set_aside_or_remove(config, &scratch)?;
            Ok(AttemptOutcome::Failed(reason))
        }
    }
}

/// A fresh scratch directory holding a copy of the ENR key and the
/// definition, as `charon dkg --data-dir` expects them.
fn prepare_scratch(config: &DkgConfig, definition: &Definition) -> anyhow::Result<PathBuf> {
    let scratch = config.data_dir.join(ATTEMPT_DIR);
    if scratch.exists() {
        fs::remove_dir_all(&scratch).context("clearing the scratch directory")?;
    }
    fs::create_dir_all(&scratch).context("creating the scratch directory")?;
    copy_key(&config.key_file, &scratch.join(KEY_FILE_NAME))?;
    let definition_json = serde_json::to_vec_pretty(definition.json()).expect("a JSON object serialises");
    fs::write(scratch.join(DEFINITION_FILE), &definition_json).context("writing the definition")?;
    Ok(scratch)
}

fn charon_dkg(config: &DkgConfig, scratch: &Path) -> Command {
    let mut command = Command::new(&config.charon);
    command
        .arg("dkg")
        .arg(format!("--data-dir={}", scratch.display()))
        .arg(format!("--definition-file={}", scratch.join(DEFINITION_FILE).display()))
        .arg(format!("--timeout={}s", config.dkg_timeout.as_secs().max(1)))
        .arg("--log-format=json")
        .arg("--shutdown-delay=1s");
    if !config.relays.is_empty() {
        command.arg(format!("--p2p-relays={}", config.relays.join(",")));
    }
    if let Some(address) = &config.p2p_tcp_address {
        command.arg(format!("--p2p-tcp-address={address}"));
    }
    if let Some(address) = &config.publish_address {
        command.arg("--publish").arg(format!("--publish-address={address}"));
    }
    // Charon reads every CHARON_* variable as a flag; only ours apply.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CHARON_") {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    crate::process::die_with_parent(command.as_std_mut());
    command
}

/// How a `charon dkg` run ended.
struct Ended {
    exit: std::process::ExitStatus,
    /// The last error Charon logged.
    last_error: Option<String>,
}

/// Copies Charon's output to the attempt's log and its steps to the status
/// until it exits or the attempt times out; `None` when SIGTERM stopped it.
async fn follow(
    child: &mut tokio::process::Child,
    config: &DkgConfig,
    log_path: &Path,
    reporter: &mut Reporter,
    terminate: &mut tokio::signal::unix::Signal,
) -> anyhow::Result<Option<Ended>> {
    let mut lines = crate::process::output::lines(child);
    let mut log = tokio::fs::File::create(log_path).await?;
    let deadline = tokio::time::sleep(config.attempt_timeout);
    tokio::pin!(deadline);
    let mut last_error = None;
    let exit = loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    log.write_all(line.as_bytes()).await?;
                    log.write_all(b"\n").await?;
                    if let Some((level, message)) = charon_log_message(&line) {
                        if level == "error" {
                            last_error = Some(message.clone());
                        }
                        if level == "info" || level == "error" {
                            reporter.update(|s| s.dkg_step(message));
                        }
                    }
                }
                None => break child.wait().await?,
            },
            _ = &mut deadline => {
                crate::process::stop(child, CHARON_STOP_GRACE).await;
                break child.wait().await?;
            }
            _ = terminate.recv() => {
                tracing::info!("SIGTERM: stopping charon dkg");
                crate::process::stop(child, CHARON_STOP_GRACE).await;
                log.flush().await?;
                return Ok(None);
            }
        }
    };
    log.flush().await?;
    Ok(Some(Ended { exit, last_error }))
}

/// Charon gets this long to stop after SIGTERM before SIGKILL.
pub(super) const CHARON_STOP_GRACE: Duration = Duration::from_secs(10);

/// `(level, msg)` of a Charon JSON log line.
pub(super) fn charon_log_message(line: &str) -> Option<(String, String)> {
    let value: Value = serde_json::from_str(line).ok()?;
    Some((value["level"].as_str()?.to_string(), value["msg"].as_str()?.to_string()))
}
