//! The beacon node auth headers, added on the way out. Charon logs the value
//! of every flag when it starts ("Parsed config"), and v1.10.3 redacts only
//! `*auth-token*` flags and URL passwords in `*address*` flags, not
//! `beacon-node-headers`, whether it arrives as a flag, a `CHARON_*` variable
//! or `charon.yaml`. So Charon never gets the headers: it talks plain HTTP to
//! this proxy on loopback, one port per beacon endpoint so that its own
//! choice between endpoints and fallbacks is unchanged, and the proxy adds
//! the headers read from the mounted Secret.

use std::{fmt, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    body::{Body, HttpBody},
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum BeaconProxyError {
    #[error("the beacon node headers Secret is empty; remove charon.beaconNodeHeaders.secretName or fill the key")]
    Empty,
    #[error(
        "the beacon node headers Secret holds an entry that is not name=value (entry {index}); \
         set charon.beaconNodeHeaders.secretKey to a key holding e.g. Authorization=Bearer TOKEN"
    )]
    Malformed { index: usize },
    #[error(
        "entry {index} of the beacon node headers Secret is not a valid HTTP header \
         (names are letters, digits and '-'; values are visible ASCII)"
    )]
    InvalidHeader { index: usize },
    #[error("beacon node endpoint {endpoint} is not an http(s) URL; fix charon.beaconNodeEndpoints")]
    Endpoint { endpoint: String },
    #[error("listening on {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    #[error("building the HTTP client: {0}")]
    Client(reqwest::Error),
}

/// Headers as Charon's `--beacon-node-headers` takes them:
/// `name=value[,name=value]`. `Debug` shows the names only.
#[derive(Clone)]
pub struct BeaconHeaders(Vec<(HeaderName, HeaderValue)>);

impl BeaconHeaders {
    pub fn parse(text: &str) -> Result<Self, BeaconProxyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(BeaconProxyError::Empty);
        }
        let mut headers = Vec::new();
        for (index, entry) in text.split(',').enumerate() {
            let Some((name, value)) = entry.split_once('=').filter(|(n, v)| !n.trim().is_empty() && !v.is_empty())
            else {
                return Err(BeaconProxyError::Malformed { index });
            };
            let name = HeaderName::try_from(name.trim()).map_err(|_| BeaconProxyError::InvalidHeader { index })?;
            let mut value = HeaderValue::try_from(value).map_err(|_| BeaconProxyError::InvalidHeader { index })?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        Ok(BeaconHeaders(headers))
    }
}

impl fmt::Debug for BeaconHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(name, _)| name)).finish()
    }
}

/// One beacon endpoint and the loopback address Charon reaches it on.
#[derive(Debug, Clone)]
pub struct Route {
    pub listen: SocketAddr,
    pub upstream: Url,
}

impl Route {
    /// Routes for `endpoints` on consecutive loopback ports from `first_port`,
    /// in the order Charon is given them.
    pub fn consecutive(endpoints: &[String], first_port: u16) -> Result<Vec<Route>, BeaconProxyError> {
        endpoints
            .iter()
            .enumerate()
            .map(|(i, endpoint)| {
                let upstream = Url::parse(endpoint)
                    .ok()
                    .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
                    .ok_or_else(|| BeaconProxyError::Endpoint { endpoint: redacted(endpoint) })?;
                let port = first_port.checked_add(i as u16).ok_or_else(|| BeaconProxyError::Listen {
                    address: SocketAddr::from(([127, 0, 0, 1], first_port)),
                    source: std::io::Error::other("too many endpoints for the port range"),
                })?;
                Ok(Route { listen: SocketAddr::from(([127, 0, 0, 1], port)), upstream })
            })
            .collect()
    }
}

/// An endpoint as it may be logged: scheme, host and port, never a user,
/// password, path or query (providers put API keys in any of them).
fn redacted(endpoint: &str) -> String {
    match Url::parse(endpoint) {
        Ok(url) => {
            format!("{}://{}", url.scheme(), url.host_str().unwrap_or("?"))
                + &url.port().map(|p| format!(":{p}")).unwrap_or_default()
        }
        Err(_) => "(unparseable URL)".into(),
    }
}

struct Forwarder {
    client: reqwest::Client,
    upstream: Url,
    headers: BeaconHeaders,
}

/// Binds every route, then forwards until the task is dropped. Binding
/// fails as a whole, so a port clash is reported before any traffic flows.
pub async fn serve(headers: BeaconHeaders, routes: Vec<Route>) -> Result<(), BeaconProxyError> {
    // No overall timeout: Charon keeps the beacon node's event stream open.
    // No redirects: the beacon node's answer goes back to Charon as it is.
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(BeaconProxyError::Client)?;
    let mut servers = tokio::task::JoinSet::new();
    for route in routes {
        let listener = tokio::net::TcpListener::bind(route.listen)
            .await
            .map_err(|source| BeaconProxyError::Listen { address: route.listen, source })?;
        tracing::info!(listen = %route.listen, upstream = %redacted(route.upstream.as_str()), "forwarding beacon API");
        let forwarder =
            Arc::new(Forwarder { client: client.clone(), upstream: route.upstream, headers: headers.clone() });
        let app = axum::Router::new().fallback(forward).with_state(forwarder);
        servers.spawn(async move { axum::serve(listener, app).await });
    }
    while let Some(ended) = servers.join_next().await {
        if let Ok(Err(error)) = ended {
            tracing::error!(%error, "a beacon proxy listener stopped");
        }
    }
    Ok(())
}

/// Headers that describe one connection, not the message (RFC 9110 7.6.1).
fn hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::HOST,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
}

fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    headers.iter().filter(|(name, _)| !hop_by_hop(name)).map(|(n, v)| (n.clone(), v.clone())).collect()
}

