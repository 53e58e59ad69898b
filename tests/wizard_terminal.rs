//! The wizard as a new user meets it, in a real terminal (tmux) and with no
//! cluster to reach: what Enter, Esc, `?` and `q` do, how preflight reports
//! a cluster it cannot reach, that installing waits for a clean review, and
//! that the terminal is given back whatever ends the program.

mod support;

use std::{path::Path, time::Duration};

use support::{kubeconfig, tmux::Tmux};

const ADDRESS: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

/// The wizard in a terminal of `width`x`height`; helm is a script that
/// leaves a mark if anything ever runs it with `upgrade`.
fn wizard(dir: &Path, kubeconfig: &Path, width: u16, height: u16) -> Tmux {
    let helm = dir.join("helm");
    std::fs::write(
        &helm,
        format!(
            "#!/bin/sh\nif [ \"$1\" = version ]; then echo v3.19.0; exit 0; fi\ntouch {}\n",
            dir.join("helm-ran").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helm, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let command = format!(
        "env XDG_STATE_HOME={dir} {bin} --kubeconfig {kubeconfig} --helm {helm} -f {dir}/values.yaml --chart {chart}",
        dir = dir.display(),
        bin = env!("CARGO_BIN_EXE_dv-tui"),
        kubeconfig = kubeconfig.display(),
        helm = helm.display(),
        chart = concat!(env!("CARGO_MANIFEST_DIR"), "/chart"),
    );
    Tmux::start(dir, &command, width, height)
}

/// The wizard against a refusing server, once its preflight has failed.
fn past_preflight(width: u16, height: u16) -> (tempfile::TempDir, Tmux) {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, _) = kubeconfig::refusing(dir.path());
    let tmux = wizard(dir.path(), &kubeconfig, width, height);
    tmux.wait_for(&["check(s) failed"], Duration::from_secs(30));
    (dir, tmux)
}

#[test]
fn an_unreachable_cluster_is_one_failure_naming_the_server_and_the_checks_behind_it_say_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, server) = kubeconfig::refusing(dir.path());
    let tmux = wizard(dir.path(), &kubeconfig, 120, 36);
    let screen = tmux.wait_for(&["API server", "Obol API", "check(s) failed"], Duration::from_secs(30));
    let failures: Vec<&str> = screen.lines().filter(|l| l.contains('✗')).collect();
    assert_eq!(failures.len(), 1, "one refused connection is one failure:\n{screen}");
    assert!(failures[0].contains("API server") && screen.contains(&server), "{screen}");
    assert!(screen.to_lowercase().contains("refused"), "the cause is named:\n{screen}");
    assert!(!screen.contains("ServiceError"), "{screen}");
    for skipped in ["Permission to install", "Default StorageClass"] {
        let line = screen.lines().find(|l| l.contains(skipped)).unwrap_or_else(|| panic!("{skipped}:\n{screen}"));
        assert!(line.contains("skipped: the API server cannot be reached"), "{line}");
    }
}

#[test]
fn without_a_kubeconfig_the_cluster_checks_show_as_skipped_and_r_checks_again_once_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-yet");
    let tmux = wizard(dir.path(), &missing, 120, 36);
    let screen = tmux.wait_for(&["Obol API", "check(s) failed"], Duration::from_secs(30));
    assert!(screen.contains(&missing.display().to_string()), "the missing file is named:\n{screen}");
    for check in ["API server", "Permission to install", "Default StorageClass"] {
        let line = screen.lines().find(|l| l.contains(check)).unwrap_or_else(|| panic!("{check}:\n{screen}"));
        assert!(line.contains("skipped: no Kubernetes context"), "{line}");
    }
    let (written, server) = kubeconfig::refusing(dir.path());
    std::fs::rename(written, &missing).unwrap();
    tmux.keys(&["r"]);
    let screen = tmux.wait_for(&[&server, "refused"], Duration::from_secs(30));
    assert!(screen.contains("✓ Kubernetes context"), "{screen}");
}

