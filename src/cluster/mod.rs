//! Kubernetes as dv-pod meets it: the connection from a kubeconfig (shared
//! by the wizard and the plugin), and the objects dv-pod owns at run time -
//! above all the ENR key Secret, which is created once, read forever after,
//! and never updated or deleted by any code path (the chart's ENR Job needs
//! only `create` on Secrets and `get` on this one name).

pub mod connection;
pub mod node_backup;
pub mod release;

pub use connection::{ConnectError, Connection, KubeFlags, connect};

use std::collections::BTreeMap;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};

use crate::enr::{EnrPrivateKey, EnrRecord};

/// Data key holding the private key, in Charon's file format.
pub const SECRET_KEY_FIELD: &str = "charon-enr-private-key";
/// Data key holding the ENR, for humans and for `kubectl dv enr`.
pub const SECRET_ENR_FIELD: &str = "enr";

/// What can go wrong with the ENR Secret.
#[derive(Debug, thiserror::Error)]
pub enum EnrSecretError {
    #[error(
        "Secret {namespace}/{name} does not exist; create it with the key under data key \"{SECRET_KEY_FIELD}\", or \
         let the chart generate one (charon.enr.existingSecret unset)"
    )]
    Missing { namespace: String, name: String },
    #[error(
        "Secret {namespace}/{name} exists but {reason}; it was left untouched. Fix or restore it (a key that was \
         used in a cluster must never be replaced)"
    )]
    Corrupt { namespace: String, name: String, reason: String },
    #[error(
        "Secret {namespace}/{name} already holds another ENR key ({existing}); the key supplied in \
         charon.enr.privateKey ({supplied}) was not used and nothing was changed. Remove charon.enr.privateKey to keep \
         the existing key; a key that was used in a cluster must never be replaced"
    )]
    SuppliedKeyConflicts { namespace: String, name: String, existing: String, supplied: String },
    #[error("Kubernetes API: {0}")]
    Api(#[from] kube::Error),
    #[error(transparent)]
    Key(#[from] crate::enr::EnrError),
}

/// How the ENR Job treats a missing Secret.
pub enum WhenMissing {
    /// Generate a key and create the Secret (the chart's default mode).
    Create,
    /// Create the Secret with the key the operator supplied at install. An
    /// existing Secret with another key is an error, never replaced.
    CreateWith(EnrPrivateKey),
    /// The operator supplied the Secret: its absence is an error.
    Fail,
}

/// The ENR of the key in Secret `name`, creating the Secret with a new key
/// first if it is missing and `when_missing` allows. An existing Secret is
/// only ever read. If another process creates the Secret at the same time,
/// its key wins and is returned.
pub async fn ensure_enr_secret(
    client: Client,
    namespace: &str,
    name: &str,
    when_missing: WhenMissing,
    labels: BTreeMap<String, String>,
) -> Result<EnrRecord, EnrSecretError> {
    let secrets: Api<Secret> = Api::namespaced(client, namespace);
    let supplied = match &when_missing {
        WhenMissing::CreateWith(key) => Some(key.record()),
        _ => None,
    };
    let agrees = |record: EnrRecord| match &supplied {
        Some(wanted) if wanted.text() != record.text() => Err(EnrSecretError::SuppliedKeyConflicts {
            namespace: namespace.into(),
            name: name.into(),
            existing: record.text().into(),
            supplied: wanted.text().into(),
        }),
        _ => Ok(record),
    };
    if let Some(existing) = secrets.get_opt(name).await? {
        return agrees(read_key(&existing, namespace, name)?);
    }
    let key = match when_missing {
        WhenMissing::Fail => return Err(EnrSecretError::Missing { namespace: namespace.into(), name: name.into() }),
        WhenMissing::Create => EnrPrivateKey::generate()?,
        WhenMissing::CreateWith(key) => key,
    };
    let record = key.record();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                "dv-pod.obol.org/warning".to_string(),
                "The ENR private key of a Charon node. Never delete or replace it once the node is in a cluster."
                    .to_string(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([
            (SECRET_KEY_FIELD.to_string(), ByteString(key.to_charon_hex().as_bytes().to_vec())),
            (SECRET_ENR_FIELD.to_string(), ByteString(record.text().as_bytes().to_vec())),
        ])),
        immutable: Some(true),
        type_: Some("Opaque".into()),
        ..Secret::default()
    };
    match secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            tracing::info!(namespace, name, enr = %record, "created the ENR key Secret");
            Ok(record)
        }
        Err(kube::Error::Api(response)) if response.code == 409 => {
            tracing::info!(namespace, name, "another process created the ENR Secret first; using its key");
            let winner = secrets.get(name).await?;
            agrees(read_key(&winner, namespace, name)?)
        }
        Err(error) => Err(error.into()),
    }
}

