//! The Obol API simulator (`dv-sidecar mock-api`): the same endpoints, JSON
//! shapes and paging as the real API, playing the Launchpad and the other
//! operators with real keys, plus per-request fault injection. It backs the
//! integration tests, the chart's `helm test` and the demo.
//!
//! Control endpoints (not part of the real API) live under `/control/`:
//! `POST /control/clusters` creates a cluster, `POST
//! /control/clusters/{config_hash}/sign` signs for operators,
//! `PUT /control/faults` replaces the fault rules and `GET /control/state`
//! reports what happened.

pub mod launchpad;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::definition::Network;
use launchpad::{SimulatedCluster, SimulatedOperator};

/// Which endpoint a fault rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    OperatorDefinitions,
    Definition,
    Lock,
    Any,
}

/// A misbehaviour of the real API or the network in front of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    ServerError,
    TooManyRequests {
        retry_after_seconds: u64,
    },
    /// Answers only after this long (past the client's timeout).
    Hang {
        seconds: f64,
    },
    /// Sends the body at this rate.
    SlowBody {
        bytes_per_second: u64,
    },
    TruncatedJson,
    WrongContentType,
    EmptyPage,
    /// `total_pages` grows by one on every request.
    ShiftingTotalPages,
    /// Every page repeats the last definition of the page before it.
    DuplicateAcrossPages,
    /// Adds a definition whose version no Charon knows.
    UnknownVersion,
    /// Serves definitions with the first withdrawal address changed after
    /// signing, as a compromised or buggy API would.
    TamperedWithdrawalAddress,
}

/// Applies the content-changing faults to a served definition.
fn tamper(fault: &Option<Fault>, mut document: Value) -> Value {
    if *fault == Some(Fault::TamperedWithdrawalAddress) {
        document["validators"][0]["withdrawal_address"] = json!("0x000000000000000000000000000000000000dEaD");
    }
    document
}

/// Apply `fault` to the next `times` requests to `endpoint` (all when None).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    pub endpoint: Endpoint,
    #[serde(flatten)]
    pub fault: Fault,
    #[serde(default)]
    pub times: Option<u32>,
}

/// When a simulated operator signs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SignAt {
    #[default]
    Now,
    AfterSeconds(f64),
    /// Only through `POST /control/clusters/{hash}/sign`.
    Manual,
}

/// One operator of a cluster to create.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct OperatorPlan {
    /// The node's ENR. Required for the operator to sign.
    #[serde(default)]
    pub enr: Option<String>,
    /// The operator's Ethereum key (hex); generated when absent.
    #[serde(default)]
    pub eth_private_key: Option<String>,
    #[serde(default)]
    pub sign: SignAt,
}

/// A cluster to create, as the Launchpad's creator would.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterPlan {
    #[serde(default = "default_name")]
    pub name: String,
    pub network: Network,
    #[serde(default = "one")]
    pub num_validators: u64,
    /// Defaults to Charon's ceil(2n/3).
    #[serde(default)]
    pub threshold: Option<u64>,
    pub operators: Vec<OperatorPlan>,
}

fn default_name() -> String {
    "simulated cluster".into()
}

fn one() -> u64 {
    1
}

/// The simulator's start-up state (`--state FILE`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SimulatorConfig {
    #[serde(default)]
    pub clusters: Vec<ClusterPlan>,
    #[serde(default)]
    pub faults: Vec<FaultRule>,
    /// Whether `page=1` is the first page (else `page=0`).
    #[serde(default)]
    pub one_based_pages: bool,
}

/// What a created cluster looks like to the control client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedCluster {
    pub config_hash: String,
    pub operator_addresses: Vec<String>,
}

#[derive(Default)]
struct Inner {
    clusters: Vec<(SimulatedCluster, Value)>,
    faults: Vec<FaultRule>,
    locks: Vec<Value>,
    requests: HashMap<String, u64>,
    shifting_total: u64,
    one_based_pages: bool,
}

/// The simulator's shared state.
#[derive(Clone, Default)]
pub struct Simulator {
    inner: Arc<Mutex<Inner>>,
}

