//! The sidecar image's Dockerfile (images cannot be built here, so it is
//! checked as text): pinned bases, Charon at the bed's version, a final
//! stage with no shell commands, running as uid 1000, and the paths the
//! sidecar uses by default.

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
