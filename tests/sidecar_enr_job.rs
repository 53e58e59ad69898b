//! The chart's ENR Job (`dv-sidecar enr`) against the test bed's real API
//! server, run as a ServiceAccount that may only `create` Secrets and `get`
//! the one Secret name: exactly one key ever exists, a supplied key is used,
//! and a broken Secret is reported, never overwritten.

mod support;

use std::{path::Path, process::Output};

use dv_pod::enr::EnrPrivateKey;
use k8s_openapi::{
    ByteString,
    api::{
        core::v1::{Namespace, Secret, ServiceAccount},
        rbac::v1::{Role, RoleBinding},
    },
};
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use serde_json::json;
use support::bed::bed;

const SECRET: &str = "my-dv-enr-key";

/// A namespace with the ENR Job's ServiceAccount and least-privilege Role.
async fn namespace_with_enr_job_account(namespace: &str) {
    let client = bed().client().await;
    let create = PostParams::default();
    Api::<Namespace>::all(client.clone())
        .create(&create, &serde_json::from_value(json!({"metadata": {"name": namespace}})).unwrap())
        .await
        .unwrap();
    Api::<ServiceAccount>::namespaced(client.clone(), namespace)
        .create(&create, &serde_json::from_value(json!({"metadata": {"name": "enr-job"}})).unwrap())
        .await
        .unwrap();
    let role = json!({
        "metadata": {"name": "enr-job"},
        "rules": [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [SECRET], "verbs": ["get"]}
        ]
    });
    Api::<Role>::namespaced(client.clone(), namespace)
        .create(&create, &serde_json::from_value(role).unwrap())
        .await
        .unwrap();
    let binding = json!({
        "metadata": {"name": "enr-job"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "enr-job"},
        "subjects": [{"kind": "ServiceAccount", "name": "enr-job", "namespace": namespace}]
    });
    Api::<RoleBinding>::namespaced(client, namespace)
        .create(&create, &serde_json::from_value(binding).unwrap())
        .await
        .unwrap();
}

async fn run_enr_job(namespace: &str, kubeconfig: &Path, create: bool) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dv-sidecar"));
    command.env("KUBECONFIG", kubeconfig).args(["enr", "--namespace", namespace, "--secret-name", SECRET]);
    if create {
        command.arg("--create");
    }
    command.args(["--release", "my-dv"]).output().await.unwrap()
}

async fn secrets_in(namespace: &str) -> Vec<Secret> {
    Api::<Secret>::namespaced(bed().client().await, namespace).list(&ListParams::default()).await.unwrap().items
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap().trim().to_string()
}

#[tokio::test]
async fn twice_in_a_row_the_job_creates_one_key_and_then_reuses_it() {
    let namespace = "enr-sequential";
    namespace_with_enr_job_account(namespace).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = bed().kubeconfig_for_service_account(namespace, "enr-job", &dir.path().join("kubeconfig")).await;

    let first = run_enr_job(namespace, &kubeconfig, true).await;
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let created = secrets_in(namespace).await;
    let second = run_enr_job(namespace, &kubeconfig, true).await;
    assert!(second.status.success());

    assert!(stdout(&first).starts_with("enr:-"), "prints the ENR and only the ENR: {:?}", stdout(&first));
    assert_eq!(stdout(&first), stdout(&second));
    let after = secrets_in(namespace).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].data, created[0].data, "the key is never rewritten");
    assert_eq!(after[0].metadata.labels.as_ref().unwrap()["app.kubernetes.io/instance"], "my-dv");
    let key_hex = String::from_utf8(after[0].data.as_ref().unwrap()["charon-enr-private-key"].0.clone()).unwrap();
    assert_eq!(EnrPrivateKey::from_charon_hex(&key_hex).unwrap().record().text(), stdout(&first));
    for output in [&first, &second] {
        let logs = String::from_utf8_lossy(&output.stderr);
        assert!(!logs.contains(&key_hex), "the private key reached a log line");
    }
}

#[tokio::test]
async fn two_jobs_at_once_end_with_one_key_that_both_print() {
    let namespace = "enr-concurrent";
    namespace_with_enr_job_account(namespace).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = bed().kubeconfig_for_service_account(namespace, "enr-job", &dir.path().join("kubeconfig")).await;

    let (a, b) = tokio::join!(run_enr_job(namespace, &kubeconfig, true), run_enr_job(namespace, &kubeconfig, true));
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    assert_eq!(stdout(&a), stdout(&b));
    assert_eq!(secrets_in(namespace).await.len(), 1);
}

