//! The wizard's state and what each key does to it. Drawing (`screens`) is
//! a pure function of this state, which is what the snapshot tests rely on;
//! everything slow (helm, the cluster, the demo) reports in as an `Update`.

use std::{path::PathBuf, time::SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::values::Form;
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
            Screen::Preflight => "Preflight",
            Screen::Configure => "Configure",
            Screen::Install => "Install",
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
}

/// What the event loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
    RunInstall,
    CopyEnr,
    SaveValues,
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
    pub preflight: Vec<Check>,
    pub form: Form,
    pub install: Install,
    pub enr: Option<String>,
    pub status: Option<Status>,
    pub nodes: Vec<NodeHealth>,
    pub demo: Option<DemoFacts>,
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
            preflight: Vec::new(),
            form,
            install: Install::default(),
            enr: None,
            status: None,
            nodes: Vec::new(),
            demo: None,
            problems: Vec::new(),
            notice: None,
            release: release.into(),
            namespace: namespace.into(),
            values_file,
            qr: crate::enr::qr::Cache::default(),
        }
    }

    /// The screens of this mode, in journey order.
    pub fn screens(&self) -> &'static [Screen] {
        match self.mode {
            Mode::Demo => &[Screen::Enr, Screen::Formation, Screen::Health],
            Mode::Cluster => {
                &[Screen::Preflight, Screen::Configure, Screen::Install, Screen::Enr, Screen::Formation, Screen::Health]
            }
        }
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
        self.notice = None;
        let editing = self.screen == Screen::Configure;
        match key.code {
            KeyCode::Esc => return self.quit(),
            KeyCode::Tab => self.step(true),
            KeyCode::BackTab => self.step(false),
            KeyCode::Right if !editing => self.step(true),
            KeyCode::Left if !editing => self.step(false),
            KeyCode::Char('q') if !editing => return self.quit(),
            KeyCode::Char('?') if !editing => self.show_help = true,
            KeyCode::Char('f') if !editing => self.follow = true,
            KeyCode::Char('c') if !editing && self.screen == Screen::Enr => return Action::CopyEnr,
            KeyCode::Char('z') if !editing && self.screen == Screen::Enr => self.qr_full_screen = true,
            KeyCode::Char(digit @ '1'..='6') if !editing => {
                if let Some(screen) = self.screens().get(digit as usize - '1' as usize) {
                    self.go(*screen);
                }
            }
            KeyCode::Enter if self.screen == Screen::Install => return self.request_install(),
            _ if editing => return self.on_form_key(key, ctrl),
            _ => {}
        }
        Action::None
    }

    fn on_form_key(&mut self, key: KeyEvent, ctrl: bool) -> Action {
        match key.code {
            KeyCode::Char('s') if ctrl => return Action::SaveValues,
            KeyCode::Enter => {
                self.go(Screen::Install);
                return self.request_install();
            }
            KeyCode::Up => self.form.focus_previous(),
            KeyCode::Down => self.form.focus_next(),
            KeyCode::Left => self.form.cycle(false),
            KeyCode::Right => self.form.cycle(true),
            KeyCode::Backspace => self.form.backspace(),
            KeyCode::Char(c) if !ctrl => self.form.type_char(c),
            _ => {}
        }
        Action::None
    }

    /// Quitting kills a running helm, which can leave the release stuck in a
    /// pending state; q and Esc wait for it (Ctrl-C still quits at once).
    fn quit(&mut self) -> Action {
        if self.install.running {
            self.notice = Some(HELM_RUNNING.into());
            return Action::None;
        }
        Action::Quit
    }

    /// Install only with a valid form and no helm already running; otherwise
    /// say what stands in the way.
    fn request_install(&mut self) -> Action {
        if self.install.running {
            self.notice = Some(HELM_RUNNING.into());
            return Action::None;
        }
        match self.form.first_error() {
            Some((label, error)) => {
                self.notice = Some(format!("{label}: {error}"));
                self.screen = Screen::Configure;
                Action::None
            }
            None => Action::RunInstall,
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
            Update::Release { view, pod } => {
                self.enr = view.enr.clone().or(self.enr.take());
                self.status = view.status.clone();
                self.problems = view.problems.clone();
                self.nodes = vec![NodeHealth {
                    name: pod,
                    pod: view.pod.clone(),
                    charon: view.charon.clone(),
                    charon_error: None,
                }];
                self.follow_formation(view.charon.is_some());
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
        if !self.follow || matches!(self.screen, Screen::Preflight | Screen::Configure | Screen::Install) {
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

    #[test]
    fn typing_q_in_the_form_types_it_instead_of_quitting() {
        let mut app = cluster_app();
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), Action::None);
        assert_eq!(app.form.get(super::super::values::FieldKey::OperatorAddress), "q");
        assert_eq!(app.on_key(key(KeyCode::Esc)), Action::Quit);
    }

    #[test]
    fn enter_with_an_invalid_form_names_the_field_instead_of_installing() {
        let mut app = cluster_app();
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.on_key(key(KeyCode::Enter)), Action::None);
        assert_eq!(app.screen, Screen::Configure);
        assert_eq!(app.notice.as_deref(), Some("Operator address: required"));
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
