//! Preflight: can this machine install dv-pod into this cluster? Each check
//! says what it found and, when it fails, what to do.

use std::time::Duration;

use k8s_openapi::api::{
    authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec},
    storage::v1::StorageClass,
};
use kube::{Api, Client, api::PostParams};

use super::app::{Check, CheckState};
use crate::cluster::{Connection, KubeFlags};

/// Connects as the flags say. The check names the context, or says why
/// there is none; without a connection the cluster checks are skipped.
pub async fn connect(flags: &KubeFlags) -> (Option<Connection>, Check) {
    match crate::cluster::connect(flags).await {
        Ok(connection) => {
            let detail =
                format!("{} at {} (namespace {})", connection.context, connection.server, connection.namespace);
            let context = check(CONTEXT, CheckState::Pass, detail, None);
            (Some(connection), context)
        }
        Err(error) => {
            let fix = if error.is_kubeconfig() {
                "point --kubeconfig or KUBECONFIG at your cluster's kubeconfig, or pick a context with --context"
            } else {
                "fix the context's entry in the kubeconfig, or pick another one with --context"
            };
            (None, check(CONTEXT, CheckState::Fail, error.to_string(), Some(fix)))
        }
    }
}

const CONTEXT: &str = "Kubernetes context";
const CLUSTER_CHECKS: [&str; 3] = ["API server", "Permission to install", "Default StorageClass"];

fn check(name: &str, state: CheckState, detail: String, fix: Option<&str>) -> Check {
    Check { name: name.into(), state, detail, fix: fix.map(str::to_string) }
}

fn skipped(name: &str, reason: &str) -> Check {
    check(name, CheckState::Skipped, reason.to_string(), None)
}

/// Every check, from connecting on. A failure is reported once, by the
/// check that met it; the checks that depend on it say they were skipped
/// and why.
pub async fn run(flags: &KubeFlags, helm: &str, api: &str) -> Vec<Check> {
    let (connection, context) = connect(flags).await;
    let mut checks = vec![context];
    match &connection {
        None => checks.extend(CLUSTER_CHECKS.map(|name| skipped(name, "skipped: no Kubernetes context to use"))),
        Some(connection) => match connection.reach().await {
            Ok(version) => {
                checks.push(check(CLUSTER_CHECKS[0], CheckState::Pass, version, None));
                checks.push(permissions(&connection.client, &connection.namespace).await);
                checks.push(default_storage_class(&connection.client).await);
            }
            Err(error) => {
                checks.push(check(
                    CLUSTER_CHECKS[0],
                    CheckState::Fail,
                    error.to_string(),
                    Some("start the cluster, or fix the server address in the kubeconfig (or pick another --context)"),
                ));
                let reason = "skipped: the API server cannot be reached";
                checks.extend(CLUSTER_CHECKS[1..].iter().map(|name| skipped(name, reason)));
            }
        },
    }
    checks.push(helm_version(helm).await);
    checks.push(api_reachable(api).await);
    checks
}

/// What the release's install creates; all of it must be allowed.
const NEEDED: [(&str, &str, &str); 7] = [
    ("apps", "statefulsets", "create"),
    ("batch", "jobs", "create"),
    ("", "secrets", "create"),
    ("", "configmaps", "create"),
    ("", "serviceaccounts", "create"),
    ("rbac.authorization.k8s.io", "roles", "create"),
    ("rbac.authorization.k8s.io", "rolebindings", "create"),
];

async fn permissions(client: &Client, namespace: &str) -> Check {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut denied = Vec::new();
    for (group, resource, verb) in NEEDED {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    verb: Some(verb.into()),
                    namespace: Some(namespace.into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        match reviews.create(&PostParams::default(), &review).await {
            Ok(answer) if answer.status.as_ref().is_some_and(|s| s.allowed) => {}
            Ok(_) => denied.push(format!("{verb} {resource}")),
            Err(e) => return check("Permission to install", CheckState::Fail, e.to_string(), None),
        }
    }
    if denied.is_empty() {
        check("Permission to install", CheckState::Pass, format!("may create everything in {namespace}"), None)
    } else {
        check(
            "Permission to install",
            CheckState::Fail,
            format!("denied in {namespace}: {}", denied.join(", ")),
            Some("ask your cluster admin for a Role with these verbs, or choose a namespace you own (-n)"),
        )
    }
}

async fn default_storage_class(client: &Client) -> Check {
    let classes: Api<StorageClass> = Api::all(client.clone());
    match classes.list(&Default::default()).await {
        Ok(list) => {
            let default =
                list.items.iter().find(|class| {
                    class.metadata.annotations.as_ref().is_some_and(|a| {
                        a.get("storageclass.kubernetes.io/is-default-class").is_some_and(|v| v == "true")
                    })
                });
            match default {
                Some(class) => check(
                    "Default StorageClass",
                    CheckState::Pass,
                    class.metadata.name.clone().unwrap_or_default(),
                    None,
                ),
                None => check(
                    "Default StorageClass",
                    CheckState::Warn,
                    format!("none of {} class(es) is the default", list.items.len()),
                    Some("set persistence.charonData.storageClassName and persistence.validatorData.storageClassName"),
                ),
            }
        }
        Err(e) => check("Default StorageClass", CheckState::Warn, format!("cannot list StorageClasses: {e}"), None),
    }
}

async fn helm_version(helm: &str) -> Check {
    let output = tokio::process::Command::new(helm).args(["version", "--short"]).output().await;
    match output {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if version.starts_with("v3.") || version.starts_with("v4.") {
                check("helm", CheckState::Pass, version, None)
            } else {
                check("helm", CheckState::Fail, version, Some("dv-pod needs Helm 3 or 4"))
            }
        }
        Ok(out) => check("helm", CheckState::Fail, String::from_utf8_lossy(&out.stderr).trim().to_string(), None),
        Err(e) => check(
            "helm",
            CheckState::Fail,
            format!("{helm}: {e}"),
            Some("install Helm 3 or 4 (https://helm.sh/docs/intro/install/) or pass --helm PATH"),
        ),
    }
}

async fn api_reachable(api: &str) -> Check {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build();
    let answer = match client {
        Ok(client) => client.get(api).send().await.map(|r| r.status()),
        Err(e) => Err(e),
    };
    match answer {
        Ok(status) => check("Obol API", CheckState::Pass, format!("{api} answers ({status})"), None),
        Err(e) => check(
            "Obol API",
            CheckState::Warn,
            format!("{api}: {e}"),
            Some("the sidecar in the cluster polls it; check the cluster's egress rather than this machine's"),
        ),
    }
}