/// Why a control request was refused.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("a cluster needs at least 3 operators, Charon's minimum; got {0}")]
    TooFewOperators(usize),
    #[error("threshold {threshold} is out of range for {operators} operators")]
    Threshold { threshold: u64, operators: usize },
    #[error("operators[{0}].eth_private_key is not a 64-hex-character secp256k1 key")]
    OperatorKey(usize),
    #[error("no cluster has config hash {0}")]
    UnknownCluster(String),
    #[error("operator {0} has no ENR to sign with")]
    NoEnr(usize),
    #[error("the operating system's random number generator failed")]
    Random,
}

impl IntoResponse for SimulatorError {
    fn into_response(self) -> Response {
        let status = match self {
            SimulatorError::UnknownCluster(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, Json(json!({"message": self.to_string()}))).into_response()
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], SimulatorError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| SimulatorError::Random)?;
    Ok(bytes)
}

impl Simulator {
    pub fn new(config: &SimulatorConfig) -> Result<Self, SimulatorError> {
        let simulator = Simulator::default();
        {
            let mut inner = simulator.inner.lock().expect("simulator lock");
            inner.faults = config.faults.clone();
            inner.one_based_pages = config.one_based_pages;
        }
        for plan in &config.clusters {
            simulator.create(plan.clone())?;
        }
        Ok(simulator)
    }

    /// Creates a cluster and schedules its operators' signatures.
    pub fn create(&self, plan: ClusterPlan) -> Result<CreatedCluster, SimulatorError> {
        let n = plan.operators.len();
        if n < 3 {
            return Err(SimulatorError::TooFewOperators(n));
        }
        let threshold = plan.threshold.unwrap_or((2 * n as u64).div_ceil(3));
        if threshold < 2 || threshold > n as u64 {
            return Err(SimulatorError::Threshold { threshold, operators: n });
        }
        let mut operators = Vec::new();
        for (i, op) in plan.operators.iter().enumerate() {
            let eth_key = match &op.eth_private_key {
                Some(text) => hex::decode(text.trim_start_matches("0x"))
                    .ok()
                    .and_then(|b| k256::ecdsa::SigningKey::from_slice(&b).ok())
                    .ok_or(SimulatorError::OperatorKey(i))?,
                None => loop {
                    if let Ok(key) = k256::ecdsa::SigningKey::from_slice(&random_bytes::<32>()?) {
                        break key;
                    }
                },
            };
            operators.push(SimulatedOperator {
                eth_key,
                enr: op.enr.clone(),
                signed: op.sign == SignAt::Now && op.enr.is_some(),
            });
        }
        let uuid = hex::encode_upper(random_bytes::<16>()?);
        let address = |key: &SimulatedOperator| key.address();
        let cluster = SimulatedCluster {
            name: plan.name.clone(),
            uuid: format!("{}-{}-{}-{}-{}", &uuid[..8], &uuid[8..12], &uuid[12..16], &uuid[16..20], &uuid[20..]),
            timestamp: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            network: plan.network,
            num_validators: plan.num_validators,
            threshold,
            fee_recipient: address(&operators[0]),
            withdrawal_address: address(&operators[0]),
            operators,
        };
        let document = cluster.document();
        let created = CreatedCluster {
            config_hash: cluster.config_hash(),
            operator_addresses: cluster.operators.iter().map(SimulatedOperator::address).collect(),
        };
        self.inner.lock().expect("simulator lock").clusters.push((cluster, document));

        for (index, op) in plan.operators.iter().enumerate() {
            if let SignAt::AfterSeconds(seconds) = op.sign {
                let simulator = self.clone();
                let config_hash = created.config_hash.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
                    if let Err(error) = simulator.sign(&config_hash, index) {
                        tracing::warn!(%error, "scheduled signature failed");
                    }
                });
            }
        }
        Ok(created)
    }

    /// Operator `index` accepts the cluster with their ENR.
    pub fn sign(&self, config_hash: &str, index: usize) -> Result<(), SimulatorError> {
        let mut inner = self.inner.lock().expect("simulator lock");
        let (cluster, document) = inner
            .clusters
            .iter_mut()
            .find(|(_, doc)| doc["config_hash"].as_str().is_some_and(|h| h.eq_ignore_ascii_case(config_hash)))
            .ok_or_else(|| SimulatorError::UnknownCluster(config_hash.into()))?;
        let operator = cluster.operators.get_mut(index).ok_or(SimulatorError::NoEnr(index))?;
        if operator.enr.is_none() {
            return Err(SimulatorError::NoEnr(index));
        }
        operator.signed = true;
        *document = cluster.document();
        tracing::info!(config_hash, operator = index, "simulated operator signed");
        Ok(())
    }

    pub fn set_faults(&self, faults: Vec<FaultRule>) {
        self.inner.lock().expect("simulator lock").faults = faults;
    }

    /// The router serving the API and the control endpoints.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/definition/operator/{address}", get(operator_definitions))
            .route("/v1/definition/{config_hash}", get(definition_by_hash).put(accept_invite))
            .route("/v1/lock/configHash/{config_hash}", get(lock_by_config_hash))
            .route("/v1/lock/{lock_hash}", get(lock_by_hash))
            .route("/lock", post(publish_lock))
            .route("/v1/lock", post(publish_lock))
            .route("/control/clusters", post(control_create))
            .route("/control/clusters/{config_hash}/sign", post(control_sign))
            .route("/control/faults", put(control_faults))
            .route("/control/state", get(control_state))
            .with_state(self.clone())
    }

    /// Serves on `listener` until the task is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// Binds `address` and serves in the background; returns the bound address.
    pub async fn spawn(self, address: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let bound = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(error) = self.serve(listener).await {
                tracing::error!(%error, "simulator stopped");
            }
        });
        Ok(bound)
    }

    /// Takes the next fault for this endpoint, counting the request.
    fn next_fault(&self, endpoint: Endpoint) -> Option<Fault> {
        let mut inner = self.inner.lock().expect("simulator lock");
        *inner.requests.entry(format!("{endpoint:?}")).or_default() += 1;
        let rule = inner
            .faults
            .iter_mut()
            .find(|r| (r.endpoint == endpoint || r.endpoint == Endpoint::Any) && r.times.is_none_or(|t| t > 0))?;
        if let Some(times) = rule.times.as_mut() {
            *times -= 1;
        }
        Some(rule.fault.clone())
    }
}

