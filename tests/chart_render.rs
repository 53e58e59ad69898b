//! The dv-pod chart rendered by the bed's real Helm 3 and Helm 4: the
//! objects every configuration must produce, the errors bad input must
//! produce, and the real API server admitting what the chart renders in a
//! namespace that enforces the `restricted` Pod Security Standard.

mod support;

use std::process::{Command, Output};

use dv_pod::cluster::release::ReleaseNames;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api,
    api::{DynamicObject, PostParams},
    discovery::{Discovery, Scope},
};
use serde_json::{Value, json};
use support::{
    OPERATOR,
    bed::{bed, bin},
};

const CLIENTS: [&str; 5] = ["lighthouse", "teku", "prysm", "nimbus", "lodestar"];

fn helm_template(helm: &str, release: &str, sets: &[&str]) -> Output {
    helm_template_in(helm, release, "dv", sets)
}

fn helm_template_in(helm: &str, release: &str, namespace: &str, sets: &[&str]) -> Output {
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/chart");
    let mut command = Command::new(bin(helm));
    // Helm 3 renders for Kubernetes v1.20 unless told; the bed runs v1.34.
    command.args(["template", release, chart, "--namespace", namespace, "--kube-version", "v1.34.4"]);
    for set in sets {
        command.args(["--set", set]);
    }
    command.output().unwrap()
}

/// The rendered objects, parsed.
fn render(helm: &str, sets: &[&str]) -> Vec<Value> {
    render_in(helm, "dv", sets)
}

