//! Child processes of a test that cannot outlive it: killed on drop, and
//! with `PR_SET_PDEATHSIG` in case the test binary itself dies.

use std::{
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Spawned {
    pub child: Child,
    pub name: String,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Spawned {
    /// Waits for the exit status, up to `timeout`.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }
}

/// Starts `command` with stdout and stderr appended to `log`.
pub fn spawn(name: &str, mut command: Command, log: &Path) -> Spawned {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    command.stdin(Stdio::null()).stdout(file.try_clone().unwrap()).stderr(file);
    // SAFETY: prctl only affects the child being set up.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    Spawned { child, name: name.to_string() }
}

pub fn free_port() -> u16 {
    dv_pod::process::free_port().unwrap()
}

/// Polls `url` until it answers 200, up to `timeout`.
pub async fn wait_for_http_ok(url: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(response) = reqwest::get(url).await
            && response.status().is_success()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}
