//! `dv-sidecar import-keys` on key shares made by the real `charon create
//! cluster`: each client's layout, a second run that changes nothing, a new
//! key added beside the existing ones without touching other files, and the
//! Prysm wallet opened by the real Prysm validator client.

mod support;

use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use support::{bed::bin, charon::create_cluster};

/// Node 0's key shares of a fresh 3-validator cluster made by Charon.
fn charon_key_shares(work: &Path) -> PathBuf {
    create_cluster(work, 3, &["--insecure-keys"]).join("node0/validator_keys")
}

/// Imports into `to`, bound through `binding_dir` (Charon's volume).
fn import_bound(client: &str, from: &Path, to: &Path, binding_dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dv-sidecar"))
        .args(["import-keys", "--client", client, "--from"])
        .arg(from)
        .arg("--to")
        .arg(to)
        .arg("--binding-dir")
        .arg(binding_dir)
        .output()
        .unwrap()
}

/// Imports into `to` with a binding directory of its own beside it.
fn try_import(client: &str, from: &Path, to: &Path) -> std::process::Output {
    let mut binding_dir = to.as_os_str().to_owned();
    binding_dir.push(".charon-data");
    import_bound(client, from, to, Path::new(&binding_dir))
}

fn import(client: &str, from: &Path, to: &Path) {
    let out = try_import(client, from, to);
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
        "nimbus" => vec![format!("validators/{pk}/keystore.json"), format!("secrets/{pk}")],
        "lodestar" => vec![format!("keystores/{pk}/voting-keystore.json"), format!("secrets/{pk}")],
        _ => unreachable!(),
    }
}

#[test]
fn each_file_based_client_gets_its_layout_and_a_second_run_changes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let shares = charon_key_shares(work.path());
    let keys = pubkeys(&shares);
    assert_eq!(keys.len(), 3);
    for client in ["lighthouse", "teku", "nimbus", "lodestar"] {
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
    let first_two = first_two_shares(&shares, work.path());
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

/// The public keys Prysm's own `accounts list` finds in the wallet.
fn prysm_lists(vc: &Path) -> Vec<String> {
    let home = tempfile::tempdir().unwrap();
    let wallet = vc.join("prysm-wallet");
    let out = Command::new(bin("prysm-validator"))
        .args(["accounts", "list", "--accept-terms-of-use"])
        .arg(format!("--wallet-dir={}", wallet.display()))
        .arg(format!("--wallet-password-file={}", wallet.join("password.txt").display()))
        .env("HOME", home.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "prysm accounts list: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let mut keys: Vec<String> = stdout
        .split_whitespace()
        .filter(|word| word.len() == 98 && word.starts_with("0x"))
        .map(str::to_string)
        .collect();
    keys.sort();
    keys
}

fn first_two_shares(shares: &Path, work: &Path) -> PathBuf {
    let first_two = work.join("first-two");
    fs::create_dir_all(&first_two).unwrap();
    // `--insecure-keys` names them keystore-insecure-N.
    for i in 0..2 {
        for ext in ["json", "txt"] {
            let name = format!("keystore-insecure-{i}.{ext}");
            fs::copy(shares.join(&name), first_two.join(&name)).unwrap();
        }
    }
    first_two
}

#[test]
fn prysm_opens_the_wallet_the_sidecar_writes_and_finds_every_key_share() {
    let work = tempfile::tempdir().unwrap();
    let shares = charon_key_shares(work.path());
    let vc = work.path().join("prysm");

    import("prysm", &first_two_shares(&shares, work.path()), &vc);
    let all = pubkeys(&shares);
    let listed = prysm_lists(&vc);
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|pk| all.contains(pk)), "{listed:?} not among {all:?}");
    let password = fs::read(vc.join("prysm-wallet/password.txt")).unwrap();
    let mode = fs::metadata(vc.join("prysm-wallet/password.txt")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    import("prysm", &shares, &vc);
    assert_eq!(prysm_lists(&vc), all, "the third share is added to the two already there");
    assert_eq!(fs::read(vc.join("prysm-wallet/password.txt")).unwrap(), password, "the wallet password is kept");

    let before = snapshot(&vc);
    import("prysm", &shares, &vc);
    assert_eq!(snapshot(&vc), before, "a second run with nothing new changes nothing");
}

#[test]
fn a_prysm_wallet_whose_password_file_is_gone_or_wrong_is_left_untouched_with_the_fix_named() {
    let work = tempfile::tempdir().unwrap();
    let shares = charon_key_shares(work.path());
    let vc = work.path().join("prysm");
    import("prysm", &first_two_shares(&shares, work.path()), &vc);
    let password_file = vc.join("prysm-wallet/password.txt");

    fs::write(&password_file, "not the wallet password").unwrap();
    let before = snapshot(&vc);
    let out = try_import("prysm", &shares, &vc);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("restore the password file"), "{stderr}");
    assert_eq!(snapshot(&vc), before, "a wallet that cannot be opened is not touched");

    fs::remove_file(&password_file).unwrap();
    let before = snapshot(&vc);
    let out = try_import("prysm", &shares, &vc);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("password.txt is missing") && stderr.contains("restore the password file"), "{stderr}");
    assert_eq!(snapshot(&vc), before, "no new password replaces the lost one");
}

