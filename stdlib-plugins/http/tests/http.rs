//! The http plugin through the real host, with real HTTP clients: ureq (a client of the test's
//! own, not the plugin's), raw TCP for malformed requests, `curl` where it is installed, and
//! the plugin's own client against its server (from a second engine on another thread).
//!
//! The test's thread runs the engine's event loop (where handlers run) while a client thread
//! makes the requests, as `tusk FILE` runs the loop after the document.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value as Json, json};
use tusk_plugin_testkit::PluginTest;

/// Long enough never to fire on a working machine; only keeps a broken test from hanging.
const GUARD: Duration = Duration::from_secs(30);

fn plugin() -> PluginTest {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.in_process();
    plugin
}

/// The plugin, and `sleep_ms(ms)`: a handler that takes its time.
fn plugin_with_sleep() -> PluginTest {
    let mut plugin = plugin();
    plugin
        .engine()
        .register_fn("sleep_ms", |ms: i64| {
            std::thread::sleep(Duration::from_millis(ms as u64));
            ms
        })
        .unwrap();
    plugin
}

/// Evaluates `source` (which starts a server as `server`) and returns the document and the
/// server's base URL.
fn start(plugin: &mut PluginTest, source: &str) -> (Json, String) {
    let document = plugin.eval(source).unwrap_or_else(|error| panic!("{source}\n{error}"));
    let url = document["server"]["url"].as_str().unwrap_or_else(|| panic!("no server.url in {document}")).to_string();
    (document, url)
}

/// Runs the event loop on this thread while `client` runs on another; its result.
fn serve_while<T: Send + 'static>(plugin: &mut PluginTest, client: impl FnOnce() -> T + Send + 'static) -> T {
    let thread = std::thread::spawn(client);
    let started = std::time::Instant::now();
    while !thread.is_finished() {
        assert!(started.elapsed() < GUARD * 2, "the client did not finish");
        plugin.engine().run_services_for(Duration::from_millis(10));
    }
    thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Handler errors, as the host reports them (rendered, with their location).
fn capture_handler_errors(plugin: &mut PluginTest) -> Arc<Mutex<Vec<String>>> {
    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = reported.clone();
    plugin.engine().on_handler_error(false, move |text| sink.lock().unwrap().push(text.to_string()));
    reported
}

/// One answer: status, headers (lower-case names, in order), body text.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("{error}: {}", self.body))
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(GUARD).redirects(0).build()
}

fn answer(outcome: Result<ureq::Response, ureq::Error>) -> Answer {
    let response = match outcome {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("{error}"),
    };
    let status = response.status();
    let mut headers = Vec::new();
    let mut names = response.headers_names();
    names.dedup();
    for name in names {
        for value in response.all(&name) {
            headers.push((name.to_ascii_lowercase(), value.to_string()));
        }
    }
    let body = response.into_string().unwrap();
    Answer { status, headers, body }
}

fn get(url: &str) -> Answer {
    answer(agent().get(url).call())
}

fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut request = agent().request(method, url);
    for (name, value) in headers {
        request = request.set(name, value);
    }
    answer(request.send_string(body))
}

/// Sends raw bytes and reads until the server closes or the head and `Content-Length` body
/// arrived.
fn raw(address: &str, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(GUARD)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).unwrap_or(0);
        if read == 0 {
            break;
        }
        received.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&received);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_string))
                .and_then(|length| length.trim().parse::<usize>().ok());
            if length.is_some_and(|length| body.len() >= length) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

fn address_of(url: &str) -> String {
    url.trim_start_matches("http://").to_string()
}

const ROUTES: &str = r#"
server: @http_server(0)
users: @http_route("GET", "/users/:id", req => {
    id: req.params.id, route: req.route, query: req.query, agent: req.headers.x-agent, ip: req.ip, method: req.method
})
echo: @http_route("POST", "/echo", req => {
    status: 201,
    headers: {x-request-path: req.path, x-count: 2},
    cookies: {seen: "yes", theme: {value: "dark", max_age: 60, http_only: true}},
    body: {body: req.body, text: req.text, type: req.headers.content-type, cookies: req.cookies}
})
hello: add_route("GET", "/hello", req => "hello " + get(req.query, "name", "world"))
any: @http_route("*", "/any", req => req.method)
none: @http_route("DELETE", "/users/:id", req => null)
files: @http_route("GET", "/files/*path", req => req.params.path)
"#;

