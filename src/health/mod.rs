//! Node health as the TUI and the plugin show it: what Charon says about
//! itself on its monitoring port (readiness and its reason, connected peers,
//! validators) and what Kubernetes says about the pod. Both the demo and an
//! in-cluster release fill the same `NodeHealth`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Charon's own verdict, from its `app_monitoring_readyz` gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    Ready,
    BeaconNodeDown,
    BeaconNodeSyncing,
    QuorumPeersNotConnected,
    /// A value this version does not know; readiness is not claimed.
    Other,
}

impl Readiness {
    fn from_gauge(value: f64) -> Readiness {
        match value as i64 {
            1 => Readiness::Ready,
            2 => Readiness::BeaconNodeDown,
            3 => Readiness::BeaconNodeSyncing,
            4 => Readiness::QuorumPeersNotConnected,
            _ => Readiness::Other,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Readiness::Ready => "ready",
            Readiness::BeaconNodeDown => "beacon node down",
            Readiness::BeaconNodeSyncing => "beacon node syncing",
            Readiness::QuorumPeersNotConnected => "quorum of peers not connected",
            Readiness::Other => "not ready",
        }
    }
}

/// What a running Charon reports on `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CharonHealth {
    pub readiness: Readiness,
    /// Peers whose last ping succeeded.
    pub peers_connected: usize,
    /// Peers Charon pings (the cluster's other nodes).
    pub peers_total: usize,
    /// Validators in the cluster lock.
    pub validators: Option<u64>,
    pub validators_active: Option<u64>,
    /// Duties of every kind the cluster completed and missed since Charon
    /// started (`core_tracker_{success,failed}_duties_total`).
    #[serde(default)]
    pub duties_succeeded: Option<u64>,
    #[serde(default)]
    pub duties_failed: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("Charon's monitoring endpoint {url} did not answer: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Charon's metrics are not Prometheus text: {0}")]
    NotMetrics(std::io::Error),
    #[error("Charon's metrics lack app_monitoring_readyz; is {url} a Charon monitoring address?")]
    NotCharon { url: String },
}

impl CharonHealth {
    /// Reads Prometheus text exposition as Charon writes it.
    pub fn from_metrics(text: &str) -> Result<Option<CharonHealth>, HealthError> {
        let lines = text.lines().map(|line| Ok(line.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).map_err(HealthError::NotMetrics)?;
        let gauge = |name: &str| {
            scrape.samples.iter().find(|s| s.metric == name).and_then(|s| match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => Some(v),
                _ => None,
            })
        };
        let Some(readyz) = gauge("app_monitoring_readyz") else { return Ok(None) };
        let pings: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == "p2p_ping_success")
            .filter_map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => Some(v),
                _ => None,
            })
            .collect();
        let total = |name: &str| {
            let values: Vec<f64> = scrape
                .samples
                .iter()
                .filter(|s| s.metric == name)
                .filter_map(|s| match s.value {
                    prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => Some(v),
                    _ => None,
                })
                .collect();
            (!values.is_empty()).then(|| values.iter().sum::<f64>() as u64)
        };
        Ok(Some(CharonHealth {
            readiness: Readiness::from_gauge(readyz),
            peers_connected: pings.iter().filter(|v| **v >= 1.0).count(),
            peers_total: pings.len(),
            validators: gauge("cluster_validators").map(|v| v as u64),
            validators_active: gauge("core_scheduler_validators_active").map(|v| v as u64),
            duties_succeeded: total("core_tracker_success_duties_total"),
            duties_failed: total("core_tracker_failed_duties_total"),
        }))
    }

    /// Scrapes `{monitoring_url}/metrics`.
    pub async fn probe(http: &reqwest::Client, monitoring_url: &str) -> Result<CharonHealth, HealthError> {
        let url = format!("{}/metrics", monitoring_url.trim_end_matches('/'));
        let unreachable =
            |error| HealthError::Unreachable { url: url.clone(), reason: crate::http_error::with_causes(error) };
        let text = http
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unreachable)?
            .text()
            .await
            .map_err(unreachable)?;
        CharonHealth::from_metrics(&text)?.ok_or(HealthError::NotCharon { url })
    }
}

/// Duties done and missed in a few characters: `42 ok`, `42 ok 1 miss`.
pub fn duty_summary(charon: &CharonHealth) -> String {
    match (charon.duties_succeeded, charon.duties_failed.unwrap_or(0)) {
        (None, 0) => "-".into(),
        (ok, 0) => format!("{} ok", ok.unwrap_or(0)),
        (ok, missed) => format!("{} ok {missed} miss", ok.unwrap_or(0)),
    }
}

/// Kubernetes' view of the pod that runs a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodHealth {
    pub name: String,
    /// Pending, Running, Succeeded, Failed or Unknown.
    pub phase: String,
    pub ready: bool,
    pub restarts: u32,
    /// One line per container and init container: name and state.
    pub containers: Vec<ContainerState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    pub name: String,
    pub state: RunState,
    pub ready: bool,
    pub restarts: u32,
}

/// Where a container is, as Kubernetes reports it. Written in the contract
/// as one string: `running`, `waiting: <reason>`, `terminated: <reason>
/// (exit N)` or `not started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum RunState {
    NotStarted,
    Running,
    Waiting { reason: String },
    Terminated { reason: String, exit_code: i32 },
}

