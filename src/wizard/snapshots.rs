//! Snapshot tests: every screen in every state it can be in, drawn on an
//! 80x24 and a 200x60 terminal (insta snapshots under `src/tui/snapshots/`).

use std::{
    path::PathBuf,
    time::{Duration, SystemTime},
};

use ratatui::{Terminal, backend::TestBackend};

use super::{
    app::{App, Check, CheckState, DemoFacts, Mode, Screen, Update},
    screens,
    values::{FieldKey, Form},
};
use crate::{
    health::{CharonHealth, ContainerState, NodeHealth, PodHealth, Readiness},
    local_formation::Stage,
    status::{Dkg, Failure, Invite, Phase, Status, timestamp},
};

const ENR: &str = "enr:-HW4QBHlcyD3fYWUMADiOv4OxODaL5wJG0a7P7d_ltu4VZe1MibZ1N-twFaoaq0BoCtXcY71etxLJGeEZT5p3XCO6GOAgmlkgnY0iXNlY3AyNTZrMaEDI2HRUlVBag__njkOWEEQRLlC9ylIVCrIXOuNBSlrx6o";
const US: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
const OTHERS: [&str; 3] = [
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
];

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000)
}

fn at(offset_seconds: i64) -> String {
    let t = if offset_seconds >= 0 {
        now() + Duration::from_secs(offset_seconds as u64)
    } else {
        now() - Duration::from_secs((-offset_seconds) as u64)
    };
    timestamp(t)
}

fn app(mode: Mode, screen: Screen) -> App {
    let mut app = App::new(mode, Form::default(), "my-dv", "validators", PathBuf::from("dv-pod-values.yaml"));
    app.screen = screen;
    app.now = now();
    app.color = true;
    app
}

fn status(phase: Phase) -> Status {
    let mut status = Status::new(US.into(), ENR.into());
    status.phase = phase;
    status.phase_since = at(-42);
    status.updated_at = at(-1);
    status.polls = 17;
    status.last_poll_at = Some(at(-1));
    status.next_poll_at = Some(at(4));
    let invite = |signed: usize| Invite {
        config_hash: "0x3c1a9f0d5be2c4a1aa53c9f1c7a0d1e2f3b4c5d6e7f8091a2b3c4d5e6f708192".into(),
        name: "my cluster".into(),
        signed,
        total: 4,
        missing: std::iter::once(US).chain(OTHERS).skip(signed).map(str::to_string).collect(),
        operators: std::iter::once(US).chain(OTHERS).map(str::to_string).collect(),
    };
    match phase {
        Phase::KeyReady | Phase::WaitingForInvite | Phase::LockRefused => {}
        Phase::AwaitingOurSignature => status.invite = Some(invite(0)),
        Phase::WaitingForSignatures => status.invite = Some(invite(2)),
        Phase::DkgRunning | Phase::DkgFailed | Phase::Done => {
            status.invite = Some(invite(4));
            status.dkg = Some(Dkg { attempt: 2, step: "waiting for peers".into(), started_at: at(-20) });
        }
    }
    if phase == Phase::DkgFailed {
        status.error = Some(Failure {
            reason: "charon dkg ended with exit status 1: timeout waiting for peers".into(),
            next_retry_at: Some(at(25)),
        });
    }
    if phase == Phase::LockRefused {
        status.error = Some(Failure {
            reason: "/data/cluster/cluster-lock.json does not verify: node_signatures[1]: not signed by \
                     operators[1]'s ENR key: the lock hash or the signature was changed"
                .into(),
            next_retry_at: None,
        });
    }
    if phase == Phase::WaitingForInvite {
        status.detail = Some(format!(
            "no cluster invite on https://api.obol.tech:443 names operator {US}. If you have accepted one in the Obol \
             Launchpad, compare this address with the one it shows there (it is set by charon.operatorAddress)"
        ));
        status.error = Some(Failure {
            reason: "Obol API https://api.obol.tech/v1/definition/operator/0x5aAe…: server error 503 Service \
                     Unavailable (will retry)"
                .into(),
            next_retry_at: Some(at(4)),
        });
    }
    if phase == Phase::Done {
        status.lock_hash = Some("0x9d2c0e3b6a1f4d7e8c5b2a19f0e6d3c7b4a1908f7e6d5c4b3a2918f7e6d5c4b3".into());
    }
    status
}

fn ready_node(name: &str) -> NodeHealth {
    NodeHealth {
        name: name.into(),
        pod: None,
        charon: Some(CharonHealth {
            readiness: Readiness::Ready,
            peers_connected: 3,
            peers_total: 3,
            validators: Some(1),
            validators_active: Some(1),
            duties_succeeded: Some(96),
            duties_failed: Some(0),
        }),
        charon_error: None,
    }
}

fn draw(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| screens::draw(frame, app)).unwrap();
    terminal.backend().to_string()
}

/// Snapshots `app` on a small and a large terminal.
fn snapshot(name: &str, app: &App) {
    for (width, height) in [(80, 24), (200, 60)] {
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), draw(app, width, height));
    }
}