/// Renders `body` as JSON, bent by `fault`.
async fn respond(fault: Option<Fault>, body: Value) -> Response {
    let json_response = |text: Vec<u8>, content_type: &'static str| {
        let mut response = Response::new(Body::from(text));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    };
    let text = serde_json::to_vec(&body).expect("JSON values serialise");
    match fault {
        Some(Fault::ServerError) => (StatusCode::INTERNAL_SERVER_ERROR, "simulated server error").into_response(),
        Some(Fault::TooManyRequests { retry_after_seconds }) => {
            (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, retry_after_seconds.to_string())], "slow down")
                .into_response()
        }
        Some(Fault::Hang { seconds }) => {
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            json_response(text, "application/json")
        }
        Some(Fault::SlowBody { bytes_per_second }) => {
            let chunk = (bytes_per_second / 10).max(1) as usize;
            let chunks: Vec<Vec<u8>> = text.chunks(chunk).map(<[u8]>::to_vec).collect();
            let stream = futures_util::stream::iter(chunks).then(|c| async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok::<_, std::convert::Infallible>(c)
            });
            let mut response = Response::new(Body::from_stream(stream));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Some(Fault::TruncatedJson) => json_response(text[..text.len() / 2].to_vec(), "application/json"),
        Some(Fault::WrongContentType) => json_response(b"<html><body>maintenance</body></html>".to_vec(), "text/html"),
        _ => json_response(text, "application/json"),
    }
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<u64>,
    limit: Option<u64>,
}