impl RunState {
    /// Waiting without ever having run (no restart yet) or not started.
    pub fn never_ran(&self, restarts: u32) -> bool {
        match self {
            RunState::NotStarted => true,
            RunState::Waiting { .. } => restarts == 0,
            _ => false,
        }
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunState::NotStarted => f.write_str("not started"),
            RunState::Running => f.write_str("running"),
            RunState::Waiting { reason } => write!(f, "waiting: {reason}"),
            RunState::Terminated { reason, exit_code } => write!(f, "terminated: {reason} (exit {exit_code})"),
        }
    }
}

impl From<RunState> for String {
    fn from(state: RunState) -> Self {
        state.to_string()
    }
}

/// A string that is none of the container states the contract writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a container state")]
pub struct UnknownRunState(String);

impl TryFrom<String> for RunState {
    type Error = UnknownRunState;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let unknown = || UnknownRunState(text.clone());
        if let Some(reason) = text.strip_prefix("waiting: ") {
            return Ok(RunState::Waiting { reason: reason.into() });
        }
        if let Some(rest) = text.strip_prefix("terminated: ") {
            let (reason, exit) = rest.rsplit_once(" (exit ").ok_or_else(unknown)?;
            let exit_code = exit.strip_suffix(')').and_then(|n| n.parse().ok()).ok_or_else(unknown)?;
            return Ok(RunState::Terminated { reason: reason.into(), exit_code });
        }
        match text.as_str() {
            "running" => Ok(RunState::Running),
            "not started" => Ok(RunState::NotStarted),
            _ => Err(unknown()),
        }
    }
}

/// One node of the distributed validator, as the health screen shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeHealth {
    pub name: String,
    pub pod: Option<PodHealth>,
    pub charon: Option<CharonHealth>,
    /// Why Charon's health is unknown, when it is.
    pub charon_error: Option<String>,
}

impl NodeHealth {
    pub fn is_healthy(&self) -> bool {
        self.charon.as_ref().is_some_and(|c| c.readiness == Readiness::Ready)
            && self.pod.as_ref().is_none_or(|p| p.ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_state_is_written_as_the_contracts_string_and_read_back() {
        for state in [
            RunState::NotStarted,
            RunState::Running,
            RunState::Waiting { reason: "CrashLoopBackOff".into() },
            RunState::Terminated { reason: "Error".into(), exit_code: 1 },
        ] {
            let text = serde_json::to_value(&state).unwrap();
            assert!(text.is_string(), "{text}");
            assert_eq!(serde_json::from_value::<RunState>(text).unwrap(), state);
        }
        assert_eq!(
            RunState::Terminated { reason: "Error".into(), exit_code: 1 }.to_string(),
            "terminated: Error (exit 1)"
        );
        assert!(serde_json::from_value::<RunState>(serde_json::json!("sleeping")).is_err());
        assert!(RunState::Waiting { reason: "PodInitializing".into() }.never_ran(0));
        assert!(!RunState::Waiting { reason: "CrashLoopBackOff".into() }.never_ran(2));
    }

    const READY_NODE: &str = "\
# HELP app_monitoring_readyz Set to 1 if the node is operational
# TYPE app_monitoring_readyz gauge
app_monitoring_readyz{cluster_hash=\"ab\",cluster_name=\"x\",cluster_network=\"hoodi\",cluster_peer=\"p\"} 1
# TYPE p2p_ping_success gauge
p2p_ping_success{peer=\"a\"} 1
p2p_ping_success{peer=\"b\"} 1
p2p_ping_success{peer=\"c\"} 0
# TYPE cluster_validators gauge
cluster_validators 2
# TYPE core_tracker_success_duties_total counter
core_tracker_success_duties_total{duty=\"attester\"} 40
core_tracker_success_duties_total{duty=\"proposer\"} 2
# TYPE core_tracker_failed_duties_total counter
core_tracker_failed_duties_total{duty=\"attester\"} 1
";

    #[test]
    fn a_ready_node_reports_readiness_peers_and_validators_from_its_metrics() {
        let health = CharonHealth::from_metrics(READY_NODE).unwrap().unwrap();
        assert_eq!(health.readiness, Readiness::Ready);
        assert_eq!((health.peers_connected, health.peers_total), (2, 3));
        assert_eq!(health.validators, Some(2));
        assert_eq!(health.validators_active, None);
        assert_eq!((health.duties_succeeded, health.duties_failed), (Some(42), Some(1)));
    }

    #[test]
    fn readiness_reasons_follow_charons_gauge_values() {
        for (value, expected) in [
            (2, Readiness::BeaconNodeDown),
            (3, Readiness::BeaconNodeSyncing),
            (4, Readiness::QuorumPeersNotConnected),
            (9, Readiness::Other),
        ] {
            let text = format!("# TYPE app_monitoring_readyz gauge\napp_monitoring_readyz {value}\n");
            assert_eq!(CharonHealth::from_metrics(&text).unwrap().unwrap().readiness, expected);
        }
    }

    #[test]
    fn metrics_without_charons_readiness_gauge_are_not_charon() {
        assert_eq!(CharonHealth::from_metrics("# TYPE up gauge\nup 1\n").unwrap(), None);
    }
}
