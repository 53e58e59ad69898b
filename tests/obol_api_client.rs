//! The Obol API client against the simulator over real HTTP: paging in both
//! numbering styles, and every fault kind. Each test checks the end state
//! (a result, "retry later", or a named error) and that the client neither
//! skipped a page nor looped.

use std::{net::SocketAddr, time::Duration};

use dv_pod::{
    definition::{DefinitionError, Network, invite::OperatorAddress},
    enr::EnrPrivateKey,
    obol_api::{
        ApiError, ClientConfig, ErrorKind, ObolApi, RetryPolicy,
        simulator::{ClusterPlan, Endpoint, Fault, FaultRule, OperatorPlan, SignAt, Simulator, SimulatorConfig},
    },
};
use serde_json::Value;

const OUR_KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

fn our_address() -> OperatorAddress {
    let key = k256::ecdsa::SigningKey::from_slice(&hex::decode(OUR_KEY).unwrap()).unwrap();
    dv_pod::definition::eip712::address_of(key.verifying_key()).to_checksum(None).parse().unwrap()
}

fn plan(sign: SignAt) -> ClusterPlan {
    let operators = (0..4)
        .map(|i| OperatorPlan {
            enr: Some(EnrPrivateKey::generate().unwrap().record().text().to_string()),
            eth_private_key: (i == 0).then(|| OUR_KEY.to_string()),
            sign: sign.clone(),
        })
        .collect();
    ClusterPlan { name: "client test".into(), network: Network::Hoodi, num_validators: 1, threshold: None, operators }
}

async fn simulator_with(clusters: usize, one_based_pages: bool, faults: Vec<FaultRule>) -> (Simulator, SocketAddr) {
    let config =
        SimulatorConfig { clusters: (0..clusters).map(|_| plan(SignAt::Now)).collect(), faults, one_based_pages };
    let simulator = Simulator::new(&config).unwrap();
    let address = simulator.clone().spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (simulator, address)
}

fn client(address: SocketAddr, timeout: Duration) -> ObolApi {
    let mut config = ClientConfig::new(format!("http://{address}").parse().unwrap());
    config.request_timeout = timeout;
    config.page_limit = 10;
    config.retry = RetryPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(200),
        factor: 2.0,
        attempts_per_call: 3,
    };
    ObolApi::new(config)
}

async fn requests_to(address: SocketAddr, endpoint: &str) -> u64 {
    let state: Value = reqwest::get(format!("http://{address}/control/state")).await.unwrap().json().await.unwrap();
    state["requests"][endpoint].as_u64().unwrap_or(0)
}

fn rule(endpoint: Endpoint, fault: Fault, times: Option<u32>) -> FaultRule {
    FaultRule { endpoint, fault, times }
}

async fn list(api: &ObolApi) -> Result<Vec<String>, ApiError> {
    let listed = api.definitions_for_operator(&our_address()).await?;
    Ok(listed.into_iter().map(|l| l.config_hash.unwrap()).collect())
}

#[tokio::test]
async fn every_definition_across_pages_is_found_once_with_zero_based_pages() {
    let (_, address) = simulator_with(25, false, vec![]).await;
    let found = list(&client(address, Duration::from_secs(5))).await.unwrap();
    assert_eq!(found.len(), 25);
    assert_eq!(found.iter().collect::<std::collections::HashSet<_>>().len(), 25);
    assert_eq!(requests_to(address, "OperatorDefinitions").await, 3, "pages 0, 1 and 2, nothing more");
}

#[tokio::test]
async fn every_definition_across_pages_is_found_once_with_one_based_pages() {
    let (_, address) = simulator_with(25, true, vec![]).await;
    let found = list(&client(address, Duration::from_secs(5))).await.unwrap();
    assert_eq!(found.len(), 25);
    assert_eq!(requests_to(address, "OperatorDefinitions").await, 4, "the refused page 0, then pages 1 to 3");
}

#[tokio::test]
async fn the_page_numbering_is_learnt_once_so_a_later_poll_of_one_page_is_one_request() {
    for (one_based, first_poll) in [(false, 1), (true, 2)] {
        let (_, address) = simulator_with(3, one_based, vec![]).await;
        let api = client(address, Duration::from_secs(5));
        assert_eq!(list(&api).await.unwrap().len(), 3);
        assert_eq!(requests_to(address, "OperatorDefinitions").await, first_poll, "one_based {one_based}");
        for _ in 0..5 {
            assert_eq!(list(&api).await.unwrap().len(), 3);
        }
        assert_eq!(requests_to(address, "OperatorDefinitions").await, first_poll + 5, "one_based {one_based}");
    }
}