async fn forward(State(forwarder): State<Arc<Forwarder>>, request: Request) -> Response {
    relay(&forwarder.client, &forwarder.upstream, &forwarder.headers.0, request).await
}

/// Sends `request` to `upstream` (its path after the upstream's own, which
/// may carry a provider's key) with `extra` headers set, and streams the
/// answer back. Shared with `simnet_gateway`.
pub(crate) async fn relay(
    client: &reqwest::Client,
    upstream: &Url,
    extra: &[(HeaderName, HeaderValue)],
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let mut url = upstream.clone();
    let path = format!("{}{}", url.path().trim_end_matches('/'), parts.uri.path());
    url.set_path(&path);
    url.set_query(parts.uri.query());
    let mut headers = end_to_end(&parts.headers);
    for (name, value) in extra {
        headers.insert(name.clone(), value.clone());
    }
    let mut outgoing = client.request(parts.method, url).headers(headers);
    // A streamed body is sent chunked; a GET with no body must go out without one.
    if body.size_hint().exact() != Some(0) {
        outgoing = outgoing.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }
    match outgoing.send().await {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status());
            if let Some(out) = response.headers_mut() {
                *out = end_to_end(answer.headers());
            }
            response.body(Body::from_stream(answer.bytes_stream())).unwrap_or_else(|_| bad_gateway("a bad answer"))
        }
        Err(error) => {
            let upstream = redacted(upstream.as_str());
            tracing::warn!(%upstream, error = %error.without_url(), "beacon node request failed");
            bad_gateway(&format!("beacon node {upstream} did not answer"))
        }
    }
}

fn bad_gateway(message: &str) -> Response {
    (StatusCode::BAD_GATEWAY, message.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_parsed_as_charon_takes_them_and_debug_hides_values() {
        let headers = BeaconHeaders::parse("Authorization=Bearer abc,X-Key=k=v\n").unwrap();
        assert_eq!(headers.0[0].0, "authorization");
        assert_eq!(headers.0[1].1, "k=v");
        assert!(headers.0.iter().all(|(_, v)| v.is_sensitive()));
        assert_eq!(format!("{headers:?}"), r#"["authorization", "x-key"]"#);
    }

    #[test]
    fn bad_headers_name_the_entry_and_the_value_to_fix() {
        assert!(matches!(BeaconHeaders::parse("  "), Err(BeaconProxyError::Empty)));
        assert!(matches!(BeaconHeaders::parse("A=1,Bearer x"), Err(BeaconProxyError::Malformed { index: 1 })));
        assert!(matches!(BeaconHeaders::parse("Bad Name=1"), Err(BeaconProxyError::InvalidHeader { index: 0 })));
        let message = BeaconHeaders::parse("=x").unwrap_err().to_string();
        assert!(message.contains("charon.beaconNodeHeaders.secretKey"), "{message}");
    }

    #[test]
    fn routes_take_consecutive_loopback_ports_and_refuse_non_http_endpoints() {
        let endpoints = ["http://bn:5052".to_string(), "https://user:pw@rpc.example/key123".to_string()];
        let routes = Route::consecutive(&endpoints, 15052).unwrap();
        assert_eq!(routes[1].listen, SocketAddr::from(([127, 0, 0, 1], 15053)));
        let error = Route::consecutive(&["ftp://user:secret@bn/key".to_string()], 15052).unwrap_err().to_string();
        assert!(error.contains("ftp://bn") && !error.contains("secret") && !error.contains("key"), "{error}");
    }

    #[tokio::test]
    async fn requests_keep_method_path_query_and_body_and_answers_stream_back() {
        let upstream = axum::Router::new().fallback(|request: Request| async move {
            let seen = format!(
                "{} {} auth={:?} chunked={}",
                request.method(),
                request.uri(),
                request.headers().get("authorization").map(|v| v.to_str().unwrap().to_string()),
                request.headers().contains_key("transfer-encoding"),
            );
            let body = axum::body::to_bytes(request.into_body(), 1024).await.unwrap();
            // The first chunk arrives while the answer is still open, as an event stream's does.
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::convert::Infallible>>(1);
            tokio::spawn(async move {
                tx.send(Ok(format!("{seen} body={}\n", String::from_utf8_lossy(&body)))).await.unwrap();
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
            Body::from_stream(tokio_stream_from(rx))
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, upstream).await });

        let proxy_port = crate::process::free_port().unwrap();
        let routes = Route::consecutive(&[format!("http://{upstream_address}/prefix/")], proxy_port).unwrap();
        let headers = BeaconHeaders::parse("Authorization=Bearer abc").unwrap();
        tokio::spawn(serve(headers, routes));

        let client = reqwest::Client::new();
        let proxy = format!("http://127.0.0.1:{proxy_port}");
        let mut answer = loop {
            let request = client.post(format!("{proxy}/eth/v1/events?topics=head")).header("authorization", "charon's");
            match request.body("duty").send().await {
                Ok(answer) => break answer,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let first = tokio::time::timeout(Duration::from_secs(5), answer.chunk()).await.unwrap().unwrap().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&first),
            "POST /prefix/eth/v1/events?topics=head auth=Some(\"Bearer abc\") chunked=false body=duty\n"
        );
        let mut answer = client.get(format!("{proxy}/eth/v1/node/version")).send().await.unwrap();
        let first = tokio::time::timeout(Duration::from_secs(5), answer.chunk()).await.unwrap().unwrap().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&first),
            "GET /prefix/eth/v1/node/version auth=Some(\"Bearer abc\") chunked=false body=\n"
        );
    }

    fn tokio_stream_from<T>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> + Send + 'static
    where
        T: Send + 'static,
    {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
