//! Child processes dv-pod starts (Charon, the demo's nodes, helm): each
//! dies with its parent (PR_SET_PDEATHSIG), is stopped with SIGTERM and,
//! after a grace period, SIGKILL, and its output can be read as merged
//! lines ([`output`]). A `Children` set stops all of its processes when
//! dropped.

pub mod output;

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

const GRACE: Duration = Duration::from_secs(5);

pub struct Started {
    child: Child,
    pub log: PathBuf,
}

impl Started {
    /// The exit status, if the process has ended.
    pub fn exited(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }
}

/// Every process the demo started; dropping it stops them all.
#[derive(Default)]
pub struct Children(Vec<Started>);

impl Children {
    /// Starts `command` with stdout and stderr appended to `log`; returns its index.
    pub fn start(&mut self, name: &str, mut command: Command, log: &Path) -> std::io::Result<usize> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        command.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file);
        die_with_parent(&mut command);
        let child = command.spawn().map_err(|e| std::io::Error::new(e.kind(), format!("starting {name}: {e}")))?;
        self.0.push(Started { child, log: log.to_path_buf() });
        Ok(self.0.len() - 1)
    }

    pub fn get_mut(&mut self, index: usize) -> &mut Started {
        &mut self.0[index]
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for started in &mut self.0 {
            // A reaped child's pid may belong to another process by now.
            if matches!(started.child.try_wait(), Ok(None)) {
                // SAFETY: signalling a child we started and have not reaped.
                unsafe { libc::kill(started.child.id() as i32, libc::SIGTERM) };
            }
        }
        let deadline = Instant::now() + GRACE;
        for started in &mut self.0 {
            while Instant::now() < deadline && matches!(started.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = started.child.kill();
            let _ = started.child.wait();
        }
    }
}

/// The child gets SIGKILL when this process dies, however it dies, so no
/// program dv-pod started outlives it (a second ceremony beside the next
/// attempt, a demo node after the demo).
pub fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and affects only the child.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Asks a child to stop (SIGTERM) and kills it if it has not within `grace`.
pub async fn stop(child: &mut tokio::process::Child, grace: Duration) {
    if let Some(pid) = child.id() {
        // SAFETY: signalling our own child process, not yet reaped.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The last `lines` lines of a log, for error messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM: the two ways a person or a
/// supervisor asks a program in the foreground to stop.
pub async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
