//! The status contract in a cluster: the sidecar, running as its chart
//! ServiceAccount on the test bed, keeps the snapshot in the release's status
//! ConfigMap, records Events on its pod, and exports Prometheus metrics.

mod support;

use std::time::{Duration, Instant};

use dv_pod::{
    cluster::published_status,
    definition::Network,
    enr::EnrPrivateKey,
    obol_api::simulator::{ClusterPlan, OperatorPlan, SignAt, Simulator, SimulatorConfig},
    status::Phase,
};
use k8s_openapi::api::{
    core::v1::{ConfigMap, Namespace, Pod, ServiceAccount},
    events::v1::Event,
    rbac::v1::{Role, RoleBinding},
};
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use serde_json::json;
use support::{
    bed::bed,
    process::{free_port, spawn},
};

const NAMESPACE: &str = "status-contract";

async fn create<K>(api: Api<K>, value: serde_json::Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.create(&PostParams::default(), &serde_json::from_value(value).unwrap()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_configmap_events_and_metrics_follow_formation() {
    let client = bed().client().await;
    create(Api::<Namespace>::all(client.clone()), json!({"metadata": {"name": NAMESPACE}})).await;
    create(Api::<ServiceAccount>::namespaced(client.clone(), NAMESPACE), json!({"metadata": {"name": "my-dv"}})).await;
    let rules = json!([
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["my-dv-status"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["pods"], "resourceNames": ["my-dv-0"], "verbs": ["get"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}
    ]);
    create(Api::<Role>::namespaced(client.clone(), NAMESPACE), json!({"metadata": {"name": "my-dv"}, "rules": rules}))
        .await;
    let binding = json!({
        "metadata": {"name": "my-dv"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "my-dv"},
        "subjects": [{"kind": "ServiceAccount", "name": "my-dv", "namespace": NAMESPACE}]
    });
    create(Api::<RoleBinding>::namespaced(client.clone(), NAMESPACE), binding).await;
    let pod = json!({"metadata": {"name": "my-dv-0"}, "spec": {"containers": [{"name": "charon", "image": "example.invalid/charon:1"}]}});
    create(Api::<Pod>::namespaced(client.clone(), NAMESPACE), pod).await;

    let work = tempfile::tempdir().unwrap();
    let key_file = work.path().join("enr-key");
    let key = EnrPrivateKey::generate().unwrap();
    key.save_new(&key_file).unwrap();
    let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
    let api = simulator.clone().spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut operators =
        vec![OperatorPlan { enr: Some(key.record().text().into()), eth_private_key: None, sign: SignAt::Now }];
    for _ in 0..3 {
        operators.push(OperatorPlan {
            enr: Some(EnrPrivateKey::generate().unwrap().record().text().into()),
            eth_private_key: None,
            sign: SignAt::Manual,
        });
    }
    let created = simulator
        .create(ClusterPlan {
            name: "status".into(),
            network: Network::Hoodi,
            num_validators: 1,
            threshold: None,
            operators,
        })
        .unwrap();

    let kubeconfig = bed().kubeconfig_for_service_account(NAMESPACE, "my-dv", &work.path().join("kubeconfig")).await;
    let metrics_port = free_port();
    let data_dir = work.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dv-sidecar"));
    command
        .env("KUBECONFIG", &kubeconfig)
        .arg("dkg")
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--enr-key-file")
        .arg(&key_file)
        .args(["--operator-address", &created.operator_addresses[0], "--network", "hoodi"])
        .args(["--api-endpoint", &format!("http://{api}"), "--initial-retry-delay-seconds", "1"])
        .args(["--status-configmap", "my-dv-status", "--namespace", NAMESPACE, "--pod-name", "my-dv-0"])
        .arg(format!("--metrics-address=127.0.0.1:{metrics_port}"));
    let log = work.path().join("sidecar.log");
    let _sidecar = spawn("dv-sidecar", command, &log);

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), NAMESPACE);
    let deadline = Instant::now() + Duration::from_secs(30);
    let published = async || {
        let configmap = configmaps.get_opt("my-dv-status").await.unwrap()?;
        published_status(&configmap).unwrap()
    };
    let status = loop {
        if let Some(status) = published().await.filter(|s| s.phase == Phase::WaitingForSignatures) {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no waiting_for_signatures status:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let managers: Vec<String> = configmaps
        .get("my-dv-status")
        .await
        .unwrap()
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| Some(format!("{} {}", entry.manager?, entry.operation?)))
        .collect();
    assert_eq!(
        managers,
        ["dv-sidecar Apply"],
        "the status is server-side applied under the sidecar's own field manager"
    );
    // Poll progress reaches the ConfigMap too, not only phase changes.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let polls = published().await.map_or(0, |s| s.polls);
        if polls >= status.polls + 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the ConfigMap still shows {polls} polls");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let invite = status.invite.unwrap();
    assert_eq!((invite.signed, invite.total, invite.missing.len()), (1, 4, 3));
    assert_eq!(invite.config_hash, created.config_hash);
    assert_eq!(status.enr, key.record().text());

    let events: Api<Event> = Api::namespaced(client, NAMESPACE);
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("my-dv-0"))
        .filter_map(|e| e.reason)
        .collect();
    // waiting_for_invite lasts only until the first poll, well under the
    // ConfigMap's pace: it still gets its Event.
    for phase in ["KeyReady", "WaitingForInvite", "WaitingForSignatures"] {
        assert!(reasons.iter().any(|r| r == phase), "no {phase} Event: {reasons:?}");
    }

    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("dv_sidecar_phase{phase=\"waiting_for_signatures\"} 1"), "{metrics}");
    assert!(metrics.lines().any(|l| l.starts_with("dv_sidecar_polls_total ") && !l.ends_with(" 0")), "{metrics}");
}
