//! Smoke tests proving the test bed runs the real programs: Charon, both Helm
//! majors, and a Kubernetes control plane whose admission and controllers act.

mod support;

use std::{process::Command, time::Duration};

use k8s_openapi::api::{
    apps::v1::{Deployment, ReplicaSet},
    core::v1::{Namespace, Pod},
};
use kube::{
    Api, ResourceExt,
    api::{ListParams, PostParams},
};
use serde_json::json;
use support::bed::{bed, bin};

fn output_of(program: &str, args: &[&str]) -> String {
    let out = Command::new(bin(program)).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn charon_reports_version_v1_10() {
    let version = output_of("charon", &["version"]);
    assert!(version.starts_with("v1.10"), "charon version printed {version:?}");
}

#[test]
fn helm_3_and_helm_4_report_their_major_versions() {
    assert!(output_of("helm3", &["version", "--short"]).starts_with("v3."));
    assert!(output_of("helm4", &["version", "--short"]).starts_with("v4."));
}

async fn create_namespace(name: &str, labels: serde_json::Value) -> Namespace {
    let namespaces: Api<Namespace> = Api::all(bed().client().await);
    let namespace = serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
    namespaces.create(&PostParams::default(), &namespace).await.unwrap()
}

#[tokio::test]
async fn kube_client_creates_and_reads_a_namespace() {
    create_namespace("smoke-namespace", json!({"purpose": "smoke"})).await;

    let namespaces: Api<Namespace> = Api::all(bed().client().await);
    let read = namespaces.get("smoke-namespace").await.unwrap();
    assert_eq!(read.labels().get("purpose").map(String::as_str), Some("smoke"));
    assert!(read.uid().is_some(), "the API server assigns a uid");
}

fn pod(name: &str, security_context: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "example.invalid/app:1.0", "securityContext": security_context}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn restricted_pod_security_rejects_a_root_pod_and_admits_a_compliant_one() {
    create_namespace("smoke-restricted", json!({"pod-security.kubernetes.io/enforce": "restricted"})).await;
    let pods: Api<Pod> = Api::namespaced(bed().client().await, "smoke-restricted");

    let rejected = pods
        .create(&PostParams::default(), &pod("root", json!({"runAsUser": 0, "privileged": false})))
        .await
        .expect_err("a root pod must be rejected under restricted");
    let message = rejected.to_string();
    assert!(message.contains("violates PodSecurity \"restricted"), "unexpected rejection: {message}");

    let compliant = json!({
        "runAsNonRoot": true, "runAsUser": 1000, "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}
    });
    pods.create(&PostParams::default(), &pod("compliant", compliant)).await.expect("a compliant pod is admitted");
}

#[tokio::test]
async fn controller_manager_creates_the_replicaset_of_a_deployment() {
    create_namespace("smoke-controllers", json!({})).await;
    let client = bed().client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "smoke-controllers");
    let deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "example.invalid/web:1.0"}]}}
        }
    }))
    .unwrap();
    let created = deployments.create(&PostParams::default(), &deployment).await.unwrap();

    let replica_sets: Api<ReplicaSet> = Api::namespaced(client, "smoke-controllers");
    for _ in 0..300 {
        let owned: Vec<ReplicaSet> = replica_sets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|rs| rs.owner_references().iter().any(|o| Some(&o.uid) == created.uid().as_ref()))
            .collect();
        if let Some(rs) = owned.first() {
            assert_eq!(rs.spec.as_ref().and_then(|s| s.replicas), Some(1));
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no ReplicaSet owned by Deployment web after 30 s");
}
