//! The `metrics` plugin: counters, gauges, histograms and summaries with labels, exposed as
//! OpenMetrics text (`@metrics.text()`, and `/metrics` on a listener of the plugin's own),
//! pushed as InfluxDB line protocol over HTTP and DogStatsD over UDP, aggregated (rates and
//! windows over sampled values, quantiles) and watched by alerting rules (thresholds or script
//! conditions) that call webhooks and script actions through the host's event loop.
//!
//! - The seed's forms: `@metrics(metric_type, metric_name, value)`, `increment_counter(name)`,
//!   `record_histogram(name, value)`; and `@metrics.counter`, `.gauge`, `.gauge_add`,
//!   `.histogram`, `.summary`, `.describe`, `.value`, `.rate`, `.window`, `.quantile`, `.text`,
//!   `.response`, `.serve`, `.push`, `.push_status`, `.alert`, `.alerts`, `.remove_alert`,
//!   `.check_alerts`.
//! - prometheus-client provides the metric types and writes the text; `store` keeps them by
//!   name and labels.

mod aggregate;
mod alert;
mod config;
pub mod exposition;
mod http;
mod ops;
mod push;
mod service;
pub mod store;

use std::sync::Arc;

use tusk_plugin_sdk::{PluginContext, PluginError, TuskPlugin, export_plugin};

use crate::config::Config;
use crate::push::Targets;
use crate::service::Service;
use crate::store::Store;

/// Where `@metrics.serve()` listens without an address: loopback, on the port OpenTelemetry's
/// Prometheus exporter uses by default.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// What every call of one plugin instance shares.
pub(crate) struct State {
    store: Arc<Store>,
    service: Service,
}

/// The plugin.
#[derive(Default)]
pub struct MetricsPlugin {
    state: Option<Arc<State>>,
}

impl TuskPlugin for MetricsPlugin {
    fn name(&self) -> &str {
        "metrics"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
        let config: Config = context.config()?;
        let store = Arc::new(Store::new(config.settings()?));
        let targets = Targets { influx: config.influx()?.map(Arc::new), statsd: config.statsd()?.map(Arc::new) };
        let rules = config
            .alerts
            .iter()
            .map(|rule| {
                alert::parse(rule.clone(), alert::Functions::default())
                    .map_err(|error| PluginError::configuration(format!("alerts: {error}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for rule in &rules {
            if let Some(webhook) = &rule.webhook {
                config::check_grant("the webhook", &webhook.host, webhook.port)?;
            }
        }
        let service =
            Service::start(store.clone(), targets, config::seconds("sample_interval", config.sample_interval)?)?;
        for rule in rules {
            service.add_rule(rule)?;
        }
        if let Some(address) = &config.listen {
            *store::lock(&service.listener) = Some(http::serve(address, store.clone())?);
        }
        let state = Arc::new(State { store, service });
        ops::register(context, &state)?;
        self.state = Some(state);
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), PluginError> {
        let Some(state) = self.state.take() else { return Ok(()) };
        let errors = state.service.stop();
        if errors.is_empty() { Ok(()) } else { Err(PluginError::message(errors.join("; "))) }
    }
}

export_plugin!(MetricsPlugin);
