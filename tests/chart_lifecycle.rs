//! The chart's life on the bed's real API server and controllers, driven by
//! the real Helm 3 and Helm 4: install, upgrade, rollback, uninstall and
//! reinstall keep the ENR Secret and the volumes, and a second release gets
//! its own key. The bed has no kubelet, so hooks are skipped (`--no-hooks`)
//! and the test runs the ENR Job's program itself, as the Job's pod would.

mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use dv_pod::{
    cluster::published_status,
    obol_api::simulator::{Simulator, SimulatorConfig},
    status::{Phase, Status},
};
use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret},
};
use kube::Api;
use support::{
    OPERATOR,
    bed::{bed, bin, run_enr_job, run_release_sidecar},
    process::free_port,
};

const OPERATOR_SET: &str = "charon.operatorAddress=0x52908400098527886E0F7030069857D2E4169EE7";

fn helm(helm: &str, namespace: &str, args: &[&str]) -> String {
    let out = Command::new(bin(helm))
        .args(args)
        .args(["--namespace", namespace, "--kubeconfig"])
        .arg(&bed().kubeconfig)
        .output()
        .unwrap();
    assert!(out.status.success(), "{helm} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn install_args<'a>(verb: &'a str, release: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/chart");
    let mut args = vec![verb, release, chart, "--no-hooks", "--set", OPERATOR_SET];
    args.extend_from_slice(extra);
    args
}

async fn pod_template_checksum(namespace: &str) -> String {
    let sets: Api<StatefulSet> = Api::namespaced(bed().client().await, namespace);
    let set = sets.get("my-dv").await.unwrap();
    set.spec.unwrap().template.metadata.unwrap().annotations.unwrap()["checksum/values"].clone()
}

async fn claim_uids(namespace: &str) -> Vec<String> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(bed().client().await, namespace);
    let mut uids = Vec::new();
    for name in ["charon-data-my-dv-0", "validator-data-my-dv-0"] {
        for _ in 0..100 {
            if let Some(claim) = claims.get_opt(name).await.unwrap() {
                uids.push(claim.metadata.uid.unwrap());
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    assert_eq!(uids.len(), 2, "the StatefulSet controller made no claims");
    uids
}

#[tokio::test]
async fn install_upgrade_rollback_uninstall_reinstall_keep_the_key_and_the_volumes() {
    for helm_major in ["helm3", "helm4"] {
        let namespace = format!("lifecycle-{helm_major}");
        bed().create_restricted_namespace(&namespace).await;

        helm(helm_major, &namespace, &install_args("install", "my-dv", &[]));
        let enr = run_enr_job(&namespace, "my-dv").await;
        let claims = claim_uids(&namespace).await;
        let installed = pod_template_checksum(&namespace).await;

        helm(helm_major, &namespace, &install_args("upgrade", "my-dv", &["--set", "charon.nickname=renamed"]));
        let upgraded = pod_template_checksum(&namespace).await;
        assert_ne!(upgraded, installed, "a changed value must roll the pod");
        assert_eq!(run_enr_job(&namespace, "my-dv").await, enr, "an upgrade keeps the key");

        helm(helm_major, &namespace, &["rollback", "my-dv", "1", "--no-hooks"]);
        assert_eq!(pod_template_checksum(&namespace).await, installed);

        helm(helm_major, &namespace, &["uninstall", "my-dv", "--no-hooks"]);
        let secrets: Api<Secret> = Api::namespaced(bed().client().await, &namespace);
        assert!(secrets.get_opt("my-dv-enr-key").await.unwrap().is_some(), "uninstall must keep the ENR Secret");
        assert_eq!(claim_uids(&namespace).await, claims, "uninstall must keep the volumes");

        helm(helm_major, &namespace, &install_args("install", "my-dv", &[]));
        assert_eq!(run_enr_job(&namespace, "my-dv").await, enr, "a reinstall reuses the key");
        assert_eq!(claim_uids(&namespace).await, claims, "a reinstall reuses the volumes");

        helm(helm_major, &namespace, &install_args("install", "other", &[]));
        assert_ne!(run_enr_job(&namespace, "other").await, enr, "a second release gets its own key");
    }
}

async fn published(namespace: &str) -> Option<Status> {
    let configmaps: Api<ConfigMap> = Api::namespaced(bed().client().await, namespace);
    published_status(&configmaps.get("my-dv-status").await.unwrap()).unwrap()
}

#[tokio::test]
async fn an_upgrade_keeps_the_status_the_sidecar_published_and_conflicts_with_none_of_its_fields() {
    for helm_major in ["helm3", "helm4"] {
        let namespace = format!("status-upgrade-{helm_major}");
        bed().create_restricted_namespace(&namespace).await;
        helm(helm_major, &namespace, &install_args("install", "my-dv", &[]));
        run_enr_job(&namespace, "my-dv").await;
        assert_eq!(published(&namespace).await, None, "nothing is published before the sidecar runs");

        let work = tempfile::tempdir().unwrap();
        let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
        let api = simulator.spawn(([127, 0, 0, 1], free_port()).into()).await.unwrap();
        let sidecar = run_release_sidecar(&namespace, "my-dv", OPERATOR, api, work.path()).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while published(&namespace).await.is_none_or(|s| s.phase != Phase::WaitingForInvite) {
            assert!(Instant::now() < deadline, "the sidecar never published its status");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        drop(sidecar);
        // A write already on the wire when the sidecar died still lands.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = published(&namespace).await;

        // Helm 4 applies server-side: a rendered status key would conflict
        // with the sidecar's field and fail this upgrade; Helm 3 would reset
        // it to the rendered value.
        helm(helm_major, &namespace, &install_args("upgrade", "my-dv", &["--set", "charon.nickname=renamed"]));
        assert_eq!(published(&namespace).await, before, "{helm_major}: the upgrade changed the published status");
    }
}

#[tokio::test]
async fn an_upgrade_rolls_a_pod_that_never_became_ready_as_one_waiting_for_its_invite() {
    let namespace = "rolls-unready";
    bed().create_restricted_namespace(namespace).await;
    helm("helm4", namespace, &install_args("install", "my-dv", &[]));
    let client = bed().client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let sets: Api<StatefulSet> = Api::namespaced(client, namespace);
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        // The bed has no kubelet: the pod is never Running, let alone Ready.
        if let Some(pod) = pods.get_opt("my-dv-0").await.unwrap() {
            break pod.metadata.uid.unwrap();
        }
        assert!(Instant::now() < deadline, "the StatefulSet controller made no pod");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    helm("helm4", namespace, &install_args("upgrade", "my-dv", &["--set", "charon.nickname=renamed"]));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let set = sets.get("my-dv").await.unwrap();
        let update_revision = set.status.and_then(|s| s.update_revision);
        let pod = pods.get_opt("my-dv-0").await.unwrap();
        let revision = pod.as_ref().and_then(|p| p.metadata.labels.as_ref()?.get("controller-revision-hash").cloned());
        if pod.is_some_and(|p| p.metadata.uid.unwrap() != first) && revision.is_some() && revision == update_revision {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the upgrade never reached the unready pod (pod revision {revision:?}, update revision {update_revision:?})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
