//! Log set-up for the binaries: JSON lines on stderr for the sidecar (read
//! by Kubernetes and by the TUI), filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

pub fn init_json() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second initialisation (tests) is harmless; ignore it.
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
