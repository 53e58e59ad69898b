//! What a dv-pod release looks like from outside the pod: the sidecar's
//! status (from the status ConfigMap), the ENR (from the status or the ENR
//! Secret's public `enr` field), the pod's state, and Charon's own health
//! through the API server's pod proxy. `kubectl dv status` prints it and the
//! wizard draws it; neither keeps another model of formation.

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::{Api, Client};
use serde::Serialize;

use crate::{
    health::{CharonHealth, ContainerState, PodHealth, RunState},
    status::Status,
};

pub const SCHEMA: &str = "dv-pod.release-status/v1";
/// Charon's monitoring port in the chart's pod.
const CHARON_MONITORING_PORT: u16 = 3620;

/// The annotations of the status ConfigMap that name the release's pod and
/// its ENR Secret (`chart/templates/status-configmap.yaml`).
pub const POD_ANNOTATION: &str = "dv-pod.obol.org/pod";
pub const ENR_SECRET_ANNOTATION: &str = "dv-pod.obol.org/enr-secret";

/// Names of a release's objects. The chart makes them (`_helpers.tpl`, with
/// `nameOverride` and `fullnameOverride`) and records them on the status
/// ConfigMap, which is found by its labels: nothing here repeats the
/// chart's naming but the defaults, used until that ConfigMap exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseNames {
    pub namespace: String,
    pub release: String,
    status_configmap: String,
    /// The StatefulSet's only pod.
    pod: String,
    pub enr_secret: String,
}

impl ReleaseNames {
    /// The names the chart gives a release with no name override.
    pub fn defaults(namespace: &str, release: &str) -> Self {
        let fullname = release.chars().take(45).collect::<String>().trim_end_matches('-').to_string();
        ReleaseNames {
            namespace: namespace.into(),
            release: release.into(),
            status_configmap: format!("{fullname}-status"),
            pod: format!("{fullname}-0"),
            enr_secret: format!("{fullname}-enr-key"),
        }
    }

    /// The names a release's status ConfigMap records.
    pub fn from_status_configmap(namespace: &str, release: &str, configmap: &ConfigMap) -> Self {
        let defaults = Self::defaults(namespace, release);
        let annotation = |key: &str| configmap.metadata.annotations.as_ref().and_then(|a| a.get(key)).cloned();
        ReleaseNames {
            status_configmap: configmap.metadata.name.clone().unwrap_or(defaults.status_configmap),
            pod: annotation(POD_ANNOTATION).unwrap_or(defaults.pod),
            enr_secret: annotation(ENR_SECRET_ANNOTATION).unwrap_or(defaults.enr_secret),
            ..defaults
        }
    }

    /// The names of `release` in `namespace`, from its status ConfigMap
    /// (labelled `app.kubernetes.io/instance=<release>`,
    /// `app.kubernetes.io/component=status`); the defaults while there is
    /// none, or when it cannot be listed (reading it then says why).
    pub async fn find(client: &Client, namespace: &str, release: &str) -> Self {
        let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let selector = format!("app.kubernetes.io/instance={release},app.kubernetes.io/component=status");
        match configmaps.list(&kube::api::ListParams::default().labels(&selector)).await {
            Ok(list) => match list.items.first() {
                Some(configmap) => Self::from_status_configmap(namespace, release, configmap),
                None => Self::defaults(namespace, release),
            },
            Err(_) => Self::defaults(namespace, release),
        }
    }

    /// Every dv-pod release whose status ConfigMap the client may list, in
    /// `namespace` or, with `None`, in every namespace; sorted by namespace
    /// and release.
    pub async fn list(client: &Client, namespace: Option<&str>) -> Result<Vec<Self>, kube::Error> {
        let configmaps: Api<ConfigMap> = match namespace {
            Some(namespace) => Api::namespaced(client.clone(), namespace),
            None => Api::all(client.clone()),
        };
        let params = kube::api::ListParams::default().labels("app.kubernetes.io/component=status");
        let mut found: Vec<Self> = configmaps
            .list(&params)
            .await?
            .items
            .iter()
            .filter(|configmap| configmap.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(POD_ANNOTATION)))
            .filter_map(|configmap| {
                let namespace = configmap.metadata.namespace.as_deref()?;
                let release = configmap.metadata.labels.as_ref()?.get("app.kubernetes.io/instance")?;
                Some(Self::from_status_configmap(namespace, release, configmap))
            })
            .collect();
        found.sort_by(|a, b| (&a.namespace, &a.release).cmp(&(&b.namespace, &b.release)));
        Ok(found)
    }

    pub fn status_configmap(&self) -> &str {
        &self.status_configmap
    }

    /// The StatefulSet's only pod.
    pub fn pod(&self) -> &str {
        &self.pod
    }

    /// The StatefulSet: its pod's name without the ordinal.
    pub fn statefulset(&self) -> &str {
        self.pod.strip_suffix("-0").unwrap_or(&self.pod)
    }
}

