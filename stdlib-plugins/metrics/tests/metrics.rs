//! The metrics plugin through the real host: `/metrics` scraped over real HTTP and read back
//! with an OpenMetrics parser (the `openmetrics-parser` crate), InfluxDB pushes received by an
//! HTTP server the test runs, DogStatsD pushes received on a UDP socket of the test, webhooks
//! of alert rules received by the test's HTTP server. In-process as the first-party plugin
//! runs next to `tusk`, and sandboxed where it matters (the grants, the listener).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use openmetrics_parser::{MetricsExposition, OpenMetricsType, OpenMetricsValue};
use serde_json::{Value as Json, json};
use tusk_plugin_testkit::{PluginTest, ServicesEnd};

/// Long enough never to fire on a working machine; only keeps a broken test from hanging.
const GUARD: Duration = Duration::from_secs(30);

fn plugin() -> PluginTest {
    PluginTest::for_package(env!("CARGO_MANIFEST_DIR"))
}

fn eval(plugin: &mut PluginTest, expression: &str) -> Json {
    plugin.eval_expression(expression).unwrap_or_else(|error| panic!("{expression}\n{error}"))
}

/// The headline of the rendered diagnostic.
fn error(plugin: &mut PluginTest, source: &str) -> String {
    let rendered = plugin.eval_expression(source).expect_err(source);
    rendered.lines().next().unwrap_or_default().to_string()
}