#[tokio::test]
async fn a_supplied_key_is_used_and_a_missing_supplied_secret_is_named() {
    let namespace = "enr-supplied";
    namespace_with_enr_job_account(namespace).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = bed().kubeconfig_for_service_account(namespace, "enr-job", &dir.path().join("kubeconfig")).await;

    let missing = run_enr_job(namespace, &kubeconfig, false).await;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains(&format!("{namespace}/{SECRET} does not exist")));
    assert!(secrets_in(namespace).await.is_empty(), "supplied-key mode never creates a key");

    let key = EnrPrivateKey::generate().unwrap();
    let secret = Secret {
        metadata: kube::api::ObjectMeta { name: Some(SECRET.into()), ..Default::default() },
        // As `kubectl create secret --from-file` stores it: with a trailing newline.
        data: Some(
            [("charon-enr-private-key".to_string(), ByteString(format!("{}\n", *key.to_charon_hex()).into_bytes()))]
                .into(),
        ),
        ..Default::default()
    };
    Api::<Secret>::namespaced(bed().client().await, namespace).create(&PostParams::default(), &secret).await.unwrap();
    let used = run_enr_job(namespace, &kubeconfig, false).await;
    assert!(used.status.success(), "{}", String::from_utf8_lossy(&used.stderr));
    assert_eq!(stdout(&used), key.record().text());
}

#[tokio::test]
async fn a_corrupt_secret_is_reported_and_left_untouched() {
    let namespace = "enr-corrupt";
    namespace_with_enr_job_account(namespace).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = bed().kubeconfig_for_service_account(namespace, "enr-job", &dir.path().join("kubeconfig")).await;
    let secret = Secret {
        metadata: kube::api::ObjectMeta { name: Some(SECRET.into()), ..Default::default() },
        data: Some([("charon-enr-private-key".to_string(), ByteString(b"not-a-key".to_vec()))].into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(bed().client().await, namespace).create(&PostParams::default(), &secret).await.unwrap();

    let output = run_enr_job(namespace, &kubeconfig, true).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("exists but") && stderr.contains("left untouched"), "{stderr}");
    let after = secrets_in(namespace).await;
    assert_eq!(after[0].data.as_ref().unwrap()["charon-enr-private-key"].0, b"not-a-key");
}

#[tokio::test]
async fn a_supplied_key_becomes_the_secret_and_never_replaces_another_key() {
    let namespace = "enr-supplied-at-install";
    namespace_with_enr_job_account(namespace).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = bed().kubeconfig_for_service_account(namespace, "enr-job", &dir.path().join("kubeconfig")).await;
    let supplied = EnrPrivateKey::generate().unwrap();
    let key_file = dir.path().join("supplied-key");
    supplied.save_new(&key_file).unwrap();
    let run_with = |key_file: std::path::PathBuf| {
        let kubeconfig = kubeconfig.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_dv-sidecar"))
                .env("KUBECONFIG", kubeconfig)
                .args(["enr", "--namespace", namespace, "--secret-name", SECRET, "--create", "--release", "my-dv"])
                .arg(format!("--key-file={}", key_file.display()))
                .output()
                .await
                .unwrap()
        }
    };

    let first = run_with(key_file.clone()).await;
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(stdout(&first), supplied.record().text(), "the Secret holds the supplied key");
    let again = run_with(key_file).await;
    assert!(again.status.success(), "the same key again is fine: {}", String::from_utf8_lossy(&again.stderr));

    let other = EnrPrivateKey::generate().unwrap();
    let other_file = dir.path().join("other-key");
    other.save_new(&other_file).unwrap();
    let before = secrets_in(namespace).await;
    let conflict = run_with(other_file).await;
    assert!(!conflict.status.success());
    let logs = String::from_utf8_lossy(&conflict.stderr);
    assert!(logs.contains("already holds another ENR key") && logs.contains("charon.enr.privateKey"), "{logs}");
    assert!(!logs.contains(other.to_charon_hex().as_str()), "the supplied key reached a log line");
    assert_eq!(secrets_in(namespace).await[0].data, before[0].data, "the existing key is untouched");
}