#[test]
fn keys_are_not_laid_out_on_a_replaced_vc_volume_or_for_a_switched_client() {
    let work = tempfile::tempdir().unwrap();
    let shares = charon_key_shares(work.path());
    let charon_volume = work.path().join("charon-data");
    let import_bound = |client: &str, vc: &Path| import_bound(client, &shares, vc, &charon_volume);
    let vc = work.path().join("vc-data");
    assert!(import_bound("lighthouse", &vc).status.success());
    assert!(import_bound("lighthouse", &vc).status.success(), "the same volume and client import again");

    let out = import_bound("teku", &vc);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("EIP-3076"), "{stderr}");
    assert!(!vc.join("keys").exists(), "nothing is laid out for the switched client");

    let replaced = work.path().join("new-vc-data");
    let out = import_bound("lighthouse", &replaced);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a new, empty VC volume in front of used keys is refused");
    assert!(stderr.contains("Restore the original volume") && stderr.contains("vc-binding.json"), "{stderr}");
    assert!(!replaced.join("validators").exists());
}

/// Runs the bed's real Prysm validator binary with `args`.
fn prysm(args: &[String]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(bin("prysm-validator")).args(args).env("HOME", home.path()).output().unwrap()
}

#[test]
fn a_restored_history_imports_into_the_prysm_database_import_keys_prepares_and_exports_back_whole() {
    let work = tempfile::tempdir().unwrap();
    let shares = charon_key_shares(work.path());
    let vc = work.path().join("vc");
    let mut binding = vc.as_os_str().to_owned();
    binding.push(".charon-data");
    let out = Command::new(env!("CARGO_BIN_EXE_dv-sidecar"))
        .args(["import-keys", "--client", "prysm", "--slashing-import", "--from"])
        .arg(&shares)
        .arg("--to")
        .arg(&vc)
        .arg("--binding-dir")
        .arg(&binding)
        .output()
        .unwrap();
    assert!(out.status.success(), "import-keys: {}", String::from_utf8_lossy(&out.stderr));
    let pubkey = pubkeys(&shares)[0].clone();
    let history = serde_json::json!({
        "metadata": {
            "interchange_format_version": "5",
            "genesis_validators_root": "0x212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f"
        },
        "data": [{
            "pubkey": pubkey,
            "signed_blocks": [{"slot": "81952", "signing_root": "0x4ff6f743a43f3b4f95350831aeaf0a122a1a392922c45d804280284a69eb850b"}],
            "signed_attestations": [
                {"source_epoch": "2290", "target_epoch": "3007"},
                {"source_epoch": "3007", "target_epoch": "3008"}
            ]
        }]
    });
    let file = work.path().join("slashing-protection.json");
    fs::write(&file, history.to_string()).unwrap();
    let datadir = format!("--datadir={}", vc.join("prysm").display());
    let imported = prysm(&[
        "slashing-protection-history".into(),
        "import".into(),
        "--accept-terms-of-use".into(),
        datadir.clone(),
        format!("--slashing-protection-json-file={}", file.display()),
    ]);
    assert!(imported.status.success(), "prysm import: {}", String::from_utf8_lossy(&imported.stderr));

    let exported_dir = work.path().join("export");
    let exported = prysm(&[
        "slashing-protection-history".into(),
        "export".into(),
        "--accept-terms-of-use".into(),
        datadir,
        format!("--slashing-protection-export-dir={}", exported_dir.display()),
    ]);
    assert!(exported.status.success(), "prysm export: {}", String::from_utf8_lossy(&exported.stderr));
    let back: serde_json::Value =
        serde_json::from_slice(&fs::read(exported_dir.join("slashing_protection.json")).unwrap()).unwrap();
    let record = &back["data"][0];
    assert_eq!(record["pubkey"], pubkey.as_str(), "{back}");
    let targets: Vec<&str> =
        record["signed_attestations"].as_array().unwrap().iter().map(|a| a["target_epoch"].as_str().unwrap()).collect();
    assert!(targets.contains(&"3008"), "the newest attestation is kept: {back}");
    assert_eq!(record["signed_blocks"][0]["slot"], "81952", "{back}");
}
