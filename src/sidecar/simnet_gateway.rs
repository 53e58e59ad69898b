//! For tests only (`charon.simnetBeaconMock`). Charon's simulated beacon
//! node answers a validator client through Charon's validator API, but
//! v1.10.3's mock has no `/eth/v1/node/health` and serves its static
//! answers (genesis, spec, fork schedule) as `text/plain`. Prysm then never
//! starts its duties: it waits for a healthy node, and reads a non-JSON
//! genesis answer as no genesis at all. This gateway sits between the VC and
//! Charon on loopback, answers the health check, labels JSON answers as
//! JSON, and passes everything else through unchanged, so the VC signs
//! through Charon exactly as it would beside a real beacon node.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use url::Url;

/// The mock's static answers are a few KiB; a larger text answer is passed
/// on as it is.
const MAX_RELABELLED_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SimnetGatewayError {
    #[error("listening on {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    #[error("serving: {0}")]
    Serve(std::io::Error),
    #[error("building the HTTP client: {0}")]
    Client(reqwest::Error),
}

struct Upstream {
    client: reqwest::Client,
    charon: Url,
}

/// Serves on `listen`, forwarding to Charon's validator API at `charon`.
pub async fn serve(listen: SocketAddr, charon: Url) -> Result<(), SimnetGatewayError> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(SimnetGatewayError::Client)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SimnetGatewayError::Listen { address: listen, source })?;
    tracing::info!(%listen, %charon, "simnet gateway: the validator client reaches Charon through here");
    let app = axum::Router::new()
        .route("/eth/v1/node/health", get(|| async { StatusCode::OK }))
        .fallback(forward)
        .with_state(Arc::new(Upstream { client, charon }));
    axum::serve(listener, app).await.map_err(SimnetGatewayError::Serve)
}

async fn forward(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    let answer = super::beacon_proxy::relay(&upstream.client, &upstream.charon, &[], request).await;
    let is_text = answer
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !is_text {
        return answer;
    }
    let (mut parts, body) = answer.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_RELABELLED_BYTES).await else {
        return (StatusCode::BAD_GATEWAY, "Charon's answer was cut off or too large").into_response();
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn charon_like_mock() -> Url {
        let app = axum::Router::new()
            .route(
                "/eth/v1/beacon/genesis",
                get(|| async { ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], r#"{"data":{}}"#) }),
            )
            .route("/eth/v1/node/version", get(|| async { ([(header::CONTENT_TYPE, "text/plain")], "not json") }))
            .route("/eth/v1/node/health", get(|| async { StatusCode::NOT_FOUND }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}").parse().unwrap()
    }

    #[tokio::test]
    async fn the_gateway_answers_health_and_labels_the_mocks_json_as_json_but_nothing_else() {
        let charon = charon_like_mock().await;
        let port = crate::process::free_port().unwrap();
        let listen = SocketAddr::from(([127, 0, 0, 1], port));
        tokio::spawn(serve(listen, charon));
        let get = |path: &str| reqwest::get(format!("http://{listen}{path}"));
        let mut health = get("/eth/v1/node/health").await;
        for _ in 0..50 {
            if health.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            health = get("/eth/v1/node/health").await;
        }
        assert_eq!(health.unwrap().status(), 200);
        let genesis = get("/eth/v1/beacon/genesis").await.unwrap();
        assert_eq!(genesis.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(genesis.text().await.unwrap(), r#"{"data":{}}"#);
        let version = get("/eth/v1/node/version").await.unwrap();
        assert_eq!(version.headers()[header::CONTENT_TYPE], "text/plain");
        assert_eq!(version.text().await.unwrap(), "not json");
    }
}