#[test]
fn enter_moves_field_to_field_and_installing_waits_on_a_review_screen_blocked_by_the_failed_check() {
    let (dir, tmux) = past_preflight(120, 36);
    tmux.keys(&["Tab"]);
    tmux.type_text(ADDRESS);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for(&["▶ Network"], Duration::from_secs(5));
    assert!(screen.contains("Configure"), "Enter moved to the next field only:\n{screen}");
    tmux.keys(&["Enter"; 5]);
    let review = tmux.wait_for(&["Review and install", "cannot install yet"], Duration::from_secs(5));
    assert!(review.contains(&format!("operatorAddress: \"{ADDRESS}\"")), "the exact values:\n{review}");
    assert!(review.contains("upgrade --install dv-pod"), "the exact command:\n{review}");
    assert!(review.contains("\"API server\" failed"), "{review}");
    tmux.keys(&["Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!dir.path().join("helm-ran").exists(), "helm must not run while a check fails");
    tmux.keys(&["Escape"]);
    tmux.wait_for(&["▶ Obol API"], Duration::from_secs(5));
}

#[test]
fn question_mark_opens_help_with_only_this_screens_keys_even_while_typing() {
    let (_dir, tmux) = past_preflight(120, 36);
    tmux.keys(&["Tab"]);
    tmux.type_text("0x");
    tmux.type_text("?");
    let help = tmux.wait_for(&["Keys on Configure"], Duration::from_secs(5));
    assert!(help.contains("save the values file") && !help.contains("copy the ENR"), "{help}");
    assert!(!help.contains("run the checks again"), "Preflight's keys are not listed here:\n{help}");
    tmux.keys(&["Escape"]);
    let screen = tmux.wait_for(&["0x▏"], Duration::from_secs(5));
    assert!(!screen.contains("Keys on"), "{screen}");
}

#[test]
fn quitting_with_unsaved_values_asks_first() {
    let (dir, tmux) = past_preflight(120, 36);
    tmux.keys(&["Tab"]);
    tmux.type_text(ADDRESS);
    tmux.keys(&["Tab", "q"]);
    tmux.wait_for(&["not saved. Quit anyway?"], Duration::from_secs(5));
    tmux.keys(&["n"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!tmux.screen().contains("EXITED"), "n keeps the wizard running");
    tmux.keys(&["q", "s"]);
    tmux.wait_for(&["EXITED 0"], Duration::from_secs(5));
    let saved = std::fs::read_to_string(dir.path().join("values.yaml")).unwrap();
    assert!(saved.contains(&format!("operatorAddress: \"{ADDRESS}\"")), "{saved}");
}

#[test]
fn at_80_columns_the_checksum_error_wraps_and_shows_the_suggested_address() {
    let (_dir, tmux) = past_preflight(80, 24);
    tmux.keys(&["Tab"]);
    let typo = ADDRESS.replacen("aA", "Aa", 1);
    tmux.type_text(&typo);
    let screen = tmux.wait_for(&["EIP-55"], Duration::from_secs(5));
    assert!(screen.contains(ADDRESS), "the checksummed address is on screen:\n{screen}");
}

#[test]
fn a_network_can_be_typed_and_a_retired_one_is_refused_with_the_choices() {
    let (_dir, tmux) = past_preflight(120, 36);
    tmux.keys(&["Tab", "Down"]);
    tmux.keys(&["BSpace"; 10]);
    tmux.type_text("goerli");
    let screen = tmux.wait_for(&["retired testnet"], Duration::from_secs(5));
    assert!(screen.contains("hoodi") && screen.contains("sepolia"), "{screen}");
    tmux.keys(&["BSpace"; 6]);
    tmux.type_text("hoodi");
    let screen = tmux.wait_for(&["hoodi▏"], Duration::from_secs(5));
    assert!(!screen.contains("retired") && !screen.contains("unknown network"), "{screen}");
}

#[test]
fn an_all_lowercase_address_is_accepted_with_a_note_that_no_checksum_was_checked() {
    let (_dir, tmux) = past_preflight(120, 36);
    tmux.keys(&["Tab"]);
    tmux.type_text(&ADDRESS.to_lowercase());
    let screen = tmux.wait_for(&["no checksum was checked"], Duration::from_secs(5));
    assert!(screen.contains(ADDRESS), "the checksummed form to compare with:\n{screen}");
    assert!(!screen.contains('✗'), "no field is in error:\n{screen}");
}

fn assert_terminal_restored_after(signal: libc::c_int) {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, _) = kubeconfig::refusing(dir.path());
    let tmux = wizard(dir.path(), &kubeconfig, 120, 36);
    tmux.wait_for(&["Preflight"], Duration::from_secs(30));
    assert_eq!(tmux.pane("#{alternate_on}"), "1", "the wizard draws on the alternate screen");
    let pid = tmux.program_pid();
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
    tmux.wait_for(&["EXITED"], Duration::from_secs(10));
    assert_eq!(tmux.pane("#{alternate_on}"), "0", "back on the main screen");
    assert_eq!(tmux.pane("#{cursor_flag}"), "1", "the cursor is shown again");
}

#[test]
fn sigterm_gives_the_terminal_back() {
    assert_terminal_restored_after(libc::SIGTERM);
}

#[test]
fn sighup_gives_the_terminal_back() {
    assert_terminal_restored_after(libc::SIGHUP);
}
