//! `kubectl dv` behaves like kubectl: its connection flags, `-o json|yaml`,
//! usage written as `kubectl dv ...` with examples, exit 2 naming the server
//! when the cluster cannot be reached, and completion driven through bash,
//! zsh, fish and kubectl's own plugin completion.

mod support;

use std::{
    path::Path,
    process::{Command, Output},
    time::Duration,
};

use support::{kubeconfig, tmux::Tmux};

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-dv");

fn plugin(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(PLUGIN);
    command.args(args).env_remove("KUBECONFIG").env("HOME", "/nonexistent-home");
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every command that talks to the cluster.
const CLUSTER_COMMANDS: [&[&str]; 7] = [
    &["status"],
    &["status", "-A"],
    &["status", "--watch"],
    &["enr"],
    &["logs", "-c", "charon"],
    &["lock", "verify"],
    &["install", "--operator-address", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"],
];

#[test]
fn every_cluster_command_exits_2_naming_the_server_when_it_refuses_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, server) = kubeconfig::refusing(dir.path());
    for command in CLUSTER_COMMANDS {
        let mut args = command.to_vec();
        args.extend(["--kubeconfig", kubeconfig.to_str().unwrap()]);
        let out = plugin(&args, &[("HELM", "/bin/false")]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(stderr.contains(&server) && stderr.to_lowercase().contains("refused"), "{command:?}: {stderr}");
    }
}

#[test]
fn kubeconfig_comes_from_the_flag_then_kubeconfig_then_home_and_a_missing_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, server) = kubeconfig::refusing(dir.path());
    let out = plugin(&["status"], &[("KUBECONFIG", kubeconfig.to_str().unwrap())]);
    assert!(text(&out.stderr).contains(&server), "KUBECONFIG is read: {}", text(&out.stderr));
    for command in CLUSTER_COMMANDS {
        let out = plugin(command, &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains("no kubeconfig") && stderr.contains("/nonexistent-home/.kube/config"),
            "{command:?}: {stderr}"
        );
        assert!(stderr.contains("--kubeconfig") && stderr.contains("KUBECONFIG"), "the fix: {stderr}");
    }
    let out = plugin(&["status", "--kubeconfig", "/no/such/file"], &[]);
    assert!(text(&out.stderr).contains("/no/such/file"), "{}", text(&out.stderr));
}

#[test]
fn an_unknown_context_is_refused_with_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, _) = kubeconfig::refusing(dir.path());
    let out = plugin(&["status", "--kubeconfig", kubeconfig.to_str().unwrap(), "--context", "prod"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("\"prod\"") && stderr.contains("lab"), "{stderr}");
}

#[test]
fn usage_is_written_as_kubectl_dv_and_every_help_page_has_examples() {
    let pages: [&[&str]; 11] = [
        &[],
        &["install"],
        &["enr"],
        &["status"],
        &["logs"],
        &["demo"],
        &["completion"],
        &["definition", "verify"],
        &["lock", "verify"],
        &["definition"],
        &["lock"],
    ];
    for page in pages {
        let mut args = page.to_vec();
        args.push("--help");
        let out = plugin(&args, &[]);
        let help = text(&out.stdout);
        assert!(out.status.success(), "{page:?}: {}", text(&out.stderr));
        assert!(help.contains("Usage: kubectl dv"), "{page:?}:\n{help}");
        assert!(!help.contains("kubectl-dv "), "{page:?}:\n{help}");
        if !matches!(page, ["definition"] | ["lock"]) {
            assert!(help.contains("Examples:\n  kubectl dv"), "{page:?} has examples:\n{help}");
        }
    }
}

#[test]
fn connection_flags_appear_only_on_commands_that_talk_to_the_cluster() {
    for page in [&["status"][..], &["enr"], &["logs"], &["install"], &["lock", "verify"]] {
        let help = text(&plugin(&[page, &["--help"]].concat(), &[]).stdout);
        for flag in ["--kubeconfig", "--context", "--namespace", "--as ", "--release"] {
            assert!(help.contains(flag), "{page:?} takes {flag}:\n{help}");
        }
    }
    for page in [&["definition", "verify"][..], &["demo"], &["completion"]] {
        let help = text(&plugin(&[page, &["--help"]].concat(), &[]).stdout);
        for flag in ["--kubeconfig", "--context", "--namespace", "--release"] {
            assert!(!help.contains(flag), "{page:?} does nothing with {flag}:\n{help}");
        }
    }
}

#[test]
fn output_json_and_yaml_carry_the_same_document_and_json_stays_an_alias() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("charon-enr-private-key");
    std::fs::write(&key, "4f".repeat(32)).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let key = key.to_str().unwrap();
    let json = plugin(&["enr", "--key-file", key, "-o", "json"], &[]);
    assert!(json.status.success(), "{}", text(&json.stderr));
    let alias = plugin(&["enr", "--key-file", key, "--json"], &[]);
    assert_eq!(json.stdout, alias.stdout);
    let yaml = plugin(&["enr", "--key-file", key, "-o", "yaml"], &[]);
    let from_json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let from_yaml: serde_json::Value = serde_norway::from_slice(&yaml.stdout).unwrap();
    assert_eq!(from_json, from_yaml);
    assert_eq!(from_json["schema"], "dv-pod.enr/v1");
    let wrong = plugin(&["enr", "--key-file", key, "-o", "xml"], &[]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(text(&wrong.stderr).contains("json, yaml"), "{}", text(&wrong.stderr));
}

