//! The status contract (`dv-pod.status/v1`): where formation stands, as the
//! sidecar reports it and as the TUI and the plugin read it. It is the only
//! model of formation progress; nothing else invents one.
//!
//! The sidecar writes every change but poll progress as one JSON log line
//! (`"status": {...}`) and keeps the current snapshot, poll progress
//! included, in its sinks: a file (demo, tests) and a ConfigMap named after
//! the release (in a cluster). Field by field
//! documentation with an example of each phase is in `assets/schemas/`.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "dv-pod.status/v1";

/// Where formation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The ENR key exists; nothing polled yet.
    KeyReady,
    /// No definition names our operator yet.
    WaitingForInvite,
    /// A definition names us, but our operator has not accepted it with this ENR.
    AwaitingOurSignature,
    /// We accepted; other operators have not.
    WaitingForSignatures,
    /// `charon dkg` is running.
    DkgRunning,
    /// The last DKG attempt failed; another follows at `error.next_retry_at`.
    DkgFailed,
    /// The cluster lock and key shares are in place.
    Done,
    /// The cluster lock in place, or offered for adoption, does not verify
    /// (`error.reason` names the failing check). Charon does not start and
    /// the data directory is left exactly as it is.
    LockRefused,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::KeyReady,
        Phase::WaitingForInvite,
        Phase::AwaitingOurSignature,
        Phase::WaitingForSignatures,
        Phase::DkgRunning,
        Phase::DkgFailed,
        Phase::Done,
        Phase::LockRefused,
    ];

    /// The phase as the contract spells it (`waiting_for_invite`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Phase::KeyReady => "key_ready",
            Phase::WaitingForInvite => "waiting_for_invite",
            Phase::AwaitingOurSignature => "awaiting_our_signature",
            Phase::WaitingForSignatures => "waiting_for_signatures",
            Phase::DkgRunning => "dkg_running",
            Phase::DkgFailed => "dkg_failed",
            Phase::Done => "done",
            Phase::LockRefused => "lock_refused",
        }
    }

    /// The phase in words, for people: the one wording the wizard, the
    /// plugin's text output and the demo's text lines share.
    pub fn describe(self) -> &'static str {
        match self {
            Phase::KeyReady => "ENR key ready",
            Phase::WaitingForInvite => "Waiting for an invite",
            Phase::AwaitingOurSignature => "Invite found: waiting for your signature",
            Phase::WaitingForSignatures => "Waiting for the other operators to sign",
            Phase::DkgRunning => "Distributed key generation running",
            Phase::DkgFailed => "Key generation failed: retrying",
            Phase::Done => "Formed: cluster lock and key shares in place",
            Phase::LockRefused => "Cluster lock refused: Charon does not start",
        }
    }

    /// [`Phase::describe`] in a few words, for tables and lists of nodes
    /// (so said of any node, not only the reader's).
    pub fn label(self) -> &'static str {
        match self {
            Phase::KeyReady => "key ready",
            Phase::WaitingForInvite => "waiting for invite",
            Phase::AwaitingOurSignature => "awaiting its operator's signature",
            Phase::WaitingForSignatures => "waiting for the other signatures",
            Phase::DkgRunning => "key generation",
            Phase::DkgFailed => "key generation failed",
            Phase::Done => "formed",
            Phase::LockRefused => "lock refused",
        }
    }
}

/// Signature progress of the definition we are joining.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub config_hash: String,
    pub name: String,
    pub signed: usize,
    pub total: usize,
    /// Addresses of operators that have not signed.
    pub missing: Vec<String>,
    pub operators: Vec<String>,
}

/// The DKG attempt in progress or last made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dkg {
    pub attempt: u32,
    /// The last step Charon reported, e.g. "waiting for peers".
    pub step: String,
    pub started_at: String,
}

/// The last failure, and when the next attempt comes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub reason: String,
    pub next_retry_at: Option<String>,
}