async fn operator_definitions(
    State(sim): State<Simulator>,
    Path(address): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let fault = sim.next_fault(Endpoint::OperatorDefinitions);
    let (Some(page), Some(limit)) = (query.page, query.limit) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"message": "page and limit are required"}))).into_response();
    };
    let limit = limit.clamp(1, 100);
    let (mut items, one_based, shift) = {
        let mut inner = sim.inner.lock().expect("simulator lock");
        inner.shifting_total += 1;
        let items: Vec<Value> = inner
            .clusters
            .iter()
            .filter(|(cluster, _)| cluster.operators.iter().any(|op| op.address().eq_ignore_ascii_case(&address)))
            .map(|(_, doc)| tamper(&fault, doc.clone()))
            .collect();
        (items, inner.one_based_pages, inner.shifting_total)
    };
    if items.is_empty() && fault.is_none() {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "no cluster definitions for this operator"})))
            .into_response();
    }
    if fault == Some(Fault::UnknownVersion) {
        let mut future = items.first().cloned().unwrap_or_else(|| json!({}));
        future["version"] = json!("v9.9.9");
        future["config_hash"] = json!(format!("0x{}", "99".repeat(32)));
        items.push(future);
    }
    let first = u64::from(one_based);
    if page < first {
        return (StatusCode::BAD_REQUEST, Json(json!({"message": "page starts at 1"}))).into_response();
    }
    let index = (page - first) as usize;
    let start = index * limit as usize;
    let mut slice: Vec<Value> = items.iter().skip(start).take(limit as usize).cloned().collect();
    if fault == Some(Fault::DuplicateAcrossPages) && start > 0 && !slice.is_empty() {
        slice.insert(0, items[start - 1].clone());
    }
    if fault == Some(Fault::EmptyPage) {
        slice.clear();
    }
    let mut total_pages = (items.len() as u64).div_ceil(limit);
    if fault == Some(Fault::ShiftingTotalPages) {
        total_pages += shift % 3;
    }
    respond(fault, json!({"cluster_definitions": slice, "total_count": items.len(), "total_pages": total_pages})).await
}

async fn definition_by_hash(State(sim): State<Simulator>, Path(config_hash): Path<String>) -> Response {
    let fault = sim.next_fault(Endpoint::Definition);
    let found = {
        let inner = sim.inner.lock().expect("simulator lock");
        inner
            .clusters
            .iter()
            .map(|(_, doc)| doc)
            .find(|doc| doc["config_hash"].as_str().is_some_and(|h| h.eq_ignore_ascii_case(&config_hash)))
            .cloned()
    };
    match found {
        Some(doc) => {
            let doc = tamper(&fault, doc);
            respond(fault, doc).await
        }
        None => (StatusCode::NOT_FOUND, Json(json!({"message": "definition not found"}))).into_response(),
    }
}

/// The body obol-sdk sends when an operator accepts an invite.
#[derive(Deserialize)]
struct Acceptance {
    enr: String,
    address: String,
    enr_signature: String,
}

/// `PUT /v1/definition/{config_hash}`: an operator accepts with their ENR,
/// authorised by their config-hash signature (`Authorization: Bearer 0x..`).
async fn accept_invite(
    State(sim): State<Simulator>,
    Path(config_hash): Path<String>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Acceptance>,
) -> Response {
    use crate::definition::{Definition, eip712, hex_field};
    let unauthorized = |message: &str| (StatusCode::UNAUTHORIZED, Json(json!({"message": message}))).into_response();
    let mut inner = sim.inner.lock().expect("simulator lock");
    let Some((cluster, document)) = inner
        .clusters
        .iter_mut()
        .find(|(_, doc)| doc["config_hash"].as_str().is_some_and(|h| h.eq_ignore_ascii_case(&config_hash)))
    else {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "definition not found"}))).into_response();
    };
    let Some(index) = cluster.operators.iter().position(|op| op.address().eq_ignore_ascii_case(&body.address)) else {
        return unauthorized("this address is not an operator of the cluster");
    };
    if cluster.operators[index].signed {
        return (StatusCode::CONFLICT, Json(json!({"message": "this operator already accepted"}))).into_response();
    }
    if body.enr.parse::<crate::enr::EnrRecord>().is_err() {
        return (StatusCode::BAD_REQUEST, Json(json!({"message": "enr is not a valid ENR"}))).into_response();
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(hex_field);
    let (Some(config_signature), Some(enr_signature)) = (bearer, hex_field(&body.enr_signature)) else {
        return unauthorized("missing or malformed signatures");
    };
    let Ok(definition) = Definition::from_value(document.clone()) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "stored definition unreadable").into_response();
    };
    let operator = cluster.operators[index].eth_key.verifying_key();
    let expected = Some(eip712::address_of(operator));
    let config_digest = eip712::operator_config_digest(&definition, cluster.network);
    let enr_digest = eip712::enr_digest(&body.enr, cluster.network);
    if eip712::recover_signer(config_digest, &config_signature).ok() != expected
        || eip712::recover_signer(enr_digest, &enr_signature).ok() != expected
    {
        return unauthorized("the signatures are not this operator's");
    }
    cluster.operators[index].enr = Some(body.enr);
    cluster.operators[index].signed = true;
    *document = cluster.document();
    (StatusCode::OK, Json(document.clone())).into_response()
}

