//! The chart built into the binaries (`build.rs`, `src/chart.rs`), checked
//! with the bed's real Helm 3 and Helm 4: it is the chart folder, packaged as
//! `helm package` packages it, and a copied `kubectl-dv` that knows nothing
//! of its build directory installs it.

mod support;

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use dv_pod::chart::Chart;
use support::{
    OPERATOR,
    bed::{bed, bin},
};

const CHART_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/chart");

/// `helm template` as tests/chart_render.rs runs it: the bed's Kubernetes
/// version and the one value the chart requires.
fn helm_template(helm: &str, chart: &str) -> Output {
    let operator = format!("charon.operatorAddress={OPERATOR}");
    let args = ["template", "my-dv", chart, "--namespace", "dv", "--kube-version", "v1.34.4", "--set", &operator];
    Command::new(bin(helm)).args(args).output().unwrap()
}

fn stdout(helm: &str, args: &[&str]) -> String {
    let out = Command::new(bin(helm)).args(args).output().unwrap();
    assert!(out.status.success(), "{helm} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn first_difference(ours: &str, theirs: &str) -> String {
    match ours.lines().zip(theirs.lines()).enumerate().find(|(_, (a, b))| a != b) {
        Some((n, (a, b))) => format!("line {}: {a:?} instead of {b:?}", n + 1),
        None => format!("{} lines instead of {}", ours.lines().count(), theirs.lines().count()),
    }
}

#[test]
fn the_embedded_chart_renders_exactly_as_the_chart_folder_with_helm_3_and_4() {
    let embedded = Chart::embedded().unwrap();
    for helm in ["helm3", "helm4"] {
        let from_archive = helm_template(helm, embedded.reference());
        let from_folder = helm_template(helm, CHART_DIR);
        assert!(from_archive.status.success(), "{helm}: {}", String::from_utf8_lossy(&from_archive.stderr));
        assert!(from_folder.status.success(), "{helm}: {}", String::from_utf8_lossy(&from_folder.stderr));
        let rendered = String::from_utf8(from_archive.stdout).unwrap();
        let from_folder = String::from_utf8(from_folder.stdout).unwrap();
        assert!(rendered.contains("kind: StatefulSet"), "{helm} rendered no StatefulSet:\n{rendered}");
        assert!(rendered == from_folder, "{helm}: {}", first_difference(&rendered, &from_folder));
    }
}

#[test]
fn helm_shows_the_embedded_chart_with_the_version_of_chart_yaml() {
    let embedded = Chart::embedded().unwrap();
    for helm in ["helm3", "helm4"] {
        let shown = stdout(helm, &["show", "chart", embedded.reference()]);
        let chart: serde_json::Value = serde_norway::from_str(&shown).unwrap();
        let folder: serde_json::Value = serde_norway::from_str(&stdout(helm, &["show", "chart", CHART_DIR])).unwrap();
        assert_eq!(chart["name"], "dv-pod", "{helm}");
        assert_eq!(chart["version"], dv_pod::chart::EMBEDDED_VERSION, "{helm}");
        assert_eq!(chart, folder, "{helm}");
    }
}

/// `tar -tvzf`: one line per entry with its mode, owner, date and path.
fn listing(archive: &Path) -> Vec<String> {
    let out = Command::new("tar").args(["--numeric-owner", "-tvzf"]).arg(archive).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

fn entry_path(line: &str) -> &str {
    line.split_whitespace().last().unwrap()
}

#[test]
fn the_embedded_archive_holds_the_files_helm_package_puts_in_its_archive_with_fixed_owner_mode_and_time() {
    let embedded = Chart::embedded().unwrap();
    let ours = listing(Path::new(embedded.reference()));
    let out = tempfile::tempdir().unwrap();
    stdout("helm3", &["package", CHART_DIR, "--destination", out.path().to_str().unwrap()]);
    let packaged = out.path().join(dv_pod::chart::EMBEDDED_ARCHIVE_NAME);
    assert!(packaged.is_file(), "helm package names its archive differently than {}", packaged.display());

    let mut our_paths: Vec<&str> = ours.iter().map(|l| entry_path(l)).collect();
    let helms = listing(&packaged);
    let mut helm_paths: Vec<&str> = helms.iter().map(|l| entry_path(l)).collect();
    our_paths.sort();
    helm_paths.sort();
    assert_eq!(our_paths, helm_paths);
    assert!(our_paths.contains(&"dv-pod/templates/statefulset.yaml"), "{our_paths:?}");
    for line in &ours {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(["-rw-r--r--", "-rwxr-xr-x"].contains(&fields[0]), "{line}");
        assert_eq!((fields[1], fields[3]), ("0/0", "1970-01-01"), "{line}");
    }
}

/// A stand-in for helm that renders instead of installing: it runs the real
/// helm's `template` with the arguments `upgrade --install` was given, and
/// records the modes of the chart file and its folder while they exist.
fn rendering_helm(dir: &Path, real_helm: &Path, record: &Path) -> PathBuf {
    let script = dir.join("helm");
    let text = format!(
        "#!/bin/sh\nset -e\n[ \"$1 $2\" = 'upgrade --install' ] || exit 64\nshift 2\nrelease=$1 chart=$2\nshift 2\n\
         stat -c '%a %n' \"$chart\" \"$(dirname \"$chart\")\" > {record}\n\
         exec {helm} template \"$release\" \"$chart\" --kube-version v1.34.4 \"$@\"\n",
        record = record.display(),
        helm = real_helm.display(),
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn a_copied_kubectl_dv_installs_its_embedded_chart_from_a_private_temp_file_it_removes_afterwards() {
    let (install_dir, work_dir, tmp) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plugin = install_dir.path().join("kubectl-dv");
    std::fs::copy(env!("CARGO_BIN_EXE_kubectl-dv"), &plugin).unwrap();
    let record = work_dir.path().join("chart-modes");
    let helm = rendering_helm(work_dir.path(), &bin("helm3"), &record);

    let out = Command::new(&plugin)
        .args(["install", "--release", "my-dv", "-n", "dv", "--operator-address", OPERATOR])
        .current_dir(work_dir.path())
        .env_remove("CARGO_MANIFEST_DIR")
        // install first checks that the cluster answers: the bed's API server.
        .env("KUBECONFIG", &bed().kubeconfig)
        .env("HELM", &helm)
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let rendered = String::from_utf8(out.stdout).unwrap();
    let from_folder = String::from_utf8(helm_template("helm3", CHART_DIR).stdout).unwrap();
    assert!(rendered.contains("kind: StatefulSet"), "the copied plugin rendered no StatefulSet:\n{rendered}");
    assert!(
        rendered == from_folder,
        "the copied plugin rendered other objects than chart/: {}",
        first_difference(&rendered, &from_folder)
    );
    let modes = std::fs::read_to_string(&record).unwrap();
    let chart_file = tmp.path().join("dv-pod-chart.");
    let lines: Vec<&str> = modes.lines().collect();
    assert!(
        lines.len() == 2
            && lines[0].starts_with(&format!("600 {}", chart_file.display()))
            && lines[0].ends_with(dv_pod::chart::EMBEDDED_ARCHIVE_NAME)
            && lines[1].starts_with(&format!("700 {}", chart_file.display())),
        "{modes}"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the embedded chart's temp files are left behind");
}