fn read_key(secret: &Secret, namespace: &str, name: &str) -> Result<EnrRecord, EnrSecretError> {
    let corrupt = |reason: String| EnrSecretError::Corrupt { namespace: namespace.into(), name: name.into(), reason };
    let bytes = secret
        .data
        .as_ref()
        .and_then(|data| data.get(SECRET_KEY_FIELD))
        .ok_or_else(|| corrupt(format!("has no data key \"{SECRET_KEY_FIELD}\"")))?;
    let text = zeroize::Zeroizing::new(
        String::from_utf8(bytes.0.clone()).map_err(|_| corrupt(format!("\"{SECRET_KEY_FIELD}\" is not text")))?,
    );
    // Charon trims whitespace when it loads a key, and `kubectl create
    // secret --from-file` keeps a trailing newline: accept that much.
    let key =
        EnrPrivateKey::from_charon_hex(text.trim()).map_err(|e| corrupt(format!("\"{SECRET_KEY_FIELD}\": {e}")))?;
    Ok(key.record())
}

/// The standard labels of an object that belongs to a release.
pub fn release_labels(app_name: &str, release: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), app_name.to_string()),
        ("app.kubernetes.io/instance".to_string(), release.to_string()),
        ("app.kubernetes.io/component".to_string(), component.to_string()),
        ("app.kubernetes.io/managed-by".to_string(), "dv-sidecar".to_string()),
    ])
}

/// Data key of the status ConfigMap holding the `dv-pod.status/v1` JSON.
pub const STATUS_KEY: &str = "status.json";
/// The key of the status ConfigMap that holds the verified cluster lock the
/// pod's Charon loads, published once formation is done (a lock is public:
/// key shares never leave the volume).
pub const LOCK_KEY: &str = "cluster-lock.json";

/// The field manager of the sidecar's writes to the status ConfigMap: the
/// status key is its field alone, and `kubectl get -o yaml
/// --show-managed-fields` says who wrote it.
pub const STATUS_FIELD_MANAGER: &str = "dv-sidecar";
/// The field manager of the published lock.
pub const LOCK_FIELD_MANAGER: &str = "dv-sidecar-lock";

/// The status a release's sidecar published in its ConfigMap; `None` before
/// the sidecar first writes it (the chart renders the ConfigMap without the
/// key; earlier charts rendered `{}` in it).
pub fn published_status(
    configmap: &k8s_openapi::api::core::v1::ConfigMap,
) -> Result<Option<crate::status::Status>, serde_json::Error> {
    let text = configmap.data.as_ref().and_then(|d| d.get(STATUS_KEY)).map_or("", String::as_str);
    if text.trim().is_empty() || text.trim() == "{}" {
        return Ok(None);
    }
    serde_json::from_str(text).map(Some)
}

/// Keeps the status snapshot in a ConfigMap named after the release, so
/// anyone who can read ConfigMaps in the namespace can follow formation.
pub struct StatusConfigMap {
    configmaps: Api<k8s_openapi::api::core::v1::ConfigMap>,
    name: String,
}

