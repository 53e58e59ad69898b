//! The wizard's state and what each key does to it. Drawing (`screens`) is
//! a pure function of this state, which is what the snapshot tests rely on;
//! everything slow (helm, the cluster, the demo) reports in as an `Update`.

use std::{path::PathBuf, time::SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::values::{FieldKey, Form};
use crate::{
    cluster::release::ReleaseView,
    health::NodeHealth,
    local_formation::{DemoView, Stage},
    status::{Phase, Status},
};

const HELM_RUNNING: &str = "helm is still running; wait for it to finish (Ctrl-C quits anyway).";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A local formation, no cluster (`dv-tui --demo`).
    Demo,
    /// Installing into and following a real cluster.
    Cluster,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Every release in the cluster, one line each (`kubectl dv status -A`).
    Releases,
    Preflight,
    Configure,
    Install,
    Enr,
    Formation,
    Health,
}

impl Screen {
    pub fn title(self) -> &'static str {
        match self {
            Screen::Releases => "Releases",
            Screen::Preflight => "Preflight",
            Screen::Configure => "Configure",
            Screen::Install => "Review",
            Screen::Enr => "ENR",
            Screen::Formation => "Formation",
            Screen::Health => "Health",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    Pass,
    Warn,
    Fail,
    /// Not run, because a check it depends on failed (the detail says which).
    Skipped,
}

/// One preflight check and, when it did not pass, what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub state: CheckState,
    pub detail: String,
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Install {
    /// The exact command, one argument per entry.
    pub command: Vec<String>,
    pub running: bool,
    /// Helm's output, verbatim.
    pub output: Vec<String>,
    /// None until helm ends; then Ok or Helm's exit status.
    pub outcome: Option<InstallOutcome>,
}

/// Demo-only facts shown beside the shared screens.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoFacts {
    pub stage: Stage,
    pub sidecars: Vec<Option<Phase>>,
    pub elapsed_seconds: f64,
    pub work_dir: String,
    pub error: Option<String>,
}

/// What background work reports to the wizard.
/// How `helm upgrade --install` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallOutcome {
    Installed,
    /// Why it failed, for the Install screen.
    Failed(String),
}

#[derive(Debug)]
pub enum Update {
    Preflight(Vec<Check>),
    InstallOutput(String),
    InstallEnded(InstallOutcome),
    /// What the release looks like, and the name of its pod.
    Release {
        view: Box<ReleaseView>,
        pod: String,
    },
    Demo(Box<DemoView>),
    /// Every release the cluster shows us.
    Fleet(Vec<ReleaseView>),
}

/// What the event loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
    RunInstall,
    RerunPreflight,
    CopyEnr,
    SaveValues,
    SaveAndQuit,
    /// Follow this release (namespace, release) from now on.
    FollowRelease {
        namespace: String,
        release: String,
    },
}

pub struct App {
    pub mode: Mode,
    pub screen: Screen,
    /// Move to the screen that matches formation as it progresses, until the
    /// operator navigates themselves.
    pub follow: bool,
    pub now: SystemTime,
    pub color: bool,
    pub show_help: bool,
    /// The ENR's QR code alone on the screen, as large a code as fits.
    pub qr_full_screen: bool,
    /// "Quit with unsaved values?" is on screen.
    pub confirm_quit: bool,
    pub preflight: Vec<Check>,
    /// First line of the preflight list shown (it scrolls).
    pub preflight_scroll: u16,
    pub form: Form,
    pub install: Install,
    pub enr: Option<String>,
    pub status: Option<Status>,
    pub nodes: Vec<NodeHealth>,
    pub demo: Option<DemoFacts>,
    /// Every release the cluster shows us, for the Releases screen.
    pub fleet: Vec<ReleaseView>,
    /// The line selected on the Releases screen.
    pub fleet_selected: usize,
    /// Open on the Releases screen once it has more than one release: no
    /// release was named on the command line.
    pub opens_on_fleet: bool,
    /// Things that could not be read (cluster mode).
    pub problems: Vec<String>,
    /// One-line feedback, e.g. the clipboard's result.
    pub notice: Option<String>,
    pub release: String,
    pub namespace: String,
    pub values_file: PathBuf,
    /// The ENR's QR code, kept between frames.
    pub qr: crate::enr::qr::Cache,
}