/// `kubectl dv status --json` (schema `dv-pod.release-status/v1`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseView {
    pub schema: &'static str,
    pub namespace: String,
    pub release: String,
    pub enr: Option<String>,
    /// The sidecar's `dv-pod.status/v1` snapshot; absent before it first runs.
    pub status: Option<Status>,
    pub pod: Option<PodHealth>,
    pub charon: Option<CharonHealth>,
    /// When the release's status ConfigMap was created (RFC 3339).
    pub installed_at: Option<String>,
    /// Why a part could not be read (missing permission, not found, ...).
    pub problems: Vec<String>,
    /// When `kubectl dv backup` last archived the node (RFC 3339).
    pub last_backup: Option<String>,
    /// What the operator should do, though nothing is wrong yet.
    pub reminders: Vec<String>,
}

/// Reads everything once. Failures become `problems`, never an error: a
/// half-installed release is exactly what the operator needs to see.
pub async fn observe(client: &Client, names: &ReleaseNames) -> ReleaseView {
    let mut view = ReleaseView {
        schema: SCHEMA,
        namespace: names.namespace.clone(),
        release: names.release.clone(),
        enr: None,
        status: None,
        pod: None,
        charon: None,
        installed_at: None,
        problems: Vec::new(),
        last_backup: None,
        reminders: Vec::new(),
    };
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &names.namespace);
    match configmaps.get_opt(names.status_configmap()).await {
        Ok(Some(configmap)) => {
            view.installed_at = configmap.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string());
            view.last_backup = configmap
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(super::node_backup::LAST_BACKUP_ANNOTATION))
                .cloned();
            match super::published_status(&configmap) {
                Ok(status) => view.status = status,
                Err(e) => {
                    view.problems.push(format!("ConfigMap {} holds no valid status: {e}", names.status_configmap()))
                }
            }
        }
        Ok(None) => {
            view.problems.push(format!("ConfigMap {} not found: is the release installed?", names.status_configmap()))
        }
        Err(e) => view.problems.push(format!("reading ConfigMap {}: {e}", names.status_configmap())),
    }
    view.enr = match &view.status {
        Some(status) if !status.enr.is_empty() => Some(status.enr.clone()),
        _ => read_public_enr(client, names, &mut view.problems).await,
    };

    let formed = view.status.as_ref().is_some_and(|s| s.phase == crate::status::Phase::Done);
    if formed && view.last_backup.is_none() {
        view.reminders.push(format!(
            "no backup taken: a lost volume loses this node's keys; run kubectl dv backup -n {} --release {} -o FILE",
            names.namespace, names.release
        ));
    }

    let pods: Api<Pod> = Api::namespaced(client.clone(), &names.namespace);
    match pods.get_opt(names.pod()).await {
        Ok(Some(pod)) => {
            let health = pod_health(&pod);
            let charon_running = health.containers.iter().any(|c| c.name == "charon" && c.state == RunState::Running);
            view.pod = Some(health);
            if charon_running {
                let path = format!(
                    "/api/v1/namespaces/{}/pods/{}:{CHARON_MONITORING_PORT}/proxy/metrics",
                    names.namespace,
                    names.pod()
                );
                match client.request_text(http::Request::get(path).body(Vec::new()).expect("a valid request")).await {
                    Ok(text) => match CharonHealth::from_metrics(&text) {
                        Ok(Some(health)) => view.charon = Some(health),
                        Ok(None) => view.problems.push("Charon's metrics lack its readiness gauge".into()),
                        Err(e) => view.problems.push(e.to_string()),
                    },
                    Err(e) => view.problems.push(format!("Charon's metrics through the pod proxy: {e}")),
                }
            }
        }
        Ok(None) => view.problems.push(format!("pod {} does not exist yet", names.pod())),
        Err(e) => view.problems.push(format!("reading pod {}: {e}", names.pod())),
    }
    view
}

/// Only the Secret's public `enr` field is read; the private key field is
/// dropped with the object, never copied or shown.
async fn read_public_enr(client: &Client, names: &ReleaseNames, problems: &mut Vec<String>) -> Option<String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &names.namespace);
    match secrets.get_opt(&names.enr_secret).await {
        Ok(Some(secret)) => secret
            .data
            .and_then(|mut data| data.remove(super::SECRET_ENR_FIELD))
            .and_then(|bytes| String::from_utf8(bytes.0).ok()),
        Ok(None) => {
            problems.push(format!("Secret {} not found: the ENR Job has not run yet", names.enr_secret));
            None
        }
        Err(e) => {
            problems.push(format!("reading Secret {}: {e}", names.enr_secret));
            None
        }
    }
}