#[tokio::test]
async fn with_no_invite_each_poll_is_one_request() {
    let (_, address) = simulator_with(0, false, vec![]).await;
    let api = client(address, Duration::from_secs(5));
    for _ in 0..5 {
        assert!(list(&api).await.unwrap().is_empty());
    }
    assert_eq!(requests_to(address, "OperatorDefinitions").await, 5);
}

#[tokio::test]
async fn an_operator_the_api_does_not_know_has_no_invites_yet() {
    let (_, address) = simulator_with(0, false, vec![]).await;
    assert_eq!(list(&client(address, Duration::from_secs(5))).await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn a_base_url_with_a_trailing_slash_or_a_path_prefix_reaches_the_same_endpoints() {
    let (simulator, _) = simulator_with(2, false, vec![]).await;
    let nested = axum::Router::new().nest("/api", simulator.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, nested).await });
    for base in [format!("http://{address}/api"), format!("http://{address}/api/")] {
        let api = ObolApi::new(ClientConfig::new(base.parse().unwrap()));
        assert_eq!(list(&api).await.unwrap().len(), 2, "base {base}");
    }
}

#[tokio::test]
async fn a_server_error_is_retried_and_then_succeeds() {
    let (_, address) =
        simulator_with(1, false, vec![rule(Endpoint::OperatorDefinitions, Fault::ServerError, Some(2))]).await;
    assert_eq!(list(&client(address, Duration::from_secs(5))).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_server_that_keeps_failing_ends_in_a_retryable_server_error_after_the_attempt_budget() {
    let (_, address) = simulator_with(1, false, vec![rule(Endpoint::Any, Fault::ServerError, None)]).await;
    let error = list(&client(address, Duration::from_secs(5))).await.unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(error.kind(), ErrorKind::ServerError);
    assert_eq!(requests_to(address, "OperatorDefinitions").await, 3, "three attempts, no busy loop");
}

#[tokio::test]
async fn rate_limiting_is_waited_out_for_as_long_as_retry_after_says() {
    let (_, address) = simulator_with(
        1,
        false,
        vec![rule(Endpoint::OperatorDefinitions, Fault::TooManyRequests { retry_after_seconds: 1 }, Some(1))],
    )
    .await;
    let started = std::time::Instant::now();
    assert_eq!(list(&client(address, Duration::from_secs(5))).await.unwrap().len(), 1);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was not honoured");
}

#[tokio::test]
async fn a_hanging_server_times_out_as_a_retryable_timeout() {
    let (_, address) = simulator_with(1, false, vec![rule(Endpoint::Any, Fault::Hang { seconds: 30.0 }, None)]).await;
    let started = std::time::Instant::now();
    let error = list(&client(address, Duration::from_millis(300))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_slow_body_within_the_timeout_is_read_and_one_beyond_it_times_out() {
    let slow = |rate| vec![rule(Endpoint::Any, Fault::SlowBody { bytes_per_second: rate }, None)];
    let (_, address) = simulator_with(1, false, slow(200_000)).await;
    assert_eq!(list(&client(address, Duration::from_secs(5))).await.unwrap().len(), 1);

    let (_, address) = simulator_with(1, false, slow(100)).await;
    let error = list(&client(address, Duration::from_millis(500))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
}

#[tokio::test]
async fn truncated_json_and_a_wrong_content_type_are_malformed_and_retryable() {
    for fault in [Fault::TruncatedJson, Fault::WrongContentType] {
        let (_, address) = simulator_with(1, false, vec![rule(Endpoint::Any, fault.clone(), None)]).await;
        let error = list(&client(address, Duration::from_secs(5))).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Malformed, "{fault:?}: {error}");
        assert!(error.is_retryable());
    }
}

#[tokio::test]
async fn empty_pages_end_the_listing_without_looping() {
    let (_, address) = simulator_with(5, false, vec![rule(Endpoint::Any, Fault::EmptyPage, None)]).await;
    assert_eq!(list(&client(address, Duration::from_secs(5))).await.unwrap(), Vec::<String>::new());
    assert!(requests_to(address, "OperatorDefinitions").await <= 2);
}

#[tokio::test]
async fn a_total_pages_that_changes_between_calls_neither_loses_nor_repeats_definitions() {
    let (_, address) = simulator_with(25, false, vec![rule(Endpoint::Any, Fault::ShiftingTotalPages, None)]).await;
    let found = list(&client(address, Duration::from_secs(5))).await.unwrap();
    assert_eq!(found.len(), 25);
    assert!(requests_to(address, "OperatorDefinitions").await <= 6);
}

#[tokio::test]
async fn a_definition_repeated_on_the_next_page_is_listed_once() {
    let (_, address) = simulator_with(25, false, vec![rule(Endpoint::Any, Fault::DuplicateAcrossPages, None)]).await;
    let found = list(&client(address, Duration::from_secs(5))).await.unwrap();
    assert_eq!(found.len(), 25);
}

#[tokio::test]
async fn an_unknown_definition_version_is_reported_and_the_others_still_listed() {
    let (_, address) = simulator_with(2, false, vec![rule(Endpoint::Any, Fault::UnknownVersion, None)]).await;
    let listed = client(address, Duration::from_secs(5)).definitions_for_operator(&our_address()).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed.iter().filter(|l| l.parsed.is_ok()).count(), 2);
    let unknown = listed.iter().find_map(|l| l.parsed.as_ref().err()).unwrap();
    assert_eq!(*unknown, DefinitionError::UnsupportedVersion("v9.9.9".into()));
}

#[tokio::test]
async fn a_client_error_is_reported_once_and_never_retried() {
    let rejecting = axum::Router::new().fallback(|| async { (axum::http::StatusCode::UNAUTHORIZED, "no") });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, rejecting).await });
    let error = list(&client(address, Duration::from_secs(5))).await.unwrap_err();
    assert!(matches!(error, ApiError::Rejected { status: 401, .. }), "{error}");
    assert!(error.to_string().contains("apiEndpoint"), "the message names the value to fix: {error}");
}

