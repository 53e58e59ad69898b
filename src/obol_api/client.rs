//! The Obol API client: operator invites (paged), definitions by config
//! hash, and locks. Every call has a timeout, a capped body, and retries with
//! backoff for what retrying can fix; everything else is a named error.

use std::{collections::HashSet, time::Duration};

use reqwest::{StatusCode, header};
use serde_json::Value;
use url::Url;

use super::{
    launchpad::{Acceptance, SignedProposal, TermsAcceptance},
    retry::RetryPolicy,
};
use crate::definition::{Definition, DefinitionError, invite::OperatorAddress};

/// Client settings; the chart's `charon.dkgSidecar.*` values map onto them.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// e.g. `https://api.obol.tech`, with or without a trailing slash or path.
    pub base_url: Url,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// `limit` of each operator-page request.
    pub page_limit: u32,
    /// Bodies larger than this are refused (Charon caps definitions at 16 MB).
    pub max_body_bytes: usize,
}

impl ClientConfig {
    pub fn new(base_url: Url) -> Self {
        ClientConfig {
            base_url,
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            page_limit: 10,
            max_body_bytes: 16 << 20,
        }
    }

    /// `scheme://host:port` of the API, the port spelled out even when it is
    /// the scheme's default: what a pod must be able to connect to.
    pub fn endpoint(&self) -> String {
        let url = &self.base_url;
        let host = url.host_str().unwrap_or_default();
        match url.port_or_known_default() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        }
    }
}

/// What went wrong talking to the API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Worth retrying later: timeouts, connection failures, 5xx, 429,
    /// truncated or non-JSON bodies.
    #[error("Obol API {url}: {reason} (will retry)")]
    Transient { url: String, kind: ErrorKind, reason: String, retry_after: Option<Duration> },
    /// A 4xx that retrying will not fix (wrong endpoint, bad request, auth).
    #[error(
        "Obol API {url} answered {status}: {body} (check charon.dkgSidecar.apiEndpoint; retrying will not fix this)"
    )]
    Rejected { url: String, status: u16, body: String },
    #[error("Obol API {url}: {reason}")]
    Invalid { url: String, reason: String },
}

/// A coarse error class, for metrics and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Timeout,
    Connect,
    ServerError,
    RateLimited,
    Malformed,
    TooLarge,
    Rejected,
    Paging,
}

impl ApiError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ApiError::Transient { .. })
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Transient { kind, .. } => *kind,
            ApiError::Rejected { .. } => ErrorKind::Rejected,
            ApiError::Invalid { .. } => ErrorKind::Paging,
        }
    }
}

/// A definition as listed by the API: parsed, or why it could not be.
#[derive(Debug, Clone)]
pub struct ListedDefinition {
    /// The `config_hash` field as the API wrote it, if any.
    pub config_hash: Option<String>,
    pub parsed: Result<Definition, DefinitionError>,
}

impl ListedDefinition {
    fn from_value(value: Value) -> Self {
        let config_hash = value.get("config_hash").and_then(Value::as_str).map(str::to_ascii_lowercase);
        ListedDefinition { config_hash, parsed: Definition::from_value(value) }
    }
}

/// Reads one operator page; exposed for the property tests.
pub fn parse_page(body: Value, url: &str) -> Result<Vec<ListedDefinition>, ApiError> {
    Page::parse(body, url).map(|page| page.items.into_iter().map(ListedDefinition::from_value).collect())
}

/// One page of `GET /v1/definition/operator/{address}`, read tolerantly:
/// the documented `{cluster_definitions, total_count, total_pages}` and the
/// `has_next_page` / `next_page` variants seen in the wild.
struct Page {
    items: Vec<Value>,
    total_pages: Option<u64>,
    has_next_page: Option<bool>,
    next_page_is_null: bool,
}

impl Page {
    fn parse(body: Value, url: &str) -> Result<Page, ApiError> {
        let malformed = |reason: &str| ApiError::Transient {
            url: url.to_string(),
            kind: ErrorKind::Malformed,
            reason: reason.to_string(),
            retry_after: None,
        };
        let Value::Object(mut map) = body else {
            return Err(malformed("the page is not a JSON object"));
        };
        let items = match map.remove("cluster_definitions") {
            Some(Value::Array(items)) => items,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(malformed("cluster_definitions is not a list")),
        };
        Ok(Page {
            items,
            total_pages: map.get("total_pages").and_then(Value::as_u64),
            has_next_page: map.get("has_next_page").and_then(Value::as_bool),
            next_page_is_null: map.get("next_page").is_some_and(Value::is_null),
        })
    }