#[test]
fn preflight_while_checking() {
    snapshot("preflight_checking", &app(Mode::Cluster, Screen::Preflight));
}

fn checks(fail: bool) -> Vec<Check> {
    let pass = |name: &str, detail: &str| Check {
        name: name.into(),
        state: CheckState::Pass,
        detail: detail.into(),
        fix: None,
    };
    let mut checks = vec![
        pass("Kubernetes context", "bed (namespace validators)"),
        pass("API server", "v1.34.4"),
        pass("Permission to install", "may create everything in validators"),
        Check {
            name: "Default StorageClass".into(),
            state: CheckState::Warn,
            detail: "none of 0 class(es) is the default".into(),
            fix: Some(
                "set persistence.charonData.storageClassName and persistence.validatorData.storageClassName".into(),
            ),
        },
        pass("helm", "v3.22.0+g0000000"),
        pass("Obol API", "https://api.obol.tech answers (200 OK)"),
    ];
    if fail {
        checks[2] = Check {
            name: "Permission to install".into(),
            state: CheckState::Fail,
            detail: "denied in validators: create roles, create rolebindings".into(),
            fix: Some("ask your cluster admin for a Role with these verbs, or choose a namespace you own (-n)".into()),
        };
    }
    checks
}

#[test]
fn preflight_all_passed_with_a_warning() {
    let mut app = app(Mode::Cluster, Screen::Preflight);
    app.apply(Update::Preflight(checks(false)));
    snapshot("preflight_passed", &app);
}

#[test]
fn preflight_with_a_failure_says_what_to_do() {
    let mut app = app(Mode::Cluster, Screen::Preflight);
    app.apply(Update::Preflight(checks(true)));
    snapshot("preflight_failed", &app);
}

fn command(app: &mut App) {
    app.install.command = super::values::helm_command(
        "helm",
        "my-dv",
        "./chart",
        "validators",
        &PathBuf::from("dv-pod-values.yaml"),
        &[],
    );
}

#[test]
fn configure_empty_form_shows_the_hint_of_the_focused_field() {
    let mut app = app(Mode::Cluster, Screen::Configure);
    command(&mut app);
    snapshot("configure_empty", &app);
}

#[test]
fn configure_names_a_bad_checksum_while_typing() {
    let mut app = app(Mode::Cluster, Screen::Configure);
    app.form.set(FieldKey::OperatorAddress, &US.to_lowercase().replace("5aaeb", "5AAeb"));
    app.form.set(FieldKey::BeaconNodes, "http://lighthouse:5052,not a url");
    command(&mut app);
    snapshot("configure_invalid", &app);
}

#[test]
fn configure_valid_form() {
    let mut app = app(Mode::Cluster, Screen::Configure);
    app.form.set(FieldKey::OperatorAddress, US);
    app.form.set(FieldKey::Network, "hoodi");
    app.form.set(FieldKey::BeaconNodes, "http://lighthouse:5052");
    app.form.focus = FieldKey::ValidatorClient as usize;
    command(&mut app);
    snapshot("configure_valid", &app);
}

#[test]
fn install_states() {
    let mut app = app(Mode::Cluster, Screen::Install);
    command(&mut app);
    snapshot("install_not_started", &app);
    app.install.running = true;
    app.install.output = vec!["Release \"my-dv\" does not exist. Installing it now.".into()];
    snapshot("install_running", &app);
    app.install.running = false;
    app.install.output.push(
        "Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) in the following chart(s):"
            .into(),
    );
    app.install.output.push("dv-pod:".into());
    app.install.output.push("- charon: Additional property operatorAdress is not allowed".into());
    app.install.outcome = Some(super::app::InstallOutcome::Failed("helm ended with exit status: 1".into()));
    snapshot("install_failed", &app);
    app.install.output = vec!["NAME: my-dv".into(), "STATUS: deployed".into(), "REVISION: 1".into()];
    app.install.outcome = Some(super::app::InstallOutcome::Installed);
    snapshot("install_succeeded", &app);
}

#[test]
fn enr_before_the_key_exists() {
    snapshot("enr_missing", &app(Mode::Cluster, Screen::Enr));
}

#[test]
fn enr_as_text_and_qr_code_or_a_message_when_too_small() {
    let mut app = app(Mode::Cluster, Screen::Enr);
    app.enr = Some(ENR.into());
    app.status = Some(status(Phase::WaitingForInvite));
    // 80x24 is too small for the code and says so; 200x60 shows it.
    snapshot("enr_waiting_for_invite", &app);
    app.status = Some(status(Phase::AwaitingOurSignature));
    snapshot("enr_awaiting_our_signature", &app);
}

#[test]
fn enr_on_100x32_names_the_full_screen_key_and_the_full_screen_view_shows_the_code_alone() {
    let mut app = app(Mode::Cluster, Screen::Enr);
    app.enr = Some(ENR.into());
    app.status = Some(status(Phase::WaitingForInvite));
    insta::assert_snapshot!("enr_100x32", draw(&app, 100, 32));
    app.qr_full_screen = true;
    insta::assert_snapshot!("qr_full_screen_100x32", draw(&app, 100, 32));
    insta::assert_snapshot!("qr_full_screen_too_small_80x24", draw(&app, 80, 24));
}

