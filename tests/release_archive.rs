//! `make release`'s packaging step (`assets/release/build`), run on the
//! debug binaries this test was built with (a release build takes minutes;
//! the packaging is the same): the archive holds the binaries, the krew
//! manifest names the archive by its sha256, and krew's required fields are
//! there.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use serde_json::Value;
use sha2::{Digest, Sha256};

const BASE_URL: &str = "https://releases.example/dv-pod/v0.1.0";

/// The archive and manifest the script wrote, once per test binary.
struct Release {
    _dir: tempfile::TempDir,
    archive: PathBuf,
    manifest: PathBuf,
}

/// This machine's platform in krew's terms: the binaries were built for it.
fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no krew arch name for {other}"),
    }
}

fn bin_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-dv")).parent().unwrap()
}

fn build_release() -> Release {
    // Both binaries must be built for the script; naming them makes cargo build them.
    assert!(Path::new(env!("CARGO_BIN_EXE_dv-tui")).parent() == Some(bin_dir()));
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/release/build"))
        .arg(bin_dir())
        .arg(dir.path())
        .env("RELEASE_BASE_URL", BASE_URL)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let archive = dir.path().join(format!("kubectl-dv_v{}_linux_{}.tar.gz", env!("CARGO_PKG_VERSION"), arch()));
    let manifest = dir.path().join("dv.yaml");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{}\n{}\n", archive.display(), manifest.display()));
    Release { _dir: dir, archive, manifest }
}

fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(build_release)
}

fn manifest() -> Value {
    serde_norway::from_str(&std::fs::read_to_string(&release().manifest).unwrap()).unwrap()
}

fn platform() -> Value {
    let platforms = manifest()["spec"]["platforms"].as_array().unwrap().clone();
    assert_eq!(platforms.len(), 1, "one archive was built, for this machine: {platforms:?}");
    platforms[0].clone()
}

#[test]
fn the_release_archive_holds_the_built_binaries_and_a_readme_at_its_root() {
    let extracted = tempfile::tempdir().unwrap();
    let out = Command::new("tar").arg("-xzf").arg(&release().archive).arg("-C").arg(extracted.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut expected = vec!["README.md", "dv-tui", "kubectl-dv"];
    for optional in ["kubectl_complete-dv", "LICENSE"] {
        let source = match optional {
            "LICENSE" => Path::new(env!("CARGO_MANIFEST_DIR")).join(optional),
            _ => bin_dir().join(optional),
        };
        if source.is_file() {
            expected.push(optional);
        }
    }
    expected.sort();
    let mut names: Vec<String> =
        std::fs::read_dir(extracted.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, expected);
    for binary in expected.iter().filter(|name| !name.contains('.') && **name != "LICENSE") {
        let packed = std::fs::read(extracted.path().join(binary)).unwrap();
        assert!(packed == std::fs::read(bin_dir().join(binary)).unwrap(), "{binary} differs from the built one");
    }
    let help = Command::new(extracted.path().join("kubectl-dv")).arg("--help").output().unwrap();
    assert!(help.status.success(), "{}", String::from_utf8_lossy(&help.stderr));
}

#[test]
fn the_krew_manifest_names_the_archive_by_its_sha256_and_its_release_url() {
    let digest = hex::encode(Sha256::digest(std::fs::read(&release().archive).unwrap()));
    let platform = platform();
    assert_eq!(platform["sha256"], digest);
    let name = release().archive.file_name().unwrap().to_str().unwrap();
    assert_eq!(platform["uri"], format!("{BASE_URL}/{name}"));
}

#[test]
fn the_krew_manifest_has_every_field_krew_requires() {
    let manifest = manifest();
    assert_eq!(manifest["apiVersion"], "krew.googlecontainertools.github.com/v1alpha2");
    assert_eq!(manifest["kind"], "Plugin");
    assert_eq!(manifest["metadata"]["name"], "dv");
    assert_eq!(manifest["spec"]["version"], format!("v{}", env!("CARGO_PKG_VERSION")));
    assert!(manifest["spec"]["shortDescription"].as_str().is_some_and(|s| !s.is_empty()));
    let platform = platform();
    assert_eq!(platform["selector"]["matchLabels"], serde_json::json!({"os": "linux", "arch": arch()}));
    assert_eq!(platform["bin"], "kubectl-dv");
    let files = platform["files"].as_array().unwrap();
    assert!(files.iter().all(|f| f["from"].is_string() && f["to"].is_string()) && !files.is_empty(), "{files:?}");
}

#[test]
fn packaging_the_same_binaries_twice_gives_the_same_archive() {
    let again = build_release();
    assert!(std::fs::read(&again.archive).unwrap() == std::fs::read(&release().archive).unwrap());
}