pub fn pod_health(pod: &Pod) -> PodHealth {
    let status = pod.status.clone().unwrap_or_default();
    let ready = status
        .conditions
        .as_ref()
        .is_some_and(|conditions| conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let declared = pod.spec.as_ref().map(|spec| {
        spec.init_containers.iter().flatten().chain(&spec.containers).map(|c| c.name.clone()).collect::<Vec<_>>()
    });
    let statuses: Vec<_> =
        status.init_container_statuses.iter().flatten().chain(status.container_statuses.iter().flatten()).collect();
    let containers = declared
        .unwrap_or_default()
        .into_iter()
        .map(|name| match statuses.iter().find(|s| s.name == name) {
            Some(s) => ContainerState {
                name,
                state: describe_state(s.state.as_ref()),
                ready: s.ready,
                restarts: s.restart_count.max(0) as u32,
            },
            None => ContainerState { name, state: RunState::NotStarted, ready: false, restarts: 0 },
        })
        .collect::<Vec<_>>();
    PodHealth {
        name: pod.metadata.name.clone().unwrap_or_default(),
        phase: status.phase.unwrap_or_else(|| "Unknown".into()),
        ready,
        restarts: containers.iter().map(|c| c.restarts).sum(),
        containers,
    }
}

fn describe_state(state: Option<&k8s_openapi::api::core::v1::ContainerState>) -> RunState {
    let reason = |reason: &Option<String>| reason.clone().unwrap_or_else(|| "unknown".into());
    match state {
        Some(state) if state.running.is_some() => RunState::Running,
        Some(k8s_openapi::api::core::v1::ContainerState { waiting: Some(waiting), .. }) => {
            RunState::Waiting { reason: reason(&waiting.reason) }
        }
        Some(k8s_openapi::api::core::v1::ContainerState { terminated: Some(done), .. }) => {
            RunState::Terminated { reason: reason(&done.reason), exit_code: done.exit_code }
        }
        _ => RunState::NotStarted,
    }
}

/// One line of the fleet view (`kubectl dv status -A`, the wizard's
/// Releases screen), under [`FLEET_HEADER`].
pub fn fleet_row(view: &ReleaseView, now: std::time::SystemTime) -> [String; 8] {
    let status = view.status.as_ref();
    let phase = status.map_or("not started".to_string(), |s| s.phase.label().to_string());
    let signatures = status
        .and_then(|s| s.invite.as_ref())
        .map_or("-".to_string(), |invite| format!("{}/{}", invite.signed, invite.total));
    let charon = view.charon.as_ref();
    let peers = charon.map_or("-".to_string(), |c| format!("{}/{}", c.peers_connected, c.peers_total));
    let ready = match (charon, &view.pod) {
        (Some(c), _) => c.readiness.describe().to_string(),
        (None, Some(_)) => "starting".to_string(),
        (None, None) => "-".to_string(),
    };
    let duties = charon.map_or("-".to_string(), crate::health::duty_summary);
    let age = view.installed_at.as_deref().map_or("-".to_string(), |at| age(at, now));
    [view.namespace.clone(), view.release.clone(), phase, signatures, peers, ready, duties, age]
}

pub const FLEET_HEADER: [&str; 8] = ["NAMESPACE", "RELEASE", "PHASE", "SIGNED", "PEERS", "CHARON", "VC DUTIES", "AGE"];

/// kubectl's AGE column: the largest unit or two ("5m", "3h12m", "4d").
fn age(at: &str, now: std::time::SystemTime) -> String {
    let Ok(at) = humantime::parse_rfc3339_weak(at) else { return "-".into() };
    let seconds = now.duration_since(at).map_or(0, |d| d.as_secs());
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h{}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d", seconds / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_age_column_reads_like_kubectls() {
        let now = humantime::parse_rfc3339("2026-12-02T12:00:00Z").unwrap();
        assert_eq!(age("2026-12-02T11:59:30Z", now), "30s");
        assert_eq!(age("2026-12-02T11:55:00Z", now), "5m");
        assert_eq!(age("2026-12-02T08:48:00Z", now), "3h12m");
        assert_eq!(age("2026-11-28T12:00:00Z", now), "4d");
    }

    #[test]
    fn a_release_without_status_or_pod_reads_as_not_started_not_unreachable() {
        let view = ReleaseView {
            schema: SCHEMA,
            namespace: "ns".into(),
            release: "r".into(),
            enr: None,
            status: None,
            pod: None,
            charon: None,
            installed_at: None,
            problems: vec![],
            last_backup: None,
            reminders: vec![],
        };
        let row = fleet_row(&view, std::time::SystemTime::now());
        assert_eq!(row[2], "not started");
        assert_eq!(row[5], "-");
    }
}