/// One snapshot of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub schema: String,
    pub phase: Phase,
    pub operator: String,
    pub enr: String,
    pub updated_at: String,
    /// When the current phase began.
    pub phase_since: String,
    /// What the phase waits for, in words, where the other fields cannot say
    /// it: in `waiting_for_invite`, why no invite is usable and which value
    /// to check.
    pub detail: Option<String>,
    pub polls: u64,
    pub last_poll_at: Option<String>,
    pub next_poll_at: Option<String>,
    pub invite: Option<Invite>,
    pub dkg: Option<Dkg>,
    pub error: Option<Failure>,
    pub lock_hash: Option<String>,
}

pub fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

impl Status {
    pub fn new(operator: String, enr: String) -> Self {
        let now = timestamp(SystemTime::now());
        Status {
            schema: SCHEMA.into(),
            phase: Phase::KeyReady,
            operator,
            enr,
            updated_at: now.clone(),
            phase_since: now,
            detail: None,
            polls: 0,
            last_poll_at: None,
            next_poll_at: None,
            invite: None,
            dkg: None,
            error: None,
            lock_hash: None,
        }
    }

    /// A poll at `polled_at` was made; the next comes `next_poll` later,
    /// or none is due.
    pub fn poll_made(&mut self, polled_at: SystemTime, next_poll: Option<Duration>) {
        self.polls += 1;
        self.last_poll_at = Some(timestamp(polled_at));
        self.next_poll_at = next_poll.map(|delay| timestamp(polled_at + delay));
    }

    /// A poll failed and is retried at `next_poll`.
    pub fn poll_failed(&mut self, polled_at: SystemTime, next_poll: Duration, reason: String) {
        self.poll_made(polled_at, Some(next_poll));
        self.error = Some(Failure { reason, next_retry_at: Some(timestamp(polled_at + next_poll)) });
    }

    /// A poll was answered: it clears a poll error, not the last DKG failure.
    pub fn poll_answered(&mut self, polled_at: SystemTime, next_poll: Option<Duration>) {
        self.poll_made(polled_at, next_poll);
        if self.phase != Phase::DkgFailed {
            self.error = None;
        }
    }

    // The transitions of formation, one per phase the sidecar enters; each
    // sets every field the contract ties to that phase.

    /// No usable invite; `detail` says why, where it can.
    pub fn waiting_for_invite(&mut self, detail: Option<String>) {
        self.phase = Phase::WaitingForInvite;
        self.detail = detail;
        self.invite = None;
    }

    /// An invite names us and waits for our signature (`awaiting_us`, as the
    /// invite classification decides it) or the others'.
    pub fn invite_pending(&mut self, awaiting_us: bool, invite: Invite) {
        self.phase = if awaiting_us { Phase::AwaitingOurSignature } else { Phase::WaitingForSignatures };
        self.detail = None;
        self.invite = Some(invite);
    }

    /// `charon dkg` attempt `attempt` starts for the fully signed `invite`.
    pub fn dkg_started(&mut self, attempt: u32, started_at: String, invite: Invite) {
        self.phase = Phase::DkgRunning;
        self.detail = None;
        self.invite = Some(invite);
        self.dkg = Some(Dkg { attempt, step: "starting".into(), started_at });
        self.error = None;
    }

    /// Charon reported a step of the running ceremony.
    pub fn dkg_step(&mut self, step: String) {
        if let Some(dkg) = self.dkg.as_mut() {
            dkg.step = step;
        }
    }

    /// The attempt failed; the next one starts at `next_retry_at`.
    pub fn dkg_failed(&mut self, reason: String, next_retry_at: String) {
        self.phase = Phase::DkgFailed;
        self.error = Some(Failure { reason, next_retry_at: Some(next_retry_at) });
    }

    /// The verified lock and key shares are in place.
    pub fn formed(&mut self, lock_hash: String) {
        self.phase = Phase::Done;
        self.lock_hash = Some(lock_hash);
        self.error = None;
        self.next_poll_at = None;
    }

    /// The lock in place or offered does not verify; nothing is retried.
    pub fn lock_refused(&mut self, reason: String) {
        self.phase = Phase::LockRefused;
        self.error = Some(Failure { reason, next_retry_at: None });
        self.next_poll_at = None;
    }
}