    fn identity(&self) -> Vec<String> {
        self.items.iter().map(item_identity).collect()
    }
}

/// A definition's identity across pages: its config hash, or its text.
fn item_identity(item: &Value) -> String {
    item.get("config_hash").and_then(Value::as_str).map(str::to_ascii_lowercase).unwrap_or_else(|| item.to_string())
}

/// One operator page as the server answered it.
/// A page read and where it sits in the listing.
struct PageAt {
    page: Page,
    index: u64,
    one_based: bool,
}

impl PageAt {
    /// Whether a page follows, by whatever the server says of its paging.
    fn has_more(&self, page_limit: u32) -> bool {
        let page = &self.page;
        if page.items.is_empty() || page.has_next_page == Some(false) || page.next_page_is_null {
            false
        } else if let Some(total) = page.total_pages {
            if self.one_based { self.index < total } else { self.index + 1 < total }
        } else {
            page.has_next_page == Some(true) || page.items.len() as u64 >= page_limit as u64
        }
    }
}

/// The listing so far, each definition once.
#[derive(Default)]
struct Collected {
    seen: HashSet<String>,
    listed: Vec<ListedDefinition>,
}

impl Collected {
    /// Adds the page's new items; returns how many were new.
    fn absorb(&mut self, page: &Page) -> usize {
        let mut new = 0;
        for item in &page.items {
            if self.seen.insert(item_identity(item)) {
                self.listed.push(ListedDefinition::from_value(item.clone()));
                new += 1;
            }
        }
        new
    }
}

enum Fetched {
    Page(Page),
    /// 404: the API knows no definitions for this operator.
    NotFound,
    /// Page 0 refused (400 or 422): the pages count from 1.
    Refused,
}

/// A guard against a server whose paging never ends.
const MAX_PAGES: u64 = 1000;

/// The Obol API client.
#[derive(Debug, Clone)]
pub struct ObolApi {
    http: reqwest::Client,
    base: Url,
    config: ClientConfig,
    /// Whether the operator pages count from 1, once an answer told.
    one_based_pages: std::sync::Arc<std::sync::Mutex<Option<bool>>>,
}

