//! The README's main job, headless: `kubectl dv demo --json` forms a cluster
//! with the Launchpad simulator, a real relay, four real sidecars and real
//! Charon DKG, then runs four Charon nodes until all are healthy.

mod support;

use std::{
    collections::BTreeSet,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{bed::bin, schema::assert_matches};

#[test]
fn the_demo_forms_a_cluster_and_ends_with_four_healthy_charon_nodes() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-dv"))
        .args(["demo", "--json", "--signing-window-seconds", "6"])
        .env("DV_CHARON", bin("charon"))
        .output()
        .unwrap();
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the demo failed:\n{}\n{stdout}", String::from_utf8_lossy(&out.stderr));

    let views: Vec<Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let mut our_phases = BTreeSet::new();
    for view in &views {
        assert_matches("demo.v1", view);
        if !view["ours"].is_null() {
            assert_matches("status.v1", &view["ours"]);
            our_phases.insert(view["ours"]["phase"].as_str().unwrap().to_string());
        }
    }
    for phase in ["waiting_for_invite", "awaiting_our_signature", "waiting_for_signatures", "done"] {
        assert!(our_phases.contains(phase), "our node never showed {phase}: {our_phases:?}");
    }
    let last = views.last().unwrap();
    assert_eq!(last["stage"], "healthy");
    for node in last["nodes"].as_array().unwrap() {
        assert_eq!(node["charon"]["readiness"], "ready", "{node}");
        assert_eq!(node["charon"]["validators"], 1);
    }
    let work_dir = last["work_dir"].as_str().unwrap();
    assert!(!std::path::Path::new(work_dir).exists(), "a successful demo removes its files");
    assert!(wall < Duration::from_secs(600));
    println!("figure: demo wall time from start to four healthy nodes {wall:?} (6 s signing window)");
}

#[test]
fn a_missing_charon_binary_is_named_with_how_to_fix_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-dv"))
        .args(["demo", "--json", "--charon", "/nonexistent/charon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/charon") && stderr.contains("pass --charon"), "{stderr}");
}

#[test]
fn a_charon_that_is_not_charon_fails_at_once_with_the_fix() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-dv"))
        .args(["demo", "--json", "--charon", "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/bin/true is not charon") && stderr.contains("pass --charon"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "it fails before starting anything");
}

/// The text mode (stdout not a terminal): it says first that the simulated
/// Launchpad signs for the user, phases in words, and on Ctrl-C where the
/// logs are.
#[test]
fn the_text_demo_says_who_signs_speaks_in_words_and_an_interrupt_names_the_logs() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_dv-tui"))
        .args(["--demo", "--signing-window-seconds", "30"])
        .env("DV_CHARON", bin("charon"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let notice = lines.next().unwrap().unwrap();
    assert!(notice.contains("simulated Launchpad") && notice.contains("signs for you"), "{notice}");
    let logs = lines.next().unwrap().unwrap();
    let work_dir = logs.strip_prefix("logs: ").unwrap_or_else(|| panic!("{logs}")).to_string();
    let worded = lines
        .map(Result::unwrap)
        .find(|line| line.contains("Waiting for") || line.contains("waiting for"))
        .expect("a progress line with a phase in words");
    assert!(!worded.contains("waiting_for") && !worded.contains("StartingNodes"), "{worded}");
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("demo interrupted; its logs are in {work_dir}")), "{stderr}");
}