#[tokio::test]
async fn a_definition_and_its_signatures_arrive_as_operators_sign() {
    let (simulator, address) = simulator_with(0, false, vec![]).await;
    let created = simulator.create(plan(SignAt::Manual)).unwrap();
    let api = client(address, Duration::from_secs(5));
    let fetched = api.definition(&created.config_hash).await.unwrap().unwrap().parsed.unwrap();
    assert!(fetched.operators.iter().all(|o| o.enr_signature.is_empty()));

    for operator in 0..4 {
        simulator.sign(&created.config_hash, operator).unwrap();
    }
    let signed = api.definition(&created.config_hash).await.unwrap().unwrap().parsed.unwrap();
    assert!(
        dv_pod::definition::verify::verify(&signed).is_valid(),
        "{:?}",
        dv_pod::definition::verify::verify(&signed)
    );
    assert!(api.definition(&format!("0x{}", "00".repeat(32))).await.unwrap().is_none());
}

#[tokio::test]
async fn an_operator_accepts_with_their_enr_through_the_real_put_endpoint() {
    use dv_pod::definition::{Definition, eip712};
    let (simulator, address) = simulator_with(0, false, vec![]).await;
    let mut manual = plan(SignAt::Manual);
    manual.operators[0].enr = None;
    let created = simulator.create(manual).unwrap();
    let url = format!("http://{address}/v1/definition/{}", created.config_hash);
    let http = reqwest::Client::new();
    let current: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    let definition = Definition::from_value(current).unwrap();

    let key = k256::ecdsa::SigningKey::from_slice(&hex::decode(OUR_KEY).unwrap()).unwrap();
    let enr = EnrPrivateKey::generate().unwrap().record().text().to_string();
    let config_signature = eip712::sign(eip712::operator_config_digest(&definition, Network::Hoodi), &key);
    let enr_signature = eip712::sign(eip712::enr_digest(&enr, Network::Hoodi), &key);
    let body = serde_json::json!({
        "enr": enr, "version": "v1.10.0", "address": our_address().to_string(),
        "enr_signature": format!("0x{}", hex::encode(enr_signature)), "fork_version": "0x10000910"
    });

    let forged =
        http.put(&url).bearer_auth(format!("0x{}", hex::encode(enr_signature))).json(&body).send().await.unwrap();
    assert_eq!(forged.status(), 401, "a config signature over the wrong message is refused");

    let accepted =
        http.put(&url).bearer_auth(format!("0x{}", hex::encode(config_signature))).json(&body).send().await.unwrap();
    assert_eq!(accepted.status(), 200);
    let document: Value = accepted.json().await.unwrap();
    assert_eq!(document["operators"][0]["enr"], enr);
    let again =
        http.put(&url).bearer_auth(format!("0x{}", hex::encode(config_signature))).json(&body).send().await.unwrap();
    assert_eq!(again.status(), 409);
}