/// A directory for PATH holding the plugin and its completion program.
fn path_with_plugin() -> String {
    let bin = Path::new(PLUGIN).parent().unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

fn bash_complete(line: &str) -> Vec<String> {
    let script = format!(
        "source <(kubectl-dv completion bash)\nCOMP_LINE={line:?}\nCOMP_POINT=${{#COMP_LINE}}\nread -ra COMP_WORDS \
         <<< \"$COMP_LINE\"\n[[ \"$COMP_LINE\" == *' ' ]] && COMP_WORDS+=('')\nCOMP_CWORD=$(( ${{#COMP_WORDS[@]}} - \
         1 ))\nfunction=$(complete -p kubectl-dv | sed -E 's/.*-F ([^ ]+).*/\\1/')\n\"$function\" kubectl-dv \
         \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    );
    let out = Command::new("bash").arg("-c").arg(script).env("PATH", path_with_plugin()).output().unwrap();
    assert!(out.status.success(), "bash: {}", text(&out.stderr));
    text(&out.stdout).lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
}

#[test]
fn bash_completes_subcommands_flags_and_values() {
    let words = bash_complete("kubectl-dv st");
    assert_eq!(words, ["status"], "a subcommand");
    let words = bash_complete("kubectl-dv status --kube");
    assert!(words.contains(&"--kubeconfig".to_string()), "{words:?}");
    let words = bash_complete("kubectl-dv status -o ");
    assert_eq!(words, ["json", "yaml"], "a flag's values");
    let words = bash_complete("kubectl-dv logs -c ");
    assert!(words.contains(&"validator-client".to_string()) && words.contains(&"charon".to_string()), "{words:?}");
    let words = bash_complete("kubectl-dv install --network ");
    assert!(words.contains(&"hoodi".to_string()) && !words.contains(&"goerli".to_string()), "{words:?}");
    let words = bash_complete("kubectl-dv lock ");
    assert!(words.contains(&"verify".to_string()) && !words.contains(&"status".to_string()), "{words:?}");
}

#[test]
fn fish_completes_subcommands_flags_and_values() {
    let complete = |line: &str| -> Vec<String> {
        let script = format!("kubectl-dv completion fish | source; complete -C {line:?}");
        let out = Command::new("fish")
            .arg("-c")
            .arg(script)
            .env("PATH", path_with_plugin())
            .output()
            .expect("fish runs (apt-get install fish)");
        assert!(out.status.success(), "fish: {}", text(&out.stderr));
        text(&out.stdout).lines().map(|l| l.split('\t').next().unwrap().to_string()).collect()
    };
    assert_eq!(complete("kubectl-dv st"), ["status"]);
    assert!(complete("kubectl-dv status --").contains(&"--all-namespaces".to_string()));
    assert_eq!(complete("kubectl-dv enr -o "), ["json", "yaml"]);
}

#[test]
fn zsh_completes_subcommands_and_values_at_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let rc = dir.path().join(".zshrc");
    std::fs::write(
        &rc,
        format!(
            "PS1='%% '\nexport PATH={}\nautoload -Uz compinit && compinit -u\nsource <(kubectl-dv completion zsh)\n",
            path_with_plugin()
        ),
    )
    .unwrap();
    let command = format!("env ZDOTDIR={} zsh -i", dir.path().display());
    let tmux = Tmux::start(dir.path(), &command, 120, 20);
    tmux.wait_for(&["%"], Duration::from_secs(10));
    tmux.type_text("kubectl-dv sta");
    tmux.keys(&["Tab"]);
    tmux.wait_for(&["kubectl-dv status"], Duration::from_secs(10));
    tmux.type_text("--out");
    tmux.keys(&["Tab"]);
    tmux.wait_for(&["kubectl-dv status --output"], Duration::from_secs(10));
    tmux.type_text(" y");
    tmux.keys(&["Tab"]);
    tmux.wait_for(&["kubectl-dv status --output yaml"], Duration::from_secs(10));
}

#[test]
fn kubectl_completes_kubectl_dv_through_kubectl_complete_dv() {
    let complete = env!("CARGO_BIN_EXE_kubectl_complete-dv");
    let out = Command::new(complete).args(["st"]).output().unwrap();
    assert_eq!(
        text(&out.stdout),
        "status\tFormation status, pod and Charon health of a release, or of every release\n:4\n"
    );
    let out = Command::new(complete).args(["status", "-o", ""]).output().unwrap();
    assert!(text(&out.stdout).starts_with("json\nyaml\n:4"), "{}", text(&out.stdout));

    // kubectl itself (the bed's, 1.34) finds kubectl_complete-dv on PATH.
    let kubectl = support::bed::bin("kubectl");
    let out = Command::new(&kubectl)
        .args(["__complete", "dv", "lock", ""])
        .env("PATH", path_with_plugin())
        .env("KUBECONFIG", "/dev/null")
        .output()
        .unwrap();
    let answer = text(&out.stdout);
    assert!(answer.lines().any(|l| l.starts_with("verify")), "kubectl asked the plugin: {answer}");
}