fn render_in(helm: &str, namespace: &str, sets: &[&str]) -> Vec<Value> {
    let out = helm_template_in(helm, "my-dv", namespace, sets);
    assert!(out.status.success(), "{helm} template {sets:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    text.split("\n---").filter_map(serde_yaml_doc).collect()
}

fn serde_yaml_doc(doc: &str) -> Option<Value> {
    let value: Value = serde_norway::from_str(doc).ok()?;
    (!value.is_null()).then_some(value)
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

fn containers(pod_spec: &Value) -> Vec<&Value> {
    ["initContainers", "containers"].iter().flat_map(|k| pod_spec[k].as_array().into_iter().flatten()).collect()
}

#[test]
fn every_validator_client_renders_one_single_replica_statefulset_behind_its_governing_service() {
    for helm in ["helm3", "helm4"] {
        for client in CLIENTS {
            let objects = render(
                helm,
                &[&format!("charon.operatorAddress={OPERATOR}"), &format!("validatorClient.type={client}")],
            );
            let statefulset = find(&objects, "StatefulSet", "my-dv");
            assert_eq!(statefulset["spec"]["replicas"], 1);
            let service = statefulset["spec"]["serviceName"].as_str().unwrap();
            assert_eq!(find(&objects, "Service", service)["spec"]["clusterIP"], "None");
            let pod = &statefulset["spec"]["template"]["spec"];
            let names: Vec<&str> = containers(pod).iter().map(|c| c["name"].as_str().unwrap()).collect();
            assert_eq!(names, ["dkg", "import-keys", "charon", "validator-client"], "{helm} {client}");
            for container in containers(pod) {
                let image = container["image"].as_str().unwrap();
                let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
                assert!(!tag.is_empty() && tag != "latest", "{client}: {image} is not pinned");
                assert_eq!(container["securityContext"]["allowPrivilegeEscalation"], false);
                assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
            }
            let vc = containers(pod).into_iter().find(|c| c["name"] == "validator-client").unwrap();
            let args = vc["args"].as_array().unwrap();
            let dv_mode = if client == "teku" { "--Xobol-dvt-integration-enabled=true" } else { "--distributed" };
            assert!(args.iter().any(|a| a == dv_mode), "{client} runs without DV mode: {args:?}");
            let import = containers(pod).into_iter().find(|c| c["name"] == "import-keys").unwrap();
            let env = import["env"].as_array().unwrap();
            assert!(env.iter().any(|e| e["name"] == "DV_VC_TYPE" && e["value"] == client));
            assert!(
                env.iter().any(|e| e["name"] == "DV_VC_BINDING_DIR" && e["value"] == "/charon-data"),
                "{client}: import-keys runs without the VC volume binding check"
            );
        }
    }
}

#[test]
fn pods_are_managed_in_parallel_so_an_upgrade_reaches_one_that_never_became_ready() {
    for helm in ["helm3", "helm4"] {
        let objects = render(helm, &[&format!("charon.operatorAddress={OPERATOR}")]);
        let spec = &find(&objects, "StatefulSet", "my-dv")["spec"];
        // OrderedReady would wait forever for a pod whose dkg init container waits for its invite.
        assert_eq!(spec["podManagementPolicy"], "Parallel", "{helm}");
        assert_eq!(spec["replicas"], 1, "{helm}");
        assert_eq!(spec["updateStrategy"]["type"], "RollingUpdate", "{helm}");
    }
}

#[test]
fn each_validator_client_reads_its_keys_where_import_keys_lays_them_out() {
    // The layouts `import-keys` writes under DV_KEYS_TO (tests/sidecar_import_keys.rs).
    let reads_from: [(&str, &[&str]); 5] = [
        ("lighthouse", &["--datadir=/vc-data", "--disable-auto-discover"]),
        ("teku", &["--validator-keys=/vc-data/keys:/vc-data/passwords"]),
        ("prysm", &["--wallet-dir=/vc-data/prysm-wallet", "--wallet-password-file=/vc-data/prysm-wallet/password.txt"]),
        ("nimbus", &["--validators-dir=/vc-data/validators", "--secrets-dir=/vc-data/secrets"]),
        ("lodestar", &["--keystoresDir=/vc-data/keystores", "--secretsDir=/vc-data/secrets"]),
    ];
    for (client, flags) in reads_from {
        let objects = render(
            "helm4",
            &[&format!("charon.operatorAddress={OPERATOR}"), &format!("validatorClient.type={client}")],
        );
        let pod = &find(&objects, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
        let import = containers(pod).into_iter().find(|c| c["name"] == "import-keys").unwrap();
        assert!(
            import["env"].as_array().unwrap().iter().any(|e| e["name"] == "DV_KEYS_TO" && e["value"] == "/vc-data")
        );
        let vc = containers(pod).into_iter().find(|c| c["name"] == "validator-client").unwrap();
        let args: Vec<&str> = vc["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        for flag in flags {
            assert!(args.contains(flag), "{client} does not get {flag}: {args:?}");
        }
        for container in [import, vc] {
            let mounts = container["volumeMounts"].as_array().unwrap();
            assert!(
                mounts.iter().any(|m| m["name"] == "validator-data" && m["mountPath"] == "/vc-data"),
                "{client}: {} does not mount validator-data at /vc-data",
                container["name"]
            );
        }
    }
}

#[test]
fn the_enr_job_may_create_secrets_and_read_only_its_own() {
    let objects = render("helm4", &[&format!("charon.operatorAddress={OPERATOR}")]);
    let role = find(&objects, "Role", "my-dv-enr");
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["my-dv-enr-key"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}
        ])
    );
    let job = find(&objects, "Job", "my-dv-enr");
    let args = &job["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(args.as_array().unwrap().iter().any(|a| a == "--create"));

    let supplied =
        render("helm4", &[&format!("charon.operatorAddress={OPERATOR}"), "charon.enr.existingSecret=my-key"]);
    let role = find(&supplied, "Role", "my-dv-enr");
    assert_eq!(role["rules"].as_array().unwrap().len(), 1, "a supplied key needs no create");
    assert_eq!(role["rules"][0]["resourceNames"], json!(["my-key"]));
    let statefulset = find(&supplied, "StatefulSet", "my-dv");
    let volumes = statefulset["spec"]["template"]["spec"]["volumes"].as_array().unwrap();
    assert!(volumes.iter().any(|v| v["secret"]["secretName"] == "my-key"));
}

#[test]
fn two_releases_in_one_namespace_get_their_own_enr_secrets() {
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/chart");
    let mut names = Vec::new();
    for release in ["alpha", "beta"] {
        let out = Command::new(bin("helm4"))
            .args(["template", release, chart, "--kube-version", "v1.34.4"])
            .args(["--set", &format!("charon.operatorAddress={OPERATOR}")])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let objects: Vec<Value> = text.split("\n---").filter_map(serde_yaml_doc).collect();
        let job = find(&objects, "Job", &format!("{release}-enr"));
        names.push(job["spec"]["template"]["spec"]["containers"][0]["args"][1].as_str().unwrap().to_string());
    }
    assert_eq!(names, ["--secret-name=alpha-enr-key", "--secret-name=beta-enr-key"]);
}

fn assert_refused(sets: &[&str], expected: &[&str]) {
    for helm in ["helm3", "helm4"] {
        let out = helm_template(helm, "my-dv", sets);
        assert!(!out.status.success(), "{helm} accepted {sets:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for needle in expected {
            assert!(stderr.contains(needle), "{helm} {sets:?}: {needle:?} not in\n{stderr}");
        }
    }
}

#[test]
fn bad_input_fails_the_install_with_the_value_and_the_fix() {
    assert_refused(&[], &["charon.operatorAddress is required", "--set charon.operatorAddress=0x"]);
    assert_refused(&["charon.operatorAddress=0x1234"], &["operatorAddress"]);
    assert_refused(&[&format!("charon.operatorAddress={OPERATOR}"), "charon.operatorAdress=0x1"], &["operatorAdress"]);
    assert_refused(&[&format!("charon.operatorAddress={OPERATOR}"), "chainId=560048"], &["chainId"]);
    assert_refused(
        &[&format!("charon.operatorAddress={OPERATOR}"), "validatorClient.type=vouch"],
        &["validatorClient", "type"],
    );
    assert_refused(&[&format!("charon.operatorAddress={OPERATOR}"), "network=holesky2"], &["network"]);
    assert_refused(&[&format!("charon.operatorAddress={OPERATOR}"), "charon.image.tag=latest"], &["tag"]);
    assert_refused(
        &[&format!("charon.operatorAddress={OPERATOR}"), "charon.dkgSidecar.targetConfigHash=0x1234"],
        &["targetConfigHash"],
    );
    assert_refused(&[&format!("charon.operatorAddress={OPERATOR}"), "charon.builderApi=maybe"], &["builderApi"]);
    let operator = format!("charon.operatorAddress={OPERATOR}");
    let hash = format!("charon.lock.hash=0x{}", "ab".repeat(32));
    assert_refused(
        &[&operator, "charon.lock.existingConfigMap=lock", &hash, "charon.lock.keystoresSecret=keys"],
        &["charon.lock.existingConfigMap and charon.lock.hash", "only one"],
    );
    assert_refused(&[&operator, &hash], &["charon.lock.keystoresSecret is required"]);
    assert_refused(
        &[&operator, "charon.lock.keystoresSecret=keys"],
        &["charon.lock.existingConfigMap or charon.lock.hash"],
    );
    assert_refused(&[&operator, "charon.lock.hash=0x1234", "charon.lock.keystoresSecret=keys"], &["hash"]);
    assert_refused(
        &[&operator, "charon.beaconNodeHeaders.secretName=bn-auth"],
        &["charon.beaconNodeHeaders.secretName", "charon.beaconNodeEndpoints is empty"],
    );
}

#[test]
fn an_existing_lock_from_a_configmap_or_a_hash_reaches_the_sidecar_with_the_key_shares() {
    let operator = format!("charon.operatorAddress={OPERATOR}");
    let hash = format!("0x{}", "ab".repeat(32));
    for (lock, env) in [
        (
            "charon.lock.existingConfigMap=old-lock".to_string(),
            json!({"name": "DV_LOCK_FILE", "value": "/existing-lock/cluster-lock.json"}),
        ),
        (format!("charon.lock.hash={hash}"), json!({"name": "DV_LOCK_HASH", "value": hash})),
    ] {
        let objects = render("helm4", &[&operator, &lock, "charon.lock.keystoresSecret=old-keys"]);
        let pod = &find(&objects, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
        let dkg = containers(pod).into_iter().find(|c| c["name"] == "dkg").unwrap().clone();
        let variables = dkg["env"].as_array().unwrap();
        assert!(variables.contains(&env), "{lock}: {variables:?}");
        assert!(variables.contains(&json!({"name": "DV_KEYS_DIR", "value": "/existing-keys"})));
        let keys = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "existing-keys").unwrap();
        assert_eq!(keys["secret"], json!({"secretName": "old-keys", "defaultMode": 256}));
        let has_lock_volume = pod["volumes"].as_array().unwrap().iter().any(|v| v["name"] == "existing-lock");
        assert_eq!(has_lock_volume, lock.contains("existingConfigMap"));
    }
}

/// Creates every rendered object for real in a fresh namespace that
/// enforces `restricted`, then asks the API server to admit (dry run) a Pod
/// with the StatefulSet's and the Job's pod templates.
async fn admit_under_restricted(namespace: &str, objects: &[Value]) {
    let client = bed().client().await;
    bed().create_restricted_namespace(namespace).await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    for object in objects {
        let mut object: DynamicObject = serde_json::from_value(object.clone()).unwrap();
        object.metadata.namespace = Some(namespace.into());
        let gvk = kube::api::GroupVersionKind::try_from(object.types.as_ref().unwrap()).unwrap();
        let (resource, capabilities) = discovery.resolve_gvk(&gvk).unwrap();
        let api: Api<DynamicObject> = if capabilities.scope == Scope::Namespaced {
            Api::namespaced_with(client.clone(), namespace, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        api.create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("the API server refused {} {:?}: {e}", gvk.kind, object.metadata.name));
    }
    let pods: Api<Pod> = Api::namespaced(client, namespace);
    let dry_run = PostParams { dry_run: true, ..PostParams::default() };
    for (kind, template) in objects.iter().filter_map(|o| {
        let kind = o["kind"].as_str()?;
        matches!(kind, "StatefulSet" | "Job").then(|| (kind, o["spec"]["template"].clone()))
    }) {
        let mut spec = template["spec"].clone();
        // The StatefulSet controller adds a volume per claim template.
        let claims = objects.iter().find(|o| o["kind"] == kind).unwrap()["spec"]["volumeClaimTemplates"].clone();
        for claim in claims.as_array().into_iter().flatten() {
            let name = &claim["metadata"]["name"];
            spec["volumes"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": name, "persistentVolumeClaim": {"claimName": name}}));
        }
        let pod = json!({"metadata": {"name": format!("admission-{}", kind.to_lowercase())}, "spec": spec});
        pods.create(&dry_run, &serde_json::from_value(pod).unwrap())
            .await
            .unwrap_or_else(|e| panic!("the {kind}'s pod is not admitted under restricted: {e}"));
    }
}

#[tokio::test]
async fn every_rendering_is_accepted_by_the_api_server_and_its_pods_pass_restricted() {
    for (i, client) in CLIENTS.iter().enumerate() {
        let objects = render(
            "helm4",
            &[&format!("charon.operatorAddress={OPERATOR}"), &format!("validatorClient.type={client}")],
        );
        admit_under_restricted(&format!("chart-{i}-{client}"), &objects).await;
    }
    let supplied = render(
        "helm3",
        &[
            &format!("charon.operatorAddress={OPERATOR}"),
            "charon.enr.existingSecret=my-key",
            "charon.beaconNodeHeaders.secretName=bn-auth",
            "charon.beaconNodeEndpoints={http://bn:5052}",
            "charon.lock.existingConfigMap=old-lock",
            "charon.lock.keystoresSecret=old-keys",
        ],
    );
    admit_under_restricted("chart-existing-secret", &supplied).await;
    let key = format!("charon.enr.privateKey={}", "1f".repeat(32));
    admit_under_restricted(
        "chart-supplied-key",
        &render("helm4", &[&format!("charon.operatorAddress={OPERATOR}"), &key]),
    )
    .await;
}

#[test]
fn a_key_supplied_at_install_reaches_only_the_enr_job_through_a_transient_hook_secret() {
    let key = "1f".repeat(32);
    let objects =
        render("helm4", &[&format!("charon.operatorAddress={OPERATOR}"), &format!("charon.enr.privateKey={key}")]);
    let carrier = find(&objects, "Secret", "my-dv-enr-key-supplied");
    assert_eq!(carrier["stringData"]["charon-enr-private-key"], key.as_str());
    assert_eq!(carrier["metadata"]["annotations"]["helm.sh/hook"], "pre-install,pre-upgrade");
    let delete_policy = carrier["metadata"]["annotations"]["helm.sh/hook-delete-policy"].as_str().unwrap();
    assert!(
        delete_policy.contains("hook-succeeded") && delete_policy.contains("hook-failed"),
        "the carrier of a key must go whether the ENR Job succeeds or fails: {delete_policy}"
    );
    let job = &find(&objects, "Job", "my-dv-enr")["spec"]["template"]["spec"];
    let args = job["containers"][0]["args"].as_array().unwrap();
    assert!(args.contains(&json!("--create")) && args.contains(&json!("--key-file=/supplied/charon-enr-private-key")));
    assert_eq!(job["volumes"][0]["secret"]["secretName"], "my-dv-enr-key-supplied");
    let pod = serde_json::to_string(&find(&objects, "StatefulSet", "my-dv")).unwrap();
    assert!(!pod.contains(&key), "the supplied key reaches the ENR Job only");
    let others = objects.iter().filter(|o| o["kind"] != "Secret").map(|o| serde_json::to_string(o).unwrap());
    assert!(others.into_iter().all(|text| !text.contains(&key)), "the key is in no object but its Secret");

    let operator = format!("charon.operatorAddress={OPERATOR}");
    assert_refused(
        &[&operator, &format!("charon.enr.privateKey={key}"), "charon.enr.existingSecret=mine"],
        &["charon.enr.privateKey and charon.enr.existingSecret", "only one"],
    );
    assert_refused(&[&operator, &format!("charon.enr.privateKey={}", "1F".repeat(32))], &["privateKey"]);
}

/// Asks the API server whether `user` may do `verb` on `resource` (named `name`).
async fn allowed(namespace: &str, user: &str, verb: &str, group: &str, resource: &str, name: Option<&str>) -> bool {
    use k8s_openapi::api::authorization::v1::SubjectAccessReview;
    let review = json!({
        "spec": {
            "user": user,
            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{namespace}")],
            "resourceAttributes": {"namespace": namespace, "verb": verb, "group": group, "resource": resource, "name": name}
        }
    });
    let reviews: Api<SubjectAccessReview> = Api::all(bed().client().await);
    let answer = reviews.create(&PostParams::default(), &serde_json::from_value(review).unwrap()).await.unwrap();
    answer.status.unwrap().allowed
}

#[tokio::test]
async fn each_service_account_may_do_what_its_component_needs_and_nothing_more() {
    let namespace = "chart-rbac";
    let objects = render_in("helm4", namespace, &[&format!("charon.operatorAddress={OPERATOR}")]);
    admit_under_restricted(namespace, &objects).await;
    let enr_job = format!("system:serviceaccount:{namespace}:my-dv-enr");
    let pod = format!("system:serviceaccount:{namespace}:my-dv");
    let helm_test = format!("system:serviceaccount:{namespace}:my-dv-test");

    // (who, verb, API group, resource, name, allowed?)
    type Access<'a> = (&'a str, &'a str, &'a str, &'a str, Option<&'a str>, bool);
    let expectations: &[Access] = &[
        (&enr_job, "get", "", "secrets", Some("my-dv-enr-key"), true),
        (&enr_job, "create", "", "secrets", None, true),
        (&enr_job, "get", "", "secrets", Some("another-release-enr-key"), false),
        (&enr_job, "list", "", "secrets", None, false),
        (&enr_job, "update", "", "secrets", Some("my-dv-enr-key"), false),
        (&enr_job, "patch", "", "secrets", Some("my-dv-enr-key"), false),
        (&enr_job, "delete", "", "secrets", Some("my-dv-enr-key"), false),
        (&pod, "get", "", "configmaps", Some("my-dv-status"), true),
        (&pod, "patch", "", "configmaps", Some("my-dv-status"), true),
        (&pod, "patch", "", "configmaps", Some("kube-root-ca.crt"), false),
        (&pod, "get", "", "pods", Some("my-dv-0"), true),
        (&pod, "create", "events.k8s.io", "events", None, true),
        (&pod, "get", "", "secrets", Some("my-dv-enr-key"), false),
        (&pod, "list", "", "pods", None, false),
        (&helm_test, "get", "", "configmaps", Some("my-dv-status"), true),
        (&helm_test, "patch", "", "configmaps", Some("my-dv-status"), false),
        (&helm_test, "get", "", "secrets", Some("my-dv-enr-key"), false),
    ];
    for (user, verb, group, resource, name, expected) in expectations {
        let answer = allowed(namespace, user, verb, group, resource, *name).await;
        assert_eq!(answer, *expected, "{user} {verb} {resource} {name:?}");
    }
}

#[test]
fn the_p2p_port_is_exposed_as_asked_and_a_pdb_only_on_request() {
    let objects = render("helm4", &[&format!("charon.operatorAddress={OPERATOR}")]);
    let p2p = find(&objects, "Service", "my-dv-p2p");
    assert_eq!(p2p["spec"]["type"], "ClusterIP");
    assert_eq!(p2p["spec"]["publishNotReadyAddresses"], true, "peers must reach a pod that is not ready yet");
    assert!(objects.iter().all(|o| o["kind"] != "PodDisruptionBudget"));

    let exposed = render(
        "helm3",
        &[
            &format!("charon.operatorAddress={OPERATOR}"),
            "charon.p2p.service.type=NodePort",
            "charon.p2p.service.nodePort=31610",
            "charon.p2p.externalIp=203.0.113.7",
            "podDisruptionBudget.enabled=true",
        ],
    );
    let p2p = find(&exposed, "Service", "my-dv-p2p");
    assert_eq!(p2p["spec"]["ports"][0]["nodePort"], 31610);
    let charon = find(&exposed, "StatefulSet", "my-dv")["spec"]["template"]["spec"]["containers"][0].clone();
    assert!(
        charon["env"].as_array().unwrap().contains(&json!({"name": "CHARON_P2P_EXTERNAL_IP", "value": "203.0.113.7"}))
    );
    assert_eq!(find(&exposed, "PodDisruptionBudget", "my-dv")["spec"]["maxUnavailable"], 0);
    assert_refused(&[&format!("charon.operatorAddress={OPERATOR}"), "charon.p2p.service.nodePort=80"], &["nodePort"]);
}

#[test]
fn a_pod_monitor_scrapes_ports_the_pod_actually_declares() {
    for client in CLIENTS {
        let objects = render(
            "helm4",
            &[
                &format!("charon.operatorAddress={OPERATOR}"),
                &format!("validatorClient.type={client}"),
                "monitoring.podMonitor.enabled=true",
            ],
        );
        let monitor = find(&objects, "PodMonitor", "my-dv");
        let pod = &find(&objects, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
        let declared: Vec<&Value> =
            containers(pod).into_iter().flat_map(|c| c["ports"].as_array().into_iter().flatten()).collect();
        for endpoint in monitor["spec"]["podMetricsEndpoints"].as_array().unwrap() {
            assert!(
                declared.iter().any(|p| p["name"] == endpoint["port"]),
                "{client}: PodMonitor scrapes undeclared port {}",
                endpoint["port"]
            );
        }
        let vc = containers(pod).into_iter().find(|c| c["name"] == "validator-client").unwrap();
        let port = vc["ports"][0]["containerPort"].as_i64().unwrap();
        let args = vc["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            args.contains(&port.to_string()),
            "{client} does not listen on its declared metrics port {port}: {args}"
        );
    }
}

#[tokio::test]
async fn the_network_policy_is_accepted_and_keeps_dns_working() {
    let namespace = "chart-network-policy";
    let objects =
        render_in("helm4", namespace, &[&format!("charon.operatorAddress={OPERATOR}"), "networkPolicy.enabled=true"]);
    let policy = find(&objects, "NetworkPolicy", "my-dv");
    let dns = &policy["spec"]["egress"][0];
    assert_eq!(dns["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], "kube-system");
    assert!(policy["spec"]["ingress"].as_array().unwrap().iter().all(|rule| !rule.is_null()), "no allow-all rule");
    admit_under_restricted(namespace, &objects).await;
}

#[test]
fn the_chart_runs_the_sidecar_image_with_the_paths_its_dockerfile_provides() {
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let objects = render("helm4", &[&format!("charon.operatorAddress={OPERATOR}")]);
    let pod = &find(&objects, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
    let dkg = containers(pod).into_iter().find(|c| c["name"] == "dkg").unwrap();
    let charon_path =
        dkg["env"].as_array().unwrap().iter().find(|e| e["name"] == "DV_CHARON").unwrap()["value"].clone();
    assert!(
        dockerfile.contains(&format!("COPY --from=charon /usr/local/bin/charon {}", charon_path.as_str().unwrap()))
    );
    assert!(dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/dv-sidecar\"]"), "the chart passes only arguments");
    assert_eq!(dkg["args"], json!(["dkg"]));
}

#[test]
fn scheduling_values_reach_the_pod_and_the_default_spreads_dv_pods_over_nodes() {
    let operator = format!("charon.operatorAddress={OPERATOR}");
    let default = render("helm3", &[&operator]);
    let pod = &find(&default, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
    let spread = &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(spread["podAffinityTerm"]["topologyKey"], "kubernetes.io/hostname");
    assert!(pod["nodeSelector"].is_null() && pod["priorityClassName"].is_null());

    let placed = render(
        "helm4",
        &[
            &operator,
            "nodeSelector.disk=ssd",
            "tolerations[0].key=validators",
            "tolerations[0].operator=Exists",
            "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=zone",
            "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
            "priorityClassName=validators",
        ],
    );
    let pod = &find(&placed, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"], json!({"disk": "ssd"}));
    assert_eq!(pod["tolerations"], json!([{"key": "validators", "operator": "Exists"}]));
    assert_eq!(pod["priorityClassName"], "validators");
    assert!(pod["affinity"]["podAntiAffinity"].is_null(), "an explicit affinity replaces the default");
    assert!(pod["affinity"]["nodeAffinity"].is_object());
}

#[test]
fn extra_env_and_volumes_reach_charon_and_the_validator_client() {
    let objects = render(
        "helm4",
        &[
            &format!("charon.operatorAddress={OPERATOR}"),
            "charon.extraEnv[0].name=CHARON_LOG_LEVEL",
            "charon.extraEnv[0].value=debug",
            "validatorClient.extraEnv[0].name=TZ",
            "validatorClient.extraEnv[0].value=UTC",
            "extraVolumes[0].name=jwt",
            "extraVolumes[0].secret.secretName=jwt",
            "charon.extraVolumeMounts[0].name=jwt",
            "charon.extraVolumeMounts[0].mountPath=/jwt",
            "validatorClient.extraVolumeMounts[0].name=jwt",
            "validatorClient.extraVolumeMounts[0].mountPath=/jwt",
        ],
    );
    let pod = &find(&objects, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
    let container = |name: &str| containers(pod).into_iter().find(|c| c["name"] == name).unwrap().clone();
    assert!(
        container("charon")["env"].as_array().unwrap().contains(&json!({"name": "CHARON_LOG_LEVEL", "value": "debug"}))
    );
    assert_eq!(container("validator-client")["env"], json!([{"name": "TZ", "value": "UTC"}]));
    for name in ["charon", "validator-client"] {
        assert!(
            container(name)["volumeMounts"].as_array().unwrap().contains(&json!({"name": "jwt", "mountPath": "/jwt"}))
        );
    }
    assert!(pod["volumes"].as_array().unwrap().contains(&json!({"name": "jwt", "secret": {"secretName": "jwt"}})));
    assert_refused(&[&format!("charon.operatorAddress={OPERATOR}"), "charon.extraEnv[0].value=x"], &["name"]);
}

#[test]
fn monitoring_objects_render_on_request_and_scrape_ports_the_service_declares() {
    let operator = format!("charon.operatorAddress={OPERATOR}");
    let kinds = |objects: &[Value]| objects.iter().map(|o| o["kind"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let plain = kinds(&render("helm3", &[&operator]));
    for kind in ["ServiceMonitor", "PrometheusRule", "PodMonitor"] {
        assert!(!plain.contains(&kind.to_string()), "{kind} rendered without being asked for");
    }
    let objects = render(
        "helm4",
        &[
            &operator,
            "monitoring.serviceMonitor.enabled=true",
            "monitoring.prometheusRule.enabled=true",
            "monitoring.grafanaDashboard.enabled=true",
        ],
    );
    let service = find(&objects, "Service", "my-dv-headless");
    let monitor = find(&objects, "ServiceMonitor", "my-dv");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            &service["metadata"]["labels"][key], value,
            "the ServiceMonitor does not select the headless Service"
        );
    }
    for endpoint in monitor["spec"]["endpoints"].as_array().unwrap() {
        assert!(
            service["spec"]["ports"].as_array().unwrap().iter().any(|p| p["name"] == endpoint["port"]),
            "the ServiceMonitor scrapes port {} the Service does not declare",
            endpoint["port"]
        );
    }
    let rules = &find(&objects, "PrometheusRule", "my-dv")["spec"]["groups"][0]["rules"];
    let alerts: Vec<&str> = rules.as_array().unwrap().iter().map(|r| r["alert"].as_str().unwrap()).collect();
    assert_eq!(alerts, ["DvPodCharonNotReady", "DvPodBeaconNodeDown", "DvPodPeerUnreachable"]);
    assert!(rules[0]["expr"].as_str().unwrap().contains(r#"namespace="dv", pod="my-dv-0""#), "{}", rules[0]["expr"]);
    let dashboard = find(&objects, "ConfigMap", "my-dv-dashboard");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json: Value = serde_json::from_str(dashboard["data"]["dv-pod.json"].as_str().unwrap()).unwrap();
    assert!(json["panels"].as_array().unwrap().len() >= 4);
}

/// The NOTES Helm prints after an install. Only Helm 4 renders them without
/// a cluster (`--dry-run=client`); both render the same template.
fn notes(sets: &[&str]) -> String {
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/chart");
    let mut command = Command::new(bin("helm4"));
    command.args(["install", "my-dv", chart, "--dry-run=client", "-o", "json"]);
    command.args(["--set", &format!("charon.operatorAddress={OPERATOR}")]);
    for set in sets {
        command.args(["--set", set]);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "helm4 install --dry-run {sets:?}: {}", String::from_utf8_lossy(&out.stderr));
    let release: Value = serde_json::from_slice(&out.stdout).unwrap();
    release["info"]["notes"].as_str().unwrap().to_string()
}

#[test]
fn the_notes_say_only_what_the_release_will_run() {
    let forms = notes(&[]);
    assert!(forms.contains("accept your cluster invite"), "{forms}");
    assert!(forms.contains("runs the DKG, then starts Charon and the lighthouse validator client."), "{forms}");
    assert!(forms.contains("-c dkg -f"), "{forms}");

    let no_vc = notes(&["validatorClient.enabled=false"]);
    assert!(no_vc.contains("starts Charon only (validatorClient.enabled=false)."), "{no_vc}");
    assert!(!no_vc.contains("lighthouse") && !no_vc.contains("validator client."), "{no_vc}");

    let teku = notes(&["validatorClient.type=teku"]);
    assert!(teku.contains("starts Charon and the teku validator client."), "{teku}");

    let adopts = notes(&["charon.lock.existingConfigMap=old-lock", "charon.lock.keystoresSecret=old-keys"]);
    assert!(adopts.contains("without a DKG: its lock from ConfigMap old-lock"), "{adopts}");
    assert!(adopts.contains("key shares from Secret old-keys"), "{adopts}");
    assert!(!adopts.contains("invite") && !adopts.contains("runs the DKG"), "{adopts}");

    let no_sidecar = notes(&["charon.dkgSidecar.enabled=false"]);
    assert!(no_sidecar.contains("nothing waits for an invite or runs a DKG"), "{no_sidecar}");
    assert!(!no_sidecar.contains("-c dkg") && !no_sidecar.contains("my-dv-status"), "{no_sidecar}");

    let supplied_key = notes(&["charon.enr.existingSecret=my-key"]);
    assert!(!supplied_key.contains("made by the release's ENR Job"), "{supplied_key}");
}

#[test]
fn the_status_configmap_renders_no_data_so_the_sidecars_status_key_is_never_owned_by_helm() {
    for helm in ["helm3", "helm4"] {
        let objects = render(helm, &[&format!("charon.operatorAddress={OPERATOR}")]);
        let configmap = find(&objects, "ConfigMap", "my-dv-status");
        assert_eq!(configmap["data"], Value::Null, "{helm}: {configmap}");
        assert_eq!(configmap["binaryData"], Value::Null, "{helm}: {configmap}");
    }
}

#[test]
fn helm_test_checks_formation_and_charon_as_a_service_account_that_reads_only_the_status() {
    let objects = render("helm4", &[&format!("charon.operatorAddress={OPERATOR}")]);
    let test = find(&objects, "Pod", "my-dv-test");
    assert_eq!(test["metadata"]["annotations"]["helm.sh/hook"], "test");
    assert_eq!(test["spec"]["serviceAccountName"], "my-dv-test");
    let args: Vec<&str> =
        test["spec"]["containers"][0]["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args[0], "check");
    assert!(args.contains(&"--status-configmap=my-dv-status"));
    assert!(args.contains(&"--charon-url=http://my-dv-0.my-dv-headless.dv.svc:3620"));
    let role = find(&objects, "Role", "my-dv-test");
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["my-dv-status"], "verbs": ["get"]}])
    );
}

#[test]
fn beacon_node_headers_are_added_by_the_proxy_and_never_reach_charon() {
    let objects = render(
        "helm4",
        &[
            &format!("charon.operatorAddress={OPERATOR}"),
            "charon.beaconNodeHeaders.secretName=bn-auth",
            "charon.beaconNodeHeaders.secretKey=token",
            "charon.beaconNodeEndpoints={http://bn-a:5052,https://rpc.example/key}",
            "charon.fallbackBeaconNodeEndpoints={http://bn-fallback:5052}",
        ],
    );
    let pod = &find(&objects, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
    let proxy = containers(pod).into_iter().find(|c| c["name"] == "beacon-proxy").unwrap().clone();
    assert_eq!(
        proxy["args"],
        json!([
            "beacon-proxy",
            "--beacon-node-headers-file=/beacon-node-headers/headers",
            "--upstream=http://bn-a:5052,https://rpc.example/key,http://bn-fallback:5052",
            "--first-port=15052"
        ])
    );
    let charon = containers(pod).into_iter().find(|c| c["name"] == "charon").unwrap().clone();
    let env =
        |name: &str| charon["env"].as_array().unwrap().iter().find(|e| e["name"] == name).unwrap()["value"].clone();
    assert_eq!(env("CHARON_BEACON_NODE_ENDPOINTS"), "http://127.0.0.1:15052,http://127.0.0.1:15053");
    assert_eq!(env("CHARON_FALLBACK_BEACON_NODE_ENDPOINTS"), "http://127.0.0.1:15054");
    assert!(!charon.to_string().contains("beacon-node-headers"), "Charon sees no headers: {charon}");
    let volume = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "beacon-node-headers").unwrap();
    assert_eq!(
        volume["secret"],
        json!({"secretName": "bn-auth", "defaultMode": 256, "items": [{"key": "token", "path": "headers"}]})
    );
    let text = serde_json::to_string(pod).unwrap();
    assert!(!text.contains("secretKeyRef"), "no Secret is read into an env var");
    assert!(!text.contains("HEADERS\""), "no headers variable is set");
}

#[test]
fn without_auth_headers_charon_talks_to_the_beacon_nodes_directly() {
    let objects = render(
        "helm4",
        &[&format!("charon.operatorAddress={OPERATOR}"), "charon.beaconNodeEndpoints={http://bn-a:5052}"],
    );
    let pod = &find(&objects, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
    assert!(containers(pod).iter().all(|c| c["name"] != "beacon-proxy"));
    let charon = containers(pod).into_iter().find(|c| c["name"] == "charon").unwrap().clone();
    let endpoints = charon["env"].as_array().unwrap().iter().find(|e| e["name"] == "CHARON_BEACON_NODE_ENDPOINTS");
    assert_eq!(endpoints.unwrap()["value"], "http://bn-a:5052");
}

#[test]
fn charons_simnet_beacon_mock_is_off_by_default_and_refused_on_mainnet_or_beside_beacon_nodes() {
    let mock = json!({"name": "CHARON_SIMNET_BEACON_MOCK", "value": "true"});
    let charon_env = |sets: &[&str]| {
        let objects = render("helm4", sets);
        let pod = &find(&objects, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
        let charon = containers(pod).into_iter().find(|c| c["name"] == "charon").unwrap().clone();
        charon["env"].as_array().unwrap().clone()
    };
    let operator = format!("charon.operatorAddress={OPERATOR}");
    assert!(!charon_env(&[&operator, "network=hoodi"]).contains(&mock), "never on by default");
    assert!(charon_env(&[&operator, "network=hoodi", "charon.simnetBeaconMock=true"]).contains(&mock));
    assert_refused(&[&operator, "charon.simnetBeaconMock=true"], &["charon.simnetBeaconMock", "refused on mainnet"]);
    assert_refused(
        &[&operator, "network=hoodi", "charon.simnetBeaconMock=true", "charon.beaconNodeEndpoints={http://bn:5052}"],
        &["charon.simnetBeaconMock", "not both"],
    );
}

#[test]
fn with_the_simnet_beacon_mock_the_vc_goes_through_the_gateway_and_prysm_gets_the_mocks_chain_config() {
    let operator = format!("charon.operatorAddress={OPERATOR}");
    let objects =
        render("helm4", &[&operator, "network=hoodi", "charon.simnetBeaconMock=true", "validatorClient.type=prysm"]);
    let pod = &find(&objects, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
    let gateway = containers(pod).into_iter().find(|c| c["name"] == "simnet-gateway").expect("a gateway container");
    assert_eq!(gateway["args"][0], "simnet-gateway");
    let vc = containers(pod).into_iter().find(|c| c["name"] == "validator-client").unwrap();
    let args: Vec<&str> = vc["args"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(args.contains(&"--beacon-rest-api-provider=http://127.0.0.1:3601"), "{args:?}");
    assert!(args.contains(&"--chain-config-file=/simnet/prysm-chain-config.yaml"), "{args:?}");
    let config = &find(&objects, "ConfigMap", "my-dv-simnet")["data"]["prysm-chain-config.yaml"];
    assert!(config.as_str().unwrap().contains("SECONDS_PER_SLOT: 1"), "{config}");

    let plain = render("helm4", &[&operator, "network=hoodi", "validatorClient.type=prysm"]);
    let pod = &find(&plain, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
    assert!(containers(pod).iter().all(|c| c["name"] != "simnet-gateway"), "no gateway without the mock");
    assert!(!plain.iter().any(|o| o["metadata"]["name"] == "my-dv-simnet"));
    let vc = containers(pod).into_iter().find(|c| c["name"] == "validator-client").unwrap();
    assert!(vc["args"].as_array().unwrap().contains(&json!("--beacon-rest-api-provider=http://127.0.0.1:3600")));
}

/// Renders `release` with `sets` on both Helm versions; each call gets the
/// objects and the names the plugin reads from the status ConfigMap.
fn names_as_rendered(release: &str, sets: &[&str], check: impl Fn(&str, &[Value], ReleaseNames)) {
    let operator = format!("charon.operatorAddress={OPERATOR}");
    let sets: Vec<&str> = std::iter::once(operator.as_str()).chain(sets.iter().copied()).collect();
    for helm in ["helm3", "helm4"] {
        let out = helm_template(helm, release, &sets);
        assert!(out.status.success(), "{helm}: {}", String::from_utf8_lossy(&out.stderr));
        let objects: Vec<Value> =
            String::from_utf8(out.stdout).unwrap().split("\n---").filter_map(serde_yaml_doc).collect();
        let configmap = objects
            .iter()
            .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["labels"]["app.kubernetes.io/component"] == "status")
            .expect("a status ConfigMap labelled with its component");
        assert_eq!(configmap["metadata"]["labels"]["app.kubernetes.io/instance"], release, "{helm}");
        let configmap: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(configmap.clone()).unwrap();
        check(helm, &objects, ReleaseNames::from_status_configmap("dv", release, &configmap));
    }
}

/// Every name fits Kubernetes, and the StatefulSet leaves room for the
/// 11 characters of its controller-revision-hash label.
fn assert_names_fit(helm: &str, objects: &[Value]) {
    for object in objects {
        let name = object["metadata"]["name"].as_str().unwrap();
        assert!(name.len() <= 63, "{helm}: {} {name} is longer than a Kubernetes name may be", object["kind"]);
    }
    let statefulset = objects.iter().find(|o| o["kind"] == "StatefulSet").unwrap();
    assert!(
        statefulset["metadata"]["name"].as_str().unwrap().len() <= 52,
        "{helm}: {}",
        statefulset["metadata"]["name"]
    );
}

/// The names recorded on the status ConfigMap are the objects the chart
/// renders: the StatefulSet's pod and the Secret the ENR Job writes.
fn assert_names_are_the_objects(helm: &str, objects: &[Value], names: &ReleaseNames) {
    let statefulset = objects.iter().find(|o| o["kind"] == "StatefulSet").unwrap();
    assert_eq!(format!("{}-0", statefulset["metadata"]["name"].as_str().unwrap()), names.pod(), "{helm}");
    let job = objects.iter().find(|o| o["kind"] == "Job").unwrap();
    let args = &containers(&job["spec"]["template"]["spec"])[0]["args"];
    assert!(
        args.as_array().unwrap().contains(&json!(format!("--secret-name={}", names.enr_secret))),
        "{helm}: the ENR Job writes another Secret than {}: {args}",
        names.enr_secret
    );
}

/// Without overrides the plugin's default names (used before the release
/// exists) are the chart's, even for the longest release name Helm allows
/// (53), cut the same way with a dash left at the cut.
#[test]
fn the_rust_default_names_are_the_charts_even_for_the_longest_release_name() {
    let release = format!("{}-{}", "a".repeat(44), "b".repeat(8));
    assert_eq!(release.len(), 53);
    names_as_rendered(&release, &[], |helm, objects, names| {
        assert_eq!(names, ReleaseNames::defaults("dv", &release), "{helm}");
        assert_names_are_the_objects(helm, objects, &names);
        assert_names_fit(helm, objects);
    });
}

/// A 60-character fullnameOverride names every object, cut to fit, and the
/// plugin follows it through the status ConfigMap's annotations.
#[test]
fn a_60_character_fullname_override_names_every_object_and_the_plugin_follows_it() {
    let fullname = format!("{}-node", "x".repeat(55));
    assert_eq!(fullname.len(), 60);
    names_as_rendered("my-dv", &[&format!("fullnameOverride={fullname}")], |helm, objects, names| {
        assert_eq!(names.pod(), format!("{}-0", "x".repeat(45)), "{helm}: cut at 45 characters");
        assert_eq!(names.status_configmap(), format!("{}-status", "x".repeat(45)), "{helm}");
        assert_ne!(names, ReleaseNames::defaults("dv", "my-dv"));
        assert_names_are_the_objects(helm, objects, &names);
        assert_names_fit(helm, objects);
        assert!(objects.iter().all(|o| !o["metadata"]["name"].as_str().unwrap().starts_with("my-dv")), "{helm}");
    });
}

/// nameOverride replaces the chart's name in every label and selector and
/// is added to the object names, once.
#[test]
fn a_name_override_relabels_every_object_and_suffixes_the_names_once() {
    names_as_rendered("my-dv", &["nameOverride=validator"], |helm, objects, names| {
        assert_eq!(names.pod(), "my-dv-validator-0", "{helm}");
        assert_names_are_the_objects(helm, objects, &names);
        for object in objects {
            assert_eq!(
                object["metadata"]["labels"]["app.kubernetes.io/name"], "validator",
                "{helm}: {}",
                object["kind"]
            );
        }
        let statefulset = objects.iter().find(|o| o["kind"] == "StatefulSet").unwrap();
        assert_eq!(statefulset["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"], "validator");
        let job = objects.iter().find(|o| o["kind"] == "Job").unwrap();
        let args = &containers(&job["spec"]["template"]["spec"])[0]["args"];
        assert!(args.as_array().unwrap().contains(&json!("--app-name=validator")), "{helm}: the ENR Secret's label");
    });
    names_as_rendered("validator-1", &["nameOverride=validator"], |helm, _, names| {
        assert_eq!(names.pod(), "validator-1-0", "{helm}: a release that holds the name is not suffixed again");
    });
}

/// `helm show values` lists every validator client's pinned image, and the
/// chart's schema allows exactly the types that have one.
#[test]
fn every_validator_client_type_has_its_pinned_image_in_values_and_an_override_wins() {
    let values: Value = serde_norway::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/chart/values.yaml")).unwrap(),
    )
    .unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/chart/values.schema.json")).unwrap(),
    )
    .unwrap();
    let types: Vec<&str> = schema["properties"]["validatorClient"]["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let pinned = values["validatorClient"]["images"].as_object().unwrap();
    assert_eq!(pinned.keys().map(String::as_str).collect::<Vec<_>>().len(), types.len());
    for vc in types {
        let image = &pinned[vc];
        let expected = format!("{}:{}", image["repository"].as_str().unwrap(), image["tag"].as_str().unwrap());
        let objects =
            render("helm4", &[&format!("charon.operatorAddress={OPERATOR}"), &format!("validatorClient.type={vc}")]);
        let statefulset = objects.iter().find(|o| o["kind"] == "StatefulSet").unwrap();
        let rendered = containers(&statefulset["spec"]["template"]["spec"])
            .into_iter()
            .find(|c| c["name"] == "validator-client")
            .unwrap()["image"]
            .clone();
        assert_eq!(rendered, expected.as_str(), "{vc}");
    }
    let objects = render(
        "helm4",
        &[
            &format!("charon.operatorAddress={OPERATOR}"),
            "validatorClient.image.repository=mirror.local/vc",
            "validatorClient.image.tag=v9",
        ],
    );
    let statefulset = objects.iter().find(|o| o["kind"] == "StatefulSet").unwrap();
    let vc = containers(&statefulset["spec"]["template"]["spec"])
        .into_iter()
        .find(|c| c["name"] == "validator-client")
        .unwrap();
    assert_eq!(vc["image"], "mirror.local/vc:v9");
}

/// The chart's schema accepts exactly the validator clients and networks
/// the Rust code knows: one list, checked where it is repeated.
#[test]
fn the_charts_validator_clients_and_networks_are_the_rust_enums() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/chart/values.schema.json")).unwrap(),
    )
    .unwrap();
    let names = |pointer: &str| -> std::collections::BTreeSet<String> {
        schema.pointer(pointer).unwrap().as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
    };
    let clients: std::collections::BTreeSet<String> =
        dv_pod::validator_client::ValidatorClient::ALL.iter().map(|c| c.name().to_string()).collect();
    assert_eq!(names("/properties/validatorClient/properties/type/enum"), clients);
    let networks: std::collections::BTreeSet<String> =
        dv_pod::definition::Network::ALL.iter().map(|n| n.name().to_string()).collect();
    assert_eq!(names("/properties/network/enum"), networks);
}

/// Values of objects beside the pod leave its template alone, so turning a
/// dashboard or a PDB on never restarts the validator; a pod value rolls it.
#[test]
fn only_values_the_pod_is_made_from_change_its_checksum() {
    let checksum = |sets: &[&str]| {
        let mut all = vec![format!("charon.operatorAddress={OPERATOR}")];
        all.extend(sets.iter().map(|s| s.to_string()));
        let objects = render("helm4", &all.iter().map(String::as_str).collect::<Vec<_>>());
        let statefulset = objects.iter().find(|o| o["kind"] == "StatefulSet").unwrap();
        statefulset["spec"]["template"]["metadata"]["annotations"]["checksum/values"].as_str().unwrap().to_string()
    };
    let base = checksum(&[]);
    for beside in [
        "monitoring.grafanaDashboard.enabled=true",
        "monitoring.podMonitor.enabled=true",
        "monitoring.prometheusRule.enabled=true",
        "podDisruptionBudget.enabled=true",
        "networkPolicy.enabled=true",
    ] {
        assert_eq!(checksum(&[beside]), base, "{beside} restarts the pod");
    }
    assert_ne!(checksum(&["charon.nickname=renamed"]), base, "a pod value rolls the pod");
}

/// A cluster that pulls through a mirror sets one registry for every image,
/// pull secrets reach every pod, and a digest pins an image.
#[test]
fn a_registry_mirror_pull_secrets_and_digests_reach_every_image_and_pod() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let objects = render(
        "helm4",
        &[
            &format!("charon.operatorAddress={OPERATOR}"),
            "global.imageRegistry=mirror.local:5000",
            "imagePullSecrets[0].name=regcred",
            &format!("charon.image.digest={digest}"),
        ],
    );
    let pod_specs: Vec<&Value> = objects
        .iter()
        .filter_map(|o| match o["kind"].as_str() {
            Some("StatefulSet") | Some("Job") => Some(&o["spec"]["template"]["spec"]),
            Some("Pod") => Some(&o["spec"]),
            _ => None,
        })
        .collect();
    assert_eq!(pod_specs.len(), 3, "the node, the ENR job and the helm test pod");
    for spec in pod_specs {
        assert_eq!(spec["imagePullSecrets"], json!([{"name": "regcred"}]));
        for container in containers(spec) {
            let image = container["image"].as_str().unwrap();
            assert!(image.starts_with("mirror.local:5000/"), "{image}");
            if container["name"] == "charon" {
                assert_eq!(image, format!("mirror.local:5000/obolnetwork/charon@{digest}"));
            }
        }
    }
    assert_refused(&[&format!("charon.operatorAddress={OPERATOR}"), "charon.image.digest=latest"], &["digest"]);
}

/// The dv-sidecar image is declared once, at `sidecar.image`, and runs every
/// container of the chart that is not Charon or the validator client; the
/// old place of the value is refused with where it went.
#[test]
fn the_sidecar_image_is_one_value_for_every_sidecar_container_and_its_old_place_is_refused() {
    let digest = format!("sha256:{}", "b".repeat(64));
    let objects = render(
        "helm4",
        &[
            &format!("charon.operatorAddress={OPERATOR}"),
            "sidecar.image.repository=registry.local/dv-sidecar",
            &format!("sidecar.image.digest={digest}"),
        ],
    );
    let mut sidecar_containers = 0;
    for object in objects.iter().filter(|o| matches!(o["kind"].as_str(), Some("StatefulSet" | "Job" | "Pod"))) {
        let spec = if object["kind"] == "Pod" { &object["spec"] } else { &object["spec"]["template"]["spec"] };
        for container in
            containers(spec).into_iter().filter(|c| c["name"] != "charon" && c["name"] != "validator-client")
        {
            assert_eq!(container["image"], format!("registry.local/dv-sidecar@{digest}"), "{}", container["name"]);
            sidecar_containers += 1;
        }
    }
    assert!(sidecar_containers >= 4, "enr, dkg, import-keys and the helm test at least: {sidecar_containers}");
    assert_refused(
        &[&format!("charon.operatorAddress={OPERATOR}"), "charon.dkgSidecar.image.tag=0.2.0"],
        &["charon.dkgSidecar.image has moved to sidecar.image"],
    );
}

#[test]
fn a_restored_history_is_imported_before_the_client_starts_where_the_client_and_the_backup_export_keep_it() {
    // The data directory each client's database lives in, as the VC runs.
    let data_flags = [
        ("lighthouse", "--datadir=/vc-data"),
        ("teku", "--data-path=/vc-data/teku"),
        ("prysm", "--datadir=/vc-data/prysm"),
        ("nimbus", "--data-dir=/vc-data/nimbus"),
        ("lodestar", "--dataDir=/vc-data/lodestar"),
    ];
    for (client, data_flag) in data_flags {
        let (address, client_type) =
            (format!("charon.operatorAddress={OPERATOR}"), format!("validatorClient.type={client}"));
        let plain = render("helm4", &[&address, &client_type]);
        let pod = &find(&plain, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
        assert!(
            !containers(pod).iter().any(|c| c["name"] == "import-slashing-protection"),
            "{client}: only on restore"
        );

        let restored =
            render("helm4", &[&address, &client_type, "validatorClient.slashingProtection.importSecret=my-dv-history"]);
        let pod = &find(&restored, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
        let inits: Vec<&str> =
            pod["initContainers"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        let at = |name: &str| inits.iter().position(|n| *n == name).unwrap();
        assert!(at("import-keys") < at("import-slashing-protection"), "{client}: {inits:?}");
        let import = containers(pod).into_iter().find(|c| c["name"] == "import-slashing-protection").unwrap();
        let vc = containers(pod).into_iter().find(|c| c["name"] == "validator-client").unwrap();
        assert_eq!(import["image"], vc["image"], "{client}: the client's own tool");
        let strings = |v: &Value| -> Vec<String> {
            v.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()
        };
        let command = strings(&import["command"]);
        assert!(command.iter().any(|a| a == data_flag), "{client} imports into {data_flag}: {command:?}");
        assert!(strings(&vc["args"]).iter().any(|a| a == data_flag), "{client} runs on {data_flag}");
        let (export, _) =
            dv_pod::validator_client::ValidatorClient::from_name(client).unwrap().slashing_export("hoodi");
        assert!(
            export.iter().any(|a| a == data_flag),
            "the backup exports {client}'s history from {data_flag}: {export:?}"
        );
        assert!(command.iter().any(|a| a.contains("/slashing-protection/slashing-protection.json")));
        let secret = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "slashing-protection").unwrap();
        assert_eq!(secret["secret"]["secretName"], "my-dv-history");
        let prepares = containers(pod).into_iter().find(|c| c["name"] == "import-keys").unwrap()["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "DV_SLASHING_IMPORT" && e["value"] == "true");
        assert!(prepares, "{client}: import-keys prepares the database");
    }
    let nimbus = render(
        "helm4",
        &[
            &format!("charon.operatorAddress={OPERATOR}"),
            "validatorClient.type=nimbus",
            "validatorClient.slashingProtection.importSecret=h",
            "validatorClient.slashingProtection.image.repository=docker.io/statusim/nimbus-eth2",
            "validatorClient.slashingProtection.image.tag=multiarch-v26.3.1",
        ],
    );
    let pod = &find(&nimbus, "StatefulSet", "my-dv")["spec"]["template"]["spec"];
    let import = containers(pod).into_iter().find(|c| c["name"] == "import-slashing-protection").unwrap();
    assert_eq!(
        import["image"], "docker.io/statusim/nimbus-eth2:multiarch-v26.3.1",
        "the beacon node image has slashingdb"
    );
}
