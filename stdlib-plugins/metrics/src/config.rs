//! `[plugins.metrics]`, already validated against `config.schema.json`; checked again here
//! (numbers in range, URLs, grants) so the plugin never runs on settings it does not
//! understand.

use std::time::Duration;

use serde::Deserialize;
use tusk_plugin_sdk::{PluginError, host};

use crate::http::{Url, split_address};
use crate::push::{Influx, Statsd};
use crate::store::Settings;

/// The configuration as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: Option<String>,
    pub buckets: Vec<f64>,
    pub quantiles: Vec<f64>,
    pub summary_max_age: f64,
    pub summary_max_samples: usize,
    pub sample_interval: f64,
    pub history: f64,
    pub influxdb: Option<InfluxConfig>,
    pub dogstatsd: Option<StatsdConfig>,
    pub alerts: Vec<serde_json::Value>,
}

impl Default for Config {
    fn default() -> Config {
        let settings = Settings::default();
        Config {
            listen: None,
            buckets: settings.buckets,
            quantiles: settings.quantiles,
            summary_max_age: settings.summary_max_age.as_secs_f64(),
            summary_max_samples: settings.summary_max_samples,
            sample_interval: 1.0,
            history: settings.history.as_secs_f64(),
            influxdb: None,
            dogstatsd: None,
            alerts: Vec::new(),
        }
    }
}

/// `influxdb = { url = "http://127.0.0.1:8086/api/v2/write?org=o&bucket=b", token_env = "INFLUX_TOKEN" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    pub url: String,
    pub token: Option<String>,
    pub token_env: Option<String>,
    #[serde(default = "default_interval")]
    pub interval: f64,
}

/// `dogstatsd = { address = "127.0.0.1:8125", prefix = "app." }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsdConfig {
    pub address: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default = "default_interval")]
    pub interval: f64,
}

fn default_interval() -> f64 {
    10.0
}

fn invalid(message: String) -> PluginError {
    PluginError::configuration(message)
}

/// Seconds → a duration, or the error naming the setting.
pub fn seconds(name: &str, value: f64) -> Result<Duration, PluginError> {
    if value > 0.0 && value < 1e9 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(invalid(format!("`{name}` must be a number of seconds > 0, got {value}")))
    }
}

impl Config {
    /// The store's settings.
    pub fn settings(&self) -> Result<Settings, PluginError> {
        if self.buckets.is_empty()
            || self.buckets.iter().any(|bound| !bound.is_finite())
            || self.buckets.windows(2).any(|pair| pair[0] >= pair[1])
        {
            return Err(invalid(format!("`buckets` must be finite and strictly ascending, got {:?}", self.buckets)));
        }
        if self.quantiles.iter().any(|q| !(0.0..=1.0).contains(q)) {
            return Err(invalid(format!("`quantiles` must be between 0 and 1, got {:?}", self.quantiles)));
        }
        if self.summary_max_samples == 0 {
            return Err(invalid("`summary_max_samples` must be at least 1".to_string()));
        }
        Ok(Settings {
            buckets: self.buckets.clone(),
            quantiles: self.quantiles.clone(),
            summary_max_age: seconds("summary_max_age", self.summary_max_age)?,
            summary_max_samples: self.summary_max_samples,
            history: seconds("history", self.history)?,
        })
    }

    /// The InfluxDB target: the URL parsed, its host granted, the token read.
    pub fn influx(&self) -> Result<Option<Influx>, PluginError> {
        let Some(config) = &self.influxdb else { return Ok(None) };
        let url = Url::parse(&config.url).map_err(|message| invalid(format!("influxdb.url: {message}")))?;
        check_grant("InfluxDB", &url.host, url.port)?;
        let token = match (&config.token, &config.token_env) {
            (Some(_), Some(_)) => return Err(invalid("influxdb: give `token` or `token_env`, not both".to_string())),
            (Some(token), None) => Some(token.clone()),
            (None, Some(name)) => {
                Some(host::env(name)?.ok_or_else(|| {
                    invalid(format!("influxdb.token_env: the environment variable {name} is not set"))
                })?)
            }
            (None, None) => None,
        };
        Ok(Some(Influx::new(url, token, seconds("influxdb.interval", config.interval)?)))
    }

    /// The DogStatsD target: its address granted and a UDP socket connected to it.
    pub fn statsd(&self) -> Result<Option<Statsd>, PluginError> {
        let Some(config) = &self.dogstatsd else { return Ok(None) };
        let (host_name, port) =
            split_address(&config.address).map_err(|message| invalid(format!("dogstatsd.address: {message}")))?;
        check_grant("DogStatsD", &host_name, port)?;
        let interval = seconds("dogstatsd.interval", config.interval)?;
        Statsd::connect(&host_name, port, config.prefix.clone(), interval).map(Some).map_err(PluginError::message)
    }
}

/// Pushes and webhooks need the network permission for their host and port.
pub fn check_grant(what: &str, host_name: &str, port: u16) -> Result<(), PluginError> {
    host::check_connect(host_name, port).map_err(|error| {
        PluginError::permission_denied(format!(
            "sending to {what} at {host_name}:{port} needs the network permission: {}",
            error.message_text()
        ))
        .with_help(format!("grant it with --allow-net={host_name}:{port}"))
    })
}
