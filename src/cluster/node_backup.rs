//! Reading a node's files out of its volumes for `kubectl dv backup`, and
//! putting a restored node's pieces in place for `kubectl dv restore`, all
//! through the API server with the user's own permissions.
//!
//! Backup stops the node first (its StatefulSet scaled to zero), so the
//! validator client's database is consistent and nothing signs while it is
//! read. A one-off pod then mounts both volumes: its init container runs the
//! client's own export with the client's image, and its main container (the
//! sidecar image, holding) is exec'd to stream the files as a tar. The pod
//! is deleted and the StatefulSet scaled back whatever happens, Ctrl-C
//! included.

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{
    ByteString,
    api::{
        apps::v1::StatefulSet,
        authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec},
        core::v1::{ConfigMap, Container, Pod, PodSpec, Secret, Volume, VolumeMount},
    },
};
use kube::{
    Api, Client,
    api::{AttachParams, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use tokio::io::AsyncReadExt;
use zeroize::Zeroizing;

use super::release::ReleaseNames;
use crate::validator_client::ValidatorClient;

/// The annotation on the status ConfigMap that records the last backup.
pub const LAST_BACKUP_ANNOTATION: &str = "dv-pod.obol.org/last-backup";
const FIELD_MANAGER: &str = "kubectl-dv-backup";
const EXPORT_CONTAINER: &str = "export-slashing-protection";
const FILES_CONTAINER: &str = "node-files";
const SIDECAR: &str = "/usr/local/bin/dv-sidecar";
/// How long the one-off pod may live: the export of a large history and a
/// slow image pull fit; a pod left behind by a killed plugin goes away.
const POD_DEADLINE_SECONDS: i64 = 900;
const WAIT: Duration = Duration::from_secs(600);

/// One permission a command needs, as `kubectl auth can-i` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: &'static str,
    pub name: Option<String>,
}

impl Permission {
    pub fn new(verb: &'static str, resource: &'static str) -> Self {
        let (group, resource) = resource.split_once('/').map_or(("", resource), |(g, r)| (g, r));
        Permission { verb, group, resource, subresource: "", name: None }
    }

    pub fn on(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn subresource(mut self, subresource: &'static str) -> Self {
        self.subresource = subresource;
        self
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        if let Some(name) = &self.name {
            write!(f, " {name}")?;
        }
        Ok(())
    }
}

/// The permissions of `wanted` the user lacks in `namespace`, asked of the
/// API server itself (SelfSubjectAccessReview, which every user may create).
pub async fn missing_permissions(
    client: &Client,
    namespace: &str,
    wanted: &[Permission],
) -> kube::Result<Vec<Permission>> {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut missing = Vec::new();
    for permission in wanted {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.into()),
                    verb: Some(permission.verb.into()),
                    group: Some(permission.group.into()),
                    resource: Some(permission.resource.into()),
                    subresource: (!permission.subresource.is_empty()).then(|| permission.subresource.into()),
                    name: permission.name.clone(),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let answer = reviews.create(&PostParams::default(), &review).await?;
        if !answer.status.is_some_and(|s| s.allowed) {
            missing.push(permission.clone());
        }
    }
    Ok(missing)
}

/// What a backup needs, named for this release.
pub fn backup_permissions(names: &ReleaseNames) -> Vec<Permission> {
    vec![
        Permission::new("get", "secrets").on(&names.enr_secret),
        Permission::new("get", "configmaps").on(names.status_configmap()),
        Permission::new("patch", "configmaps").on(names.status_configmap()),
        Permission::new("get", "apps/statefulsets").on(names.statefulset()),
        Permission::new("patch", "apps/statefulsets").on(names.statefulset()),
        Permission::new("get", "pods"),
        Permission::new("create", "pods"),
        Permission::new("delete", "pods"),
        Permission::new("create", "pods").subresource("exec"),
    ]
}

/// The ENR private key from the release's Secret, in Charon's file format.
pub async fn read_enr_key(client: &Client, names: &ReleaseNames) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &names.namespace);
    let secret = secrets
        .get(&names.enr_secret)
        .await
        .map_err(|e| anyhow::anyhow!("reading Secret {}/{}: {e}", names.namespace, names.enr_secret))?;
    let key = secret.data.as_ref().and_then(|d| d.get(super::SECRET_KEY_FIELD)).ok_or_else(|| {
        anyhow::anyhow!("Secret {}/{} has no \"{}\"", names.namespace, names.enr_secret, super::SECRET_KEY_FIELD)
    })?;
    Ok(Zeroizing::new(key.0.clone()))
}

