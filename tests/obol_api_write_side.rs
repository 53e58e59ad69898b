//! The API's write side as the Launchpad uses it, through our one client
//! against the simulator over real HTTP: a creator proposes a cluster, each
//! operator accepts with their node's ENR, and every refusal the real API
//! documents comes back with its status and a JSON body naming the reason.

use std::net::SocketAddr;

use dv_pod::{
    definition::{Definition, Network, verify},
    enr::EnrPrivateKey,
    obol_api::{
        ApiError, ClientConfig, ObolApi,
        launchpad::{ClusterProposal, Wallet, accept, accept_terms},
        simulator::{Simulator, SimulatorConfig, TERMS_HASH, TERMS_VERSION},
    },
};
use serde_json::Value;

async fn api() -> (ObolApi, SocketAddr) {
    let simulator = Simulator::new(&SimulatorConfig::default()).unwrap();
    let address = simulator.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (ObolApi::new(ClientConfig::new(format!("http://{address}").parse().unwrap())), address)
}

fn proposal(operators: &[Wallet]) -> ClusterProposal {
    let addresses: Vec<String> = operators.iter().map(Wallet::address).collect();
    ClusterProposal {
        name: "write side".into(),
        network: Network::Hoodi,
        num_validators: 1,
        threshold: None,
        withdrawal_address: addresses[0].clone(),
        fee_recipient_address: addresses[0].clone(),
        operators: addresses,
    }
}

fn wallets() -> Vec<Wallet> {
    (0..4).map(|_| Wallet::generate().unwrap()).collect()
}

/// Every wallet accepts the terms first, as the Launchpad makes them.
async fn terms_accepted(api: &ObolApi, wallets: &[Wallet]) {
    for wallet in wallets {
        api.accept_terms(&accept_terms(TERMS_HASH, TERMS_VERSION, Network::Hoodi, wallet)).await.unwrap();
    }
}

fn enr() -> String {
    EnrPrivateKey::generate().unwrap().record().text().to_string()
}