impl App {
    pub fn new(mode: Mode, form: Form, release: &str, namespace: &str, values_file: PathBuf) -> Self {
        App {
            mode,
            screen: if mode == Mode::Demo { Screen::Enr } else { Screen::Preflight },
            follow: true,
            now: SystemTime::now(),
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            show_help: false,
            qr_full_screen: false,
            confirm_quit: false,
            preflight: Vec::new(),
            preflight_scroll: 0,
            form,
            install: Install::default(),
            enr: None,
            status: None,
            nodes: Vec::new(),
            demo: None,
            fleet: Vec::new(),
            fleet_selected: 0,
            opens_on_fleet: false,
            problems: Vec::new(),
            notice: None,
            release: release.into(),
            namespace: namespace.into(),
            values_file,
            qr: crate::enr::qr::Cache::default(),
        }
    }

    /// The screens of this mode, in journey order; the Releases screen
    /// comes last (so the journey's numbers never move) and only when the
    /// cluster holds more than one release.
    pub fn screens(&self) -> Vec<Screen> {
        match self.mode {
            Mode::Demo => vec![Screen::Enr, Screen::Formation, Screen::Health],
            Mode::Cluster => {
                let journey = [
                    Screen::Preflight,
                    Screen::Configure,
                    Screen::Install,
                    Screen::Enr,
                    Screen::Formation,
                    Screen::Health,
                ];
                let fleet = (self.fleet.len() > 1).then_some(Screen::Releases);
                journey.into_iter().chain(fleet).collect()
            }
        }
    }

    /// The keys that work on the current screen, as (keys, what they do):
    /// the help lists them all, the footer as many as fit.
    pub fn keys(&self) -> Vec<(String, &'static str)> {
        let editing = self.screen == Screen::Configure;
        let mut keys: Vec<(String, &'static str)> = match self.screen {
            Screen::Preflight if self.mode == Mode::Cluster => {
                vec![("r".into(), "run the checks again"), ("↑ ↓ PgUp PgDn".into(), "scroll")]
            }
            Screen::Configure => vec![
                ("↑ ↓ Enter".into(), "previous / next field"),
                ("← →".into(), "choose a network or client"),
                ("Ctrl-S".into(), "save the values file"),
            ],
            Screen::Install => vec![("Enter".into(), "install with these values")],
            Screen::Enr => vec![("c".into(), "copy the ENR"), ("z".into(), "QR code full screen")],
            Screen::Releases => vec![("↑ ↓".into(), "select a release"), ("Enter".into(), "follow it")],
            _ => Vec::new(),
        };
        keys.push(((if editing { "Tab" } else { "Tab →" }).into(), "next screen"));
        keys.push(((if editing { "Shift-Tab" } else { "Shift-Tab ←" }).into(), "previous screen"));
        if !editing {
            keys.push((format!("1-{}", self.screens().len()), "jump to a screen"));
        }
        if matches!(self.screen, Screen::Enr | Screen::Formation | Screen::Health) {
            keys.push(("f".into(), "follow formation"));
        }
        let first = self.screens().first() == Some(&self.screen);
        keys.push(("Esc".into(), if first { "quit" } else { "back one screen" }));
        keys.push(("?".into(), "help"));
        if !editing {
            keys.push(("q".into(), "quit"));
        }
        keys.push(("Ctrl-C".into(), "quit at once"));
        keys
    }

    fn go(&mut self, screen: Screen) {
        self.screen = screen;
        self.follow = false;
    }