impl ObolApi {
    pub fn new(config: ClientConfig) -> Self {
        let mut base = config.base_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .user_agent(format!("dv-pod/{}", crate::VERSION))
            .build()
            .expect("a reqwest client with rustls and a timeout always builds");
        ObolApi { http, base, config, one_based_pages: Default::default() }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Every definition that names `operator`, across all pages, each once.
    /// An unknown operator (404) has no invites yet: an empty list.
    ///
    /// Is the first page 0 or 1? Servers differ: a 1-based one may refuse
    /// page 0, answer it empty while it counts pages, or answer it as page 1.
    /// Pages are read from 0 until an answer shows otherwise, and what an
    /// answer showed is kept, so a poll of one page is one request.
    pub async fn definitions_for_operator(
        &self,
        operator: &OperatorAddress,
    ) -> Result<Vec<ListedDefinition>, ApiError> {
        let path = format!("v1/definition/operator/{operator}");
        let Some(mut at) = self.first_page(&path).await? else { return Ok(Vec::new()) };
        let mut collected = Collected::default();
        collected.absorb(&at.page);
        let first_index = at.index;
        loop {
            if !at.has_more(self.config.page_limit) {
                return Ok(collected.listed);
            }
            at.index += 1;
            if at.index >= MAX_PAGES {
                return Err(ApiError::Invalid {
                    url: self.url(&path).to_string(),
                    reason: format!("paging did not end after {MAX_PAGES} pages"),
                });
            }
            let Fetched::Page(next) = self.fetch_page(&path, at.index).await? else { return Ok(collected.listed) };
            if at.index == first_index + 1 && !at.one_based {
                if next.identity() == at.page.identity() {
                    // Page 1 repeats page 0: the server counts from 1 and
                    // answered 0 as 1. The next new page is 2.
                    at.one_based = true;
                    self.learn_numbering(true);
                    at.page = next;
                    continue;
                }
                if !next.items.is_empty() {
                    self.learn_numbering(false);
                }
            }
            let new = collected.absorb(&next);
            // A server that ignores `page` repeats itself forever; without a
            // page count, a page with nothing new is where we stop.
            if new == 0 && next.total_pages.is_none() && next.has_next_page.is_none() {
                return Ok(collected.listed);
            }
            at.page = next;
        }
    }

    /// The first page of a listing, found with the numbering learnt so far
    /// and corrected by what the server answers; `None` when there is none.
    async fn first_page(&self, path: &str) -> Result<Option<PageAt>, ApiError> {
        let mut one_based = self.one_based_pages.lock().expect("paging lock").unwrap_or(false);
        let mut index = u64::from(one_based);
        let page = match self.fetch_page(path, index).await? {
            Fetched::NotFound => return Ok(None),
            Fetched::Page(page) => page,
            Fetched::Refused => {
                one_based = true;
                self.learn_numbering(true);
                index = 1;
                match self.fetch_page(path, 1).await? {
                    Fetched::Page(page) => page,
                    _ => return Ok(None),
                }
            }
        };
        // An empty first page of a listing that counts pages is the other
        // numbering's first page (or none before it): read that one.
        if page.items.is_empty() && page.total_pages.is_some_and(|t| t > 0) {
            one_based = !one_based;
            index = u64::from(one_based);
            return match self.fetch_page(path, index).await? {
                Fetched::Page(other) if !other.items.is_empty() => {
                    self.learn_numbering(one_based);
                    Ok(Some(PageAt { page: other, index, one_based }))
                }
                _ => Ok(None),
            };
        }
        Ok(Some(PageAt { page, index, one_based }))
    }

    async fn fetch_page(&self, path: &str, page: u64) -> Result<Fetched, ApiError> {
        let query = format!("{path}?page={page}&limit={}", self.config.page_limit);
        let url = self.url(&query);
        match self.get_json(&query).await {
            Err(ApiError::Rejected { status: 400 | 422, .. }) if page == 0 => Ok(Fetched::Refused),
            Err(error) => Err(error),
            Ok(None) => Ok(Fetched::NotFound),
            Ok(Some(body)) => Page::parse(body, url.as_str()).map(Fetched::Page),
        }
    }

    /// Keeps whether this server counts pages from 1, so later polls of one
    /// page are one request.
    fn learn_numbering(&self, one_based: bool) {
        *self.one_based_pages.lock().expect("paging lock") = Some(one_based);
    }

    /// `GET /v1/definition/{config_hash}`; `None` when the API has none.
    pub async fn definition(&self, config_hash: &str) -> Result<Option<ListedDefinition>, ApiError> {
        Ok(self.get_json(&format!("v1/definition/{config_hash}")).await?.map(ListedDefinition::from_value))
    }

    /// `GET /v1/lock/{lock_hash}`: the lock JSON, or `None`.
    pub async fn lock_by_hash(&self, lock_hash: &str) -> Result<Option<Value>, ApiError> {
        self.get_json(&format!("v1/lock/{lock_hash}")).await
    }

    /// `GET /v1/lock/configHash/{config_hash}`: the lock JSON, or `None`.
    pub async fn lock_by_config_hash(&self, config_hash: &str) -> Result<Option<Value>, ApiError> {
        self.get_json(&format!("v1/lock/configHash/{config_hash}")).await
    }

    fn url(&self, path_and_query: &str) -> Url {
        self.base.join(path_and_query).expect("API paths are valid relative URLs")
    }

    /// Any JSON document by absolute URL (e.g. a definition URL that an
    /// operator pastes), with the same timeout, cap and retries.
    pub async fn fetch_json(&self, url: Url) -> Result<Option<Value>, ApiError> {
        self.get_with_retries(url).await
    }

    async fn get_json(&self, path_and_query: &str) -> Result<Option<Value>, ApiError> {
        self.get_with_retries(self.url(path_and_query)).await
    }

    /// GET with retries for transient failures, honouring `Retry-After`.
    async fn get_with_retries(&self, url: Url) -> Result<Option<Value>, ApiError> {
        let mut backoff = self.config.retry.backoff();
        loop {
            match self.get_once(url.clone()).await {
                Err(error) if error.is_retryable() && backoff.attempt() + 1 < self.config.retry.attempts_per_call => {
                    let delay = error.retry_after().unwrap_or_default().max(backoff.next_delay());
                    tracing::debug!(%error, ?delay, "retrying Obol API request");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    /// `POST /v1/definition`: the creator proposes a cluster (see
    /// `launchpad`). Returns the definition as the API stored it. Writes are
    /// sent once: a retry of a write that did land would be refused as a
    /// duplicate, so the caller decides.
    pub async fn propose_cluster(&self, proposal: &SignedProposal) -> Result<Value, ApiError> {
        let url = self.url("v1/definition");
        let request = self.http.post(url.clone()).bearer_auth(&proposal.creator_signature).json(&proposal.definition);
        self.write_once(request, url).await
    }

    /// `POST /v1/termsAndConditions`: a user accepts Obol's terms, which the
    /// API requires before their proposal or acceptance.
    pub async fn accept_terms(&self, terms: &TermsAcceptance) -> Result<Value, ApiError> {
        let url = self.url("v1/termsAndConditions");
        let request = self.http.post(url.clone()).bearer_auth(&terms.signature).json(&terms.body);
        self.write_once(request, url).await
    }

    /// `PUT /v1/definition/{config_hash}`: an operator accepts with their
    /// node's ENR. Returns the updated definition.
    pub async fn accept_invite(&self, config_hash: &str, acceptance: &Acceptance) -> Result<Value, ApiError> {
        let url = self.url(&format!("v1/definition/{config_hash}"));
        let request = self.http.put(url.clone()).bearer_auth(&acceptance.config_signature).json(&acceptance.body);
        self.write_once(request, url).await
    }

    async fn write_once(&self, request: reqwest::RequestBuilder, url: Url) -> Result<Value, ApiError> {
        match self.send_once(request, url.clone(), false).await? {
            Some(value) => Ok(value),
            None => Err(ApiError::Invalid { url: url.to_string(), reason: "the answer has no body".into() }),
        }
    }

    async fn get_once(&self, url: Url) -> Result<Option<Value>, ApiError> {
        self.send_once(self.http.get(url.clone()), url, true).await
    }

    /// Sends `request` and reads its JSON answer; `None` for a 404 when
    /// `not_found_is_none` (a read of something that does not exist yet).
    async fn send_once(
        &self,
        request: reqwest::RequestBuilder,
        url: Url,
        not_found_is_none: bool,
    ) -> Result<Option<Value>, ApiError> {
        let transient = |kind: ErrorKind, reason: String, retry_after: Option<Duration>| ApiError::Transient {
            url: url.to_string(),
            kind,
            reason,
            retry_after,
        };
        let request_error = |e: reqwest::Error| {
            let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Connect };
            transient(kind, format!("request failed: {}", crate::http_error::with_causes(e)), None)
        };
        let mut response = request.header(header::ACCEPT, "application/json").send().await.map_err(request_error)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let content_type =
            response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();

        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_error)? {
            if body.len() + chunk.len() > self.config.max_body_bytes {
                return Err(transient(
                    ErrorKind::TooLarge,
                    format!("the response is larger than {} bytes", self.config.max_body_bytes),
                    None,
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let excerpt = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();

        match status {
            StatusCode::NOT_FOUND if not_found_is_none => return Ok(None),
            StatusCode::TOO_MANY_REQUESTS => {
                return Err(transient(ErrorKind::RateLimited, "rate limited (429)".into(), retry_after));
            }
            s if s.is_server_error() => {
                return Err(transient(ErrorKind::ServerError, format!("server error {s}: {}", excerpt()), retry_after));
            }
            s if s.is_client_error() => {
                return Err(ApiError::Rejected { url: url.to_string(), status: s.as_u16(), body: excerpt() });
            }
            s if !s.is_success() => {
                return Err(transient(ErrorKind::ServerError, format!("unexpected status {s}"), retry_after));
            }
            _ => {}
        }
        if !content_type.is_empty() && !content_type.contains("json") {
            return Err(transient(
                ErrorKind::Malformed,
                format!("expected JSON but the content type is {content_type:?}"),
                None,
            ));
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| transient(ErrorKind::Malformed, format!("the body is not complete JSON: {e}"), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_names_scheme_host_and_port_even_a_default_one() {
        for (base, endpoint) in [
            ("https://api.obol.tech", "https://api.obol.tech:443"),
            ("http://127.0.0.1:3000/v1/", "http://127.0.0.1:3000"),
            ("http://[::1]/", "http://[::1]:80"),
        ] {
            assert_eq!(ClientConfig::new(base.parse().unwrap()).endpoint(), endpoint);
        }
    }

    #[tokio::test]
    async fn a_refused_connection_says_so() {
        let port = crate::process::free_port().unwrap();
        let mut config = ClientConfig::new(format!("http://127.0.0.1:{port}").parse().unwrap());
        config.retry.attempts_per_call = 1;
        let api = ObolApi::new(config);
        let error = api.lock_by_hash(&format!("0x{}", "ab".repeat(32))).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Connect);
        assert!(error.to_string().to_lowercase().contains("connection refused"), "{error}");
    }
}
