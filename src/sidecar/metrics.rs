//! The sidecar's Prometheus metrics, served at `/metrics` on
//! `--metrics-address` (the chart's metrics port, scraped by its
//! ServiceMonitor/PodMonitor).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use crate::{obol_api::ErrorKind, status::Phase};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

/// Every metric the sidecar exports; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    phase: Family<PhaseLabel, Gauge>,
    polls: Counter,
    api_errors: Family<KindLabel, Counter>,
    dkg_attempts: Counter,
    dkg_duration: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("dv_sidecar");
        let metrics = Metrics {
            registry: Arc::default(),
            phase: Family::default(),
            polls: Counter::default(),
            api_errors: Family::default(),
            dkg_attempts: Counter::default(),
            dkg_duration: Gauge::default(),
        };
        registry.register("phase", "Formation phase (1 for the current phase)", metrics.phase.clone());
        registry.register("polls", "Polls of the Obol API", metrics.polls.clone());
        registry.register("api_errors", "Failed Obol API polls by kind", metrics.api_errors.clone());
        registry.register("dkg_attempts", "charon dkg attempts started", metrics.dkg_attempts.clone());
        registry.register(
            "dkg_duration_seconds",
            "Duration of the last charon dkg attempt",
            metrics.dkg_duration.clone(),
        );
        *metrics.registry.lock().expect("metrics lock") = registry;
        metrics
    }
}

impl Metrics {
    pub fn set_phase(&self, phase: Phase) {
        for candidate in Phase::ALL {
            let label = PhaseLabel { phase: candidate.name().to_string() };
            self.phase.get_or_create(&label).set(i64::from(candidate == phase));
        }
    }

    pub fn poll(&self) {
        self.polls.inc();
    }

    pub fn api_error(&self, kind: ErrorKind) {
        let kind = serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        self.api_errors.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn dkg_attempt(&self) {
        self.dkg_attempts.inc();
    }

    pub fn dkg_finished(&self, seconds: f64) {
        self.dkg_duration.set(seconds);
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry.lock().expect("metrics lock")).expect("writing to a String cannot fail");
        text
    }

    /// Serves `/metrics` in the background.
    pub async fn serve(self, address: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let bound = listener.local_addr()?;
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = self.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.render(),
                    )
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(bound)
    }
}
