//! The Obol API simulator (`dv-sidecar mock-api`): the same endpoints, JSON
//! shapes and paging as the real API, playing the Launchpad and the other
//! operators with real keys, plus per-request fault injection. It backs the
//! integration tests, the chart's `helm test` and the demo.
//!
//! The write side checks what the real API checks: `POST
//! /v1/termsAndConditions` first, then the creator's `POST /v1/definition`
//! and each operator's `PUT /v1/definition/{config_hash}`; `POST /v1/lock`
//! is idempotent. Errors are JSON with `statusCode` and `message`.
//!
//! Control endpoints (not part of the real API) live under `/control/`:
//! `POST /control/clusters` creates a cluster, `POST
//! /control/clusters/{config_hash}/sign` signs for an operator (`{"operator":
//! i}`, with `"enr"` when the plan had none),
//! `PUT /control/faults` replaces the fault rules and `GET /control/state`
//! reports what happened.

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

use super::launchpad::{self, ClusterProposal, LaunchpadError, Wallet};
use crate::definition::{Definition, Network, eip712, hex_field};

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

/// A cluster as the API holds it: the document it serves, and the wallets
/// and ENRs of the operators the simulator plays (none for a cluster a
/// creator posted, whose operators accept for themselves).
struct StoredCluster {
    document: Value,
    network: Network,
    players: Vec<Option<Player>>,
}

struct Player {
    wallet: Wallet,
    enr: Option<String>,
}

impl StoredCluster {
    fn config_hash(&self) -> &str {
        self.document["config_hash"].as_str().unwrap_or_default()
    }

    fn operators(&self) -> &[Value] {
        self.document["operators"].as_array().map(Vec::as_slice).unwrap_or_default()
    }

    fn signed_count(&self) -> usize {
        self.operators().iter().filter(|op| op["enr"].as_str().is_some_and(|e| !e.is_empty())).count()
    }
}

/// The terms the simulator asks users to accept: its own, the SHA-256 of
/// "Obol API simulator: terms and conditions, version 1". The real API asks
/// for the hash of Obol's current terms document, which a test machine
/// cannot fetch.
pub const TERMS_HASH: &str = "0x6a44a8c9a14abefd3a5b9859eaa29f7662f37259e2fb63e0d4c0d7423c061284";
pub const TERMS_VERSION: u64 = 1;

/// Where `address` (any case) is among a definition document's operators.
fn operator_index(definition: &Value, address: &str) -> Option<usize> {
    definition["operators"]
        .as_array()?
        .iter()
        .position(|op| op["address"].as_str().is_some_and(|a| a.eq_ignore_ascii_case(address)))
}

#[derive(Default)]
struct Inner {
    clusters: Vec<StoredCluster>,
    /// Addresses (lowercase) that accepted the terms.
    terms_accepted: std::collections::HashSet<String>,
    faults: Vec<FaultRule>,
    locks: Vec<Value>,
    requests: HashMap<String, u64>,
    shifting_total: u64,
    one_based_pages: bool,
}

impl Inner {
    fn cluster(&mut self, config_hash: &str) -> Option<&mut StoredCluster> {
        self.clusters.iter_mut().find(|c| c.config_hash().eq_ignore_ascii_case(config_hash))
    }
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
    #[error("operator {0} has no ENR to sign with, or is not played by the simulator")]
    NoEnr(usize),
    #[error("{0}")]
    Launchpad(#[from] LaunchpadError),
    #[error("the API refused: {0}")]
    Refused(String),
}

impl IntoResponse for SimulatorError {
    fn into_response(self) -> Response {
        let status = match self {
            SimulatorError::UnknownCluster(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        api_error(status, self.to_string())
    }
}

/// An error as the real API (NestJS) shapes it, with a JSON content type.
fn api_error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({
        "statusCode": status.as_u16(),
        "message": message.into(),
        "error": status.canonical_reason().unwrap_or("Error"),
    });
    (status, Json(body)).into_response()
}

/// A refused write: its status and message.
struct Refusal(StatusCode, String);

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal(status, message.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        api_error(self.0, self.1)
    }
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

