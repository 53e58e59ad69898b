//! A terminal for the wizard: a tmux server of our own (its own socket)
//! runs a command in a pane of a given size; tests type into it and read the
//! screen.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

/// A tmux server of our own (its own socket), killed on drop.
pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    pub fn start(dir: &Path, command: &str, width: u16, height: u16) -> Tmux {
        let tmux = Tmux { socket: dir.join("tmux.sock") };
        let wrapped = format!("{command}; echo \"EXITED $?\"; sleep 60");
        let (w, h) = (width.to_string(), height.to_string());
        tmux.run(&["new-session", "-d", "-s", "dv", "-x", &w, "-y", &h, "sh", "-c", &wrapped]);
        tmux
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs (apt-get install tmux)");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "dv"])
    }

    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.run(&["send-keys", "-t", "dv", key]);
        }
    }

    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "dv", "-l", "--", text]);
    }

    pub fn wait_for(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if needles.iter().all(|n| screen.contains(n)) {
                return screen;
            }
            assert!(Instant::now() < deadline, "the screen never showed {needles:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// On the wizard's Configure screen, with the operator address typed:
    /// types hoodi, a beacon node and the Obol API at `api`, moves field to
    /// field with Enter to the review screen, and installs from there.
    pub fn install_on_hoodi_with_api(&self, api: &str) {
        self.keys(&["Enter"]);
        self.keys(&["BSpace"; 10]);
        self.type_text("hoodi");
        self.wait_for(&["hoodi▏"], Duration::from_secs(5));
        self.keys(&["Enter"]);
        self.type_text("http://beacon:5052");
        self.keys(&["Enter", "Enter", "Enter"]);
        self.keys(&["BSpace"; 30]);
        self.type_text(api);
        self.wait_for(&[api], Duration::from_secs(5));
        self.keys(&["Enter"]);
        self.wait_for(&["Review and install", "press Enter to install"], Duration::from_secs(5));
        self.keys(&["Enter"]);
    }

    /// A tmux format of the pane, e.g. `#{alternate_on}`.
    pub fn pane(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "dv", format]).trim().to_string()
    }

    /// The wizard's pid: the only child of the pane's shell.
    pub fn program_pid(&self) -> u32 {
        let shell = self.run(&["list-panes", "-t", "dv", "-F", "#{pane_pid}"]).trim().to_string();
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap();
        children.split_whitespace().next().expect("the wizard runs").parse().unwrap()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-S").arg(&self.socket).arg("kill-server").output();
    }
}
