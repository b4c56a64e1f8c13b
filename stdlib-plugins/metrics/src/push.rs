//! Pushing the metrics out: InfluxDB line protocol over HTTP, and DogStatsD over UDP.
//!
//! Line protocol, one line per series (measurement = metric name, tags = labels):
//! counters and gauges `name,tag=v value=1.5 <ns>`; histograms `count=3i,sum=…` and one
//! `le_<bound>=<cumulative>i` field per bucket (`le_inf` last); summaries `count`, `sum` and
//! one `quantile_<q>` field per configured quantile.
//!
//! DogStatsD: counters send the increase since the last push (`name:2|c|#tag:v`), gauges
//! their value (`|g`), histograms and summaries every observation since the last push
//! (`|h`), several metrics per datagram up to 1,432 bytes (Datadog's default for UDP).

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::exposition::number;
use crate::http::{self, Url};
use crate::store::{Kind, SeriesValue, Store, lock};

/// Largest DogStatsD datagram.
const MAX_DATAGRAM: usize = 1432;

/// What one target has done, for `@metrics.push_status()`.
#[derive(Clone, Debug, Default)]
pub struct PushStatus {
    pub pushes: u64,
    pub failures: u64,
    pub last_error: Option<String>,
}

/// An InfluxDB write endpoint.
#[derive(Debug)]
pub struct Influx {
    pub url: Url,
    /// The `Authorization` header value (`Token …`); never shown.
    authorization: Option<String>,
    pub interval: Duration,
    pub status: Mutex<PushStatus>,
}

impl Influx {
    pub fn new(url: Url, token: Option<String>, interval: Duration) -> Influx {
        Influx {
            url,
            authorization: token.map(|token| format!("Token {token}")),
            interval,
            status: Mutex::new(PushStatus::default()),
        }
    }

    /// Writes every series now; returns the number of lines.
    pub fn push(&self, store: &Store) -> Result<usize, String> {
        let body = influx_lines(store, now_nanos());
        let count = body.lines().count();
        let result = if count == 0 {
            Ok(0)
        } else {
            let headers: Vec<(&str, String)> =
                self.authorization.iter().map(|value| ("Authorization", value.clone())).collect();
            http::post(&self.url, "text/plain; charset=utf-8", &headers, body.as_bytes(), Duration::from_secs(5))
                .map(|_| count)
        };
        record(&self.status, &result);
        result
    }
}

/// A DogStatsD agent.
#[derive(Debug)]
pub struct Statsd {
    pub address: String,
    socket: UdpSocket,
    pub prefix: String,
    pub interval: Duration,
    pub status: Mutex<PushStatus>,
    /// One push at a time: the counters' "sent so far" must not be read twice.
    sending: Mutex<()>,
}

impl Statsd {
    /// A UDP socket connected to `host:port` (the caller checked the grant).
    pub fn connect(host: &str, port: u16, prefix: String, interval: Duration) -> Result<Statsd, String> {
        let address = format!("{host}:{port}");
        let local = if host.contains(':') { "[::]:0" } else { "0.0.0.0:0" };
        let socket = UdpSocket::bind(local).map_err(|error| udp_error(&address, &error))?;
        socket.connect((host, port)).map_err(|error| udp_error(&address, &error))?;
        Ok(Statsd {
            address,
            socket,
            prefix,
            interval,
            status: Mutex::new(PushStatus::default()),
            sending: Mutex::new(()),
        })
    }

    /// Sends what changed since the last push; returns the number of metric lines.
    pub fn push(&self, store: &Store) -> Result<usize, String> {
        let _one_at_a_time = lock(&self.sending);
        let lines = statsd_lines(store, &self.prefix);
        let mut result = Ok(lines.len());
        for datagram in datagrams(&lines) {
            if let Err(error) = self.socket.send(datagram.as_bytes()) {
                result = Err(format!("{}: {error}", self.address));
                break;
            }
        }
        record(&self.status, &result);
        result
    }
}

fn udp_error(address: &str, error: &std::io::Error) -> String {
    let mut message = format!("cannot open a UDP socket to {address}: {error}");
    if error.raw_os_error() == Some(1) {
        message.push_str("; a sandboxed plugin may open UDP sockets only with --allow-net for every host (first-party plugins run in-process, where the grants alone decide)");
    }
    message
}

fn record(status: &Mutex<PushStatus>, result: &Result<usize, String>) {
    let mut status = lock(status);
    match result {
        Ok(_) => {
            status.pushes += 1;
            status.last_error = None;
        }
        Err(error) => {
            status.failures += 1;
            status.last_error = Some(error.clone());
        }
    }
}

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_nanos()).unwrap_or(0)
}

/// Escapes a measurement name, tag key, tag value or field key for line protocol.
fn escape_influx(text: &str, measurement: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ',' | ' ' => out.push('\\'),
            '=' if !measurement => out.push('\\'),
            '\\' => out.push('\\'),
            _ => {}
        }
        match c {
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out
}

/// A float field value: line protocol has no NaN or infinity, so those fields are left out.
fn float_field(key: &str, value: f64) -> Option<String> {
    value.is_finite().then(|| format!("{}={}", escape_influx(key, false), number(value).trim_end_matches(".0")))
}