fn refused_with(result: Result<Value, ApiError>, status: u16, words: &str) {
    match result {
        Err(ApiError::Rejected { status: got, body, .. }) => {
            assert_eq!(got, status, "{body}");
            let body: Value = serde_json::from_str(&body).expect("a JSON error body");
            assert_eq!(body["statusCode"], status, "{body}");
            assert!(body["message"].as_str().unwrap().contains(words), "{body}");
        }
        other => panic!("expected a {status} refusal naming {words:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_proposed_cluster_accepted_by_every_operator_verifies_as_charon_would() {
    let (api, _) = api().await;
    let operators = wallets();
    terms_accepted(&api, &operators).await;
    let signed = proposal(&operators).sign(&operators[0]).unwrap();
    let stored = api.propose_cluster(&signed).await.unwrap();
    assert_eq!(stored["config_hash"], signed.config_hash.as_str());

    let mut definition = Definition::from_value(stored).unwrap();
    for wallet in &operators {
        let acceptance = accept(&definition, Network::Hoodi, &enr(), wallet);
        definition =
            Definition::from_value(api.accept_invite(&signed.config_hash, &acceptance).await.unwrap()).unwrap();
    }
    let served = api.definition(&signed.config_hash).await.unwrap().unwrap().parsed.unwrap();
    assert_eq!(served, definition, "the API serves the definition the last acceptance returned");
    let report = verify::verify(&served);
    assert!(report.is_valid(), "{report:#?}");
}

#[tokio::test]
async fn a_proposal_is_refused_when_unsigned_by_its_creator_tampered_or_a_duplicate() {
    let (api, _) = api().await;
    let operators = wallets();
    terms_accepted(&api, &operators).await;
    let mut signed = proposal(&operators).sign(&operators[0]).unwrap();
    let creator_signature = signed.creator_signature.clone();
    signed.creator_signature = proposal(&operators).sign(&operators[1]).unwrap().creator_signature;
    refused_with(api.propose_cluster(&signed).await, 401, "not the creator's");

    signed.creator_signature = creator_signature;
    let mut tampered = signed.definition.clone();
    tampered["threshold"] = 4.into();
    let honest = std::mem::replace(&mut signed.definition, tampered);
    refused_with(api.propose_cluster(&signed).await, 400, "config_hash does not match");

    signed.definition = honest;
    api.propose_cluster(&signed).await.unwrap();
    refused_with(api.propose_cluster(&signed).await, 409, "already exists");
}

#[tokio::test]
async fn an_acceptance_is_refused_from_a_stranger_with_a_reused_enr_a_wrong_fork_or_twice() {
    let (api, _) = api().await;
    let operators = wallets();
    terms_accepted(&api, &operators).await;
    let signed = proposal(&operators).sign(&operators[0]).unwrap();
    let definition = Definition::from_value(api.propose_cluster(&signed).await.unwrap()).unwrap();
    let hash = &signed.config_hash;

    let stranger = Wallet::generate().unwrap();
    terms_accepted(&api, std::slice::from_ref(&stranger)).await;
    refused_with(
        api.accept_invite(hash, &accept(&definition, Network::Hoodi, &enr(), &stranger)).await,
        401,
        "not an operator",
    );

    let mut wrong_fork = accept(&definition, Network::Hoodi, &enr(), &operators[1]);
    wrong_fork.body["fork_version"] = "0x00000000".into();
    refused_with(api.accept_invite(hash, &wrong_fork).await, 400, "fork_version");

    let mut forged = accept(&definition, Network::Hoodi, &enr(), &operators[1]);
    forged.config_signature = accept(&definition, Network::Hoodi, &enr(), &operators[2]).config_signature;
    refused_with(api.accept_invite(hash, &forged).await, 401, "not this operator's");

    let shared = enr();
    api.accept_invite(hash, &accept(&definition, Network::Hoodi, &shared, &operators[1])).await.unwrap();
    refused_with(
        api.accept_invite(hash, &accept(&definition, Network::Hoodi, &shared, &operators[2])).await,
        409,
        "ENR",
    );
    refused_with(
        api.accept_invite(hash, &accept(&definition, Network::Hoodi, &enr(), &operators[1])).await,
        409,
        "already accepted",
    );
    refused_with(
        api.accept_invite(
            &format!("0x{}", "00".repeat(32)),
            &accept(&definition, Network::Hoodi, &enr(), &operators[3]),
        )
        .await,
        404,
        "not found",
    );
}

#[tokio::test]
async fn health_and_unknown_routes_answer_json_as_the_real_api_does() {
    let (_, address) = api().await;
    let health = reqwest::get(format!("http://{address}/v1/_health")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");
    let unknown = reqwest::get(format!("http://{address}/v1/no/such/route")).await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.headers()["content-type"].to_str().unwrap().contains("application/json"));
    assert_eq!(unknown.json::<Value>().await.unwrap()["statusCode"], 404);
}

#[tokio::test]
async fn nothing_is_proposed_or_accepted_before_the_terms_are_and_only_the_current_terms_signed_count() {
    let (api, _) = api().await;
    let operators = wallets();
    let signed = proposal(&operators).sign(&operators[0]).unwrap();
    refused_with(api.propose_cluster(&signed).await, 401, "terms and conditions");

    let old_terms = accept_terms(&format!("0x{}", "00".repeat(32)), TERMS_VERSION, Network::Hoodi, &operators[0]);
    refused_with(api.accept_terms(&old_terms).await, 400, "Invalid terms and conditions hash");
    let mut forged = accept_terms(TERMS_HASH, TERMS_VERSION, Network::Hoodi, &operators[0]);
    forged.signature = accept_terms(TERMS_HASH, TERMS_VERSION, Network::Hoodi, &operators[1]).signature;
    refused_with(api.accept_terms(&forged).await, 401, "Signature verification failed");

    terms_accepted(&api, &operators[..1]).await;
    let definition = Definition::from_value(api.propose_cluster(&signed).await.unwrap()).unwrap();
    let early = accept(&definition, Network::Hoodi, &enr(), &operators[1]);
    refused_with(api.accept_invite(&signed.config_hash, &early).await, 401, "terms and conditions");
    terms_accepted(&api, &operators[1..2]).await;
    api.accept_invite(&signed.config_hash, &early).await.unwrap();
}

#[tokio::test]
async fn a_lock_publishes_once_for_a_known_cluster_and_lists_under_each_operator() {
    let (api, address) = api().await;
    let operators = wallets();
    terms_accepted(&api, &operators).await;
    let signed = proposal(&operators).sign(&operators[0]).unwrap();
    let definition = api.propose_cluster(&signed).await.unwrap();
    let lock = serde_json::json!({"lock_hash": format!("0x{}", "ab".repeat(32)), "cluster_definition": definition});
    let http = reqwest::Client::new();
    let publish = |lock: Value| http.post(format!("http://{address}/v1/lock")).json(&lock).send();
    assert_eq!(publish(lock.clone()).await.unwrap().status(), 201);
    assert_eq!(publish(lock.clone()).await.unwrap().status(), 201, "a retry is idempotent");
    let mut stranger = lock.clone();
    stranger["cluster_definition"]["config_hash"] = format!("0x{}", "00".repeat(32)).into();
    stranger["lock_hash"] = format!("0x{}", "cd".repeat(32)).into();
    assert_eq!(publish(stranger).await.unwrap().status(), 404, "no lock for a definition the API never saw");

    let url = format!("http://{address}/v1/lock/operator/{}?page=0&limit=10", operators[2].address());
    let listed: Value = http.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!((&listed["total_count"], &listed["cluster_locks"][0]["lock_hash"]), (&1.into(), &lock["lock_hash"]));
    let url = format!("http://{address}/v1/lock/operator/{}?page=0&limit=10", Wallet::generate().unwrap().address());
    let none: Value = http.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(none["total_count"], 0);
}