#[test]
fn routes_with_parameters_query_headers_json_forms_and_cookies() {
    let mut plugin = plugin();
    let (document, url) = start(&mut plugin, ROUTES);
    assert_eq!(document["server"]["host"], json!("127.0.0.1"));
    assert!(document["server"]["port"].as_u64().unwrap() > 0);
    assert_eq!(document["users"], json!({"method": "GET", "path": "/users/:id"}));
    assert_eq!(document["any"], json!({"method": "*", "path": "/any"}));
    let answers = serve_while(&mut plugin, move || {
        let user = answer(agent().get(&format!("{url}/users/42?tag=a&tag=b&x=%20y")).set("X-Agent", "test").call());
        let json_post = send(
            "POST",
            &format!("{url}/echo"),
            &[("Content-Type", "application/json"), ("Cookie", "sid=abc; n=1")],
            r#"{"a": [1, 2.5, null]}"#,
        );
        let form_post = send(
            "POST",
            &format!("{url}/echo"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "a=1&b=two+words",
        );
        let text_post = send("POST", &format!("{url}/echo"), &[("Content-Type", "text/plain")], "plain text");
        let hello = get(&format!("{url}/hello?name=tusk"));
        let hello_default = get(&format!("{url}/hello"));
        let any = send("PUT", &format!("{url}/any"), &[], "");
        let deleted = send("DELETE", &format!("{url}/users/1"), &[], "");
        let files = get(&format!("{url}/files/a/b%20c.txt"));
        let missing = get(&format!("{url}/nothing"));
        let wrong_method = send("PUT", &format!("{url}/users/1"), &[], "");
        vec![user, json_post, form_post, text_post, hello, hello_default, any, deleted, files, missing, wrong_method]
    });
    let [user, json_post, form_post, text_post, hello, hello_default, any, deleted, files, missing, wrong_method] =
        <[Answer; 11]>::try_from(answers).unwrap();
    assert_eq!(user.status, 200);
    assert_eq!(user.header("content-type"), Some("application/json"));
    assert_eq!(
        user.json(),
        json!({"id": "42", "route": "/users/:id", "query": {"tag": ["a", "b"], "x": " y"}, "agent": "test", "ip": "127.0.0.1", "method": "GET"})
    );
    assert_eq!(json_post.status, 201);
    assert_eq!(json_post.header("x-request-path"), Some("/echo"));
    assert_eq!(json_post.header("x-count"), Some("2"));
    assert_eq!(json_post.headers_named("set-cookie"), ["seen=yes; Path=/", "theme=dark; Max-Age=60; HttpOnly; Path=/"]);
    assert_eq!(
        json_post.json(),
        json!({"body": {"a": [1, 2.5, null]}, "text": r#"{"a": [1, 2.5, null]}"#, "type": "application/json", "cookies": {"sid": "abc", "n": "1"}})
    );
    assert_eq!(form_post.json()["body"], json!({"a": "1", "b": "two words"}));
    assert_eq!(text_post.json()["body"], json!("plain text"));
    assert_eq!(
        (hello.status, hello.header("content-type"), hello.body.as_str()),
        (200, Some("text/plain; charset=utf-8"), "hello tusk")
    );
    assert_eq!(hello_default.body, "hello world");
    assert_eq!(any.body, "PUT");
    assert_eq!((deleted.status, deleted.body.as_str()), (204, ""));
    assert_eq!(files.body, "a/b c.txt");
    assert_eq!((missing.status, missing.json()), (404, json!({"error": "no route for GET /nothing"})));
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("DELETE, GET"));
}

#[test]
fn concurrent_requests_each_get_their_own_answer() {
    let mut plugin = plugin();
    let (_, url) = start(
        &mut plugin,
        r#"
server: @http_server(0)
r: @http_route("GET", "/square/:n", req => {n: int(req.params.n), square: int(req.params.n) * int(req.params.n)})
"#,
    );
    let results = serve_while(&mut plugin, move || {
        let threads: Vec<_> = (0..8)
            .map(|thread| {
                let url = url.clone();
                std::thread::spawn(move || {
                    (0..25)
                        .map(|i| {
                            let n = thread * 100 + i;
                            (n, get(&format!("{url}/square/{n}")).json())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads.into_iter().flat_map(|thread| thread.join().unwrap()).collect::<Vec<_>>()
    });
    assert_eq!(results.len(), 200);
    for (n, answer) in results {
        assert_eq!(answer, json!({"n": n, "square": n * n}));
    }
}

#[test]
fn a_failing_handler_answers_500_is_logged_with_its_location_and_the_server_goes_on() {
    let mut plugin = plugin();
    let reported = capture_handler_errors(&mut plugin);
    let (_, url) = start(
        &mut plugin,
        r#"
server: @http_server(0)
bad: @http_route("GET", "/bad", req => req.missing.deeper)
auth: @http_route("GET", "/private", req => assert(false, "unauthorized: no token"))
good: @http_route("GET", "/good", req => {ok: true})
invalid: @http_route("GET", "/invalid", req => {status: 42})
"#,
    );
    let (bad, private, good, invalid, good_again) = serve_while(&mut plugin, move || {
        (
            get(&format!("{url}/bad")),
            get(&format!("{url}/private")),
            get(&format!("{url}/good")),
            get(&format!("{url}/invalid")),
            get(&format!("{url}/good")),
        )
    });
    assert_eq!((bad.status, bad.json()), (500, json!({"error": "internal server error"})));
    assert_eq!(private.status, 401, "{private:?}");
    assert!(private.json()["error"].as_str().unwrap().starts_with("unauthorized: no token"), "{private:?}");
    assert_eq!((good.status, good.json()), (200, json!({"ok": true})));
    assert_eq!(invalid.status, 500);
    assert_eq!(good_again.status, 200);
    let reported = reported.lock().unwrap();
    let bad_report = reported.iter().find(|text| text.contains("missing")).unwrap_or_else(|| panic!("{reported:?}"));
    assert!(bad_report.contains("test.tsk:3:"), "{bad_report}");
    assert!(bad_report.contains("the service goes on"), "{bad_report}");
}

#[test]
fn a_slow_handler_hits_the_time_limit_and_the_server_keeps_serving() {
    let mut plugin = plugin_with_sleep();
    let (document, url) = start(
        &mut plugin,
        r#"
server: @http_server(0)
limits: @http.limits({timeout: 0.3})
slow: @http_route("GET", "/slow", req => sleep_ms(1500))
fast: @http_route("GET", "/fast", req => "fast")
"#,
    );
    assert_eq!(document["limits"], json!({"max_body": 1048576, "timeout": 0.3}));
    let slow_url = url.clone();
    let slow = serve_while(&mut plugin, move || get(&format!("{slow_url}/slow")));
    assert_eq!((slow.status, slow.json()), (503, json!({"error": "the handler did not answer within 0.3s"})));
    // The slow handler still holds the interpreter for a while (it cannot be interrupted), so
    // a request now may time out too; the server answers again once it is done.
    let fast = serve_while(&mut plugin, move || {
        loop {
            let answer = get(&format!("{url}/fast"));
            if answer.status != 503 {
                return answer;
            }
        }
    });
    assert_eq!((fast.status, fast.body.as_str()), (200, "fast"));
}

#[test]
fn malformed_requests_and_oversized_bodies_are_refused() {
    let mut plugin = plugin();
    let (_, url) = start(
        &mut plugin,
        r#"
server: @http_server(0)
limits: @http.limits({max_body: 1000})
echo: @http_route("POST", "/echo", req => {length: len(req.text || "")})
"#,
    );
    let address = address_of(&url);
    let (garbage, bad_json, bad_path, large, chunked, fine) = serve_while(&mut plugin, move || {
        let garbage = raw(&address, b"THIS IS NOT HTTP\r\n\r\n");
        let bad_json = send("POST", &format!("{url}/echo"), &[("Content-Type", "application/json")], "{not json");
        let bad_path =
            raw(&address, format!("GET /a%2Fb HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes());
        let large = send("POST", &format!("{url}/echo"), &[], &"x".repeat(2000));
        let chunk = "y".repeat(600);
        let chunked = raw(
            &address,
            format!(
                "POST /echo HTTP/1.1\r\nHost: {address}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
            )
            .as_bytes(),
        );
        let fine = send("POST", &format!("{url}/echo"), &[], &"z".repeat(1000));
        (garbage, bad_json, bad_path, large, chunked, fine)
    });
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    assert_eq!(bad_json.status, 400);
    assert!(bad_json.json()["error"].as_str().unwrap().starts_with("the body is not valid JSON: "), "{bad_json:?}");
    assert!(bad_path.starts_with("HTTP/1.1 400"), "{bad_path}");
    assert_eq!((large.status, large.json()), (413, json!({"error": "the request body is larger than 1000 bytes"})));
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    assert_eq!((fine.status, fine.json()), (200, json!({"length": 1000})));
}

#[test]
fn static_files_are_served_from_their_folder_only() {
    let mut plugin = plugin();
    let site = plugin.script_dir().join("site");
    std::fs::create_dir_all(site.join("docs")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(site.join("docs/a.txt"), "a text").unwrap();
    std::fs::write(site.join(".secret"), "hidden").unwrap();
    std::fs::write(plugin.script_dir().join("outside.txt"), "outside").unwrap();
    let source = r#"
server: @http_server(0)
static: @http.static("/site", "site")
"#;
    let denied = plugin.eval(source).expect_err("reading without a grant");
    assert!(denied.contains("permission denied: serving site: "), "{denied}");
    plugin.grant(&format!("--allow-read={}", site.display()));
    plugin.in_process();
    let (document, url) = start(&mut plugin, source);
    assert_eq!(document["static"], json!(site.to_string_lossy()));
    let answers = serve_while(&mut plugin, move || {
        [
            "/site/docs/a.txt",
            "/site/",
            "/site/index.html",
            "/site/.secret",
            "/site/../outside.txt",
            "/site/%2e%2e/outside.txt",
            "/site/none",
        ]
        .map(|path| get(&format!("{url}{path}")))
    });
    let [text, folder, index, hidden, up, encoded_up, none] = answers;
    assert_eq!(
        (text.status, text.header("content-type"), text.body.as_str()),
        (200, Some("text/plain; charset=utf-8"), "a text")
    );
    assert_eq!(
        (folder.status, folder.header("content-type"), folder.body.as_str()),
        (200, Some("text/html; charset=utf-8"), "<h1>home</h1>")
    );
    assert_eq!(index.body, "<h1>home</h1>");
    for refused in [hidden, up, encoded_up, none] {
        assert_eq!(refused.status, 404, "{refused:?}");
    }
}

/// A request with a binary body, as a real client sends it; the answer's status, content type,
/// `x-kind` and `x-encoding` headers and raw body.
fn send_bytes(url: &str, content_type: Option<&str>, body: &[u8]) -> (u16, Vec<Option<String>>, Vec<u8>) {
    let mut request = agent().post(url);
    if let Some(content_type) = content_type {
        request = request.set("Content-Type", content_type);
    }
    let response = match request.send_bytes(body) {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("{error}"),
    };
    let headers = ["content-type", "x-kind", "x-encoding", "x-after"]
        .map(|name| response.header(name).map(str::to_string))
        .to_vec();
    let status = response.status();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).unwrap();
    (status, headers, bytes)
}

#[test]
fn byte_strings_are_request_and_response_bodies() {
    let mut plugin = plugin();
    let (_, url) = start(
        &mut plugin,
        r#"
server: @http_server(0)
echo: @http_route("POST", "/echo", req => {headers: {x-kind: type_of(req.body), x-encoding: req.body_encoding}, body: req.body})
bin: @http_route("POST", "/bin", req => bytes([0, 255, 1]))
png: @http_route("POST", "/png", req => {body: bytes([137, 80, 78, 71]), headers: {content-type: "image/png"}})
after: @http.middleware({path: "/bin", after: (req, res) => {headers: {x-after: type_of(res.body) + " " + res.headers.content-type}, body: res.body}})
"#,
    );
    let answers = serve_while(&mut plugin, move || {
        [
            send_bytes(&format!("{url}/echo"), Some("application/octet-stream"), &[0, 255, 1, 2]),
            send_bytes(&format!("{url}/echo"), Some("image/png"), b"\x89PNG"),
            send_bytes(&format!("{url}/echo"), Some("application/octet-stream"), b"ascii"),
            send_bytes(&format!("{url}/echo"), None, &[255, 0]),
            send_bytes(&format!("{url}/echo"), None, b"text without a type"),
            send_bytes(&format!("{url}/echo"), Some("text/csv"), b"a,b"),
            send_bytes(&format!("{url}/bin"), None, b""),
            send_bytes(&format!("{url}/png"), None, b""),
        ]
    });
    let some =
        |texts: &[&str]| texts.iter().map(|text| (!text.is_empty()).then(|| text.to_string())).collect::<Vec<_>>();
    let octets = "application/octet-stream";
    let text = "text/plain; charset=utf-8";
    assert_eq!(
        answers,
        [
            (200, some(&[octets, "bytes", "bytes", ""]), vec![0, 255, 1, 2]),
            (200, some(&[octets, "bytes", "bytes", ""]), b"\x89PNG".to_vec()),
            (200, some(&[octets, "bytes", "bytes", ""]), b"ascii".to_vec()),
            (200, some(&[octets, "bytes", "bytes", ""]), vec![255, 0]),
            (200, some(&[text, "string", "utf-8", ""]), b"text without a type".to_vec()),
            (200, some(&[text, "string", "utf-8", ""]), b"a,b".to_vec()),
            // An after-middleware sees a byte body as a byte string with its content type.
            (200, some(&[octets, "", "", "bytes application/octet-stream"]), vec![0, 255, 1]),
            (200, some(&["image/png", "", "", ""]), vec![137, 80, 78, 71]),
        ]
    );
}

#[test]
fn middleware_runs_before_and_after_and_can_answer_instead() {
    let mut plugin = plugin();
    let (_, url) = start(
        &mut plugin,
        r#"
server: @http_server(0)
auth: @http_middleware({path: "/api", before: req => get(req.headers, "x-user", null) ? {user: req.headers.x-user} : {status: 401, body: {error: "who are you?"}}})
timing: @http.middleware({after: (req, res) => {status: res.status, headers: {x-after: "yes"}, body: res.body}})
me: @http_route("GET", "/api/me", req => {user: req.user})
open: @http_route("GET", "/open", req => {user: get(req, "user", null)})
"#,
    );
    let (me, refused, open) = serve_while(&mut plugin, move || {
        (
            answer(agent().get(&format!("{url}/api/me")).set("X-User", "ada").call()),
            get(&format!("{url}/api/me")),
            get(&format!("{url}/open")),
        )
    });
    assert_eq!((me.status, me.json(), me.header("x-after")), (200, json!({"user": "ada"}), Some("yes")));
    assert_eq!(
        (refused.status, refused.json(), refused.header("x-after")),
        (401, json!({"error": "who are you?"}), Some("yes"))
    );
    assert_eq!((open.status, open.json()), (200, json!({"user": null})));
}

#[test]
fn cors_answers_preflights_and_marks_responses() {
    let mut plugin = plugin();
    let (_, url) = start(
        &mut plugin,
        r#"
server: @http_server(0)
cors: @http.cors({origins: ["http://app.test"], credentials: true, max_age: 120})
r: @http_route("POST", "/data", req => {ok: true})
"#,
    );
    let (preflight, refused, actual, other_origin) = serve_while(&mut plugin, move || {
        let preflight = send(
            "OPTIONS",
            &format!("{url}/data"),
            &[
                ("Origin", "http://app.test"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            "",
        );
        let refused = send(
            "OPTIONS",
            &format!("{url}/data"),
            &[("Origin", "http://evil.test"), ("Access-Control-Request-Method", "POST")],
            "",
        );
        let actual = send("POST", &format!("{url}/data"), &[("Origin", "http://app.test")], "");
        let other_origin = send("POST", &format!("{url}/data"), &[("Origin", "http://evil.test")], "");
        (preflight, refused, actual, other_origin)
    });
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("http://app.test"));
    assert_eq!(preflight.header("access-control-allow-methods"), Some("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"));
    assert_eq!(preflight.header("access-control-allow-headers"), Some("content-type"));
    assert_eq!(preflight.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(preflight.header("access-control-max-age"), Some("120"));
    assert_eq!(refused.status, 403);
    assert_eq!((actual.status, actual.header("access-control-allow-origin")), (200, Some("http://app.test")));
    assert_eq!(actual.header("vary"), Some("Origin"));
    assert_eq!((other_origin.status, other_origin.header("access-control-allow-origin")), (200, None));
}

#[test]
fn serve_takes_everything_at_once_and_stop_ends_the_service() {
    let mut plugin = plugin();
    let (document, url) = start(
        &mut plugin,
        r#"
server: @http.serve({
    port: 0,
    routes: {"GET /items/:id": req => {item: int(req.params.id)}, "/health": req => "ok"},
    middleware: [{after: (req, res) => {status: res.status, headers: {x-served-by: "serve"}, body: res.body}}],
    limits: {max_body: 10}
})
servers: len(@http.servers())
"#,
    );
    assert_eq!(document["servers"], json!(1));
    let (item, health, large) = serve_while(&mut plugin, move || {
        (
            get(&format!("{url}/items/7")),
            send("POST", &format!("{url}/health"), &[], ""),
            send("POST", &format!("{url}/health"), &[], "01234567890"),
        )
    });
    assert_eq!((item.json(), item.header("x-served-by")), (json!({"item": 7}), Some("serve")));
    assert_eq!(health.body, "ok");
    assert_eq!(large.status, 413);
    assert_eq!(plugin.eval_expression("@http.stop()").unwrap(), json!(1));
    // No service is left: the loop ends at once.
    assert_eq!(format!("{:?}", plugin.engine().run_services_for(GUARD)), "Idle");
    assert!(!plugin.engine().has_services());
}

#[test]
fn arguments_are_checked_and_other_addresses_need_a_grant() {
    let mut plugin = plugin();
    let first_line = |plugin: &mut PluginTest, source: &str| {
        plugin.eval_expression(source).expect_err(source).lines().next().unwrap_or_default().to_string()
    };
    assert!(first_line(&mut plugin, r#"@http_route("FETCH", "/", x => x)"#).contains("`FETCH` is not an HTTP method"));
    assert!(
        first_line(&mut plugin, r#"@http_route("GET", "users", x => x)"#)
            .contains("the route path `users` must start with `/`")
    );
    assert!(
        first_line(&mut plugin, r#"@http_route("GET", "/", "nope")"#)
            .contains("the handler must be a function, got string")
    );
    assert!(first_line(&mut plugin, r#"@http_server()"#).contains("missing argument: port"));
    assert!(first_line(&mut plugin, r#"@http_server(70000)"#).contains("the port must be an integer from 0 to 65535"));
    let denied = first_line(&mut plugin, r#"@http_server(0, "0.0.0.0")"#);
    assert!(denied.contains("permission denied: listening on 0.0.0.0:0 (not a loopback address)"), "{denied}");
    assert_eq!(plugin.run_examples(), Vec::<String>::new());
}

#[test]
fn the_plugins_client_talks_to_its_server() {
    let mut plugin = plugin_with_sleep();
    let (document, url) = start(
        &mut plugin,
        r#"
server: @http_server(0)
a: @http_route("POST", "/items", req => {status: 201, headers: {x-id: "9"}, body: {created: req.body, auth: req.headers.authorization}})
b: @http_route("GET", "/old", req => {status: 302, headers: {location: "/new?from=old"}})
c: @http_route("GET", "/new", req => {query: req.query})
d: @http_route("GET", "/loop", req => {status: 307, headers: {location: "/loop"}})
e: @http_route("GET", "/slow", req => sleep_ms(800))
f: @http_route("GET", "/text", req => "plain")
g: @http_route("POST", "/raw", req => {type: req.headers.content-type, encoding: req.body_encoding, kind: type_of(req.body), hex: hex(req.body)})
"#,
    );
    let port = document["server"]["port"].as_u64().unwrap();
    let client_url = url.clone();
    let results = serve_while(&mut plugin, move || {
        // A second engine on this thread: the client blocks its own interpreter, not the server's.
        let mut client = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
        client.in_process();
        let denied = client.eval_expression(&format!("@http.get(\"{client_url}/new\")")).expect_err("no grant");
        client.grant(&format!("--allow-net=127.0.0.1:{port}"));
        client.in_process();
        let eval = |client: &mut PluginTest, source: String| {
            client.eval_expression(&source).unwrap_or_else(|error| panic!("{source}\n{error}"))
        };
        let created = eval(
            &mut client,
            format!(
                r#"@http.post("{client_url}/items", {{json: {{name: "pen", tags: [1, 2]}}, headers: {{Authorization: "Bearer t"}}}})"#
            ),
        );
        let redirected = eval(&mut client, format!(r#"@http.get("{client_url}/old")"#));
        let text = eval(&mut client, format!(r#"@http.request("GET", "{client_url}/text", {{query: {{a: 1}}}})"#));
        let missing = eval(&mut client, format!(r#"@http.delete("{client_url}/nothing")"#));
        let raw = eval(&mut client, format!(r#"@http.post("{client_url}/raw", {{body: bytes([0, 255, 1])}})"#));
        let typed = eval(
            &mut client,
            format!(
                r#"@http.post("{client_url}/raw", {{body: bytes("%PDF"), headers: {{content-type: "application/pdf"}}}})"#
            ),
        );
        let looped = client
            .eval_expression(&format!(r#"@http.get("{client_url}/loop", {{max_redirects: 3}})"#))
            .expect_err("a redirect loop");
        let slow = client
            .eval_expression(&format!(r#"@http.get("{client_url}/slow", {{timeout: 0.2}})"#))
            .expect_err("too slow");
        // https to a server that speaks plain HTTP: rustls starts a handshake and fails.
        let https_url = client_url.replace("http://", "https://");
        let tls = client.eval_expression(&format!(r#"@http.get("{https_url}/text")"#)).expect_err("not TLS");
        (denied, created, redirected, text, missing, looped, slow, tls, raw, typed)
    });
    let (denied, created, redirected, text, missing, looped, slow, tls, raw, typed) = results;
    // A byte string body goes as its bytes; the server hands a body whose type is not text to
    // its handler as a byte string, even when it is valid UTF-8.
    assert_eq!(
        raw["body"],
        json!({"type": "application/octet-stream", "encoding": "bytes", "kind": "bytes", "hex": "00ff01"})
    );
    assert_eq!(
        typed["body"],
        json!({"type": "application/pdf", "encoding": "bytes", "kind": "bytes", "hex": "25504446"})
    );
    let https_url = url.replace("http://", "https://");
    assert!(tls.contains(&format!("GET {https_url}/text failed: ")), "{tls}");
    assert!(denied.contains(&format!("permission denied: connecting to 127.0.0.1:{port}")), "{denied}");
    assert_eq!(created["status"], json!(201));
    assert_eq!(created["ok"], json!(true));
    assert_eq!(created["headers"]["x-id"], json!("9"));
    assert_eq!(created["body"], json!({"created": {"name": "pen", "tags": [1, 2]}, "auth": "Bearer t"}));
    assert_eq!(redirected["status"], json!(200));
    assert_eq!(redirected["redirects"], json!(1));
    assert_eq!(redirected["url"], json!(format!("{url}/new?from=old")));
    assert_eq!(redirected["body"], json!({"query": {"from": "old"}}));
    assert_eq!((&text["body"], &text["url"]), (&json!("plain"), &json!(format!("{url}/text?a=1"))));
    assert_eq!((&missing["status"], &missing["ok"]), (&json!(404), &json!(false)));
    assert_eq!(missing["body"], json!({"error": "no route for DELETE /nothing"}));
    assert!(looped.contains("more than 3 redirects"), "{looped}");
    assert!(slow.contains("no answer within 0.2s"), "{slow}");
}

#[test]
fn curl_gets_an_answer_when_it_is_installed() {
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipping: curl is not installed");
        return;
    }
    let mut plugin = plugin();
    let (_, url) = start(
        &mut plugin,
        r#"
server: @http_server(0)
r: @http_route("POST", "/sum", req => {sum: req.body.a + req.body.b})
"#,
    );
    let output = serve_while(&mut plugin, move || {
        std::process::Command::new("curl")
            .args([
                "-s",
                "-i",
                "-H",
                "content-type: application/json",
                "-d",
                r#"{"a": 2, "b": 40}"#,
                &format!("{url}/sum"),
            ])
            .output()
            .unwrap()
    });
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.ends_with(r#"{"sum":42}"#), "{text}");
}

#[test]
fn the_server_runs_sandboxed_when_every_host_is_granted() {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    // Sandboxed (not trusted): listening needs the network for every host (Landlock binds).
    let refused = plugin.eval("server: @http_server(0)\n").expect_err("listening without a grant");
    assert!(refused.contains("cannot listen on 127.0.0.1:0"), "{refused}");
    plugin.grant("--allow-net");
    let (_, url) = start(
        &mut plugin,
        r#"
server: @http_server(0)
r: @http_route("GET", "/users/:id", req => {id: req.params.id, sandboxed: true})
"#,
    );
    let answer = serve_while(&mut plugin, move || get(&format!("{url}/users/5")));
    assert_eq!((answer.status, answer.json()), (200, json!({"id": "5", "sandboxed": true})));
}