/// The export step of the backup pod: which image runs which command.
struct Export {
    image: Option<String>,
    argv: Vec<String>,
}

/// Stops the node, reads its files through a one-off pod, and starts the
/// node again: the node's validator client and the tar the pod wrote. The
/// export runs with `export_image`, or the VC container's image. Ctrl-C
/// stops the read, not the restart.
pub async fn read_node_files(
    client: &Client,
    names: &ReleaseNames,
    network: &str,
    export_image: Option<String>,
) -> anyhow::Result<(ValidatorClient, Vec<u8>)> {
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), &names.namespace);
    let statefulset = statefulsets
        .get(names.statefulset())
        .await
        .map_err(|e| anyhow::anyhow!("reading StatefulSet {}/{}: {e}", names.namespace, names.statefulset()))?;
    let client_type = validator_client_of(&statefulset).ok_or_else(|| {
        anyhow::anyhow!(
            "StatefulSet {} runs no validator client dv-pod knows (validatorClient.enabled=false?): nothing to export",
            names.statefulset()
        )
    })?;
    let (argv, file) = client_type.slashing_export(network);
    let pod = backup_pod(names, &statefulset, &Export { image: export_image, argv })?;
    // The chart's only replica count: a backup killed before it could scale
    // back left 0, and this one must not keep the node stopped.
    let replicas = 1;
    eprintln!("stopping {}/{} for a consistent copy", names.namespace, names.pod());
    scale(&statefulsets, names.statefulset(), 0).await?;
    let read = tokio::select! {
        read = run_backup_pod(client, names, pod, &file) => read,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; nothing was written")),
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &names.namespace);
    let cleaned = delete_and_wait(&pods, &backup_pod_name(names)).await;
    let restarted = scale(&statefulsets, names.statefulset(), replicas).await;
    eprintln!("started {}/{} again", names.namespace, names.pod());
    let tar = read?;
    cleaned?;
    restarted?;
    Ok((client_type, tar))
}

/// The client the chart runs, from the import-keys step's `DV_VC_TYPE`.
fn validator_client_of(statefulset: &StatefulSet) -> Option<ValidatorClient> {
    let template = statefulset.spec.as_ref()?.template.spec.as_ref()?;
    let import = template.init_containers.as_ref()?.iter().find(|c| c.name == "import-keys")?;
    let value = import.env.as_ref()?.iter().find(|e| e.name == "DV_VC_TYPE")?.value.as_deref()?;
    ValidatorClient::from_name(value)
}

fn backup_pod_name(names: &ReleaseNames) -> String {
    format!("{}-backup", names.statefulset())
}

async fn scale(statefulsets: &Api<StatefulSet>, name: &str, replicas: i32) -> anyhow::Result<()> {
    let patch = serde_json::json!({"spec": {"replicas": replicas}});
    statefulsets
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| anyhow::anyhow!("scaling StatefulSet {name} to {replicas}: {e}"))?;
    Ok(())
}

