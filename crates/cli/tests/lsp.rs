//! `tusk lsp` driven by a scripted client over standard input and output: the initialize
//! handshake, diagnostics on open and change, hover, completion, go to definition in the file
//! and across files, unknown requests, shutdown and exit.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value as Json, json};

struct Client {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    next_id: i64,
    /// Notifications that arrived while waiting for a response.
    notifications: Vec<Json>,
}

impl Client {
    fn start(dir: &std::path::Path) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tusk"))
            .arg("lsp")
            .current_dir(dir)
            .env_remove("TUSK_PLUGIN_PATH")
            .env("XDG_DATA_HOME", dir.join(".xdg/data"))
            .env("XDG_CONFIG_HOME", dir.join(".xdg/config"))
            .env("XDG_CACHE_HOME", dir.join(".xdg/cache"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tusk lsp starts");
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        Client { child, input, output, next_id: 0, notifications: Vec::new() }
    }

    fn send(&mut self, message: &Json) {
        let body = message.to_string();
        write!(self.input, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.input.flush().unwrap();
    }

    fn receive(&mut self) -> Json {
        let mut length = 0;
        loop {
            let mut line = String::new();
            assert!(self.output.read_line(&mut line).unwrap() > 0, "the server closed its output");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(": ").expect("a header");
            assert_eq!(name, "Content-Length");
            length = value.parse().unwrap();
        }
        let mut body = vec![0; length];
        self.output.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn request(&mut self, method: &str, params: Json) -> Json {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let message = self.receive();
            if message["id"] == json!(id) {
                return message;
            }
            self.notifications.push(message);
        }
    }

    fn notify(&mut self, method: &str, params: Json) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Json {
        if let Some(position) = self.notifications.iter().position(|n| n["params"]["uri"] == json!(uri)) {
            return self.notifications.remove(position)["params"]["diagnostics"].clone();
        }
        loop {
            let message = self.receive();
            if message["method"] == json!("textDocument/publishDiagnostics") && message["params"]["uri"] == json!(uri) {
                return message["params"]["diagnostics"].clone();
            }
            self.notifications.push(message);
        }
    }
}

fn at(uri: &str, line: u32, character: u32) -> Json {
    json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
}

fn range(start: (u32, u32), end: (u32, u32)) -> Json {
    json!({"start": {"line": start.0, "character": start.1}, "end": {"line": end.0, "character": end.1}})
}

const MAIN: &str = "\
$env: \"dev\"
port: 8080
[server]
url: \"http://h:${port}\"
host: @common.tsk.get(\"db.host\")
name: @env(\"NAME\", \"x\")
level: info
";

#[test]
fn a_scripted_session() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(root.join("common.tsk"), "db {\n    host: \"db.local\"\n}\n").unwrap();
    std::fs::write(root.join("main.tsk"), MAIN).unwrap();
    let uri = format!("file://{}/main.tsk", root.display());
    let common_uri = format!("file://{}/common.tsk", root.display());
    let mut client = Client::start(&root);

    let initialized = client.request("initialize", json!({"processId": null, "rootUri": null, "capabilities": {}}));
    assert_eq!(
        initialized["result"],
        json!({
            "capabilities": {
                "textDocumentSync": {"openClose": true, "change": 1, "save": {"includeText": false}},
                "hoverProvider": true,
                "completionProvider": {"triggerCharacters": ["@", "$"]},
                "definitionProvider": true,
            },
            "serverInfo": {"name": "tusk", "version": env!("CARGO_PKG_VERSION")},
        })
    );
    client.notify("initialized", json!({}));

    // Diagnostics on open: the bare word, as `tusk check` reports it.
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "tusk", "version": 1, "text": MAIN}}),
    );
    assert_eq!(
        client.diagnostics(&uri),
        json!([{
            "range": range((6, 7), (6, 11)),
            "severity": 2,
            "code": "W002",
            "source": "tusk",
            "message": "bare word `info` is read as the string \"info\"\nhelp: write \"info\" to make the string explicit",
            "relatedInformation": [],
        }])
    );

    // Hover: an operator's documentation, an entry's definition, a language operator.
    let hover = client.request("textDocument/hover", at(&uri, 5, 8));
    let markdown = hover["result"]["contents"]["value"].as_str().unwrap().to_string();
    assert!(markdown.starts_with("```tusk\n@env(name, default)\n```\n"), "{markdown}");
    assert!(markdown.ends_with("From the `core` plugin."), "{markdown}");
    assert_eq!(hover["result"]["range"], range((5, 6), (5, 10)));
    let hover = client.request("textDocument/hover", at(&uri, 3, 17));
    assert_eq!(
        hover["result"]["contents"],
        json!({"kind": "markdown", "value": "`port`, defined on line 2:\n```tusk\nport: 8080\n```"})
    );
    assert_eq!(client.request("textDocument/hover", at(&uri, 2, 0))["result"], Json::Null);

    // Go to definition: in the file, a global, and across files to the key read.
    assert_eq!(
        client.request("textDocument/definition", at(&uri, 3, 18))["result"],
        json!({"uri": uri, "range": range((1, 0), (1, 4))})
    );
    assert_eq!(
        client.request("textDocument/definition", at(&uri, 4, 10))["result"],
        json!({"uri": common_uri, "range": range((1, 4), (1, 8))})
    );

    // Completion: operators after `@`, names and functions elsewhere.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": format!("{MAIN}x: @fi")}]}),
    );
    let errors = client.diagnostics(&uri);
    assert_eq!(errors[0]["severity"], json!(1), "{errors}");
    let completion = client.request("textDocument/completion", at(&uri, 7, 6));
    let items = completion["result"]["items"].as_array().unwrap();
    let file_read = items.iter().find(|item| item["label"] == json!("@file.read")).expect("@file.read offered");
    assert_eq!(file_read["textEdit"], json!({"range": range((7, 3), (7, 6)), "newText": "@file.read"}));
    assert_eq!(file_read["detail"], json!("@file.read(path)"));
    assert!(items.iter().all(|item| item["label"].as_str().unwrap().starts_with('@')));
    let completion = client.request("textDocument/completion", at(&uri, 1, 0));
    let labels: Vec<&str> =
        completion["result"]["items"].as_array().unwrap().iter().map(|item| item["label"].as_str().unwrap()).collect();
    for expected in ["$env", "port", "server", "url", "len", "map", "true"] {
        assert!(labels.contains(&expected), "{expected} not in {labels:?}");
    }

    // An unknown request is an error; closing clears the diagnostics; shutdown, then exit 0.
    let unknown = client.request("textDocument/formatting", at(&uri, 0, 0));
    assert_eq!(unknown["error"]["code"], json!(-32601));
    client.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}}));
    assert_eq!(client.diagnostics(&uri), json!([]));
    assert_eq!(client.request("shutdown", Json::Null)["result"], Json::Null);
    client.notify("exit", Json::Null);
    assert_eq!(client.child.wait().unwrap().code(), Some(0));
}