impl StatusConfigMap {
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        StatusConfigMap { configmaps: Api::namespaced(client, namespace), name: name.into() }
    }

    /// Writes the status by server-side apply: the sidecar's field manager
    /// owns `data.status.json` and nothing else, so Helm (which renders the
    /// ConfigMap without data) and the sidecar never fight over a field. It
    /// creates the ConfigMap where no chart did (tests, the demo).
    pub async fn write(&self, status: &crate::status::Status) {
        let json = serde_json::to_string_pretty(status).expect("the status serialises");
        if let Err(error) = self.apply(STATUS_FIELD_MANAGER, STATUS_KEY, &json).await {
            tracing::warn!(%error, name = self.name, "cannot update the status ConfigMap");
        }
    }

    /// Publishes the verified lock next to the status, under its own field
    /// manager (an apply without a field drops what the same manager owned).
    /// Best effort: a lock too large for a ConfigMap (about 2000 validators)
    /// is only logged.
    pub async fn publish_lock(&self, lock: &str) {
        if let Err(error) = self.apply(LOCK_FIELD_MANAGER, LOCK_KEY, lock).await {
            tracing::warn!(%error, name = self.name, "cannot publish the cluster lock in the status ConfigMap");
        }
    }

    async fn apply(
        &self,
        manager: &str,
        key: &str,
        value: &str,
    ) -> kube::Result<k8s_openapi::api::core::v1::ConfigMap> {
        let configmap = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": self.name},
            "data": {key: value},
        });
        let params = kube::api::PatchParams::apply(manager).force();
        self.configmaps.patch(&self.name, &params, &kube::api::Patch::Apply(&configmap)).await
    }
}

/// The cluster lock a release's sidecar published, if it has.
pub fn published_lock(configmap: &k8s_openapi::api::core::v1::ConfigMap) -> Option<&str> {
    configmap.data.as_ref()?.get(LOCK_KEY).map(String::as_str)
}

/// Records a Kubernetes Event on the sidecar's pod for each phase it enters.
pub struct PhaseEvents {
    recorder: kube::runtime::events::Recorder,
    pod: k8s_openapi::api::core::v1::ObjectReference,
}

impl PhaseEvents {
    /// `pod` names the pod that Events are about (from the downward API).
    pub async fn new(client: Client, namespace: &str, pod: &str) -> Self {
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), namespace);
        let uid = pods.get(pod).await.ok().and_then(|p| p.metadata.uid);
        let reference = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(pod.into()),
            namespace: Some(namespace.into()),
            uid,
            ..Default::default()
        };
        PhaseEvents { recorder: kube::runtime::events::Recorder::new(client, "dv-sidecar".into()), pod: reference }
    }

    /// Records that formation entered `status.phase`.
    pub async fn record(&self, status: &crate::status::Status) {
        let event = kube::runtime::events::Event {
            type_: if matches!(status.phase, crate::status::Phase::DkgFailed | crate::status::Phase::LockRefused) {
                kube::runtime::events::EventType::Warning
            } else {
                kube::runtime::events::EventType::Normal
            },
            reason: pascal_case(status.phase.name()),
            note: Some(match &status.error {
                Some(failure) => failure.reason.chars().take(1000).collect(),
                None => format!("formation phase: {}", status.phase.name()),
            }),
            action: "Formation".into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &self.pod).await {
            tracing::warn!(%error, "cannot record a Kubernetes Event");
        }
    }
}

fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;

    use super::*;

    fn configmap(data: Option<&[(&str, &str)]>) -> ConfigMap {
        ConfigMap {
            data: data.map(|pairs| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..ConfigMap::default()
        }
    }

    #[test]
    fn a_status_configmap_without_the_status_key_has_no_status_published_yet() {
        for unpublished in [configmap(None), configmap(Some(&[])), configmap(Some(&[(STATUS_KEY, "{}")]))] {
            assert_eq!(published_status(&unpublished).unwrap(), None, "{unpublished:?}");
        }
    }

    #[test]
    fn a_published_status_is_read_back_and_a_corrupt_one_is_an_error() {
        let status = crate::status::Status::new("0x52908400098527886E0F7030069857D2E4169EE7".into(), "enr:-x".into());
        let text = serde_json::to_string(&status).unwrap();
        assert_eq!(published_status(&configmap(Some(&[(STATUS_KEY, &text)]))).unwrap(), Some(status));
        assert!(published_status(&configmap(Some(&[(STATUS_KEY, "{\"phase\": 1}")]))).is_err());
    }
}