/// One HTTP GET over a real socket: (status line, headers lower-cased, body).
fn http_get(address: &str, path: &str) -> (String, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(GUARD)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: application/openmetrics-text\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_string();
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn parse(text: &str) -> MetricsExposition<OpenMetricsType, OpenMetricsValue> {
    openmetrics_parser::openmetrics::parse_openmetrics(text).unwrap_or_else(|error| panic!("{error:?}\n{text}"))
}

/// The value of a gauge or counter sample with these label values.
fn sample(exposition: &MetricsExposition<OpenMetricsType, OpenMetricsValue>, family: &str, labels: &[&str]) -> f64 {
    let family = exposition.families.get(family).unwrap_or_else(|| panic!("no family {family}"));
    let labels: Vec<String> = labels.iter().map(|label| label.to_string()).collect();
    let sample = family.get_sample_by_label_values(&labels).unwrap_or_else(|| panic!("no sample {labels:?}"));
    match &sample.value {
        OpenMetricsValue::Counter(counter) => counter.value.as_f64(),
        OpenMetricsValue::Gauge(value) => value.as_f64(),
        other => panic!("not a counter or gauge: {other:?}"),
    }
}

/// Records one of each type, with labels and help texts.
const RECORD: &str = r#"
a: @metrics("counter", "http_requests", 1, {method: "GET", code: 200})
b: @metrics.counter("http_requests_total", 2, {code: 200, method: "GET"})
c: increment_counter("http_requests", 1, {method: "POST", code: 500})
d: @metrics.describe("queue_depth", "gauge", "Jobs waiting, \"now\".")
e: @metrics.gauge("queue_depth", 7)
f: @metrics.gauge_add("queue_depth", -2)
g: @metrics.describe("latency_seconds", "histogram", "Request time.", {buckets: [0.1, 0.5, 1]})
h: map([0.05, 0.2, 0.3, 0.7, 3], x => record_histogram("latency_seconds", x, {route: "/a"}))
i: map(range(1, 11), x => @metrics.summary("payload_bytes", x))
"#;

fn check_exposition(text: &str) {
    let exposition = parse(text);
    let requests = &exposition.families["http_requests"];
    assert_eq!(requests.family_type, OpenMetricsType::Counter);
    assert_eq!(requests.get_label_names(), ["code", "method"]);
    assert_eq!(sample(&exposition, "http_requests", &["200", "GET"]), 3.0);
    assert_eq!(sample(&exposition, "http_requests", &["500", "POST"]), 1.0);
    let depth = &exposition.families["queue_depth"];
    assert_eq!((depth.family_type, depth.help.as_str()), (OpenMetricsType::Gauge, "Jobs waiting, \"now\"."));
    assert_eq!(sample(&exposition, "queue_depth", &[]), 5.0);
    let latency = &exposition.families["latency_seconds"];
    assert_eq!(latency.family_type, OpenMetricsType::Histogram);
    let histogram = match &latency.get_sample_by_label_values(&["/a".to_string()]).unwrap().value {
        OpenMetricsValue::Histogram(histogram) => histogram.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(histogram.count, Some(5));
    assert!((histogram.sum.unwrap().as_f64() - 4.25).abs() < 1e-9);
    let buckets: Vec<(f64, f64)> =
        histogram.buckets.iter().map(|bucket| (bucket.upper_bound, bucket.count.as_f64())).collect();
    assert_eq!(buckets, [(0.1, 1.0), (0.5, 3.0), (1.0, 4.0), (f64::INFINITY, 5.0)]);
    let payload = &exposition.families["payload_bytes"];
    assert_eq!(payload.family_type, OpenMetricsType::Summary);
    let summary = match &payload.get_sample_by_label_values(&[]).unwrap().value {
        OpenMetricsValue::Summary(summary) => summary.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!((summary.count, summary.sum.map(|sum| sum.as_f64())), (Some(10), Some(55.0)));
    let quantiles: Vec<f64> = summary.quantiles.iter().map(|quantile| quantile.quantile).collect();
    assert_eq!(quantiles, [0.5, 0.9, 0.99]);
    for (quantile, expected) in summary.quantiles.iter().zip([5.5, 9.1, 9.91]) {
        assert!((quantile.value.as_f64() - expected).abs() < 1e-9, "{quantile:?}");
    }
}

#[test]
fn metrics_is_scraped_over_http_and_parses_as_openmetrics() {
    let mut plugin = plugin();
    plugin.in_process();
    let document = plugin.eval(RECORD).unwrap();
    assert_eq!((&document["a"], &document["b"], &document["c"]), (&json!(1), &json!(3), &json!(1)));
    assert_eq!((&document["e"], &document["f"]), (&json!(7), &json!(5)));
    assert_eq!(document["h"], json!([null, null, null, null, null]));
    let address = eval(&mut plugin, "@metrics.serve(0)");
    let address = address.as_str().unwrap().to_string();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert!(plugin.engine().has_services(), "serving /metrics keeps tusk running");
    let (status, headers, body) = http_get(&address, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.contains(&(
            "content-type".to_string(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8".to_string()
        )),
        "{headers:?}"
    );
    check_exposition(&body);
    assert!(body.ends_with("# EOF\n"));
    // The same text for an http route to return.
    let text = eval(&mut plugin, "@metrics.text()");
    check_exposition(text.as_str().unwrap());
    // A later increment shows in the next scrape.
    eval(&mut plugin, r#"@metrics.counter("http_requests", 10, {method: "GET", code: 200})"#);
    let (_, _, body) = http_get(&address, "/metrics?x=1");
    assert_eq!(sample(&parse(&body), "http_requests", &["200", "GET"]), 13.0);
    let (status, _, _) = http_get(&address, "/other");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.write_all(b"POST /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{answer}");
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.write_all(b"garbage\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    assert_eq!(
        error(&mut plugin, "@metrics.serve(0)"),
        format!("[R015] Error: @metrics.serve: /metrics is already served on {address}")
    );
}

#[test]
fn the_seed_forms_and_bad_input_give_clear_errors() {
    let mut plugin = plugin();
    plugin.in_process();
    assert_eq!(eval(&mut plugin, r#"@metrics("counter", "jobs", 2)"#), json!(2));
    assert_eq!(eval(&mut plugin, r#"increment_counter("jobs")"#), json!(3));
    assert_eq!(eval(&mut plugin, r#"@metrics.counter("jobs")"#), json!(4));
    assert_eq!(eval(&mut plugin, r#"increment_counter("jobs", null)"#), json!(5));
    assert_eq!(eval(&mut plugin, r#"record_histogram("sizes", 3)"#), json!(null));
    assert_eq!(eval(&mut plugin, r#"@metrics("gauge", "temp", 21.5)"#), json!(21.5));
    assert_eq!(eval(&mut plugin, r#"@metrics.value("jobs")"#), json!(5));
    assert_eq!(eval(&mut plugin, r#"@metrics.value("sizes")"#), json!(1));
    let cases = [
        (
            r#"@metrics("histogramm", "x", 1)"#,
            "@metrics: invalid metric type: `histogramm`; the types are counter, gauge, histogram or summary",
        ),
        (r#"@metrics("counter")"#, "@metrics: missing argument: metric name (argument 2 of @metrics)"),
        (r#"@metrics("gauge", "jobs", 1)"#, "@metrics: `jobs` is a counter; it cannot be used as a gauge"),
        (
            r#"@metrics.counter("jobs", -1)"#,
            "@metrics.counter: a counter only goes up: increment `jobs` by a finite number ≥ 0, not -1",
        ),
        (
            r#"@metrics.counter("http.requests")"#,
            "@metrics.counter: `http.requests` is not a valid metric name: use letters, digits, `_` and `:`, not starting with a digit",
        ),
        (r#"@metrics.counter("x", "1")"#, "@metrics.counter: the increment must be a number, got string"),
        (
            r#"@metrics.counter("x", 1, [1])"#,
            "@metrics.counter: the labels must be an object ({method: \"GET\"}), got array",
        ),
        (
            r#"@metrics.counter("x", 1, {le: "1"})"#,
            "@metrics.counter: the label name `le` is reserved for histogram buckets and summary quantiles",
        ),
        (
            r#"@metrics.counter("x", 1, {a: [1]})"#,
            "@metrics.counter: the label `a` must be a string, number or bool, got array",
        ),
        (
            r#"increment_counter("x", 1, {}, 4)"#,
            "increment_counter: increment_counter takes at most 3 arguments, got 4",
        ),
        (
            r#"@metrics.quantile("jobs", 0.5)"#,
            "@metrics.quantile: `jobs` is a counter; quantiles are for histograms and summaries",
        ),
        (r#"@metrics.quantile("sizes", 2)"#, "@metrics.quantile: a quantile is between 0 and 1, not 2"),
        // The one- and two-argument forms have a reader of their own; what it does not take
        // goes to the general one.
        (r#"@metrics.counter(5)"#, "@metrics.counter: the metric name must be a string, got int"),
        (r#"@metrics.counter("temp")"#, "@metrics.counter: `temp` is a gauge; it cannot be used as a counter"),
        (r#"record_histogram("sizes", "3")"#, "record_histogram: the value must be a number, got string"),
        (r#"record_histogram("jobs", 3)"#, "record_histogram: `jobs` is a counter; it cannot be used as a histogram"),
        (r#"@metrics.rate("nothing", 60)"#, "@metrics.rate: no metric `nothing` has been recorded or declared"),
        (r#"@metrics.rate("jobs", 0)"#, "@metrics.rate: the window must be a number of seconds > 0, got 0"),
        (
            r#"@metrics.describe("sizes", "histogram", "h", {buckets: [1, 2]})"#,
            "@metrics.describe: the histogram `sizes` already has the buckets [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]; buckets are fixed when a histogram is first used",
        ),
        (
            r#"@metrics.describe("fresh", "histogram", "h", {buckets: [2, 1]})"#,
            "@metrics.describe: bucket bounds must be strictly ascending, got [2.0, 1.0]",
        ),
        (r#"@metrics.push()"#, "@metrics.push: no push target is configured"),
        (
            r#"@metrics.alert({name: "x", metric: "jobs", above: 1, condition: v => v > 1})"#,
            "@metrics.alert: alert `x`: give either a `condition` function or a threshold (`above`/`below`, `clear`), not both",
        ),
        (
            r#"@metrics.alert({name: "x", metric: "jobs", above: 1, clear: v => true})"#,
            "@metrics.alert: alert `x`: a `clear` function goes with a `condition` function; with a threshold `clear` is a number",
        ),
        (
            r#"@metrics.alert({name: "x", metric: "jobs", above: 1, webhook: v => v})"#,
            "@metrics.alert: `webhook` cannot be a function; only condition, clear, action can",
        ),
        (
            r#"@metrics.alert({name: "x", labels: {a: "b"}, condition: v => true})"#,
            "@metrics.alert: alert `x`: labels, rate, avg, min, max and quantile need a `metric`",
        ),
        (
            r#"@metrics.alert(v => v > 1)"#,
            "@metrics.alert: the rule must be an object ({name, metric, above, webhook} or {name, condition: v => …, action: e => …}), got function",
        ),
        (
            r#"@metrics.alert({name: "x", metric: "jobs"})"#,
            "@metrics.alert: alert `x`: a rule needs a threshold (`above: N` or `below: N`) or a `condition` function",
        ),
        (
            r#"@metrics.alert({name: "x", metric: "jobs", above: 1, webhook: "https://example.com/hook"})"#,
            "@metrics.alert: alert `x`: `https://example.com/hook`: https is not supported by the metrics plugin yet; send to an http:// address (a local agent or proxy)",
        ),
    ];
    for (source, expected) in cases {
        let headline = error(&mut plugin, source);
        let message = headline.split_once("Error: ").map(|(_, message)| message).unwrap_or(&headline);
        assert_eq!(message, expected, "{source}");
    }
    assert_eq!(plugin.run_examples(), Vec::<String>::new());
}

/// An HTTP server on 127.0.0.1 that answers every request with `status` and hands over
/// (request line, headers, body).
/// One request as the test's server received it: request line, headers (names lower-cased),
/// body.
type Request = (String, Vec<(String, String)>, String);

fn http_server(status: &'static str) -> (String, Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            stream.set_read_timeout(Some(GUARD)).unwrap();
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(": ").unwrap();
                headers.push((name.to_ascii_lowercase(), value.to_string()));
            }
            let length: usize = headers
                .iter()
                .find(|(name, _)| name == "content-length")
                .map(|(_, value)| value.parse().unwrap())
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = reader.into_inner();
            let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnoted");
            stream.write_all(answer.as_bytes()).unwrap();
            if sender.send((request_line.trim_end().to_string(), headers, String::from_utf8(body).unwrap())).is_err() {
                return;
            }
        }
    });
    (address, receiver)
}

/// Line protocol without the timestamps (checked to be recent nanoseconds).
fn without_timestamps(body: &str) -> Vec<String> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    body.lines()
        .map(|line| {
            let (rest, stamp) = line.rsplit_once(' ').unwrap();
            let stamp: u128 = stamp.parse().unwrap();
            assert!(now - stamp < 60_000_000_000, "{line}");
            rest.to_string()
        })
        .collect()
}

#[test]
fn influxdb_receives_line_protocol_on_its_interval_and_on_demand() {
    let (address, requests) = http_server("204 No Content");
    let mut plugin = plugin();
    let port = address.rsplit_once(':').unwrap().1;
    plugin.grant(&format!("--allow-net=127.0.0.1:{port}"));
    plugin.with_user_config(&format!(
        "[plugins.metrics]\ninfluxdb = {{ url = \"http://{address}/api/v2/write?org=o&bucket=b&precision=ns\", token = \"s3cret-token\", interval = 0.2 }}\n"
    ));
    plugin.in_process();
    let document = plugin
        .eval(
            r#"
a: @metrics.counter("jobs", 2, {queue: "mail", host: "a b"})
b: @metrics.gauge("temp", 21.5)
c: @metrics.describe("sizes", "histogram", "", {buckets: [1, 10]})
d: @metrics.histogram("sizes", 5)
e: @metrics.summary("ages", 4)
"#,
        )
        .unwrap();
    assert_eq!(document["a"], json!(2));
    // The interval push arrives by itself (one may have gone out while the script ran: the
    // first with every series is the one to read).
    let (request_line, headers, body) = loop {
        let request = requests.recv_timeout(GUARD).expect("a push on the interval");
        if request.2.lines().count() == 4 {
            break request;
        }
    };
    assert_eq!(request_line, "POST /api/v2/write?org=o&bucket=b&precision=ns HTTP/1.1");
    assert!(headers.contains(&("authorization".to_string(), "Token s3cret-token".to_string())), "{headers:?}");
    assert!(headers.contains(&("content-type".to_string(), "text/plain; charset=utf-8".to_string())));
    assert_eq!(
        without_timestamps(&body),
        [
            "ages count=1i,sum=4,quantile_0.5=4,quantile_0.9=4,quantile_0.99=4",
            "jobs,host=a\\ b,queue=mail value=2",
            "sizes count=1i,sum=5,le_1=0i,le_10=1i,le_inf=1i",
            "temp value=21.5",
        ]
    );
    eval(&mut plugin, r#"@metrics.counter("jobs", 1, {queue: "mail", host: "a b"})"#);
    while requests.try_recv().is_ok() {}
    assert_eq!(eval(&mut plugin, "@metrics.push()"), json!({"influxdb": 4}));
    // The interval may have pushed just before; the latest request has the new total.
    let mut last = requests.recv_timeout(GUARD).unwrap();
    while let Ok(next) = requests.try_recv() {
        last = next;
    }
    assert!(without_timestamps(&last.2).contains(&"jobs,host=a\\ b,queue=mail value=3".to_string()), "{}", last.2);
    // The interval push is counted once its answer is read, which may be just after the
    // test's server handed the request over.
    let deadline = Instant::now() + GUARD;
    let status = loop {
        let status = eval(&mut plugin, "@metrics.push_status()");
        if status["influxdb"]["pushes"].as_u64().unwrap() >= 2 || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status["influxdb"]["failures"], json!(0));
    assert!(status["influxdb"]["pushes"].as_u64().unwrap() >= 2, "{status}");
}

#[test]
fn a_refused_influxdb_write_is_an_error_without_the_token() {
    let (address, _requests) = http_server("401 Unauthorized");
    let mut plugin = plugin();
    let port = address.rsplit_once(':').unwrap().1;
    plugin.grant(&format!("--allow-net=127.0.0.1:{port}"));
    plugin.with_user_config(&format!(
        "[plugins.metrics]\ninfluxdb = {{ url = \"http://{address}/write?db=x\", token = \"s3cret-token\", interval = 3600 }}\n"
    ));
    plugin.in_process();
    eval(&mut plugin, r#"@metrics.counter("jobs")"#);
    let headline = error(&mut plugin, "@metrics.push()");
    assert_eq!(
        headline,
        format!("[R015] Error: @metrics.push: InfluxDB push: http://{address}/write answered 401: noted")
    );
    assert!(!headline.contains("s3cret"));
    let status = eval(&mut plugin, "@metrics.push_status()");
    assert_eq!(status["influxdb"]["failures"], json!(1));
}

#[test]
fn pushes_and_webhooks_need_the_network_grant() {
    let mut plugin = plugin();
    plugin.with_user_config("[plugins.metrics]\ninfluxdb = { url = \"http://127.0.0.1:8086/write?db=x\" }\n");
    plugin.in_process();
    let headline = error(&mut plugin, r#"@metrics.counter("jobs")"#);
    assert!(
        headline.contains("permission denied: sending to InfluxDB at 127.0.0.1:8086 needs the network permission"),
        "{headline}"
    );
    let mut plugin = self::plugin();
    plugin.in_process();
    let headline = error(
        &mut plugin,
        r#"@metrics.alert({name: "x", metric: "jobs", above: 1, webhook: "http://127.0.0.1:9/hook"})"#,
    );
    assert!(
        headline.contains("permission denied: sending to the webhook at 127.0.0.1:9 needs the network permission"),
        "{headline}"
    );
    let headline = error(&mut plugin, r#"@metrics.serve("0.0.0.0:0")"#);
    assert!(
        headline.contains(
            "permission denied: listening on 0.0.0.0:0 (not a loopback address) needs the network permission"
        ),
        "{headline}"
    );
}

fn receive_datagram(socket: &UdpSocket) -> String {
    let mut buffer = [0u8; 65536];
    let (length, _) = socket.recv_from(&mut buffer).expect("a datagram");
    String::from_utf8(buffer[..length].to_vec()).unwrap()
}

#[test]
fn dogstatsd_receives_increases_gauges_and_observations_over_udp() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(GUARD)).unwrap();
    let address = socket.local_addr().unwrap().to_string();
    let mut plugin = plugin();
    plugin.grant(&format!("--allow-net={address}"));
    plugin.with_user_config(&format!(
        "[plugins.metrics]\ndogstatsd = {{ address = \"{address}\", prefix = \"app.\", interval = 3600 }}\n"
    ));
    plugin.in_process();
    plugin
        .eval(
            r#"
a: @metrics.counter("jobs", 2, {queue: "mail|x"})
b: @metrics.gauge("temp", 21.5)
c: @metrics.histogram("latency", 0.25)
d: @metrics.histogram("latency", 0.5)
e: @metrics.summary("sizes", 100)
"#,
        )
        .unwrap();
    assert_eq!(eval(&mut plugin, "@metrics.push()"), json!({"dogstatsd": 5}));
    assert_eq!(
        receive_datagram(&socket),
        "app.jobs:2|c|#queue:mail_x\napp.latency:0.25|h\napp.latency:0.5|h\napp.sizes:100|h\napp.temp:21.5|g"
    );
    // Counters send their increase since the last push; observations are sent once.
    eval(&mut plugin, r#"@metrics.counter("jobs", 3, {queue: "mail|x"})"#);
    assert_eq!(eval(&mut plugin, "@metrics.push()"), json!({"dogstatsd": 2}));
    assert_eq!(receive_datagram(&socket), "app.jobs:3|c|#queue:mail_x\napp.temp:21.5|g");
    // Shutting the plugin down pushes what is left.
    eval(&mut plugin, r#"@metrics.counter("jobs", 1, {queue: "mail|x"})"#);
    drop(plugin);
    assert_eq!(receive_datagram(&socket), "app.jobs:1|c|#queue:mail_x\napp.temp:21.5|g");
}

#[test]
fn rates_windows_and_quantiles() {
    let mut plugin = plugin();
    plugin.with_user_config("[plugins.metrics]\nsample_interval = 0.05\nquantiles = [0.5, 0.75]\n");
    plugin.in_process();
    let start = Instant::now();
    eval(&mut plugin, r#"@metrics.counter("jobs", 10, {queue: "a"})"#);
    eval(&mut plugin, r#"@metrics.counter("jobs", 20, {queue: "b"})"#);
    std::thread::sleep(Duration::from_millis(400));
    let rate = eval(&mut plugin, r#"@metrics.rate("jobs", 60, {queue: "a"})"#).as_f64().unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    // 10 over the time since the series began (between 0.4 s and the whole test so far).
    assert!(rate >= 10.0 / elapsed && rate <= 10.0 / 0.4, "rate {rate}, elapsed {elapsed}");
    // Every series: both queues.
    let total = eval(&mut plugin, r#"@metrics.rate("jobs", 60)"#).as_f64().unwrap();
    assert!(total >= 30.0 / start.elapsed().as_secs_f64() && total <= 30.0 / 0.4, "{total}");
    // A window shorter than the time since the last change sees no increase.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(eval(&mut plugin, r#"@metrics.rate("jobs", 0.1, {queue: "a"})"#), json!(0));
    assert_eq!(eval(&mut plugin, r#"@metrics.rate("jobs", 60, {queue: "c"})"#), json!(null));
    eval(&mut plugin, r#"@metrics.gauge("temp", 10)"#);
    std::thread::sleep(Duration::from_millis(150));
    eval(&mut plugin, r#"@metrics.gauge("temp", 30)"#);
    let window = eval(&mut plugin, r#"@metrics.window("temp", 60)"#);
    assert_eq!((&window["min"], &window["max"], &window["last"]), (&json!(10), &json!(30), &json!(30)));
    let avg = window["avg"].as_f64().unwrap();
    assert!(avg > 10.0 && avg < 30.0, "{window}");
    eval(&mut plugin, "map(range(1, 101), x => @metrics.summary(\"sizes\", x))");
    assert_eq!(eval(&mut plugin, r#"@metrics.quantile("sizes", 0.5)"#), json!(50.5));
    assert_eq!(eval(&mut plugin, r#"@metrics.quantile("sizes", 1)"#), json!(100));
    eval(&mut plugin, r#"@metrics.describe("latency", "histogram", "", {buckets: [1, 2, 4]})"#);
    eval(&mut plugin, "map([0.5, 1.5, 1.5, 3], x => @metrics.histogram(\"latency\", x))");
    assert_eq!(eval(&mut plugin, r#"@metrics.quantile("latency", 0.5)"#), json!(1.5));
    assert_eq!(eval(&mut plugin, r#"@metrics.quantile("latency", 0.25)"#), json!(1));
    let text = eval(&mut plugin, "@metrics.text()");
    assert!(text.as_str().unwrap().contains("sizes{quantile=\"0.75\"} 75.25\n"), "{text}");
}

#[test]
fn an_alert_fires_and_resolves_through_its_webhook_with_hysteresis() {
    let (address, requests) = http_server("200 OK");
    let mut plugin = plugin();
    plugin.grant(&format!("--allow-net={address}"));
    plugin.in_process();
    let condition = eval(
        &mut plugin,
        &format!(
            r#"@metrics.alert({{name: "hot", metric: "temp", labels: {{room: "a"}}, above: 30, clear: 25, every: 0.05, webhook: "http://{address}/hook"}})"#
        ),
    );
    assert_eq!(condition, json!("temp{room=\"a\"} > 30"));
    eval(&mut plugin, r#"@metrics.gauge("temp", 20, {room: "a"})"#);
    std::thread::sleep(Duration::from_millis(200));
    assert!(requests.try_recv().is_err(), "no call while below the threshold");
    eval(&mut plugin, r#"@metrics.gauge("temp", 31, {room: "a"})"#);
    let (request_line, headers, body) = requests.recv_timeout(GUARD).expect("the firing call");
    assert_eq!(request_line, "POST /hook HTTP/1.1");
    assert!(headers.contains(&("content-type".to_string(), "application/json".to_string())));
    let mut payload: Json = serde_json::from_str(&body).unwrap();
    assert!(payload["at"].as_f64().unwrap() > 1.7e9);
    payload.as_object_mut().unwrap().remove("at");
    assert_eq!(
        payload,
        json!({"alert": "hot", "state": "firing", "metric": "temp", "labels": {"room": "a"},
               "condition": "temp{room=\"a\"} > 30", "value": 31.0, "threshold": 30.0, "clear": 25.0})
    );
    // Back under the threshold but not under `clear`: still firing, no call.
    eval(&mut plugin, r#"@metrics.gauge("temp", 28, {room: "a"})"#);
    std::thread::sleep(Duration::from_millis(250));
    assert!(requests.try_recv().is_err(), "no call between clear and the threshold");
    let states = eval(&mut plugin, "@metrics.alerts()");
    assert_eq!(
        (&states[0]["state"], &states[0]["value"], &states[0]["fired"]),
        (&json!("firing"), &json!(28.0), &json!(1))
    );
    eval(&mut plugin, r#"@metrics.gauge("temp", 24, {room: "a"})"#);
    let (_, _, body) = requests.recv_timeout(GUARD).expect("the resolving call");
    let payload: Json = serde_json::from_str(&body).unwrap();
    assert_eq!((&payload["state"], &payload["value"]), (&json!("resolved"), &json!(24.0)));
    let states = eval(&mut plugin, "@metrics.check_alerts()");
    assert_eq!((&states[0]["state"], &states[0]["last_error"]), (&json!("ok"), &json!(null)));
}

#[test]
fn sandboxed_the_text_parses_and_listening_needs_a_grant_for_every_host() {
    let mut plugin = plugin();
    plugin.eval(RECORD).unwrap();
    check_exposition(eval(&mut plugin, "@metrics.text()").as_str().unwrap());
    // No network grant: the sandbox allows no socket at all.
    let headline = error(&mut plugin, "@metrics.serve(0)");
    assert!(headline.contains("cannot listen on 127.0.0.1:0"), "{headline}");
    assert!(headline.contains("a sandboxed plugin may listen only with --allow-net for every host"), "{headline}");
    // With every host granted, the sandboxed plugin listens and answers.
    plugin.grant("--allow-net");
    plugin.eval(RECORD).unwrap();
    let address = eval(&mut plugin, "@metrics.serve(0)");
    let (status, _, body) = http_get(address.as_str().unwrap(), "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    check_exposition(&body);
}

#[test]
fn sandboxed_with_one_host_granted_influxdb_pushes_and_udp_is_refused_with_the_reason() {
    let (address, requests) = http_server("204 No Content");
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_address = udp.local_addr().unwrap().to_string();
    let mut plugin = plugin();
    plugin.grant(&format!("--allow-net={address}"));
    plugin.with_user_config(&format!(
        "[plugins.metrics]\ninfluxdb = {{ url = \"http://{address}/write?db=x\", interval = 3600 }}\n"
    ));
    assert_eq!(eval(&mut plugin, r#"@metrics.counter("jobs", 4)"#), json!(4));
    assert_eq!(eval(&mut plugin, "@metrics.push()"), json!({"influxdb": 1}));
    let (request_line, _, body) = requests.recv_timeout(GUARD).unwrap();
    assert_eq!(request_line, "POST /write?db=x HTTP/1.1");
    assert_eq!(without_timestamps(&body), ["jobs value=4"]);
    // The sandbox's filter allows UDP sockets only with every host granted.
    plugin.grant(&format!("--allow-net={udp_address}"));
    plugin.with_user_config(&format!("[plugins.metrics]\ndogstatsd = {{ address = \"{udp_address}\" }}\n"));
    let headline = error(&mut plugin, r#"@metrics.counter("jobs")"#);
    assert!(headline.contains(&format!("cannot open a UDP socket to {udp_address}")), "{headline}");
    assert!(
        headline.contains("a sandboxed plugin may open UDP sockets only with --allow-net for every host"),
        "{headline}"
    );
}

#[test]
fn the_configured_listener_and_alert_rules_start_with_the_plugin() {
    let (hook, requests) = http_server("200 OK");
    // A free port: bound, then released for the plugin.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut plugin = plugin();
    plugin.grant(&format!("--allow-net={hook}"));
    plugin.with_user_config(&format!(
        "[plugins.metrics]\nlisten = \"127.0.0.1:{port}\"\nsample_interval = 0.05\n\n\
         [[plugins.metrics.alerts]]\nname = \"busy\"\nmetric = \"jobs\"\nrate = 60\nabove = 0\nevery = 0.05\nwebhook = \"http://{hook}/alerts\"\n"
    ));
    plugin.in_process();
    assert_eq!(eval(&mut plugin, r#"@metrics.counter("jobs", 5)"#), json!(5));
    let (_, _, body) = http_get(&format!("127.0.0.1:{port}"), "/metrics");
    assert_eq!(sample(&parse(&body), "jobs", &[]), 5.0);
    let (request_line, _, body) = requests.recv_timeout(GUARD).expect("the configured rule fires");
    assert_eq!(request_line, "POST /alerts HTTP/1.1");
    let payload: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&payload["alert"], &payload["state"], &payload["condition"]),
        (&json!("busy"), &json!("firing"), &json!("rate(jobs[60s]) > 0"))
    );
    assert!(payload["value"].as_f64().unwrap() > 0.0);
    let states = eval(&mut plugin, "@metrics.alerts()");
    assert_eq!((&states[0]["name"], &states[0]["state"]), (&json!("busy"), &json!("firing")));
}

/// Runs the event loop a little at a time until `done` holds (bounded by [`GUARD`]).
fn serve_until(plugin: &mut PluginTest, what: &str, mut done: impl FnMut(&mut PluginTest) -> bool) {
    let deadline = Instant::now() + GUARD;
    while !done(plugin) {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        plugin.engine().run_services_for(Duration::from_millis(20));
    }
}

/// The state of one alert rule, from `@metrics.alerts()`.
fn alert_state(plugin: &mut PluginTest, name: &str) -> Json {
    let states = eval(plugin, "@metrics.alerts()");
    states.as_array().unwrap().iter().find(|state| state["name"] == json!(name)).cloned().unwrap_or(Json::Null)
}

/// Rules whose condition, `clear` and action are script functions: checked on the plugin's
/// timer, called through the event loop, with hysteresis (fires above 10, resolves only under 5);
/// a failing or non-boolean condition is kept as the rule's error; a threshold rule's action is
/// called with the change; the rules keep the event loop running until removed.
fn script_rules(mut plugin: PluginTest) {
    let reported = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let sink = reported.clone();
    plugin.engine().on_handler_error(false, move |text| sink.borrow_mut().push(text.to_string()));
    let document = plugin
        .eval(
            r#"counted: "queue_alerts_total"
declared: [@metrics.describe(counted, "counter", "Actions of the queue alert."), @metrics.describe("hot_value", "gauge", "The temperature that fired.")]
queue: @metrics.alert({name: "queue", metric: "depth", condition: v => v > 10, clear: v => v < 5, every: 0.02, action: e => @metrics.counter(counted, 1, {state: e.state})})
hot: @metrics.alert({name: "hot", metric: "temp", above: 30, clear: 25, every: 0.02, action: e => @metrics.gauge("hot_value", e.value)})
"#,
        )
        .unwrap();
    assert_eq!(document["queue"], json!("script(depth)"));
    assert_eq!(document["hot"], json!("temp > 30"));
    assert!(plugin.engine().has_services(), "rules with script functions keep tusk running");
    let actions = |plugin: &mut PluginTest, state: &str| {
        eval(plugin, &format!(r#"@metrics.value("queue_alerts_total", {{state: "{state}"}})"#))
    };
    eval(&mut plugin, r#"@metrics.gauge("depth", 3)"#);
    serve_until(&mut plugin, "three checks", |plugin| alert_state(plugin, "queue")["checks"].as_u64().unwrap() >= 3);
    let state = alert_state(&mut plugin, "queue");
    assert_eq!((&state["state"], &state["value"], &state["fired"]), (&json!("ok"), &json!(3.0), &json!(0)));
    eval(&mut plugin, r#"@metrics.gauge("depth", 12)"#);
    serve_until(&mut plugin, "the firing action", |plugin| actions(plugin, "firing") == json!(1));
    assert_eq!(alert_state(&mut plugin, "queue")["state"], json!("firing"));
    // Between `clear` and the condition: still firing, no action.
    eval(&mut plugin, r#"@metrics.gauge("depth", 7)"#);
    let checks = alert_state(&mut plugin, "queue")["checks"].as_u64().unwrap();
    serve_until(&mut plugin, "three more checks", |plugin| {
        alert_state(plugin, "queue")["checks"].as_u64().unwrap() >= checks + 3
    });
    let state = alert_state(&mut plugin, "queue");
    assert_eq!((&state["state"], &state["value"], &state["fired"]), (&json!("firing"), &json!(7.0), &json!(1)));
    assert_eq!(actions(&mut plugin, "resolved"), json!(null));
    eval(&mut plugin, r#"@metrics.gauge("depth", 4)"#);
    serve_until(&mut plugin, "the resolving action", |plugin| actions(plugin, "resolved") == json!(1));
    assert_eq!(alert_state(&mut plugin, "queue")["state"], json!("ok"));
    assert_eq!(actions(&mut plugin, "firing"), json!(1));

    // A threshold rule's action gets the change.
    eval(&mut plugin, r#"@metrics.gauge("temp", 31.5)"#);
    serve_until(&mut plugin, "the threshold rule's action", |plugin| {
        eval(plugin, r#"@metrics.value("hot_value")"#) == json!(31.5)
    });

    // Conditions that fail or do not answer true or false: the rule's error.
    eval(&mut plugin, r#"@metrics.alert({name: "broken", condition: v => "x" * 2, every: 0.02})"#);
    eval(&mut plugin, r#"@metrics.alert({name: "vague", condition: v => v == null ? 5 : true, every: 0.02})"#);
    serve_until(&mut plugin, "both errors", |plugin| {
        !alert_state(plugin, "broken")["last_error"].is_null() && !alert_state(plugin, "vague")["last_error"].is_null()
    });
    let broken = alert_state(&mut plugin, "broken")["last_error"].as_str().unwrap().to_string();
    assert!(broken.starts_with("the condition of alert `broken` failed: "), "{broken}");
    assert!(broken.contains("cannot apply `*` to string and int"), "{broken}");
    assert_eq!(
        alert_state(&mut plugin, "vague")["last_error"],
        json!("the condition of alert `vague` returned the int 5, not true or false")
    );
    assert_eq!(alert_state(&mut plugin, "broken")["state"], json!("ok"));
    let reported = reported.borrow().clone();
    assert!(!reported.is_empty() && reported[0].contains("cannot apply `*` to string and int"), "{reported:?}");
    assert!(reported[0].contains("<expression>:1:"), "the condition's location: {}", reported[0]);

    for name in ["queue", "hot", "broken", "vague"] {
        assert_eq!(eval(&mut plugin, &format!(r#"@metrics.remove_alert("{name}")"#)), json!(true), "{name}");
    }
    assert_eq!(eval(&mut plugin, r#"@metrics.remove_alert("queue")"#), json!(false));
    // A sandboxed runner ends its service over its event channel: the loop sees it go.
    assert_eq!(
        plugin.engine().run_services_for(Duration::from_secs(10)),
        ServicesEnd::Idle,
        "the last rule with script functions ends the service"
    );
}

#[test]
fn script_alert_rules_run_through_the_event_loop() {
    let mut plugin = plugin();
    plugin.in_process();
    script_rules(plugin);
}

/// Sandboxed: the plugin's thread posts the calls from the runner over the event channel.
#[test]
fn script_alert_rules_run_through_the_event_loop_sandboxed() {
    script_rules(plugin());
}

/// `@metrics.response()`: what an http route returns to serve /metrics.
#[test]
fn the_response_serves_the_exposition_from_a_route() {
    let mut plugin = plugin();
    plugin.in_process();
    plugin.eval(RECORD).unwrap();
    let response = eval(&mut plugin, "@metrics.response()");
    assert_eq!(response["status"], json!(200));
    assert_eq!(
        response["headers"],
        json!({"content-type": "application/openmetrics-text; version=1.0.0; charset=utf-8"})
    );
    let body = response["body"].as_str().unwrap();
    assert_eq!(body, eval(&mut plugin, "@metrics.text()").as_str().unwrap());
    check_exposition(body);
}
