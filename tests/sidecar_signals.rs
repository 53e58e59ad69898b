//! Kubernetes stops pods with SIGTERM: the sidecar must stop promptly with
//! the conventional exit code, whatever it is waiting for.

mod support;

use std::time::{Duration, Instant};

use dv_pod::enr::EnrPrivateKey;
use support::process::{free_port, spawn};

#[test]
fn sigterm_while_polling_stops_the_sidecar_within_seconds_with_exit_143() {
    let work = tempfile::tempdir().unwrap();
    let key_file = work.path().join("key");
    EnrPrivateKey::generate().unwrap().save_new(&key_file).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dv-sidecar"));
    command
        .arg("dkg")
        .arg("--data-dir")
        .arg(work.path())
        .arg("--enr-key-file")
        .arg(&key_file)
        .args(["--operator-address", "0x52908400098527886E0F7030069857D2E4169EE7", "--network", "hoodi"])
        // Nothing listens there: the sidecar sits in its retry back-off.
        .args(["--api-endpoint", &format!("http://127.0.0.1:{}", free_port())])
        .args(["--initial-retry-delay-seconds", "30", "--max-retry-delay-seconds", "60"]);
    let mut sidecar = spawn("dv-sidecar", command, &work.path().join("log"));
    std::thread::sleep(Duration::from_secs(2));

    let sent = Instant::now();
    sidecar.signal(libc::SIGTERM);
    let status = sidecar.wait_for_exit(Duration::from_secs(10)).expect("still running 10 s after SIGTERM");
    assert_eq!(status.code(), Some(143));
    assert!(sent.elapsed() < Duration::from_secs(5), "took {:?}", sent.elapsed());
}