/// Called with every published snapshot (metrics, the ConfigMap sink).
pub type Listener = Box<dyn Fn(&Status) + Send>;

/// Keeps the published snapshot and emits each change.
pub struct Reporter {
    current: Status,
    file: Option<PathBuf>,
    listeners: Vec<Listener>,
}

impl Reporter {
    pub fn new(initial: Status, file: Option<PathBuf>, listeners: Vec<Listener>) -> Self {
        let reporter = Reporter { current: initial, file, listeners };
        reporter.publish(true);
        reporter
    }

    pub fn current(&self) -> &Status {
        &self.current
    }

    /// Applies a change. Every change reaches the file and the listeners (so
    /// poll progress shows in the cluster too); only a change to more than the
    /// poll counters is logged, so that polling does not flood the log.
    pub fn update(&mut self, change: impl FnOnce(&mut Status)) {
        let mut next = self.current.clone();
        change(&mut next);
        if comparable(&next, true) == comparable(&self.current, true) {
            return;
        }
        let significant = comparable(&next, false) != comparable(&self.current, false);
        let now = timestamp(SystemTime::now());
        if next.phase != self.current.phase {
            next.phase_since = now.clone();
        }
        next.updated_at = now;
        self.current = next;
        self.publish(significant);
    }

    fn publish(&self, log: bool) {
        if log {
            let status = serde_json::to_value(&self.current).expect("the status serialises");
            tracing::info!(status = %status, phase = ?self.current.phase, "status");
        }
        self.write_file();
        for listener in &self.listeners {
            listener(&self.current);
        }
    }

    fn write_file(&self) {
        if let Some(path) = &self.file
            && let Err(error) =
                crate::files::replace(path, &serde_json::to_vec_pretty(&self.current).expect("serialises"), 0o644)
        {
            tracing::warn!(%error, path = %path.display(), "cannot write the status file");
        }
    }
}

/// `status` without its time of writing, and without poll progress unless
/// `with_polls`: what tells two snapshots apart. The same failure retried
/// at a later time is poll progress too.
fn comparable(status: &Status, with_polls: bool) -> Status {
    let mut status = status.clone();
    status.updated_at = String::new();
    if !with_polls {
        status.polls = 0;
        status.last_poll_at = None;
        status.next_poll_at = None;
        if let Some(error) = status.error.as_mut() {
            error.next_retry_at = None;
        }
    }
    status
}