    /// Creates a cluster as its first operator would on the Launchpad, and
    /// schedules the operators' acceptances.
    pub fn create(&self, plan: ClusterPlan) -> Result<CreatedCluster, SimulatorError> {
        let n = plan.operators.len();
        if n < 3 {
            return Err(SimulatorError::TooFewOperators(n));
        }
        let threshold = plan.threshold.unwrap_or((2 * n as u64).div_ceil(3));
        if threshold < 2 || threshold > n as u64 {
            return Err(SimulatorError::Threshold { threshold, operators: n });
        }
        let mut players = Vec::new();
        for (i, op) in plan.operators.iter().enumerate() {
            let wallet = match &op.eth_private_key {
                Some(text) => Wallet::from_hex(text).map_err(|_| SimulatorError::OperatorKey(i))?,
                None => Wallet::generate()?,
            };
            players.push(Player { wallet, enr: op.enr.clone() });
        }
        let addresses: Vec<String> = players.iter().map(|p| p.wallet.address()).collect();
        // The operators the simulator plays accepted the terms long ago.
        self.inner.lock().expect("simulator lock").terms_accepted.extend(addresses.iter().map(|a| a.to_lowercase()));
        let proposal = ClusterProposal {
            name: plan.name.clone(),
            network: plan.network,
            num_validators: plan.num_validators,
            threshold: Some(threshold),
            operators: addresses.clone(),
            withdrawal_address: addresses[0].clone(),
            fee_recipient_address: addresses[0].clone(),
        }
        .sign(&players[0].wallet)?;
        let created = CreatedCluster { config_hash: proposal.config_hash.clone(), operator_addresses: addresses };
        self.inner.lock().expect("simulator lock").clusters.push(StoredCluster {
            document: proposal.definition,
            network: plan.network,
            players: players.into_iter().map(Some).collect(),
        });

        for (index, op) in plan.operators.iter().enumerate() {
            match op.sign {
                SignAt::Now if op.enr.is_some() => self.sign(&created.config_hash, index)?,
                SignAt::AfterSeconds(seconds) => {
                    let simulator = self.clone();
                    let config_hash = created.config_hash.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
                        if let Err(error) = simulator.sign(&config_hash, index) {
                            tracing::warn!(%error, "scheduled signature failed");
                        }
                    });
                }
                _ => {}
            }
        }
        Ok(created)
    }

    /// Operator `index`, played by the simulator, accepts with their ENR
    /// through the same checks as an operator's `PUT`.
    pub fn sign(&self, config_hash: &str, index: usize) -> Result<(), SimulatorError> {
        self.sign_with(config_hash, index, None)
    }

    /// As `sign`, with `enr` (the node's, e.g. from `kubectl dv enr`) in
    /// place of the one planned at creation.
    pub fn sign_with(&self, config_hash: &str, index: usize, enr: Option<&str>) -> Result<(), SimulatorError> {
        let acceptance = {
            let mut inner = self.inner.lock().expect("simulator lock");
            let cluster =
                inner.cluster(config_hash).ok_or_else(|| SimulatorError::UnknownCluster(config_hash.into()))?;
            let Some(Some(Player { wallet, enr: planned })) = cluster.players.get(index) else {
                return Err(SimulatorError::NoEnr(index));
            };
            let Some(enr) = enr.or(planned.as_deref()) else {
                return Err(SimulatorError::NoEnr(index));
            };
            let definition =
                Definition::from_value(cluster.document.clone()).map_err(|e| SimulatorError::Refused(e.to_string()))?;
            launchpad::accept(&definition, cluster.network, enr, wallet)
        };
        self.accept(config_hash, &acceptance.config_signature, &acceptance.body)
            .map_err(|Refusal(_, message)| SimulatorError::Refused(message))?;
        tracing::info!(config_hash, operator = index, "simulated operator signed");
        Ok(())
    }

    /// `POST /v1/termsAndConditions`'s checks: the current terms, signed by
    /// the address that accepts them.
    fn accept_terms(&self, bearer: &str, body: &Value) -> Result<(), Refusal> {
        let address = body["address"].as_str().unwrap_or_default();
        let hash = body["terms_and_conditions_hash"].as_str().unwrap_or_default();
        if !hash.eq_ignore_ascii_case(TERMS_HASH) || body["version"].as_u64() != Some(TERMS_VERSION) {
            return Err(Refusal::new(StatusCode::BAD_REQUEST, "Invalid terms and conditions hash"));
        }
        let network = match body["fork_version"].as_str() {
            None => Network::Mainnet,
            Some(fork) => hex_field(fork)
                .as_deref()
                .and_then(Network::from_fork_version)
                .ok_or_else(|| Refusal::new(StatusCode::BAD_REQUEST, "fork_version is not a supported network"))?,
        };
        let signer = hex_field(bearer).and_then(|signature| {
            eip712::recover_signer(eip712::terms_digest(hash, TERMS_VERSION, network), &signature).ok()
        });
        if signer.is_none_or(|signer| !signer.to_checksum(None).eq_ignore_ascii_case(address)) {
            return Err(Refusal::new(StatusCode::UNAUTHORIZED, "Signature verification failed"));
        }
        self.inner.lock().expect("simulator lock").terms_accepted.insert(address.to_lowercase());
        Ok(())
    }

    /// `POST /v1/definition`'s checks: a well-formed definition whose
    /// config hash is what it claims, signed by its creator, not yet known.
    fn propose(&self, bearer: &str, document: Value) -> Result<Value, Refusal> {
        let bad = |message: String| Refusal::new(StatusCode::BAD_REQUEST, message);
        let definition =
            Definition::from_value(document.clone()).map_err(|e| bad(format!("invalid definition: {e}")))?;
        if definition.operators.len() < 3 {
            return Err(bad("operators must contain at least 3 elements".into()));
        }
        let network = Network::from_fork_version(&definition.fork_version)
            .ok_or_else(|| bad("fork_version is not a supported network".into()))?;
        let computed = crate::definition::ssz::config_hash(&definition).map_err(|e| bad(e.to_string()))?;
        if computed.as_slice() != definition.config_hash.as_slice() {
            return Err(bad(format!(
                "config_hash does not match the definition (computed 0x{})",
                hex::encode(computed)
            )));
        }
        let signature = hex_field(bearer)
            .ok_or_else(|| Refusal::new(StatusCode::UNAUTHORIZED, "Authorization header is missing or incorrect"))?;
        let creator = eip712::recover_signer(eip712::creator_config_digest(&definition, network), &signature).ok();
        if creator.is_none_or(|address| !address.to_checksum(None).eq_ignore_ascii_case(&definition.creator.address)) {
            return Err(Refusal::new(StatusCode::UNAUTHORIZED, "the signature is not the creator's"));
        }
        let mut inner = self.inner.lock().expect("simulator lock");
        if !inner.terms_accepted.contains(&definition.creator.address.to_lowercase()) {
            return Err(terms_missing(&definition.creator.address));
        }
        if inner.cluster(&definition.config_hash_hex()).is_some() {
            return Err(Refusal::new(StatusCode::CONFLICT, "a definition with this config_hash already exists"));
        }
        let mut document = document;
        document["creator"]["config_signature"] = json!(bearer);
        let document = launchpad::with_definition_hash(document).map_err(|e| bad(e.to_string()))?;
        inner.clusters.push(StoredCluster {
            document: document.clone(),
            network,
            players: definition.operators.iter().map(|_| None).collect(),
        });
        Ok(document)
    }

    /// `PUT /v1/definition/{config_hash}`'s checks, then the operator's
    /// ENR and signatures written into the definition.
    fn accept(&self, config_hash: &str, bearer: &str, body: &Value) -> Result<Value, Refusal> {
        let bad = |message: &str| Refusal::new(StatusCode::BAD_REQUEST, message);
        let unauthorized = |message: &str| Refusal::new(StatusCode::UNAUTHORIZED, message);
        let field = |name: &str| body[name].as_str().unwrap_or_default().to_string();
        let (address, enr) = (field("address"), field("enr"));
        let mut inner = self.inner.lock().expect("simulator lock");
        if !inner.terms_accepted.contains(&address.to_lowercase()) {
            return Err(terms_missing(&address));
        }
        let cluster =
            inner.cluster(config_hash).ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, "Data not found"))?;
        let Some(index) = operator_index(&cluster.document, &address) else {
            return Err(unauthorized("this address is not an operator of the cluster"));
        };
        if cluster.operators()[index]["enr"].as_str().is_some_and(|e| !e.is_empty()) {
            return Err(Refusal::new(StatusCode::CONFLICT, "this operator already accepted"));
        }
        if enr.parse::<crate::enr::EnrRecord>().is_err() {
            return Err(bad("enr is not a valid ENR"));
        }
        if cluster.operators().iter().any(|op| op["enr"].as_str() == Some(enr.as_str())) {
            return Err(Refusal::new(StatusCode::CONFLICT, "another operator of the cluster already uses this ENR"));
        }
        let fork_version = cluster.document["fork_version"].as_str().unwrap_or_default();
        if !field("fork_version").eq_ignore_ascii_case(fork_version) {
            return Err(bad("fork_version does not match the cluster's"));
        }
        let (Some(config_signature), Some(enr_signature)) = (hex_field(bearer), hex_field(&field("enr_signature")))
        else {
            return Err(unauthorized("Authorization header is missing or incorrect"));
        };
        let definition = Definition::from_value(cluster.document.clone())
            .map_err(|_| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "stored definition unreadable"))?;
        let signer = |digest, signature: &[u8]| {
            eip712::recover_signer(digest, signature).ok().map(|a| a.to_checksum(None).to_lowercase())
        };
        let expected = Some(address.to_lowercase());
        if signer(eip712::operator_config_digest(&definition, cluster.network), &config_signature) != expected
            || signer(eip712::enr_digest(&enr, cluster.network), &enr_signature) != expected
        {
            return Err(unauthorized("the signatures are not this operator's"));
        }
        let mut document = cluster.document.clone();
        document["operators"][index]["enr"] = json!(enr);
        document["operators"][index]["config_signature"] = json!(bearer);
        document["operators"][index]["enr_signature"] = json!(field("enr_signature"));
        cluster.document = launchpad::with_definition_hash(document)
            .map_err(|_| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "definition hash"))?;
        Ok(cluster.document.clone())
    }

    /// Serves `lock` as published, whether or not its definition went
    /// through this API (a cluster made by `charon create cluster`, say):
    /// what only a simulator can do.
    pub fn add_lock(&self, lock: Value) {
        self.inner.lock().expect("simulator lock").locks.push(lock);
    }

    pub fn set_faults(&self, faults: Vec<FaultRule>) {
        self.inner.lock().expect("simulator lock").faults = faults;
    }

    /// The router serving the API and the control endpoints.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/_health", get(health))
            .route("/v1/definition", post(propose_definition))
            .route("/v1/termsAndConditions", post(accept_terms))
            .route("/v1/definition/operator/{address}", get(operator_definitions))
            .route("/v1/definition/{config_hash}", get(definition_by_hash).put(accept_invite))
            .route("/v1/lock/configHash/{config_hash}", get(lock_by_config_hash))
            .route("/v1/lock/operator/{address}", get(locks_for_operator))
            .route("/v1/lock/{lock_hash}", get(lock_by_hash))
            .route("/lock", post(publish_lock))
            .route("/v1/lock", post(publish_lock))
            .route("/control/clusters", post(control_create))
            .route("/control/clusters/{config_hash}/sign", post(control_sign))
            .route("/control/faults", put(control_faults))
            .route("/control/state", get(control_state))
            .fallback(|| async { api_error(StatusCode::NOT_FOUND, "Cannot find this route") })
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
        Some(Fault::ServerError) => api_error(StatusCode::INTERNAL_SERVER_ERROR, "simulated server error"),
        Some(Fault::TooManyRequests { retry_after_seconds }) => {
            let mut response = api_error(StatusCode::TOO_MANY_REQUESTS, "ThrottlerException: Too Many Requests");
            if let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
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
        return api_error(StatusCode::BAD_REQUEST, "page and limit are required");
    };
    let limit = limit.clamp(1, 100);
    let (mut items, one_based, shift) = {
        let mut inner = sim.inner.lock().expect("simulator lock");
        inner.shifting_total += 1;
        let items: Vec<Value> = inner
            .clusters
            .iter()
            .filter(|cluster| operator_index(&cluster.document, &address).is_some())
            .map(|cluster| tamper(&fault, cluster.document.clone()))
            .collect();
        (items, inner.one_based_pages, inner.shifting_total)
    };
    if fault == Some(Fault::UnknownVersion) {
        let mut future = items.first().cloned().unwrap_or_else(|| json!({}));
        future["version"] = json!("v9.9.9");
        future["config_hash"] = json!(format!("0x{}", "99".repeat(32)));
        items.push(future);
    }
    let first = u64::from(one_based);
    if page < first {
        return api_error(StatusCode::BAD_REQUEST, "page starts at 1");
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
    let found = sim.inner.lock().expect("simulator lock").cluster(&config_hash).map(|c| c.document.clone());
    match found {
        Some(doc) => {
            let doc = tamper(&fault, doc);
            respond(fault, doc).await
        }
        None => api_error(StatusCode::NOT_FOUND, "definition not found"),
    }
}

