//! `tusk serve`: the real binary with the http plugin installed (trusted, so in-process as the
//! bundled first-party plugin runs), answering real HTTP requests over TCP: API files of a
//! folder and a single file, `@request`, the last bare expression as the answer, edits picked
//! up without a restart, errors answered 500 with their location on standard error, files
//! that are not API files never served, SIGTERM ending it with 0; and the reference's own
//! FUJSEN API files (read in place) in compat mode.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// Long enough never to fire on a working machine; only keeps a broken test from hanging.
const GUARD: Duration = Duration::from_secs(60);

/// A scratch folder with the http plugin installed and trusted.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let stdlib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stdlib-plugins");
        let built =
            tusk_plugin_testkit::build_packages(&stdlib, &["tusk-plugin-http"], tusk_plugin_testkit::Profile::Debug)
                .unwrap_or_else(|error| panic!("{error}"));
        let plugin = dir.path().join("plugins/http");
        std::fs::create_dir_all(&plugin).unwrap();
        for file in ["plugin.toml", "config.schema.json"] {
            std::fs::copy(stdlib.join("http").join(file), plugin.join(file)).unwrap();
        }
        std::fs::copy(built.library("tusk-plugin-http"), plugin.join("libtusk_plugin_http.so")).unwrap();
        std::fs::create_dir_all(dir.path().join(".xdg/config/tusk")).unwrap();
        std::fs::write(dir.path().join(".xdg/config/tusk/grants.toml"), "[http]\ntrusted = true\n").unwrap();
        std::fs::create_dir_all(dir.path().join("api/users")).unwrap();
        Site { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn write(&self, relative: &str, text: &str) {
        std::fs::write(self.path(relative), text).unwrap();
    }

    /// Starts `tusk [flags] serve --port 0 TARGET`; the server's URL and the lines of its
    /// standard error as they come.
    fn serve(&self, flags: &[&str], target: &Path) -> (Child, String, Receiver<String>) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tusk"));
        command
            .args(flags)
            .args(["serve", "--port", "0"])
            .arg(target)
            .current_dir(self.dir.path())
            .env("TUSK_PLUGIN_PATH", self.path("plugins"))
            .env("XDG_DATA_HOME", self.path(".xdg/data"))
            .env("XDG_CONFIG_HOME", self.path(".xdg/config"))
            .env("XDG_CACHE_HOME", self.path(".xdg/cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let mut seen = Vec::new();
        let url = loop {
            match lines.recv_timeout(GUARD) {
                Ok(line) => match line.strip_prefix("tusk serve: ") {
                    Some(rest) => break rest.split_whitespace().next().map(str::to_string),
                    None => seen.push(line),
                },
                Err(_) => break None,
            }
        };
        match url {
            Some(url) => (child, url, lines),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no URL on standard error: {seen:?}");
            }
        }
    }
}