    fn step(&mut self, forward: bool) {
        let screens = self.screens();
        let at = screens.iter().position(|s| *s == self.screen).unwrap_or(0);
        let next = if forward { (at + 1).min(screens.len() - 1) } else { at.saturating_sub(1) };
        self.go(screens[next]);
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if self.show_help {
            self.show_help = false;
            return Action::None;
        }
        if self.qr_full_screen {
            // Nothing but the code is drawn, so only the keys its one line names work.
            if matches!(key.code, KeyCode::Char('z' | 'q') | KeyCode::Esc) {
                self.qr_full_screen = false;
            }
            return Action::None;
        }
        if self.confirm_quit {
            return self.on_confirm_key(key);
        }
        self.notice = None;
        let editing = self.screen == Screen::Configure;
        match key.code {
            KeyCode::Char('?') => self.show_help = true,
            KeyCode::Esc => return self.back(),
            KeyCode::Tab => self.step(true),
            KeyCode::BackTab => self.step(false),
            _ if editing => return self.on_form_key(key, ctrl),
            KeyCode::Right => self.step(true),
            KeyCode::Left => self.step(false),
            KeyCode::Char('q') => return self.request_quit(),
            KeyCode::Char('f') => self.follow = true,
            KeyCode::Char(digit @ '1'..='9') => {
                if let Some(screen) = self.screens().get(digit as usize - '1' as usize) {
                    self.go(*screen);
                }
            }
            _ => return self.on_screen_key(key),
        }
        Action::None
    }

    /// Keys that belong to one screen.
    fn on_screen_key(&mut self, key: KeyEvent) -> Action {
        match (self.screen, key.code) {
            (Screen::Releases, KeyCode::Up) => self.fleet_selected = self.fleet_selected.saturating_sub(1),
            (Screen::Releases, KeyCode::Down) => {
                self.fleet_selected = (self.fleet_selected + 1).min(self.fleet.len().saturating_sub(1))
            }
            (Screen::Releases, KeyCode::Enter) => return self.follow_selected_release(),
            (Screen::Preflight, KeyCode::Char('r')) => return Action::RerunPreflight,
            (Screen::Preflight, KeyCode::Up) => self.preflight_scroll = self.preflight_scroll.saturating_sub(1),
            (Screen::Preflight, KeyCode::Down) => self.preflight_scroll = self.preflight_scroll.saturating_add(1),
            (Screen::Preflight, KeyCode::PageUp) => self.preflight_scroll = self.preflight_scroll.saturating_sub(10),
            (Screen::Preflight, KeyCode::PageDown) => self.preflight_scroll = self.preflight_scroll.saturating_add(10),
            (Screen::Install, KeyCode::Enter | KeyCode::Char('i')) => return self.request_install(),
            (Screen::Enr, KeyCode::Char('c')) => return Action::CopyEnr,
            (Screen::Enr, KeyCode::Char('z')) => self.qr_full_screen = true,
            _ => {}
        }
        Action::None
    }

    fn on_form_key(&mut self, key: KeyEvent, ctrl: bool) -> Action {
        match key.code {
            KeyCode::Char('s') if ctrl => return Action::SaveValues,
            // Enter moves on; only the review screen installs.
            KeyCode::Enter if self.form.focus + 1 == FieldKey::ALL.len() => self.go(Screen::Install),
            KeyCode::Enter | KeyCode::Down => self.form.focus_next(),
            KeyCode::Up => self.form.focus_previous(),
            KeyCode::Left => self.form.cycle(false),
            KeyCode::Right => self.form.cycle(true),
            KeyCode::Backspace => self.form.backspace(),
            KeyCode::Char(c) if !ctrl => self.form.type_char(c),
            _ => {}
        }
        Action::None
    }

    /// Enter on the Releases screen: that release becomes the one shown,
    /// and the journey follows its phase.
    fn follow_selected_release(&mut self) -> Action {
        let Some(view) = self.fleet.get(self.fleet_selected) else { return Action::None };
        let (namespace, release) = (view.namespace.clone(), view.release.clone());
        self.namespace = namespace.clone();
        self.release = release.clone();
        self.status = view.status.clone();
        self.enr = view.enr.clone();
        self.nodes.clear();
        self.follow = true;
        self.screen = Screen::Enr;
        self.follow_formation(view.charon.is_some());
        Action::FollowRelease { namespace, release }
    }

    /// Esc: back one screen; on the first screen it is a quit request.
    fn back(&mut self) -> Action {
        let first = self.screens().first() == Some(&self.screen);
        if first {
            return self.request_quit();
        }
        self.step(false);
        Action::None
    }

    /// Quitting kills a running helm, which can leave the release stuck in a
    /// pending state: q waits for it (Ctrl-C still quits at once). Typed
    /// values that were not saved are worth a question first.
    fn request_quit(&mut self) -> Action {
        if self.install.running {
            self.notice = Some(HELM_RUNNING.into());
            return Action::None;
        }
        if self.mode == Mode::Cluster && !self.form.is_saved() {
            self.confirm_quit = true;
            return Action::None;
        }
        Action::Quit
    }