fn find_lock(sim: &Simulator, matches: impl Fn(&Value) -> bool) -> Option<Value> {
    sim.inner.lock().expect("simulator lock").locks.iter().find(|lock| matches(lock)).cloned()
}

async fn lock_by_hash(State(sim): State<Simulator>, Path(lock_hash): Path<String>) -> Response {
    let fault = sim.next_fault(Endpoint::Lock);
    match find_lock(&sim, |lock| lock["lock_hash"].as_str().is_some_and(|h| h.eq_ignore_ascii_case(&lock_hash))) {
        Some(lock) => respond(fault, lock).await,
        None => (StatusCode::NOT_FOUND, Json(json!({"message": "lock not found"}))).into_response(),
    }
}

async fn lock_by_config_hash(State(sim): State<Simulator>, Path(config_hash): Path<String>) -> Response {
    let fault = sim.next_fault(Endpoint::Lock);
    let matches = |lock: &Value| {
        lock["cluster_definition"]["config_hash"].as_str().is_some_and(|h| h.eq_ignore_ascii_case(&config_hash))
    };
    match find_lock(&sim, matches) {
        Some(lock) => respond(fault, lock).await,
        None => (StatusCode::NOT_FOUND, Json(json!({"message": "lock not found"}))).into_response(),
    }
}

/// Charon's `--publish` target (it posts to `<host>/lock`, dropping `/v1`).
async fn publish_lock(State(sim): State<Simulator>, Json(lock): Json<Value>) -> Response {
    let Some(lock_hash) = lock["lock_hash"].as_str().map(str::to_string) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"message": "lock_hash is missing"}))).into_response();
    };
    let mut inner = sim.inner.lock().expect("simulator lock");
    if inner.locks.iter().any(|l| l["lock_hash"].as_str() == Some(&lock_hash)) {
        return (StatusCode::CONFLICT, Json(json!({"message": "lock already published"}))).into_response();
    }
    inner.locks.push(lock);
    StatusCode::CREATED.into_response()
}

async fn control_create(State(sim): State<Simulator>, Json(plan): Json<ClusterPlan>) -> Response {
    match sim.create(plan) {
        Ok(created) => (StatusCode::CREATED, Json(created)).into_response(),
        Err(error) => error.into_response(),
    }
}

#[derive(Deserialize)]
struct SignRequest {
    operator: usize,
}

async fn control_sign(
    State(sim): State<Simulator>,
    Path(config_hash): Path<String>,
    Json(request): Json<SignRequest>,
) -> Response {
    match sim.sign(&config_hash, request.operator) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}

async fn control_faults(State(sim): State<Simulator>, Json(faults): Json<Vec<FaultRule>>) -> Response {
    sim.set_faults(faults);
    StatusCode::NO_CONTENT.into_response()
}

async fn control_state(State(sim): State<Simulator>) -> Json<Value> {
    let inner = sim.inner.lock().expect("simulator lock");
    let clusters: Vec<Value> = inner
        .clusters
        .iter()
        .map(|(cluster, doc)| {
            json!({
                "config_hash": doc["config_hash"],
                "signed": cluster.signed_count(),
                "operators": cluster.operators.len(),
                "operator_addresses": cluster.operators.iter().map(SimulatedOperator::address).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({"clusters": clusters, "requests": inner.requests, "locks": inner.locks.len()}))
}