/// One request over a fresh connection: (status, content type, body).
fn request(url: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(GUARD)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    stream.write_all(format!("{head}\r\n{body}").as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head in {answer:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_string))
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

fn stop(mut child: Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn a_folder_of_api_files_answers_requests_and_picks_up_edits() {
    let site = Site::new();
    site.write(
        "api/hello.tsk",
        "#!api\nname: get(@request.query, \"name\", \"world\")\n@json({hello: name, method: @request.method, body: @request.body, agent: @request.user_agent})\n",
    );
    site.write("api/index.tsk", "#!api\nroutes: [\"/hello\", \"/users\"]\n");
    site.write("api/users/index.tsk", "#!api\nlist: [{id: 1}]\nresponse: {status: 201, body: list}\nresponse\n");
    site.write("api/config.tsk", "password: \"not for the web\"\n");
    site.write("api/broken.tsk", "#!api\no: {a: 1}\ny: o.missing\n");
    let (child, url, lines) = site.serve(&[], &site.path("api"));
    let hello = request(&url, "GET", "/hello?name=tusk", &[("User-Agent", "probe")], "");
    assert_eq!((hello.0, hello.1.as_str()), (200, "application/json"));
    assert_eq!(json(&hello.2), serde_json::json!({"hello": "tusk", "method": "GET", "body": null, "agent": "probe"}));
    let posted = request(&url, "POST", "/hello", &[("Content-Type", "application/json")], r#"{"a": [1, 2]}"#);
    assert_eq!(
        json(&posted.2),
        serde_json::json!({"hello": "world", "method": "POST", "body": {"a": [1, 2]}, "agent": null})
    );
    let index = request(&url, "GET", "/", &[], "");
    assert_eq!(json(&index.2), serde_json::json!({"routes": ["/hello", "/users"]}));
    let users = request(&url, "GET", "/users", &[], "");
    assert_eq!((users.0, json(&users.2)), (201, serde_json::json!([{"id": 1}])));
    for hidden in ["/config", "/../serve.rs", "/%2e%2e/x", "/nothing"] {
        let answer = request(&url, "GET", hidden, &[], "");
        assert_eq!(answer.0, 404, "{hidden}: {answer:?}");
        assert!(!answer.2.contains("not for the web"));
    }
    let broken = request(&url, "GET", "/broken", &[], "");
    assert_eq!((broken.0, json(&broken.2)), (500, serde_json::json!({"error": "internal server error"})));
    let mut reported = String::new();
    while !reported.contains("no such key") {
        reported.push_str(&lines.recv_timeout(GUARD).unwrap_or_else(|_| panic!("no error reported: {reported}")));
        reported.push('\n');
    }
    let broken_file = site.path("api/broken.tsk");
    assert!(reported.contains(&format!("{}:3:4", broken_file.display())), "{reported}");
    // An edit is picked up by the next request (the modification time or size changes).
    site.write("api/hello.tsk", "#!api\n@json({edited: true, n: 1 + 1})\n");
    let edited = request(&url, "GET", "/hello", &[], "");
    assert_eq!(json(&edited.2), serde_json::json!({"edited": true, "n": 2}));
    stop(child);
}

#[test]
fn a_single_file_answers_every_path() {
    let site = Site::new();
    site.write("one.tsk", "path: @request.path\n{path: path, ip: @request.ip}\n");
    let (child, url, _lines) = site.serve(&[], &site.path("one.tsk"));
    let answer = request(&url, "GET", "/any/where", &[], "");
    assert_eq!((answer.0, json(&answer.2)), (200, serde_json::json!({"path": "/any/where", "ip": "127.0.0.1"})));
    stop(child);
}

#[test]
fn without_the_http_plugin_it_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.tsk"), "#!api\n{a: 1}\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tusk"))
        .args(["serve", "a.tsk"])
        .current_dir(dir.path())
        .env_remove("TUSK_PLUGIN_PATH")
        .env("XDG_DATA_HOME", dir.path().join(".xdg/data"))
        .env("XDG_CONFIG_HOME", dir.path().join(".xdg/config"))
        .env("XDG_CACHE_HOME", dir.path().join(".xdg/cache"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A tusk with the standard plugins bundled next to it finds http there; one without says so.
    if !stderr.contains("needs the http plugin") {
        eprintln!("skipping: this tusk finds an http plugin of its own ({stderr})");
        return;
    }
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("help: install it with `tusk plugin install stdlib-plugins/http`"), "{stderr}");
}

/// The reference's FUJSEN API files, where the shared conformance set is (beside the
/// repository, or above the work tree).
fn conformance_dir() -> Option<PathBuf> {
    let found = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/conformance/tusktsk"))
        .find(|dir| dir.join("fujsen-api-echo.tsk").is_file());
    if found.is_none() {
        let reason = "the shared conformance files (shared/conformance/tusktsk) are not above this crate";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}, and CI=true requires them");
        eprintln!("skipping: {reason}");
    }
    found
}

#[test]
fn the_reference_fujsen_api_files_answer_real_requests() {
    let Some(conformance) = conformance_dir() else { return };
    let site = Site::new();
    // They call operators the standard plugins do not have (@optimize, @learn, php()), which
    // compat mode keeps as their text, as the reference SDKs do.
    let (child, url, _lines) = site.serve(&["--compat", "--quiet"], &conformance);
    let minimal = request(&url, "GET", "/fujsen-api-test-minimal", &[], "");
    assert_eq!(
        (minimal.0, json(&minimal.2)),
        (
            200,
            serde_json::json!({"message": "Hello from minimal test", "result": "{\"message\":\"Hello from minimal test\"}"})
        )
    );
    let test = request(&url, "GET", "/fujsen-api-test", &[], "");
    assert_eq!(json(&test.2)["hello"], serde_json::json!("world"));
    // Its answer is the last bare expression, `format == "html" ? html_response : json_response`.
    let echo = request(
        &url,
        "POST",
        "/fujsen-api-echo?format=json",
        &[("X-Probe", "1"), ("Content-Type", "text/plain")],
        "ping",
    );
    assert_eq!((echo.0, echo.1.as_str()), (200, "application/json"));
    let echo = json(&echo.2);
    assert_eq!(echo["echo"], serde_json::json!("Hello from FUJSEN!"));
    assert_eq!(echo["request"]["method"], serde_json::json!("POST"));
    assert_eq!(echo["request"]["body"], serde_json::json!("ping"));
    assert_eq!(echo["request"]["query"], serde_json::json!({"format": "json"}));
    assert_eq!(echo["request"]["headers"]["x-probe"], serde_json::json!("1"));
    assert_eq!(echo["request"]["ip"], serde_json::json!("127.0.0.1"));
    assert!(echo["server"]["timestamp"].as_i64().unwrap() > 1_700_000_000);
    let simple = request(&url, "GET", "/fujsen-api-echo-simple", &[], "");
    let simple = json(&simple.2);
    assert_eq!(simple["method"], serde_json::json!("GET"));
    let result = json(simple["result"].as_str().unwrap());
    assert_eq!(result["echo"], serde_json::json!("Hello from FUJSEN!"));
    // A file without `#!api` (the registry's configuration) is not an endpoint.
    assert_eq!(request(&url, "GET", "/fujsen-api-registry", &[], "").0, 404);
    stop(child);
}