    fn on_confirm_key(&mut self, key: KeyEvent) -> Action {
        self.confirm_quit = false;
        match key.code {
            KeyCode::Char('y') => Action::Quit,
            KeyCode::Char('s') => Action::SaveAndQuit,
            _ => Action::None,
        }
    }

    /// What stands in the way of installing, if anything: helm already
    /// running, preflight not done or failed, an invalid value.
    pub fn install_blocker(&self) -> Option<String> {
        if self.install.running {
            return Some(HELM_RUNNING.into());
        }
        if self.preflight.is_empty() {
            return Some("the preflight checks are still running".into());
        }
        if let Some(failed) = self.preflight.iter().find(|c| c.state == CheckState::Fail) {
            return Some(format!(
                "preflight check \"{}\" failed: fix it, then press r on the Preflight screen to check again",
                failed.name
            ));
        }
        self.form.first_error().map(|(label, error)| format!("{label}: {error}"))
    }

    /// Install only from the review screen and only when nothing stands in
    /// the way; otherwise say what does (and show the field at fault).
    fn request_install(&mut self) -> Action {
        match self.install_blocker() {
            None => Action::RunInstall,
            Some(blocker) => {
                if !self.install.running
                    && !self.preflight.is_empty()
                    && self.preflight.iter().all(|c| c.state != CheckState::Fail)
                    && let Some(at) = FieldKey::ALL.iter().position(|key| self.form.error(*key).is_some())
                {
                    self.form.focus = at;
                    self.go(Screen::Configure);
                }
                self.notice = Some(blocker);
                Action::None
            }
        }
    }

    pub fn apply(&mut self, update: Update) {
        match update {
            Update::Preflight(checks) => self.preflight = checks,
            Update::InstallOutput(line) => self.install.output.push(line),
            Update::InstallEnded(outcome) => {
                self.install.running = false;
                // A successful install starts the journey: follow it from the ENR on.
                if outcome == InstallOutcome::Installed {
                    self.screen = Screen::Enr;
                    self.follow = true;
                }
                self.install.outcome = Some(outcome);
            }
            // A read of a release the operator has since left.
            Update::Release { view, .. } if view.release != self.release || view.namespace != self.namespace => {}
            Update::Release { view, pod } => {
                self.enr = view.enr.clone().or(self.enr.take());
                self.status = view.status.clone();
                self.problems = view.problems.iter().chain(&view.reminders).cloned().collect();
                self.nodes = vec![NodeHealth {
                    name: pod,
                    pod: view.pod.clone(),
                    charon: view.charon.clone(),
                    charon_error: None,
                }];
                self.follow_formation(view.charon.is_some());
            }
            Update::Fleet(fleet) => {
                // Opening on the Releases screen once there is more than one,
                // unless the operator has moved already.
                let opens = self.opens_on_fleet
                    && self.fleet.len() <= 1
                    && fleet.len() > 1
                    && self.follow
                    && self.screen == Screen::Preflight;
                self.fleet = fleet;
                self.fleet_selected = self.fleet_selected.min(self.fleet.len().saturating_sub(1));
                if opens {
                    self.screen = Screen::Releases;
                }
            }
            Update::Demo(view) => {
                self.status = view.ours.clone();
                self.enr = view.ours.as_ref().map(|s| s.enr.clone());
                self.nodes = view.nodes.clone();
                self.demo = Some(DemoFacts {
                    stage: view.stage,
                    sidecars: view.sidecars.clone(),
                    elapsed_seconds: view.elapsed_seconds,
                    work_dir: view.work_dir.clone(),
                    error: view.error.clone(),
                });
                self.follow_formation(matches!(view.stage, Stage::StartingNodes | Stage::Healthy));
            }
        }
    }

