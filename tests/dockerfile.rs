//! The sidecar image's Dockerfile (no registry is reachable, so Docker
//! cannot build it here and it is checked as text): pinned bases, Charon at
//! the bed's version, a final stage with no shell commands, running as uid
//! 1000, and the paths the sidecar uses by default. The image the bed builds
//! for its node (`tests/bed/images`) is checked against that final stage.

use std::fs;

fn dockerfile() -> String {
    fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap()
}

fn instructions(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (op, rest) = l.split_once(' ').unwrap_or((l, ""));
            (op.to_uppercase(), rest.trim().to_string())
        })
        .collect()
}

#[test]
fn every_base_image_is_pinned_to_a_version_and_none_floats() {
    for (op, rest) in instructions(&dockerfile()) {
        if op == "FROM" {
            let image = rest.split_whitespace().next().unwrap();
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(!tag.is_empty() && !["latest", "main", "master"].contains(&tag), "{image} is not pinned");
        }
    }
}

#[test]
fn charon_comes_at_the_version_the_test_bed_builds() {
    let setup = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bed/setup")).unwrap();
    let version = setup.lines().find_map(|l| l.strip_prefix("charon_version=")).unwrap();
    assert!(dockerfile().contains(&format!("obolnetwork/charon:{version} AS charon")));
}

#[test]
fn the_final_stage_runs_no_shell_and_runs_as_uid_1000_with_the_sidecar_as_entrypoint() {
    let all = instructions(&dockerfile());
    let last_from = all.iter().rposition(|(op, _)| op == "FROM").unwrap();
    let final_stage = &all[last_from + 1..];
    assert!(final_stage.iter().all(|(op, _)| op != "RUN"), "the runtime image needs no shell");
    assert!(final_stage.contains(&("USER".into(), "1000:1000".into())));
    assert!(final_stage.contains(&("ENTRYPOINT".into(), "[\"/usr/local/bin/dv-sidecar\"]".into())));
    assert!(final_stage.iter().any(|(op, rest)| op == "COPY" && rest.ends_with("/usr/local/bin/charon")));
}

/// A file inside an OCI archive (`tar` reads it; the archives are small).
fn archive_file(archive: &std::path::Path, name: &str) -> Vec<u8> {
    let out = std::process::Command::new("tar").arg("-xOf").arg(archive).arg(name).output().unwrap();
    assert!(out.status.success(), "{name} in {}: {}", archive.display(), String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn blob(archive: &std::path::Path, digest: &serde_json::Value) -> Vec<u8> {
    archive_file(archive, &format!("blobs/sha256/{}", digest.as_str().unwrap().trim_start_matches("sha256:")))
}

#[test]
fn the_sidecar_image_built_for_the_bed_has_the_dockerfiles_user_workdir_entrypoint_and_files() {
    let archive = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".bed/images/dv-sidecar.tar");
    assert!(archive.is_file(), "{} is missing; build it with `tests/bed/images` (or `make test`)", archive.display());
    let index: serde_json::Value = serde_json::from_slice(&archive_file(&archive, "index.json")).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob(&archive, &index["manifests"][0]["digest"])).unwrap();
    let config: serde_json::Value = serde_json::from_slice(&blob(&archive, &manifest["config"]["digest"])).unwrap();

    let all = instructions(&dockerfile());
    let last_from = all.iter().rposition(|(op, _)| op == "FROM").unwrap();
    let final_stage = &all[last_from + 1..];
    let value_of = |op: &str| final_stage.iter().find(|(o, _)| o == op).map(|(_, rest)| rest.clone()).unwrap();
    assert_eq!(config["config"]["User"], value_of("USER"));
    assert_eq!(config["config"]["WorkingDir"], value_of("WORKDIR"));
    let entrypoint: serde_json::Value = serde_json::from_str(&value_of("ENTRYPOINT")).unwrap();
    assert_eq!(config["config"]["Entrypoint"], entrypoint);

    let layer = std::env::temp_dir().join(format!("dv-sidecar-layer-{}.tar.gz", std::process::id()));
    fs::write(&layer, blob(&archive, &manifest["layers"][0]["digest"])).unwrap();
    let listed = std::process::Command::new("tar").arg("-tzf").arg(&layer).output().unwrap();
    fs::remove_file(&layer).unwrap();
    let files: Vec<String> = String::from_utf8(listed.stdout).unwrap().lines().map(|l| format!("/{l}")).collect();
    for (op, rest) in final_stage {
        if op == "COPY" {
            let destination = rest.split_whitespace().last().unwrap();
            assert!(
                files.iter().any(|f| f == destination),
                "{destination} (COPY in the Dockerfile) is not in the image"
            );
        }
    }
    for shell in ["/bin/sh", "/bin/bash", "/usr/bin/sh"] {
        assert!(!files.iter().any(|f| f == shell), "the image has a shell: {shell}");
    }
}