fn bearer(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

async fn health() -> Json<Value> {
    let up = json!({"database": {"status": "up"}});
    Json(json!({"status": "ok", "info": up, "error": {}, "details": up}))
}

fn terms_missing(address: &str) -> Refusal {
    Refusal::new(
        StatusCode::UNAUTHORIZED,
        format!(
            "Missing t&c signature: {address} must accept the terms and conditions first (POST /v1/termsAndConditions)"
        ),
    )
}

/// `POST /v1/termsAndConditions`: a user accepts Obol's terms.
async fn accept_terms(
    State(sim): State<Simulator>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    match sim.accept_terms(bearer(&headers), &body) {
        Ok(()) => (StatusCode::CREATED, Json(json!({"message": "successful"}))).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// `POST /v1/definition`: the creator proposes a cluster, authorised by
/// their signature over the config hash.
async fn propose_definition(
    State(sim): State<Simulator>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    match sim.propose(bearer(&headers), body) {
        Ok(document) => (StatusCode::CREATED, Json(document)).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// `PUT /v1/definition/{config_hash}`: an operator accepts with their ENR,
/// authorised by their config-hash signature (`Authorization: Bearer 0x..`).
async fn accept_invite(
    State(sim): State<Simulator>,
    Path(config_hash): Path<String>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    match sim.accept(&config_hash, bearer(&headers), &body) {
        Ok(document) => (StatusCode::OK, Json(document)).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

fn find_lock(sim: &Simulator, matches: impl Fn(&Value) -> bool) -> Option<Value> {
    sim.inner.lock().expect("simulator lock").locks.iter().find(|lock| matches(lock)).cloned()
}

async fn lock_by_hash(State(sim): State<Simulator>, Path(lock_hash): Path<String>) -> Response {
    let fault = sim.next_fault(Endpoint::Lock);
    match find_lock(&sim, |lock| lock["lock_hash"].as_str().is_some_and(|h| h.eq_ignore_ascii_case(&lock_hash))) {
        Some(lock) => respond(fault, lock).await,
        None => api_error(StatusCode::NOT_FOUND, "lock not found"),
    }
}

async fn lock_by_config_hash(State(sim): State<Simulator>, Path(config_hash): Path<String>) -> Response {
    let fault = sim.next_fault(Endpoint::Lock);
    let matches = |lock: &Value| {
        lock["cluster_definition"]["config_hash"].as_str().is_some_and(|h| h.eq_ignore_ascii_case(&config_hash))
    };
    match find_lock(&sim, matches) {
        Some(lock) => respond(fault, lock).await,
        None => api_error(StatusCode::NOT_FOUND, "lock not found"),
    }
}

/// Charon's `--publish` target (it posts to `<host>/lock`, dropping `/v1`).
async fn publish_lock(State(sim): State<Simulator>, Json(lock): Json<Value>) -> Response {
    let Some(lock_hash) = lock["lock_hash"].as_str().map(str::to_string) else {
        return api_error(StatusCode::BAD_REQUEST, "lock_hash is missing");
    };
    let mut inner = sim.inner.lock().expect("simulator lock");
    // Publishing again is an idempotent retry (201), as the API documents.
    if let Some(published) = inner.locks.iter().find(|l| l["lock_hash"].as_str() == Some(&lock_hash)) {
        return (StatusCode::CREATED, Json(published.clone())).into_response();
    }
    let config_hash = lock["cluster_definition"]["config_hash"].as_str().unwrap_or_default().to_string();
    if inner.cluster(&config_hash).is_none() {
        return api_error(
            StatusCode::NOT_FOUND,
            "The cluster definition corresponding to this lock file was not found",
        );
    }
    inner.locks.push(lock.clone());
    (StatusCode::CREATED, Json(lock)).into_response()
}

/// `GET /v1/lock/operator/{address}`: the locks of every cluster the
/// operator is in, paged as the operator's definitions are.
async fn locks_for_operator(
    State(sim): State<Simulator>,
    Path(address): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let (Some(page), Some(limit)) = (query.page, query.limit) else {
        return api_error(StatusCode::BAD_REQUEST, "page and limit are required");
    };
    let limit = limit.clamp(1, 100);
    let inner = sim.inner.lock().expect("simulator lock");
    let locks: Vec<Value> = inner
        .locks
        .iter()
        .filter(|lock| operator_index(&lock["cluster_definition"], &address).is_some())
        .cloned()
        .collect();
    let first = u64::from(inner.one_based_pages);
    if page < first {
        return api_error(StatusCode::BAD_REQUEST, "page starts at 1");
    }
    let slice: Vec<Value> =
        locks.iter().skip(((page - first) * limit) as usize).take(limit as usize).cloned().collect();
    let total_pages = (locks.len() as u64).div_ceil(limit);
    Json(json!({"cluster_locks": slice, "total_count": locks.len(), "total_pages": total_pages})).into_response()
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
    /// The node's ENR, when the plan had none for this operator.
    #[serde(default)]
    enr: Option<String>,
}

async fn control_sign(
    State(sim): State<Simulator>,
    Path(config_hash): Path<String>,
    Json(request): Json<SignRequest>,
) -> Response {
    match sim.sign_with(&config_hash, request.operator, request.enr.as_deref()) {
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
        .map(|cluster| {
            json!({
                "config_hash": cluster.config_hash(),
                "signed": cluster.signed_count(),
                "operators": cluster.operators().len(),
                "operator_addresses": cluster.operators().iter().map(|op| op["address"].clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({"clusters": clusters, "requests": inner.requests, "locks": inner.locks.len()}))
}