/// Reads a status file written by a sidecar.
pub fn read_file(path: &Path) -> std::io::Result<Status> {
    let text = std::fs::read(path)?;
    serde_json::from_slice(&text).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Status {
        Status::new("0x52908400098527886E0F7030069857D2E4169EE7".into(), "enr:-HW4QAb7".into())
    }

    fn invite(missing: &[&str]) -> Invite {
        Invite {
            config_hash: format!("0x{}", "ab".repeat(32)),
            name: "c".into(),
            signed: 4 - missing.len(),
            total: 4,
            missing: missing.iter().map(|m| m.to_string()).collect(),
            operators: vec!["0x52908400098527886E0F7030069857D2E4169EE7".into(); 4],
        }
    }

    fn assert_in_contract(status: &Status) {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../assets/schemas/status.v1.schema.json")).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let document = serde_json::to_value(status).unwrap();
        let errors: Vec<String> = validator.iter_errors(&document).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{document:#}");
    }

    #[test]
    fn each_transition_enters_its_phase_with_the_fields_the_contract_ties_to_it() {
        let mut status = fresh();
        status.waiting_for_invite(Some("no invite names operator 0x5290".into()));
        assert_eq!(
            (status.phase, status.detail.is_some(), status.invite.is_none()),
            (Phase::WaitingForInvite, true, true)
        );
        assert_in_contract(&status);

        status.invite_pending(true, invite(&["0x52908400098527886E0F7030069857D2E4169EE7"]));
        assert_eq!((status.phase, status.detail.as_deref()), (Phase::AwaitingOurSignature, None));
        status.invite_pending(false, invite(&["0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"]));
        assert_eq!(status.phase, Phase::WaitingForSignatures);
        assert_in_contract(&status);

        status.dkg_started(1, timestamp(SystemTime::now()), invite(&[]));
        status.dkg_step("waiting for peers".into());
        assert_eq!(
            (status.phase, status.dkg.as_ref().unwrap().step.as_str()),
            (Phase::DkgRunning, "waiting for peers")
        );
        assert_in_contract(&status);

        status.dkg_failed("timeout".into(), timestamp(SystemTime::now()));
        assert!(status.error.as_ref().unwrap().next_retry_at.is_some(), "a failed attempt says when the next comes");
        assert_in_contract(&status);
        status.dkg_started(2, timestamp(SystemTime::now()), invite(&[]));
        assert!(status.error.is_none(), "a new attempt clears the last failure");

        status.next_poll_at = Some(timestamp(SystemTime::now()));
        status.formed(format!("0x{}", "cd".repeat(32)));
        assert_eq!((status.phase, status.error.as_ref(), status.next_poll_at.as_ref()), (Phase::Done, None, None));
        assert!(status.lock_hash.is_some());
        assert_in_contract(&status);

        let mut refused = fresh();
        refused.lock_refused("node_signatures[1]: not signed by operators[1]'s ENR key".into());
        let failure = refused.error.as_ref().unwrap();
        assert_eq!((refused.phase, failure.next_retry_at.as_ref()), (Phase::LockRefused, None));
        assert_in_contract(&refused);
    }

    #[test]
    fn an_answered_poll_clears_a_poll_error_but_not_the_last_dkg_failure() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut status = fresh();
        status.poll_failed(at, Duration::from_secs(4), "cannot reach the Obol API".into());
        assert_eq!(status.polls, 1);
        assert_eq!(status.error.as_ref().unwrap().next_retry_at, Some(timestamp(at + Duration::from_secs(4))));
        assert_eq!(status.next_poll_at, Some(timestamp(at + Duration::from_secs(4))));
        assert_in_contract(&status);
        status.poll_answered(at, None);
        assert_eq!((status.polls, status.error.as_ref(), status.next_poll_at.as_ref()), (2, None, None));

        status.dkg_failed("timeout".into(), timestamp(at));
        status.poll_answered(at, Some(Duration::from_secs(1)));
        assert_eq!(status.error.as_ref().unwrap().reason, "timeout");
        assert_eq!(status.last_poll_at, Some(timestamp(at)));
    }

    /// A reporter whose one listener records every snapshot it is called with.
    fn recorded() -> (Reporter, std::sync::Arc<std::sync::Mutex<Vec<Status>>>) {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let listener: Listener = Box::new(move |status: &Status| sink.lock().unwrap().push(status.clone()));
        let reporter = Reporter::new(
            Status::new("0x52908400098527886E0F7030069857D2E4169EE7".into(), "enr:-x".into()),
            None,
            vec![listener],
        );
        (reporter, seen)
    }

    #[test]
    fn listeners_see_every_poll_not_only_phase_changes() {
        let (mut reporter, seen) = recorded();
        reporter.update(|s| s.phase = Phase::WaitingForInvite);
        for _ in 0..3 {
            reporter.update(|s| {
                s.polls += 1;
                s.last_poll_at = Some(timestamp(SystemTime::now()));
            });
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.iter().map(|s| s.polls).collect::<Vec<_>>(), [0, 0, 1, 2, 3]);
        assert!(seen.last().unwrap().last_poll_at.is_some());
    }

    #[test]
    fn a_change_that_changes_nothing_reaches_no_listener() {
        let (mut reporter, seen) = recorded();
        reporter.update(|s| s.error = None);
        assert_eq!(seen.lock().unwrap().len(), 1, "only the initial snapshot");
    }

    #[test]
    fn every_phase_name_is_its_json_spelling() {
        for phase in Phase::ALL {
            assert_eq!(serde_json::to_value(phase).unwrap(), phase.name());
        }
    }
}
