//! `dv-sidecar beacon-proxy` between the real `charon run` and a beacon
//! node, wired as the chart wires them: the auth headers from the Secret
//! reach the beacon node on Charon's requests, and appear in no log,
//! Charon's included (Charon logs every setting it is given, which is why it
//! is never given the headers).

mod support;

use std::{process::Command, time::Duration};

use axum::http::HeaderMap;
use support::{
    charon::create_cluster,
    process::{free_port, spawn},
};

const TOKEN: &str = "token-from-the-secret";

#[tokio::test]
async fn charons_beacon_requests_carry_the_secrets_headers_which_no_log_shows() {
    let work = tempfile::tempdir().unwrap();
    let node = create_cluster(work.path(), 1, &["--insecure-keys"]).join("node0");

    // A beacon node that records what reaches it and answers nothing useful.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<HeaderMap>();
    let recorder = axum::Router::new().fallback(move |headers: HeaderMap| {
        let _ = seen_tx.send(headers);
        async { axum::http::StatusCode::SERVICE_UNAVAILABLE }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let beacon = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, recorder).await });

    // The proxy container: the Secret's key mounted as a file.
    let secret = work.path().join("headers");
    std::fs::write(&secret, format!("Authorization=Bearer {TOKEN},X-Api-Key=k=v\n")).unwrap();
    let proxy_port = free_port();
    let mut proxy = Command::new(env!("CARGO_BIN_EXE_dv-sidecar"));
    proxy
        .arg("beacon-proxy")
        .arg(format!("--beacon-node-headers-file={}", secret.display()))
        .arg(format!("--upstream=http://{beacon}"))
        .arg(format!("--first-port={proxy_port}"));
    let proxy_log = work.path().join("proxy.log");
    let _proxy = spawn("beacon-proxy", proxy, &proxy_log);

    // Charon as the chart's container runs it, its beacon node the proxy.
    let unreachable_relay = dv_pod::enr::EnrPrivateKey::generate().unwrap().record();
    let mut charon = Command::new(support::bed::bin("charon"));
    charon
        .arg("run")
        .env("CHARON_LOCK_FILE", node.join("cluster-lock.json"))
        .env("CHARON_PRIVATE_KEY_FILE", node.join("charon-enr-private-key"))
        .env("CHARON_VALIDATOR_API_ADDRESS", format!("127.0.0.1:{}", free_port()))
        .env("CHARON_MONITORING_ADDRESS", format!("127.0.0.1:{}", free_port()))
        .env("CHARON_P2P_TCP_ADDRESS", format!("127.0.0.1:{}", free_port()))
        // A relay given as a multiaddr needs no lookup, so Charon starts
        // without network access (an empty value means Obol's public relays).
        .env("CHARON_P2P_RELAYS", format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", free_port(), unreachable_relay.peer_id()))
        .env("CHARON_BEACON_NODE_ENDPOINTS", format!("http://127.0.0.1:{proxy_port}"))
        .env("CHARON_LOG_FORMAT", "json");
    let charon_log = work.path().join("charon.log");
    let _charon = spawn("charon", charon, &charon_log);

    let headers = tokio::time::timeout(Duration::from_secs(60), seen.recv())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no request reached the beacon node\ncharon: {}\nproxy: {}",
                std::fs::read_to_string(&charon_log).unwrap(),
                std::fs::read_to_string(&proxy_log).unwrap()
            )
        })
        .unwrap();
    assert_eq!(headers.get("authorization").unwrap(), &format!("Bearer {TOKEN}"));
    assert_eq!(headers.get("x-api-key").unwrap(), "k=v");
    for log in [&charon_log, &proxy_log] {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(!text.is_empty() && !text.contains(TOKEN), "{} shows the header's value: {text}", log.display());
    }
}