#[test]
fn exit_without_shutdown_is_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = Client::start(dir.path());
    client.notify("exit", Json::Null);
    assert_eq!(client.child.wait().unwrap().code(), Some(1));
}

#[test]
fn related_places_and_errors_of_files_the_document_reads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(root.join("broken.tsk"), "a: (1\n").unwrap();
    let uri = format!("file://{}/main.tsk", root.display());
    let mut client = Client::start(&root);
    client.request("initialize", json!({"capabilities": {}}));
    let text = "port: 1\nport: 2\nx: @broken.tsk.get(\"a\")\n";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "tusk", "version": 1, "text": text}}),
    );
    let diagnostics = client.diagnostics(&uri);
    let diagnostics = diagnostics.as_array().unwrap();
    // An error in a file the document reads is reported at the call that reads it.
    let call = diagnostics.iter().find(|d| d["code"] == json!("R015")).expect("the error of the call");
    assert_eq!(call["range"], range((2, 3), (2, 23)));
    assert_eq!(call["severity"], json!(1));
    assert!(call["message"].as_str().unwrap().contains("broken.tsk has errors"), "{call}");
    // A secondary label becomes related information, with its file and place.
    let duplicate = diagnostics.iter().find(|d| d["code"] == json!("W001")).expect("the duplicate key");
    assert_eq!(duplicate["range"], range((1, 0), (1, 4)));
    assert_eq!(
        duplicate["relatedInformation"],
        json!([{"location": {"uri": uri, "range": range((0, 0), (0, 4))}, "message": "first defined here"}])
    );
    assert_eq!(client.request("shutdown", Json::Null)["result"], Json::Null);
    client.notify("exit", Json::Null);
    assert_eq!(client.child.wait().unwrap().code(), Some(0));
}
