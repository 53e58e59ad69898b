//! `kubectl dv` against a real API server: installed through the real Helm,
//! found by the real kubectl as a plugin, reading what the real sidecar
//! writes. The bed has no kubelet, so the test runs the ENR Job's program and
//! the sidecar itself, as their pods would.

mod support;

use std::{
    path::Path,
    process::{Command, Output},
    time::{Duration, Instant},
};

use dv_pod::obol_api::simulator::{Simulator, SimulatorConfig};
use serde_json::Value;
use support::{
    OPERATOR,
    bed::{bed, bin, run_enr_job, run_release_sidecar},
    process::free_port,
    schema::assert_matches,
};

/// `kubectl-dv` with the bed's kubeconfig and Helm 3 as `helm`.
fn plugin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-dv"))
        .args(args)
        .env("KUBECONFIG", &bed().kubeconfig)
        .env("HELM", bin("helm3"))
        .output()
        .unwrap()
}

/// `kubectl dv install` of a hoodi release without Helm hooks (the ENR Job
/// runs from the test), with `helm_args` passed on to Helm.
fn install(namespace: &str, release: &str, helm_args: &[&str]) {
    let mut args = vec!["install", "-n", namespace, "--release", release, "--operator-address", OPERATOR];
    args.extend(["--network", "hoodi", "--", "--no-hooks"]);
    args.extend(helm_args);
    let out = plugin(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn stdout_json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_enr_and_status_follow_a_release_from_helm_to_the_sidecars_status() {
    bed().create_restricted_namespace("plugin").await;
    install("plugin", "my-dv", &[]);

    let before = stdout_json(&plugin(&["status", "--json", "-n", "plugin", "--release", "my-dv"]));
    assert_matches("release-status.v1", &before);
    assert_eq!(before["status"], Value::Null, "no sidecar has written yet");
    assert_eq!(before["enr"], Value::Null);
    assert!(before["problems"].to_string().contains("my-dv-enr-key"), "the missing ENR is explained: {before}");

    let enr = run_enr_job("plugin", "my-dv").await;
    let shown = stdout_json(&plugin(&["enr", "--json", "-n", "plugin", "--release", "my-dv"]));
    assert_matches("enr.v1", &shown);
    assert_eq!(shown["enr"], enr.as_str());
    let with_qr = plugin(&["enr", "--qr", "-n", "plugin", "--release", "my-dv"]);
    let text = String::from_utf8(with_qr.stdout).unwrap();
    assert!(text.starts_with(&enr) && text.contains('█'), "the ENR, then its QR code:\n{text}");

    // The bed has no kubelet: the pod exists but no container ever ran.
    let logs = plugin(&["logs", "-n", "plugin", "--release", "my-dv"]);
    assert_eq!(logs.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&logs.stderr).contains("pod my-dv-0"), "{logs:?}");

    // The sidecar, as the pod's init container runs it, with no invite yet.
    let work = tempfile::tempdir().unwrap();
    let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
    let api = simulator.spawn(([127, 0, 0, 1], free_port()).into()).await.unwrap();
    let _sidecar = run_release_sidecar("plugin", "my-dv", OPERATOR, api, work.path()).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let waiting = loop {
        let view = stdout_json(&plugin(&["status", "--json", "-n", "plugin", "--release", "my-dv"]));
        if view["status"]["phase"] == "waiting_for_invite" && view["status"]["polls"].as_u64() > Some(0) {
            break view;
        }
        assert!(Instant::now() < deadline, "the sidecar's status never reached the plugin: {view}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_matches("release-status.v1", &waiting);
    assert_matches("status.v1", &waiting["status"]);
    assert_eq!(waiting["status"]["operator"], OPERATOR);
    assert_eq!(waiting["enr"], enr.as_str(), "the ENR now comes from the status");
    assert_eq!(waiting["pod"]["name"], "my-dv-0", "the StatefulSet controller made the pod");

    let text = plugin(&["status", "-n", "plugin", "--release", "my-dv"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("phase      Waiting for an invite") && text.contains(&enr), "in words: {text}");
    let detail = format!("detail     no cluster invite on http://{api} names operator {OPERATOR}");
    assert!(text.contains(&detail), "the text says why no invite is used:\n{text}");

    let started = Instant::now();
    let runs = 10;
    for _ in 0..runs {
        assert!(plugin(&["status", "--json", "-n", "plugin", "--release", "my-dv"]).status.success());
    }
    println!("figure: kubectl dv status --json takes {:?} on the bed (mean of {runs})", started.elapsed() / runs);
}

/// The plugin finds a release's objects from its status ConfigMap, so a
/// `fullnameOverride` that renames every object is followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_follows_a_release_whose_objects_are_renamed_by_fullname_override() {
    bed().create_restricted_namespace("plugin-names").await;
    install("plugin-names", "renamed", &["--set", "fullnameOverride=operator-a-node"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let view = stdout_json(&plugin(&["status", "--json", "-n", "plugin-names", "--release", "renamed"]));
        let problems = view["problems"].to_string();
        assert!(!problems.contains("renamed-"), "the plugin looked for the release's default names: {problems}");
        assert!(problems.contains("Secret operator-a-node-enr-key not found"), "{problems}");
        if view["pod"]["name"] == "operator-a-node-0" {
            break;
        }
        assert!(Instant::now() < deadline, "the renamed pod was never found: {view}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn kubectl_finds_the_plugin_on_path_and_runs_it_as_kubectl_dv() {
    let plugin_dir = Path::new(env!("CARGO_BIN_EXE_kubectl-dv")).parent().unwrap();
    let path = format!("{}:{}", plugin_dir.display(), std::env::var("PATH").unwrap());
    let out = Command::new(bin("kubectl")).args(["dv", "--version"]).env("PATH", &path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(dv_pod::VERSION));
    let listed = Command::new(bin("kubectl")).args(["plugin", "list"]).env("PATH", &path).output().unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("kubectl-dv"), "{listed:?}");
}

#[test]
fn a_bad_operator_address_is_refused_before_helm_runs_and_names_the_flag() {
    let out =
        plugin(&["install", "-n", "nowhere", "--operator-address", "0x52908400098527886e0f7030069857d2e4169ee7x"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--operator-address"), "{stderr}");
}

#[test]
fn status_with_an_unknown_context_fails_with_the_usage_exit_code() {
    let out = plugin(&["status", "--context", "no-such-context"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kubeconfig"), "{out:?}");
}

/// Two releases in two namespaces: `status -A` lists both, one line each,
/// and the wizard, named no release, opens on its Releases screen and
/// follows the one chosen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_all_namespaces_lists_every_release_one_line_each_and_the_wizard_opens_on_them() {
    bed().create_restricted_namespace("fleet-a").await;
    bed().create_restricted_namespace("fleet-b").await;
    install("fleet-a", "one", &[]);
    install("fleet-b", "two", &[]);

    let out = plugin(&["status", "-A"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let header = table.lines().next().unwrap();
    for column in ["NAMESPACE", "RELEASE", "PHASE", "SIGNED", "PEERS", "CHARON", "VC DUTIES", "AGE"] {
        assert!(header.contains(column), "{header}");
    }
    for (namespace, release) in [("fleet-a", "one"), ("fleet-b", "two")] {
        let line = table
            .lines()
            .find(|l| l.split_whitespace().take(2).eq([namespace, release]))
            .unwrap_or_else(|| panic!("no line for {namespace}/{release}:\n{table}"));
        assert!(line.contains("not started"), "no sidecar has run: {line}");
    }
    let fleet = stdout_json(&plugin(&["status", "-A", "-o", "json"]));
    assert_matches("fleet.v1", &fleet);
    let releases = fleet["releases"].as_array().unwrap();
    for view in releases {
        assert_matches("release-status.v1", view);
    }
    assert!(releases.iter().any(|v| v["namespace"] == "fleet-b" && v["release"] == "two"), "{fleet}");

    let work = tempfile::tempdir().unwrap();
    let command = format!(
        "env KUBECONFIG={} XDG_STATE_HOME={} {} -n fleet-a -f {}/values.yaml",
        bed().kubeconfig.display(),
        work.path().display(),
        env!("CARGO_BIN_EXE_dv-tui"),
        work.path().display()
    );
    let tmux = support::tmux::Tmux::start(work.path(), &command, 140, 40);
    let screen = tmux.wait_for(&["Releases:", "fleet-b", "two"], Duration::from_secs(30));
    assert!(screen.contains("7 Releases") && screen.contains("fleet-a"), "the journey keeps its numbers: {screen}");
    // The screen lists the releases in the order `status -A` does.
    let two = releases.iter().position(|v| v["namespace"] == "fleet-b").unwrap();
    tmux.keys(&vec!["Down"; two]);
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["dv-pod fleet-b/two"], Duration::from_secs(10));
}

#[test]
fn as_impersonates_a_user_and_what_it_may_not_read_is_named() {
    let user = "system:serviceaccount:plugin-as:nobody";
    let view = stdout_json(&plugin(&["status", "-o", "json", "-n", "plugin-as", "--release", "r", "--as", user]));
    let problems = view["problems"].to_string();
    assert!(problems.contains("forbidden") && problems.contains(user), "{problems}");
}