async fn run_backup_pod(client: &Client, names: &ReleaseNames, pod: Pod, file: &str) -> anyhow::Result<Vec<u8>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &names.namespace);
    wait_gone(&pods, names.pod()).await?;
    let name = backup_pod_name(names);
    delete_and_wait(&pods, &name).await?;
    pods.create(&PostParams::default(), &pod).await.map_err(|e| anyhow::anyhow!("creating pod {name}: {e}"))?;
    wait_running(&pods, &name).await?;
    let params = AttachParams::default().container(FILES_CONTAINER).stdin(false).stdout(true).stderr(true);
    let command = [SIDECAR, "node-files", "--slashing-protection-file", file];
    let mut attached = pods.exec(&name, command, &params).await.map_err(|e| anyhow::anyhow!("exec in {name}: {e}"))?;
    let mut stdout = attached.stdout().ok_or_else(|| anyhow::anyhow!("exec in {name}: no stdout"))?;
    let mut stderr = attached.stderr().ok_or_else(|| anyhow::anyhow!("exec in {name}: no stderr"))?;
    let status = attached.take_status();
    let (mut tar, mut errors) = (Vec::new(), Vec::new());
    let (out, err) = tokio::join!(stdout.read_to_end(&mut tar), stderr.read_to_end(&mut errors));
    out.map_err(|e| anyhow::anyhow!("reading the files from {name}: {e}"))?;
    err.ok();
    let status = match status {
        Some(status) => status.await,
        None => None,
    };
    attached.join().await.ok();
    if status.as_ref().and_then(|s| s.status.as_deref()) != Some("Success") {
        return Err(anyhow::anyhow!(
            "reading the node's files failed: {}",
            String::from_utf8_lossy(&errors).trim().lines().last().unwrap_or("no message")
        ));
    }
    Ok(tar)
}

/// The one-off pod, from the StatefulSet's own template: its security
/// contexts, images, pull secrets and placement, and the node's two claims.
fn backup_pod(names: &ReleaseNames, statefulset: &StatefulSet, export: &Export) -> anyhow::Result<Pod> {
    let template = statefulset
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .ok_or_else(|| anyhow::anyhow!("StatefulSet {} has no pod template", names.statefulset()))?;
    let find = |containers: &[Container], name: &str| containers.iter().find(|c| c.name == name).cloned();
    let vc = find(&template.containers, "validator-client").ok_or_else(|| {
        anyhow::anyhow!(
            "release {} runs no validator client (validatorClient.enabled=false): nothing to export",
            names.release
        )
    })?;
    let init = template.init_containers.clone().unwrap_or_default();
    let sidecar = find(&init, "import-keys")
        .or_else(|| find(&init, "dkg"))
        .ok_or_else(|| anyhow::anyhow!("StatefulSet {} has no dv-sidecar container", names.statefulset()))?;
    let export_dir = crate::validator_client::EXPORT_DIR;
    let exporter = Container {
        name: EXPORT_CONTAINER.into(),
        image: export.image.clone().or(vc.image),
        image_pull_policy: vc.image_pull_policy,
        command: Some(export.argv.clone()),
        security_context: vc.security_context,
        volume_mounts: Some(vec![
            mount("validator-data", "/vc-data", false),
            mount("export", export_dir, false),
            mount("tmp", "/tmp", false),
        ]),
        ..Container::default()
    };
    let holder = Container {
        name: FILES_CONTAINER.into(),
        image: sidecar.image,
        image_pull_policy: sidecar.image_pull_policy,
        args: Some(vec!["hold".into()]),
        security_context: sidecar.security_context,
        volume_mounts: Some(vec![mount("charon-data", "/charon-data", true), mount("export", export_dir, true)]),
        ..Container::default()
    };
    let mut labels = super::release_labels("dv-pod", &names.release, "backup");
    labels.insert("app.kubernetes.io/managed-by".into(), "kubectl-dv".into());
    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(backup_pod_name(names)),
            namespace: Some(names.namespace.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            active_deadline_seconds: Some(POD_DEADLINE_SECONDS),
            termination_grace_period_seconds: Some(5),
            security_context: template.security_context,
            image_pull_secrets: template.image_pull_secrets,
            node_selector: template.node_selector,
            tolerations: template.tolerations,
            init_containers: Some(vec![exporter]),
            containers: vec![holder],
            volumes: Some(backup_volumes(names)),
            ..PodSpec::default()
        }),
        ..Pod::default()
    })
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount { name: name.into(), mount_path: path.into(), read_only: Some(read_only), ..VolumeMount::default() }
}