    fn follow_formation(&mut self, nodes_started: bool) {
        if !self.follow
            || matches!(self.screen, Screen::Releases | Screen::Preflight | Screen::Configure | Screen::Install)
        {
            return;
        }
        let Some(status) = &self.status else { return };
        self.screen = match status.phase {
            Phase::KeyReady | Phase::WaitingForInvite | Phase::AwaitingOurSignature => Screen::Enr,
            Phase::WaitingForSignatures | Phase::DkgRunning | Phase::DkgFailed | Phase::LockRefused => {
                Screen::Formation
            }
            Phase::Done if nodes_started => Screen::Health,
            Phase::Done => Screen::Formation,
        };
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyEvent;

    use super::*;
    use crate::status::Status;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn cluster_app() -> App {
        App::new(Mode::Cluster, Form::default(), "r", "ns", PathBuf::from("v.yaml"))
    }

    #[test]
    fn tab_and_digits_move_between_screens_and_stop_following() {
        let mut app = cluster_app();
        assert_eq!(app.on_key(key(KeyCode::Tab)), Action::None);
        assert_eq!(app.screen, Screen::Configure);
        assert!(!app.follow);
        app.on_key(key(KeyCode::BackTab));
        app.on_key(key(KeyCode::Char('6')));
        assert_eq!(app.screen, Screen::Health);
        app.on_key(key(KeyCode::Char('f')));
        assert!(app.follow);
    }

    fn passing_preflight() -> Vec<Check> {
        vec![Check { name: "API server".into(), state: CheckState::Pass, detail: "v1.34".into(), fix: None }]
    }

    #[test]
    fn typing_q_in_the_form_types_it_and_esc_goes_back_a_screen() {
        let mut app = cluster_app();
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), Action::None);
        assert_eq!(app.form.get(FieldKey::OperatorAddress), "q");
        assert_eq!(app.on_key(key(KeyCode::Esc)), Action::None);
        assert_eq!(app.screen, Screen::Preflight);
    }

    #[test]
    fn enter_moves_to_the_next_field_and_after_the_last_one_to_the_review() {
        let mut app = cluster_app();
        app.on_key(key(KeyCode::Tab));
        for field in &FieldKey::ALL[1..] {
            assert_eq!(app.on_key(key(KeyCode::Enter)), Action::None);
            assert_eq!(app.form.focused(), *field);
        }
        assert_eq!(app.on_key(key(KeyCode::Enter)), Action::None, "Enter never installs from the form");
        assert_eq!(app.screen, Screen::Install);
    }

    #[test]
    fn installing_from_the_review_names_the_invalid_field_and_shows_it() {
        let mut app = cluster_app();
        app.preflight = passing_preflight();
        app.on_key(key(KeyCode::Char('3')));
        assert_eq!(app.on_key(key(KeyCode::Enter)), Action::None);
        assert_eq!(app.screen, Screen::Configure);
        assert_eq!(app.form.focused(), FieldKey::OperatorAddress);
        assert_eq!(app.notice.as_deref(), Some("Operator address: required"));
        app.form.set(FieldKey::OperatorAddress, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.screen, Screen::Install);
        assert_eq!(app.on_key(key(KeyCode::Enter)), Action::RunInstall);
    }

    #[test]
    fn a_failed_preflight_check_blocks_installing_until_it_passes() {
        let mut app = cluster_app();
        app.form.set(FieldKey::OperatorAddress, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
        app.on_key(key(KeyCode::Char('3')));
        assert_eq!(app.on_key(key(KeyCode::Enter)), Action::None, "checks still running");
        app.preflight =
            vec![Check { name: "helm".into(), state: CheckState::Fail, detail: "missing".into(), fix: None }];
        assert_eq!(app.on_key(key(KeyCode::Enter)), Action::None);
        assert!(app.notice.as_deref().unwrap().contains("\"helm\" failed"), "{:?}", app.notice);
        assert_eq!(app.screen, Screen::Install, "the review stays on screen");
        app.on_key(key(KeyCode::Char('1')));
        assert_eq!(app.on_key(key(KeyCode::Char('r'))), Action::RerunPreflight);
    }

    #[test]
    fn quitting_with_unsaved_values_asks_and_any_other_key_stays() {
        let mut app = cluster_app();
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), Action::Quit, "nothing typed, nothing to lose");
        app.on_key(key(KeyCode::Tab));
        app.on_key(key(KeyCode::Char('0')));
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), Action::None);
        assert!(app.confirm_quit);
        assert_eq!(app.on_key(key(KeyCode::Char('n'))), Action::None);
        assert!(!app.confirm_quit);
        app.on_key(key(KeyCode::Char('q')));
        assert_eq!(app.on_key(key(KeyCode::Char('s'))), Action::SaveAndQuit);
        app.on_key(key(KeyCode::Char('q')));
        assert_eq!(app.on_key(key(KeyCode::Char('y'))), Action::Quit);
    }

    #[test]
    fn help_lists_only_the_keys_of_the_screen_and_the_jump_range_matches_the_screens() {
        let mut app = App::new(Mode::Demo, Form::default(), "demo", "local", PathBuf::new());
        let keys: Vec<String> = app.keys().into_iter().map(|(keys, _)| keys).collect();
        assert!(keys.contains(&"1-3".to_string()) && keys.contains(&"c".to_string()), "{keys:?}");
        app.on_key(key(KeyCode::Char('?')));
        assert!(app.show_help);
        let mut cluster = cluster_app();
        cluster.on_key(key(KeyCode::Tab));
        let keys: Vec<String> = cluster.keys().into_iter().map(|(keys, _)| keys).collect();
        assert!(keys.contains(&"Ctrl-S".to_string()) && !keys.contains(&"c".to_string()), "{keys:?}");
        assert!(!keys.iter().any(|k| k.starts_with("1-")), "digits are typed in the form: {keys:?}");
    }

    #[test]
    fn while_helm_runs_q_and_enter_wait_and_say_why() {
        let mut app = cluster_app();
        app.install.running = true;
        app.on_key(key(KeyCode::Char('3')));
        assert_eq!(app.screen, Screen::Install);
        assert_eq!(app.on_key(key(KeyCode::Enter)), Action::None, "a second helm run must not start");
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), Action::None);
        assert_eq!(app.notice.as_deref(), Some(HELM_RUNNING));
        assert_eq!(app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), Action::Quit);
    }

    #[test]
    fn z_on_the_enr_screen_shows_the_qr_code_full_screen_and_z_esc_or_q_go_back() {
        let mut app = cluster_app();
        app.on_key(key(KeyCode::Char('z')));
        assert!(!app.qr_full_screen, "z means nothing on the preflight screen");
        app.on_key(key(KeyCode::Char('4')));
        assert_eq!(app.screen, Screen::Enr);
        for leave in [KeyCode::Char('z'), KeyCode::Esc, KeyCode::Char('q')] {
            app.on_key(key(KeyCode::Char('z')));
            assert!(app.qr_full_screen);
            assert_eq!(app.on_key(key(KeyCode::Tab)), Action::None);
            assert!(app.qr_full_screen && app.screen == Screen::Enr, "other keys do nothing behind the code");
            assert_eq!(app.on_key(key(leave)), Action::None, "{leave:?} leaves the code, not the wizard");
            assert!(!app.qr_full_screen);
        }
        app.on_key(key(KeyCode::Char('z')));
        assert_eq!(app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), Action::Quit);
    }

    #[test]
    fn the_preflight_list_scrolls_with_the_arrows_and_pages() {
        let mut app = cluster_app();
        app.on_key(key(KeyCode::Down));
        app.on_key(key(KeyCode::Down));
        assert_eq!(app.preflight_scroll, 2);
        app.on_key(key(KeyCode::PageUp));
        assert_eq!(app.preflight_scroll, 0, "never above the first line");
        app.on_key(key(KeyCode::PageDown));
        assert_eq!(app.preflight_scroll, 10);
    }

    #[test]
    fn ctrl_c_quits_from_anywhere() {
        let mut app = cluster_app();
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), Action::Quit);
    }

    #[test]
    fn following_moves_to_the_screen_that_matches_the_phase() {
        let mut app = App::new(Mode::Demo, Form::default(), "demo", "local", PathBuf::new());
        let mut view = crate::local_formation::DemoView::empty(std::path::Path::new("/tmp"));
        let mut status = Status::new("0x".into(), "enr:-x".into());
        status.phase = Phase::WaitingForSignatures;
        view.ours = Some(status.clone());
        app.apply(Update::Demo(Box::new(view.clone())));
        assert_eq!(app.screen, Screen::Formation);
        status.phase = Phase::Done;
        view.ours = Some(status);
        view.stage = Stage::StartingNodes;
        app.apply(Update::Demo(Box::new(view)));
        assert_eq!(app.screen, Screen::Health);
    }
}
