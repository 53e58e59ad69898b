//! `dv-sidecar import-keys` on key shares made by the real `charon create
//! cluster`: each client's layout, a second run that changes nothing, and a
//! new key added beside the existing ones without touching other files.

mod support;

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use support::bed::bin;

/// Node 0's key shares of a fresh 3-validator cluster made by Charon.
fn charon_key_shares(work: &Path) -> PathBuf {
    let out = Command::new(bin("charon"))
        .args(["create", "cluster", "--nodes=4", "--network=hoodi", "--num-validators=3", "--insecure-keys"])
        .arg("--fee-recipient-addresses=0x000000000000000000000000000000000000dEaD")
        .arg("--withdrawal-addresses=0x000000000000000000000000000000000000dEaD")
        .arg(format!("--cluster-dir={}", work.join("cluster").display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "charon create cluster: {}", String::from_utf8_lossy(&out.stderr));
    work.join("cluster/node0/validator_keys")
}

fn import(client: &str, from: &Path, to: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_dv-sidecar"))
        .args(["import-keys", "--client", client, "--from"])
        .arg(from)
        .arg("--to")
        .arg(to)
        .output()
        .unwrap();
    assert!(out.status.success(), "import-keys {client}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Every file under `dir` with its content.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.strip_prefix(dir).unwrap().display().to_string(), fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn pubkeys(shares: &Path) -> Vec<String> {
    let mut keys: Vec<String> = fs::read_dir(shares)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            (path.extension()? == "json").then(|| {
                let v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
                format!("0x{}", v["pubkey"].as_str().unwrap())
            })
        })
        .collect();
    keys.sort();
    keys
}

/// The files each client reads for one key, relative to its data directory.
fn expected_files(client: &str, pk: &str) -> Vec<String> {
    match client {
        "lighthouse" => vec![format!("validators/{pk}/voting-keystore.json"), format!("validators/{pk}/password.txt")],
        "teku" => vec![format!("keys/{pk}.json"), format!("passwords/{pk}.txt")],
        "prysm" => vec![format!("prysm-import/{pk}/keystore.json"), format!("prysm-import/{pk}/password.txt")],
        "nimbus" => vec![format!("validators/{pk}/keystore.json"), format!("secrets/{pk}")],
        "lodestar" => vec![format!("keystores/{pk}/voting-keystore.json"), format!("secrets/{pk}")],
        _ => unreachable!(),
    }
}

#[test]
fn each_client_gets_its_layout_and_a_second_run_changes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let shares = charon_key_shares(work.path());
    let keys = pubkeys(&shares);
    assert_eq!(keys.len(), 3);
    for client in ["lighthouse", "teku", "prysm", "nimbus", "lodestar"] {
        let vc = work.path().join(client);
        import(client, &shares, &vc);
        let files = snapshot(&vc);
        for pk in &keys {
            let [keystore, password] = &expected_files(client, pk)[..] else { unreachable!() };
            let source = fs::read_dir(&shares)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.extension().is_some_and(|e| e == "json") && pubkeys_of(p) == *pk)
                .unwrap();
            assert_eq!(files[keystore], fs::read(&source).unwrap(), "{client}: {keystore}");
            assert_eq!(files[password], fs::read(source.with_extension("txt")).unwrap(), "{client}: {password}");
        }
        if client == "lighthouse" {
            let definitions = String::from_utf8(files["validators/validator_definitions.yml"].clone()).unwrap();
            for pk in &keys {
                assert_eq!(definitions.matches(&format!("voting_public_key: \"{pk}\"")).count(), 1);
            }
        }
        import(client, &shares, &vc);
        assert_eq!(snapshot(&vc), files, "{client}: a second run changed files");
    }
}

fn pubkeys_of(keystore: &Path) -> String {
    let v: serde_json::Value = serde_json::from_slice(&fs::read(keystore).unwrap()).unwrap();
    format!("0x{}", v["pubkey"].as_str().unwrap())
}

#[test]
fn a_new_key_is_added_and_existing_files_and_the_slashing_database_are_untouched() {
    let work = tempfile::tempdir().unwrap();
    let shares = charon_key_shares(work.path());
    let first_two = work.path().join("first-two");
    fs::create_dir_all(&first_two).unwrap();
    // `--insecure-keys` names them keystore-insecure-N.
    for i in 0..2 {
        for ext in ["json", "txt"] {
            let name = format!("keystore-insecure-{i}.{ext}");
            fs::copy(shares.join(&name), first_two.join(&name)).unwrap();
        }
    }
    let vc = work.path().join("lighthouse");
    import("lighthouse", &first_two, &vc);
    let slashing_db = vc.join("validators/slashing_protection.sqlite");
    fs::write(&slashing_db, b"slashing protection records").unwrap();
    let definitions = vc.join("validators/validator_definitions.yml");
    // Lighthouse edits its own file, e.g. to disable a validator; that edit must survive.
    let edited = fs::read_to_string(&definitions).unwrap().replacen("enabled: true", "enabled: false", 1);
    fs::write(&definitions, &edited).unwrap();
    let before = snapshot(&vc);

    import("lighthouse", &shares, &vc);
    let after = snapshot(&vc);
    for (path, content) in &before {
        if !path.ends_with("validator_definitions.yml") {
            assert_eq!(after.get(path), Some(content), "{path} changed");
        }
    }
    assert!(fs::read_to_string(&definitions).unwrap().starts_with(&edited), "existing definitions were rewritten");
    assert_eq!(after.len(), before.len() + 2, "one new keystore and its password");
    assert_eq!(fs::read(&slashing_db).unwrap(), b"slashing protection records");
}