/// The node's two claims, and the scratch space the export shares.
fn backup_volumes(names: &ReleaseNames) -> Vec<Volume> {
    let claim = |volume: &str| Volume {
        name: volume.into(),
        persistent_volume_claim: Some(k8s_openapi::api::core::v1::PersistentVolumeClaimVolumeSource {
            claim_name: format!("{volume}-{}", names.pod()),
            read_only: Some(false),
        }),
        ..Volume::default()
    };
    let empty = |volume: &str| Volume {
        name: volume.into(),
        empty_dir: Some(k8s_openapi::api::core::v1::EmptyDirVolumeSource::default()),
        ..Volume::default()
    };
    vec![claim("charon-data"), claim("validator-data"), empty("export"), empty("tmp")]
}

async fn delete_and_wait(pods: &Api<Pod>, name: &str) -> anyhow::Result<()> {
    match pods.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(response)) if response.code == 404 => return Ok(()),
        Err(e) => return Err(anyhow::anyhow!("deleting pod {name}: {e}")),
    }
    wait_gone(pods, name).await
}

async fn wait_gone(pods: &Api<Pod>, name: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while pods.get_opt(name).await.map_err(|e| anyhow::anyhow!("reading pod {name}: {e}"))?.is_some() {
        if tokio::time::Instant::now() > deadline {
            return Err(anyhow::anyhow!("pod {name} did not stop within {WAIT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// Waits until the holding container runs, which is after the export
/// succeeded; a failed export is reported with the client's last words.
async fn wait_running(pods: &Api<Pod>, name: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let pod = pods.get(name).await.map_err(|e| anyhow::anyhow!("reading pod {name}: {e}"))?;
        let status = pod.status.unwrap_or_default();
        let export_failed = status
            .init_container_statuses
            .iter()
            .flatten()
            .any(|c| c.state.as_ref().and_then(|s| s.terminated.as_ref()).is_some_and(|t| t.exit_code != 0));
        if export_failed || status.phase.as_deref() == Some("Failed") {
            let logs = pods
                .logs(
                    name,
                    &kube::api::LogParams {
                        container: Some(EXPORT_CONTAINER.into()),
                        tail_lines: Some(5),
                        ..Default::default()
                    },
                )
                .await
                .unwrap_or_default();
            return Err(anyhow::anyhow!("the validator client's slashing-protection export failed:\n{}", logs.trim()));
        }
        let running = status
            .container_statuses
            .iter()
            .flatten()
            .any(|c| c.name == FILES_CONTAINER && c.state.as_ref().is_some_and(|s| s.running.is_some()));
        if running {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(anyhow::anyhow!("pod {name} did not start within {WAIT:?}"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Records the backup on the status ConfigMap, under the plugin's own field
/// manager, so the sidecar's writes never drop it.
pub async fn record_backup(client: &Client, names: &ReleaseNames, when: &str) -> kube::Result<()> {
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &names.namespace);
    let patch = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": names.status_configmap(), "annotations": {LAST_BACKUP_ANNOTATION: when}},
    });
    configmaps
        .patch(names.status_configmap(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map(|_| ())
}

/// Creates a restored node's Secret or ConfigMap. An object of that name
/// that already exists is kept: it is fine if it holds the same data (a
/// restore run again after Helm failed), refused otherwise, never replaced.
pub async fn create_restored<K>(client: &Client, namespace: &str, object: &K) -> anyhow::Result<()>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let name = object.meta().name.clone().unwrap_or_default();
    let kind = K::kind(&K::DynamicType::default()).to_string();
    match api.create(&PostParams::default(), object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(response)) if response.code == 409 => {
            let existing =
                api.get(&name).await.map_err(|e| anyhow::anyhow!("reading {kind} {namespace}/{name}: {e}"))?;
            let data = |o: &K| serde_json::to_value(o).ok().map(|v| v["data"].clone());
            if data(&existing) == data(object) {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "{kind} {namespace}/{name} already exists with other data; it was left as it is: restore into \
                     another release name"
                ))
            }
        }
        Err(e) => Err(anyhow::anyhow!("creating {kind} {namespace}/{name}: {e}")),
    }
}

/// A Secret of a restored node: immutable, labelled as the release's.
pub fn restored_secret(name: &str, release: &str, component: &str, data: BTreeMap<String, Vec<u8>>) -> Secret {
    Secret {
        metadata: restored_meta(name, release, component),
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        immutable: Some(true),
        type_: Some("Opaque".into()),
        ..Secret::default()
    }
}

/// The lock ConfigMap of a restored node, naming the node's ENR.
pub fn restored_lock_configmap(name: &str, release: &str, enr: &str, data: BTreeMap<String, String>) -> ConfigMap {
    let mut metadata = restored_meta(name, release, "cluster-lock");
    metadata.annotations.get_or_insert_default().insert(RESTORED_ENR_ANNOTATION.into(), enr.into());
    ConfigMap { metadata, data: Some(data), immutable: Some(true), ..ConfigMap::default() }
}

fn restored_meta(name: &str, release: &str, component: &str) -> ObjectMeta {
    let mut labels = super::release_labels("dv-pod", release, component);
    labels.insert("app.kubernetes.io/managed-by".into(), "kubectl-dv".into());
    ObjectMeta {
        name: Some(name.into()),
        labels: Some(labels),
        annotations: Some(BTreeMap::from([(
            "dv-pod.obol.org/warning".to_string(),
            "Restored by kubectl dv restore: part of a Charon node's keys. Never delete it while the node runs."
                .to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

/// The annotation of a restored node's lock ConfigMap naming its ENR, so
/// that a second restore sees the first before its sidecar reports.
pub const RESTORED_ENR_ANNOTATION: &str = "dv-pod.obol.org/restored-enr";

/// A node the user can see in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenNode {
    pub namespace: String,
    pub release: String,
    pub enr: String,
    /// Seen by its sidecar's status, not only by a restore's lock ConfigMap.
    pub reported: bool,
}

/// Every node whose status ConfigMap, or restored lock ConfigMap, the user
/// may list: in all namespaces, or in `namespace` if listing all is denied.
pub async fn seen_nodes(client: &Client, namespace: &str) -> kube::Result<Vec<SeenNode>> {
    let all: Api<ConfigMap> = Api::all(client.clone());
    let params = kube::api::ListParams::default().labels("app.kubernetes.io/component in (status,cluster-lock)");
    let list = match all.list(&params).await {
        Ok(list) => list,
        Err(kube::Error::Api(response)) if response.code == 403 => {
            Api::<ConfigMap>::namespaced(client.clone(), namespace).list(&params).await?
        }
        Err(e) => return Err(e),
    };
    Ok(list
        .items
        .iter()
        .filter_map(|configmap| {
            let labels = configmap.metadata.labels.as_ref()?;
            let (enr, reported) = match super::published_status(configmap) {
                Ok(Some(status)) => (status.enr, true),
                _ => (configmap.metadata.annotations.as_ref()?.get(RESTORED_ENR_ANNOTATION)?.clone(), false),
            };
            Some(SeenNode {
                namespace: configmap.metadata.namespace.clone()?,
                release: labels.get("app.kubernetes.io/instance")?.clone(),
                enr,
                reported,
            })
        })
        .collect())
}

/// The ENR of the key in a Secret, if the Secret exists.
pub async fn enr_in_secret(client: &Client, namespace: &str, name: &str) -> anyhow::Result<Option<String>> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(secret) =
        secrets.get_opt(name).await.map_err(|e| anyhow::anyhow!("reading Secret {namespace}/{name}: {e}"))?
    else {
        return Ok(None);
    };
    Ok(Some(super::read_key(&secret, namespace, name)?.text().to_string()))
}

/// Creates `namespace` if it does not exist (restore puts objects in it
/// before Helm runs).
pub async fn ensure_namespace(client: &Client, namespace: &str) -> anyhow::Result<()> {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    if namespaces.get_opt(namespace).await.map_err(|e| anyhow::anyhow!("reading namespace {namespace}: {e}"))?.is_some()
    {
        return Ok(());
    }
    let object = k8s_openapi::api::core::v1::Namespace {
        metadata: ObjectMeta { name: Some(namespace.into()), ..ObjectMeta::default() },
        ..Default::default()
    };
    match namespaces.create(&PostParams::default(), &object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(response)) if response.code == 409 => Ok(()),
        Err(e) => Err(anyhow::anyhow!("creating namespace {namespace}: {e}")),
    }
}