#[test]
fn enr_without_colour() {
    let mut app = app(Mode::Demo, Screen::Enr);
    app.color = false;
    app.enr = Some(ENR.into());
    insta::assert_snapshot!("enr_no_color_200x60", draw(&app, 200, 60));
}

#[test]
fn formation_before_any_status() {
    snapshot("formation_no_status", &app(Mode::Cluster, Screen::Formation));
}

#[test]
fn formation_in_every_phase() {
    for (name, phase) in [
        ("key_ready", Phase::KeyReady),
        ("waiting_for_invite", Phase::WaitingForInvite),
        ("awaiting_our_signature", Phase::AwaitingOurSignature),
        ("waiting_for_signatures", Phase::WaitingForSignatures),
        ("dkg_running", Phase::DkgRunning),
        ("dkg_failed", Phase::DkgFailed),
        ("done", Phase::Done),
        ("lock_refused", Phase::LockRefused),
    ] {
        let mut app = app(Mode::Cluster, Screen::Formation);
        app.status = Some(status(phase));
        snapshot(&format!("formation_{name}"), &app);
    }
}

#[test]
fn formation_in_the_demo_shows_the_other_sidecars() {
    let mut app = app(Mode::Demo, Screen::Formation);
    app.status = Some(status(Phase::WaitingForSignatures));
    app.demo = Some(DemoFacts {
        stage: Stage::Forming,
        sidecars: vec![
            Some(Phase::WaitingForSignatures),
            Some(Phase::WaitingForSignatures),
            Some(Phase::AwaitingOurSignature),
            None,
        ],
        elapsed_seconds: 21.0,
        work_dir: "/tmp/dv-pod-demo-1".into(),
        error: None,
    });
    snapshot("formation_demo", &app);
}

#[test]
fn health_before_any_node() {
    snapshot("health_empty", &app(Mode::Cluster, Screen::Health));
}

#[test]
fn health_of_a_pod_still_initialising_with_problems() {
    let mut app = app(Mode::Cluster, Screen::Health);
    let container = |name: &str, state: &str| ContainerState {
        name: name.into(),
        state: state.to_string().try_into().unwrap(),
        ready: false,
        restarts: 0,
    };
    app.nodes = vec![NodeHealth {
        name: "my-dv-0".into(),
        pod: Some(PodHealth {
            name: "my-dv-0".into(),
            phase: "Pending".into(),
            ready: false,
            restarts: 0,
            containers: vec![
                container("dkg", "running"),
                container("import-keys", "not started"),
                container("charon", "not started"),
                container("validator-client", "not started"),
            ],
        }),
        charon: None,
        charon_error: None,
    }];
    app.problems = vec!["Charon's metrics through the pod proxy: connection refused".into()];
    snapshot("health_initialising", &app);
}

#[test]
fn health_of_a_running_pod_whose_charon_waits_for_peers() {
    let mut app = app(Mode::Cluster, Screen::Health);
    let running = |name: &str, ready: bool| ContainerState {
        name: name.into(),
        state: crate::health::RunState::Running,
        ready,
        restarts: 1,
    };
    let mut node = ready_node("my-dv-0");
    node.charon.as_mut().unwrap().readiness = Readiness::QuorumPeersNotConnected;
    node.charon.as_mut().unwrap().peers_connected = 1;
    node.pod = Some(PodHealth {
        name: "my-dv-0".into(),
        phase: "Running".into(),
        ready: false,
        restarts: 2,
        containers: vec![running("charon", false), running("validator-client", true)],
    });
    app.nodes = vec![node];
    snapshot("health_waiting_for_peers", &app);
}

#[test]
fn health_of_the_demos_four_nodes() {
    let mut app = app(Mode::Demo, Screen::Health);
    app.nodes = ["you", "operator-2", "operator-3", "operator-4"].map(ready_node).to_vec();
    app.nodes[3].charon = None;
    app.nodes[3].charon_error = Some("connection refused".into());
    app.demo = Some(DemoFacts {
        stage: Stage::StartingNodes,
        sidecars: vec![Some(Phase::Done); 4],
        elapsed_seconds: 74.0,
        work_dir: "/tmp/dv-pod-demo-1".into(),
        error: None,
    });
    snapshot("health_demo_starting", &app);
    app.nodes[3] = ready_node("operator-4");
    app.demo.as_mut().unwrap().stage = Stage::Healthy;
    snapshot("health_demo_healthy", &app);
}

#[test]
fn help_overlay_lists_the_keys() {
    let mut app = app(Mode::Demo, Screen::Formation);
    app.show_help = true;
    snapshot("help", &app);
}

#[test]
fn a_notice_replaces_the_key_help() {
    let mut app = app(Mode::Demo, Screen::Enr);
    app.enr = Some(ENR.into());
    app.notice = Some("ENR copied to the clipboard.".into());
    insta::assert_snapshot!("enr_notice_80x24", draw(&app, 80, 24));
}
