//! Log set-up for the binaries: JSON lines on stderr for the sidecar (read
//! by Kubernetes and by the TUI), and a daily-rotated file for the wizard,
//! whose screen must never carry log lines. Filtered by `RUST_LOG`
//! (default `info`).

use std::path::PathBuf;

use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

pub fn init_json() {
    // A second initialisation (tests) is harmless; ignore it.
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter()).with_writer(std::io::stderr).try_init();
}

/// Where the wizard logs: `$XDG_STATE_HOME/dv-pod`, else `~/.local/state/dv-pod`.
fn log_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("dv-pod")
}

/// Logs to `<log_dir>/<name>.YYYY-MM-DD.log`, keeping a week of files.
pub fn init_file(name: &str) -> anyhow::Result<()> {
    let dir = log_dir();
    std::fs::create_dir_all(&dir)?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(name)
        .filename_suffix("log")
        .max_log_files(7)
        .build(dir)?;
    let _ = tracing_subscriber::fmt().with_env_filter(filter()).with_ansi(false).with_writer(appender).try_init();
    Ok(())
}