/// Every series as line protocol, stamped `nanos`.
pub fn influx_lines(store: &Store, nanos: u128) -> String {
    let mut out = String::new();
    for family in store.sorted_families() {
        for (labels, series) in family.sorted_series() {
            let mut line = escape_influx(&family.name, true);
            for (name, value) in &labels {
                // Line protocol has no empty tag values.
                if !value.is_empty() {
                    line.push_str(&format!(",{}={}", escape_influx(name, false), escape_influx(value, false)));
                }
            }
            let fields: Vec<String> = match &series.value {
                SeriesValue::Counter(counter) => float_field("value", counter.get()).into_iter().collect(),
                SeriesValue::Gauge(gauge) => float_field("value", gauge.get()).into_iter().collect(),
                SeriesValue::Histogram(data) => {
                    let data = lock(data).clone();
                    let mut fields = vec![format!("count={}i", data.count)];
                    fields.extend(float_field("sum", data.sum));
                    let mut cumulative = 0;
                    for (index, count) in data.counts.iter().enumerate() {
                        cumulative += count;
                        let key = match data.bounds.get(index) {
                            Some(bound) => format!("le_{bound}"),
                            None => "le_inf".to_string(),
                        };
                        fields.push(format!("{}={cumulative}i", escape_influx(&key, false)));
                    }
                    fields
                }
                SeriesValue::Summary(data) => {
                    let (sum, count, quantiles) = store.summary_quantiles(data);
                    let mut fields = vec![format!("count={count}i")];
                    fields.extend(float_field("sum", sum));
                    for (q, value) in quantiles {
                        fields.extend(float_field(&format!("quantile_{q}"), value));
                    }
                    fields
                }
            };
            if fields.is_empty() {
                continue;
            }
            out.push_str(&format!("{line} {} {nanos}\n", fields.join(",")));
        }
    }
    out
}

/// A DogStatsD tag part: `|`, `,`, `#`, `:` in keys and line breaks would break the datagram.
fn statsd_tag(text: &str, key: bool) -> String {
    text.chars()
        .map(|c| match c {
            '|' | ',' | '#' | '\n' | '\r' => '_',
            ':' if key => '_',
            c => c,
        })
        .collect()
}

/// The DogStatsD lines of what changed since the last push (counters' increases, gauges,
/// buffered observations); takes the buffered observations.
pub fn statsd_lines(store: &Store, prefix: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for family in store.sorted_families() {
        let name = format!("{prefix}{}", family.name);
        for (labels, series) in family.sorted_series() {
            let tags = if labels.is_empty() {
                String::new()
            } else {
                let tags: Vec<String> = labels
                    .iter()
                    .map(|(key, value)| format!("{}:{}", statsd_tag(key, true), statsd_tag(value, false)))
                    .collect();
                format!("|#{}", tags.join(","))
            };
            match &series.value {
                SeriesValue::Counter(counter) => {
                    let current = counter.get();
                    let mut sent = lock(&series.statsd_sent);
                    let increase = current - *sent;
                    if increase > 0.0 {
                        lines.push(format!("{name}:{}|c{tags}", statsd_number(increase)));
                        *sent = current;
                    }
                }
                SeriesValue::Gauge(gauge) => lines.push(format!("{name}:{}|g{tags}", statsd_number(gauge.get()))),
                SeriesValue::Histogram(_) | SeriesValue::Summary(_) => {
                    for value in series.take_pending() {
                        lines.push(format!("{name}:{}|h{tags}", statsd_number(value)));
                    }
                }
            }
        }
        // Keep the compiler honest about which kinds are pushed.
        debug_assert!(matches!(family.kind, Kind::Counter | Kind::Gauge | Kind::Histogram | Kind::Summary));
    }
    lines
}

fn statsd_number(value: f64) -> String {
    let text = number(value);
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

/// Lines joined by `\n` into datagrams of at most [`MAX_DATAGRAM`] bytes (a longer single line
/// goes alone).
fn datagrams(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in lines {
        if !current.is_empty() && current.len() + 1 + line.len() > MAX_DATAGRAM {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The configured push targets.
#[derive(Debug, Default)]
pub struct Targets {
    pub influx: Option<Arc<Influx>>,
    pub statsd: Option<Arc<Statsd>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Settings;

    #[test]
    fn line_protocol_escapes_and_types_fields() {
        let store = Store::new(Settings { buckets: vec![0.5, 1.0], ..Settings::default() });
        let labels = vec![("empty".to_string(), String::new()), ("path".to_string(), "/a b,c=d".to_string())];
        store.increment("hits", 3.0, &labels).unwrap();
        store.gauge_set("temp", 21.5, &Vec::new()).unwrap();
        store.observe("latency", Kind::Histogram, 0.7, &Vec::new()).unwrap();
        store.observe("latency", Kind::Histogram, 2.0, &Vec::new()).unwrap();
        let text = influx_lines(&store, 1_700_000_000_000_000_000);
        assert_eq!(
            text,
            "hits,path=/a\\ b\\,c\\=d value=3 1700000000000000000\n\
             latency count=2i,sum=2.7,le_0.5=0i,le_1=1i,le_inf=2i 1700000000000000000\n\
             temp value=21.5 1700000000000000000\n"
        );
    }

    #[test]
    fn datagrams_stay_under_the_limit() {
        let lines: Vec<String> = (0..100).map(|i| format!("metric_{i:03}:1|c|#tag:{}", "x".repeat(20))).collect();
        let packets = datagrams(&lines);
        assert!(packets.len() > 1);
        assert!(packets.iter().all(|packet| packet.len() <= MAX_DATAGRAM));
        assert_eq!(packets.join("\n").lines().count(), 100);
    }
}
