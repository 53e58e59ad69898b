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
