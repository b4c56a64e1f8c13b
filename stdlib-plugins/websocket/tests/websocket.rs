//! The websocket plugin through the real host, in-process as the first-party plugin runs:
//! its server against real clients of the test (tokio-tungstenite, and raw TCP for the peers
//! that break the protocol), and its client against its server. The test's thread is the
//! interpreter's thread: it runs the engine's event loop (where the script's handlers run)
//! while the clients work on threads of their own.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value as Json, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tusk::ServicesEnd;
use tusk_plugin_testkit::PluginTest;

/// Long enough never to fire on a working machine; only keeps a broken test from hanging.
const GUARD: Duration = Duration::from_secs(30);

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

fn plugin() -> PluginTest {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.in_process();
    plugin
}

fn eval(plugin: &mut PluginTest, expression: &str) -> Json {
    plugin.eval_expression(expression).unwrap_or_else(|error| panic!("{expression}\n{error}"))
}

/// The headline of the rendered diagnostic.
fn error(plugin: &mut PluginTest, source: &str) -> String {
    let rendered = plugin.eval_expression(source).expect_err(source);
    rendered.lines().next().unwrap_or_default().to_string()
}

/// A chat server: commands `join:ROOM`, `leave:ROOM`, `room:ROOM:TEXT`, `all:TEXT`,
/// `count` (a counter in the connection's state), `boom` (the handler fails), anything else
/// is echoed; binary messages, which arrive as byte strings, come back as they are (anything
/// else that is not a string is answered with its type). `on_close` tells the room `observers`.
fn chat_script(options: &str) -> String {
    format!(
        r#"
parts: m => split(m, ":")
joined: (c, room) => @websocket.join(c, room) ? "joined " + room : "already in " + room
left: (c, room) => @websocket.leave(c, room) ? "left " + room : "not in " + room
quiet: n => null
counted: c => "count " + str(@websocket.set_state(c, (c.state == null ? 0 : c.state) + 1))
command: (c, m) => parts(m)[0] == "join" ? joined(c, parts(m)[1]) : parts(m)[0] == "leave" ? left(c, parts(m)[1]) : parts(m)[0] == "room" ? quiet(broadcast_message(parts(m)[2], parts(m)[1])) : parts(m)[0] == "all" ? quiet(broadcast_message(parts(m)[1])) : m == "count" ? counted(c) : m == "boom" ? error("boom from the handler") : "echo " + m
server: @websocket.serve({{path: "/chat", on_open: c => "welcome " + str(c.id), on_message: (c, m) => type_of(m) == "string" ? command(c, m) : type_of(m) == "bytes" ? m : "not bytes but " + type_of(m), on_close: (c, close) => broadcast_message("closed " + str(c.id) + " " + str(close.code) + " " + close.reason, "observers"){options}}})
"#
    )
}

/// Starts the chat server; its `ws://` URL.
fn start_chat(plugin: &mut PluginTest, options: &str) -> String {
    start_chat_server(plugin, options)["url"].as_str().expect("a url").to_string()
}

/// Starts the chat server; what `serve` returned.
fn start_chat_server(plugin: &mut PluginTest, options: &str) -> Json {
    let document = plugin.eval(&chat_script(options)).unwrap_or_else(|error| panic!("{error}"));
    let server = document["server"].clone();
    let url = server["url"].as_str().expect("a url");
    assert!(url.starts_with("ws://127.0.0.1:") && url.ends_with("/chat"), "{url}");
    assert_eq!(server["address"].as_str().map(|address| format!("ws://{address}/chat")).as_deref(), Some(url));
    server
}

/// Runs `clients` on a thread of its own while this thread runs the event loop; `on_signal`
/// runs here (on the interpreter's thread) for each signal the clients send.
fn with_clients<T: Send + 'static>(
    plugin: &mut PluginTest,
    clients: impl FnOnce(mpsc::Sender<String>, mpsc::Receiver<Json>) -> T + Send + 'static,
    mut on_signal: impl FnMut(&mut PluginTest, String) -> Json,
) -> T {
    let (signals, signalled) = mpsc::channel();
    let (answers, answered) = mpsc::channel();
    let thread = std::thread::spawn(move || clients(signals, answered));
    let deadline = Instant::now() + GUARD * 2;
    while !thread.is_finished() {
        assert!(Instant::now() < deadline, "the clients did not finish");
        plugin.engine().run_services_for(Duration::from_millis(10));
        while let Ok(signal) = signalled.try_recv() {
            let answer = on_signal(plugin, signal);
            let _ = answers.send(answer);
        }
    }
    thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn no_signals(_: &mut PluginTest, signal: String) -> Json {
    panic!("unexpected signal {signal}")
}

fn block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

async fn connect(url: &str) -> Ws {
    tokio::time::timeout(GUARD, tokio_tungstenite::connect_async(url)).await.expect("connected in time").unwrap().0
}

/// The next data or close frame (pings and pongs are skipped).
async fn next(ws: &mut Ws) -> Message {
    loop {
        let frame = tokio::time::timeout(GUARD, ws.next()).await.expect("a frame in time");
        match frame.expect("the connection is open").expect("a frame") {
            Message::Ping(_) | Message::Pong(_) => {}
            other => return other,
        }
    }
}

async fn next_text(ws: &mut Ws) -> String {
    match next(ws).await {
        Message::Text(text) => text.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
}

/// Connects and reads the welcome: the connection and its id.
async fn join_chat(url: &str) -> (Ws, u64) {
    let mut ws = connect(url).await;
    let welcome = next_text(&mut ws).await;
    let id = welcome.strip_prefix("welcome ").and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("{welcome}"));
    (ws, id)
}

/// A connection in the room `observers`, which `on_close` reports to.
async fn observer(url: &str) -> (Ws, u64) {
    let (mut ws, id) = join_chat(url).await;
    send(&mut ws, "join:observers").await;
    assert_eq!(next_text(&mut ws).await, "joined observers");
    (ws, id)
}

/// The raw socket of a websocket handshake done by hand, for peers that misbehave later.
fn raw_handshake(url: &str) -> TcpStream {
    let rest = url.strip_prefix("ws://").unwrap();
    let (address, path) = rest.split_once('/').unwrap();
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(GUARD)).unwrap();
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101 "), "{head}");
    assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
    stream
}

#[test]
fn text_binary_and_json_messages_go_both_ways() {
    let mut plugin = plugin();
    let url = start_chat(&mut plugin, "");
    let (binary_back, texts) = with_clients(
        &mut plugin,
        move |_, _| {
            block(async move {
                let (mut ws, _) = join_chat(&url).await;
                send(&mut ws, "hello").await;
                let echo = next_text(&mut ws).await;
                ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
                let binary = next(&mut ws).await;
                send(&mut ws, "count").await;
                let first = next_text(&mut ws).await;
                send(&mut ws, "count").await;
                let second = next_text(&mut ws).await;
                ws.close(None).await.unwrap();
                (binary, vec![echo, first, second])
            })
        },
        no_signals,
    );
    assert_eq!(texts, ["echo hello", "count 1", "count 2"]);
    // The handler got a byte string (it answers anything else with its type as text).
    assert_eq!(binary_back, Message::binary(vec![0u8, 1, 2, 255]));
    // Values other than strings and {binary} go out as JSON text.
    let stats = eval(&mut plugin, "@websocket.stats()");
    assert_eq!(stats["servers"], json!(1));
    assert_eq!(stats["received"], json!(4));
    assert_eq!(stats["problems"], json!([]));
}

/// Connects one client to each of `urls` at once; the first client's message is broadcast by
/// its handler, then (on the interpreter's thread) `script_broadcast` broadcasts from outside
/// any handler and answers how many connections it reached. Gives every client's first text,
/// then every client's second, then that count.
fn broadcast_round(
    plugin: &mut PluginTest,
    urls: Vec<String>,
    mut script_broadcast: impl FnMut(&mut PluginTest) -> Json,
) -> Vec<String> {
    with_clients(
        plugin,
        move |signals, answers| {
            block(async move {
                let connections: Vec<_> = urls.into_iter().map(|url| tokio::spawn(join_chat_owned(url))).collect();
                let mut sockets = Vec::new();
                for connection in connections {
                    sockets.push(connection.await.unwrap().0);
                }
                send(&mut sockets[0], "all:hello everyone").await;
                let mut received = Vec::new();
                for ws in &mut sockets {
                    received.push(next_text(ws).await);
                }
                signals.send("broadcast".into()).unwrap();
                let count = answers.recv().unwrap();
                for ws in &mut sockets {
                    received.push(next_text(ws).await);
                }
                received.push(count.to_string());
                for ws in &mut sockets {
                    ws.close(None).await.unwrap();
                }
                received
            })
        },
        |plugin, signal| {
            assert_eq!(signal, "broadcast");
            script_broadcast(plugin)
        },
    )
}

#[test]
fn a_broadcast_reaches_a_hundred_concurrent_connections() {
    const CLIENTS: usize = 100;
    let mut plugin = plugin();
    let url = start_chat(&mut plugin, "");
    let received = broadcast_round(&mut plugin, vec![url; CLIENTS], |plugin| {
        assert_eq!(eval(plugin, "len(@websocket.connections())"), json!(CLIENTS));
        eval(plugin, r#"broadcast_message({from: "the test", n: 1})"#)
    });
    assert_eq!(received.len(), 2 * CLIENTS + 1);
    assert!(received[..CLIENTS].iter().all(|text| text == "hello everyone"), "{received:?}");
    assert!(received[CLIENTS..2 * CLIENTS].iter().all(|text| text == r#"{"from":"the test","n":1}"#), "{received:?}");
    assert_eq!(received[2 * CLIENTS], CLIENTS.to_string(), "broadcast_message counts the connections it reached");
}

async fn join_chat_owned(url: String) -> (Ws, u64) {
    join_chat(&url).await
}

#[test]
fn rooms_reach_their_members_only() {
    let mut plugin = plugin();
    let url = start_chat(&mut plugin, "");
    let (texts, ids) = with_clients(
        &mut plugin,
        move |signals, answers| {
            block(async move {
                let (a, a_id) = join_chat(&url).await;
                let (b, b_id) = join_chat(&url).await;
                let (c, c_id) = join_chat(&url).await;
                let mut texts = Vec::new();
                let mut sockets = [a, b, c];
                for (index, room) in [(0, "lobby"), (1, "lobby"), (2, "kitchen"), (0, "lobby")] {
                    send(&mut sockets[index], &format!("join:{room}")).await;
                    texts.push(next_text(&mut sockets[index]).await);
                }
                let [mut a, mut b, mut c] = sockets;
                signals.send(a_id.to_string()).unwrap();
                let members = answers.recv().unwrap();
                send(&mut a, "room:lobby:hi lobby").await;
                texts.push(next_text(&mut a).await);
                texts.push(next_text(&mut b).await);
                // c got nothing from the lobby: its next message is the kitchen's.
                send(&mut b, "room:kitchen:hi kitchen").await;
                texts.push(next_text(&mut c).await);
                send(&mut b, "leave:lobby").await;
                texts.push(next_text(&mut b).await);
                send(&mut b, "leave:lobby").await;
                texts.push(next_text(&mut b).await);
                send(&mut a, "room:lobby:alone").await;
                texts.push(next_text(&mut a).await);
                send(&mut b, "whoever").await;
                texts.push(next_text(&mut b).await);
                for ws in [&mut a, &mut b, &mut c] {
                    ws.close(None).await.unwrap();
                }
                (texts, (members, [a_id, b_id, c_id]))
            })
        },
        |plugin, a| {
            json!([
                eval(plugin, r#"@websocket.room("lobby")"#),
                eval(plugin, "@websocket.rooms()"),
                // A byte string is a plain value: kept as the state and read back as bytes.
                eval(
                    plugin,
                    &format!(r#"[type_of(@websocket.set_state({a}, bytes([0, 255]))), hex(@websocket.state({a}))]"#)
                ),
                eval(plugin, &format!(r#"@websocket.set_state({a}, {{nick: "ann"}})"#)),
                eval(plugin, &format!("@websocket.state({a})")),
                eval(plugin, "@websocket.connections()[0].state"),
                eval(plugin, "@websocket.connections()[0].rooms"),
            ])
        },
    );
    let (members, [a, b, _]) = ids;
    assert_eq!(
        members,
        json!([
            [a, b],
            {"kitchen": 1, "lobby": 2},
            ["bytes", "00ff"],
            {"nick": "ann"},
            {"nick": "ann"},
            {"nick": "ann"},
            ["lobby"]
        ])
    );
    assert_eq!(
        texts,
        [
            "joined lobby",
            "joined lobby",
            "joined kitchen",
            "already in lobby",
            "hi lobby",
            "hi lobby",
            "hi kitchen",
            "left lobby",
            "not in lobby",
            "alone",
            "echo whoever",
        ]
    );
}

#[test]
fn a_handler_error_is_reported_and_the_connection_goes_on() {
    let mut plugin = plugin();
    let reported = Rc::new(RefCell::new(Vec::<String>::new()));
    let sink = reported.clone();
    plugin.engine().on_handler_error(false, move |text| sink.borrow_mut().push(text.to_string()));
    let url = start_chat(&mut plugin, "");
    let texts = with_clients(
        &mut plugin,
        move |_, _| {
            block(async move {
                let (mut ws, _) = join_chat(&url).await;
                send(&mut ws, "boom").await;
                send(&mut ws, "after").await;
                let text = next_text(&mut ws).await;
                ws.close(None).await.unwrap();
                vec![text]
            })
        },
        no_signals,
    );
    assert_eq!(texts, ["echo after"], "the failing message got no answer; the next one did");
    let reported = reported.borrow();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert!(reported[0].contains("boom from the handler"), "{}", reported[0]);
    assert!(reported[0].contains("test.tsk:"), "located in the script: {}", reported[0]);
    assert!(reported[0].contains("websocket"), "{}", reported[0]);
}

#[test]
fn an_oversized_message_is_refused_with_1009_and_the_server_goes_on() {
    let mut plugin = plugin();
    let url = start_chat(&mut plugin, ", max_message_size: 1024");
    let (close, texts) = with_clients(
        &mut plugin,
        move |_, _| {
            block(async move {
                let (mut watcher, _) = observer(&url).await;
                let (mut big, big_id) = join_chat(&url).await;
                // Exactly the limit is accepted.
                send(&mut big, &"x".repeat(1024 - "echo ".len() + 5)).await;
                let fits = next_text(&mut big).await.len();
                send(&mut big, &"y".repeat(2000)).await;
                let close = next(&mut big).await;
                let report = next_text(&mut watcher).await;
                let (mut next_client, _) = join_chat(&url).await;
                send(&mut next_client, "still serving").await;
                let still = next_text(&mut next_client).await;
                watcher.close(None).await.unwrap();
                next_client.close(None).await.unwrap();
                (close, vec![fits.to_string(), report.replacen(&format!("closed {big_id} "), "closed ID ", 1), still])
            })
        },
        no_signals,
    );
    let Message::Close(Some(frame)) = close else { panic!("expected a close frame, got {close:?}") };
    assert_eq!(frame.code, CloseCode::Size);
    assert_eq!(frame.reason.as_str(), "message of 2000 bytes is larger than the limit of 1024 bytes");
    assert_eq!(
        texts,
        ["1029", "closed ID 1009 message of 2000 bytes is larger than the limit of 1024 bytes", "echo still serving"]
    );
}

/// A watcher connects to `url`, then a raw client sends 10 bytes of a masked text frame that
/// announced 1,000 and goes away: the server must report that close as abnormal (1006) and go
/// on serving the watcher.
fn check_a_disconnect_mid_message(plugin: &mut PluginTest, url: String) {
    let texts = with_clients(
        plugin,
        move |_, _| {
            let raw_url = url.clone();
            block(async move {
                let (mut watcher, watcher_id) = observer(&url).await;
                let raw = tokio::task::spawn_blocking(move || {
                    let mut stream = raw_handshake(&raw_url);
                    let mut frame = vec![0x81, 0x80 | 126, 0x03, 0xE8, 1, 2, 3, 4];
                    frame.extend_from_slice(b"0123456789");
                    stream.write_all(&frame).unwrap();
                    drop(stream);
                });
                raw.await.unwrap();
                let report = next_text(&mut watcher).await;
                send(&mut watcher, "still there").await;
                let echo = next_text(&mut watcher).await;
                watcher.close(None).await.unwrap();
                vec![report, echo, watcher_id.to_string()]
            })
        },
        no_signals,
    );
    let watcher_id: u64 = texts[2].parse().unwrap();
    let expected_prefix = format!("closed {} 1006 ", watcher_id + 1);
    assert!(texts[0].starts_with(&expected_prefix), "{texts:?}");
    assert_eq!(texts[1], "echo still there");
}

#[test]
fn a_client_that_disconnects_mid_message_is_closed_as_abnormal() {
    let mut plugin = plugin();
    let url = start_chat(&mut plugin, "");
    check_a_disconnect_mid_message(&mut plugin, url);
}

#[test]
fn a_peer_that_stops_answering_pings_is_dropped() {
    let mut plugin = plugin();
    let url = start_chat(&mut plugin, ", ping_interval: \"200ms\", ping_timeout: 0.2");
    let report = with_clients(
        &mut plugin,
        move |_, _| {
            let raw_url = url.clone();
            block(async move {
                // The watcher keeps reading, so tungstenite answers the server's pings for it;
                // the silent peer connects on another thread meanwhile (and stays open until
                // the report came).
                let (mut watcher, _) = observer(&url).await;
                let silent = tokio::task::spawn_blocking(move || raw_handshake(&raw_url));
                let report = next_text(&mut watcher).await;
                drop(silent.await.unwrap());
                watcher.close(None).await.unwrap();
                report
            })
        },
        no_signals,
    );
    assert!(report.contains(" 1006 no answer to a ping within "), "{report}");
    assert!(report.ends_with(" ms: the peer is gone"), "{report}");
    assert_eq!(eval(&mut plugin, "@websocket.stats().dropped_dead"), json!(1));
}

#[test]
fn the_plugins_client_talks_to_its_server() {
    let mut plugin = plugin();
    plugin.grant("--allow-net=127.0.0.1");
    let url = start_chat(&mut plugin, "");
    // The seed's forms: connect, then send on the most recent connection.
    let connected = eval(&mut plugin, &format!(r#"type_of(@websocket("connect", "{url}"))"#));
    assert_eq!(connected, json!("websocket.connection"));
    // A message as `[type, value]` (a byte string as its hex), or null.
    let receive = |plugin: &mut PluginTest| -> Json {
        let deadline = Instant::now() + GUARD;
        loop {
            // The server's handlers run on this thread: between two short receives.
            plugin.engine().run_services_for(Duration::from_millis(10));
            let message = eval(
                plugin,
                r#"(m => m == null ? null : [type_of(m), type_of(m) == "bytes" ? hex(m) : m])(@websocket("receive", "10ms"))"#,
            );
            if !message.is_null() || Instant::now() > deadline {
                return message;
            }
        }
    };
    let welcome = receive(&mut plugin);
    assert!(welcome[1].as_str().unwrap().starts_with("welcome "), "{welcome}");
    assert_eq!(eval(&mut plugin, r#"@websocket("send", "ping me")"#), json!(true));
    assert_eq!(receive(&mut plugin), json!(["string", "echo ping me"]));
    // The older form of a binary frame sent still goes out as one; the server's handler gets a
    // byte string and echoes it, and the client receives a byte string.
    assert_eq!(eval(&mut plugin, r#"@websocket.send({binary: "AAEC/w=="})"#), json!(true));
    assert_eq!(receive(&mut plugin), json!(["bytes", "000102ff"]));
    // A byte string goes out as a binary frame: the echo handler sends it back as one.
    assert_eq!(eval(&mut plugin, r#"@websocket.send(bytes([0, 1, 2, 255]))"#), json!(true));
    assert_eq!(receive(&mut plugin), json!(["bytes", "000102ff"]));
    assert_eq!(eval(&mut plugin, r#"@websocket.send(bytes([]))"#), json!(true));
    assert_eq!(receive(&mut plugin), json!(["bytes", ""]));
    // A message from a real client of the test reaches the plugin's client through a broadcast.
    let outside_url = url.clone();
    with_clients(
        &mut plugin,
        move |_, _| {
            block(async move {
                let (mut ws, _) = join_chat(&outside_url).await;
                send(&mut ws, "all:from outside").await;
                assert_eq!(next_text(&mut ws).await, "from outside");
                ws.close(None).await.unwrap();
            })
        },
        no_signals,
    );
    assert_eq!(receive(&mut plugin), json!(["string", "from outside"]));
    // Nothing more: a receive times out with null.
    assert_eq!(eval(&mut plugin, r#"@websocket.receive(0.05)"#), json!(null));
    // A connection value works as well as the default.
    let document = plugin
        .eval(&format!(
            "c: @websocket.connect(\"{url}\", {{timeout: 5}})\nsent: @websocket.send(c, \"count\")\nclosed: @websocket.close(c, 4000, \"done\")\nagain: @websocket.close(c)\n"
        ))
        .unwrap();
    assert_eq!(
        (&document["sent"], &document["closed"], &document["again"]),
        (&json!(true), &json!(true), &json!(false))
    );
    // `c` became the default connection, and it is closed.
    assert_eq!(eval(&mut plugin, "@websocket.close()"), json!(false));
    assert_eq!(
        error(&mut plugin, r#"@websocket("send", "too late")"#),
        format!("[R015] Error: @websocket: the connection to {url} is closed (code 4000: done)")
    );
}

#[test]
fn stopping_a_server_closes_its_connections_with_1001_and_ends_its_service() {
    let mut plugin = plugin();
    let server = start_chat_server(&mut plugin, "");
    let url = server["url"].as_str().unwrap().to_string();
    let stop = format!("@websocket.stop({})", server["id"]);
    assert!(plugin.engine().has_services());
    let close = with_clients(
        &mut plugin,
        move |signals, _| {
            block(async move {
                let (mut ws, _) = join_chat(&url).await;
                signals.send("stop".into()).unwrap();
                next(&mut ws).await
            })
        },
        |plugin, _| eval(plugin, &stop),
    );
    let Message::Close(Some(frame)) = close else { panic!("expected a close frame, got {close:?}") };
    assert_eq!(frame.code, CloseCode::Away);
    assert_eq!(frame.reason.as_str(), "the server is shutting down");
    assert_eq!(plugin.engine().run_services_for(GUARD), ServicesEnd::Idle, "no service is left");
    assert_eq!(eval(&mut plugin, "@websocket.servers()"), json!([]));
}

#[test]
fn mistakes_are_clear_errors() {
    let mut plugin = plugin();
    let cases = [
        (r#"@websocket("listen", 80)"#, "[R009] Error: @websocket: invalid operation: unknown action `listen`"),
        (r#"@websocket(7)"#, "[R009] Error: @websocket: the action must be a string, got a int"),
        (r#"@websocket("send", "nobody")"#, "[R015] Error: @websocket: there is no client connection"),
        (r#"@websocket.receive(1)"#, "[R015] Error: @websocket.receive: there is no client connection"),
        (
            r#"@websocket("connect", "ws://127.0.0.1:9/")"#,
            "[R015] Error: @websocket: permission denied: plugin `websocket` may not connect to 127.0.0.1:9; run with --allow-net=127.0.0.1:9 to allow it",
        ),
        (
            r#"@websocket.connect("wss://example.com/")"#,
            "[R009] Error: @websocket.connect: `wss://example.com/`: wss:// (TLS) is not supported by this build of the websocket plugin; use ws://, or put a TLS-terminating proxy in front",
        ),
        (
            r#"@websocket.serve({host: "0.0.0.0", port: 0})"#,
            "[R015] Error: @websocket.serve: permission denied: listening on 0.0.0.0:0 (not a loopback address) needs the network permission for it: plugin `websocket` may not connect to 0.0.0.0:0; run with --allow-net=0.0.0.0:0 to allow it",
        ),
        (
            r#"@websocket.serve({port: 0, onMessage: m => m})"#,
            "[R009] Error: @websocket.serve: unknown option `onMessage`",
        ),
        (
            r#"@websocket.serve({on_message: "echo"})"#,
            "[R009] Error: @websocket.serve: `on_message` must be a function, got a string",
        ),
        (
            r#"@websocket.serve({port: 70000})"#,
            "[R009] Error: @websocket.serve: `port` must be a port number (0 picks a free one), got 70000",
        ),
        (
            r#"@websocket.serve({ping_interval: "soon"})"#,
            "[R009] Error: @websocket.serve: `ping_interval` `soon` is not a duration like \"2s\"",
        ),
        (r#"@websocket.send(99, "anyone?")"#, "[R009] Error: @websocket.send: connection 99 is not open"),
        (
            r#"@websocket.send(99, null)"#,
            "[R009] Error: @websocket.send: there is nothing to send (the message is null)",
        ),
        (r#"@websocket.join(99, "lobby")"#, "[R009] Error: @websocket.join: connection 99 is not open"),
        (
            r#"broadcast_message({binary: "%%%"})"#,
            "[R009] Error: broadcast_message: `binary` is not base64: Invalid symbol 37, offset 0.",
        ),
        (
            r#"broadcast_message("x", 5)"#,
            "[R009] Error: broadcast_message: expected a room name or {room, server, except}, got a int",
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(error(&mut plugin, source), expected, "{source}");
    }
    assert_eq!(eval(&mut plugin, r#"broadcast_message("nobody")"#), json!(0));
    assert_eq!(eval(&mut plugin, r#"@websocket.stop(42)"#), json!(false));
    assert_eq!(plugin.run_examples(), Vec::<String>::new());
}

#[test]
fn the_readme_usage_example_serves_a_chat() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let usage = readme.split("## Usage\n\n```\n").nth(1).and_then(|rest| rest.split("```").next()).unwrap();
    assert!(usage.contains("port: 8080"), "{usage}");
    let mut plugin = plugin();
    let document = plugin.eval(&usage.replace("port: 8080", "port: 0")).unwrap_or_else(|error| panic!("{error}"));
    let url = document["chat"]["url"].as_str().unwrap().to_string();
    let texts = with_clients(
        &mut plugin,
        move |_, _| {
            block(async move {
                let mut first = connect(&url).await;
                let welcome = next_text(&mut first).await;
                let mut second = connect(&url).await;
                let _ = next_text(&mut second).await;
                send(&mut first, "hello").await;
                let heard = [next_text(&mut first).await, next_text(&mut second).await];
                second.close(None).await.unwrap();
                let left = next_text(&mut first).await;
                first.close(None).await.unwrap();
                vec![welcome, heard[0].clone(), heard[1].clone(), left]
            })
        },
        no_signals,
    );
    let id = texts[0].strip_prefix("welcome ").unwrap().to_string();
    let second: u64 = id.parse::<u64>().unwrap() + 1;
    assert_eq!(texts[1..], [format!("{id}: hello"), format!("{id}: hello"), format!("{second} left (1000)")]);
}

/// Sandboxed, as an untrusted copy of the plugin would run: the same server and client, once
/// the network is granted (listening needs every host: the sandbox cannot allow binding one
/// address only).
#[test]
fn sandboxed_the_server_and_the_client_work_with_the_network_granted() {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.grant("--allow-net=127.0.0.1");
    let refused = error(&mut plugin, "@websocket.serve({port: 0})");
    assert!(
        refused.ends_with("a sandboxed plugin may listen only with --allow-net for every host (first-party plugins run in-process, where the grants alone decide)"),
        "{refused}"
    );
    plugin.grant("--allow-net");
    let url = start_chat(&mut plugin, "");
    let texts = with_clients(
        &mut plugin,
        move |_, _| {
            block(async move {
                let (mut ws, _) = join_chat(&url).await;
                send(&mut ws, "sandboxed").await;
                let echo = next_text(&mut ws).await;
                ws.send(Message::binary(vec![9u8; 3])).await.unwrap();
                let binary = next(&mut ws).await;
                ws.close(None).await.unwrap();
                (echo, binary)
            })
        },
        no_signals,
    );
    assert_eq!(texts, ("echo sandboxed".to_string(), Message::binary(vec![9u8; 3])));
    let url = eval(&mut plugin, "@websocket.servers()[0].url");
    let welcome = eval(&mut plugin, &format!("type_of(@websocket.connect({url}))"));
    assert_eq!(welcome, json!("websocket.connection"));
    let deadline = Instant::now() + GUARD;
    let mut received = Vec::new();
    eval(&mut plugin, r#"@websocket.send("count")"#);
    while received.len() < 2 && Instant::now() < deadline {
        plugin.engine().run_services_for(Duration::from_millis(10));
        let message = eval(&mut plugin, r#"@websocket.receive("10ms")"#);
        if !message.is_null() {
            received.push(message);
        }
    }
    assert!(received[0].as_str().unwrap().starts_with("welcome "), "{received:?}");
    assert_eq!(received[1], json!("count 1"));
}

/// `tusk FILE` keeps running while the server listens, and SIGTERM stops it gracefully: the
/// connection is closed with 1001, the plugin shuts down, tusk exits with 0.
#[test]
fn tusk_serves_until_sigterm_then_closes_connections_and_exits_0() {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let profile = tusk_plugin_testkit::Profile::of_this_build();
    let built = tusk_plugin_testkit::build_packages(&workspace, &["tusk-cli", "tusk-plugin-websocket"], profile)
        .unwrap_or_else(|error| panic!("{error}"));
    let root = tempfile::tempdir().unwrap();
    let plugin_dir = root.path().join("plugins/websocket");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    for file in ["plugin.toml", "config.schema.json", "README.md"] {
        std::fs::copy(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file), plugin_dir.join(file)).unwrap();
    }
    std::fs::copy(built.library("tusk-plugin-websocket"), plugin_dir.join("libtusk_plugin_websocket.so")).unwrap();
    // Trusted in the grants file, as a first-party plugin bundled with tusk is: in-process.
    std::fs::create_dir_all(root.path().join("config/tusk")).unwrap();
    std::fs::write(root.path().join("config/tusk/grants.toml"), "[websocket]\ntrusted = true\n").unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let script = format!(
        "server: @websocket(\"serve\", {{port: {port}, path: \"/echo\", on_message: (c, m) => \"echo \" + m, on_close: (c, close) => print(\"closed \" + str(close.code))}})\n"
    );
    std::fs::write(root.path().join("server.tsk"), script).unwrap();
    let child = std::process::Command::new(built.binary("tusk-cli", "tusk"))
        .arg("server.tsk")
        .current_dir(root.path())
        .env("HOME", root.path())
        .env("XDG_CONFIG_HOME", root.path().join("config"))
        .env("XDG_CACHE_HOME", root.path().join("cache"))
        .env("TUSK_PLUGIN_PATH", root.path().join("plugins"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("ws://127.0.0.1:{port}/echo");
    let pid = child.id();
    let (echo, close) = block(async move {
        let deadline = Instant::now() + GUARD;
        let mut ws = loop {
            match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok((ws, _)) => break ws,
                Err(error) => {
                    assert!(Instant::now() < deadline, "tusk did not start serving: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        send(&mut ws, "hi").await;
        let echo = next_text(&mut ws).await;
        let status = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
        assert!(status.success());
        (echo, next(&mut ws).await)
    });
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(echo, "echo hi");
    let Message::Close(Some(frame)) = close else { panic!("expected a close frame, got {close:?}: {stderr}") };
    assert_eq!((frame.code, frame.reason.as_str()), (CloseCode::Away, "the server is shutting down"));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("\"url\": \"ws://127.0.0.1:{port}/echo\"")), "{stdout}");
}

// ---- Endpoints on the http plugin's server: the upgraded connection is handed over through
// the host (a ticket), and served by this plugin's hub beside its own listeners.

/// The websocket plugin with the http plugin beside it, both in-process.
fn mounted_plugin() -> PluginTest {
    let mut plugin = plugin();
    plugin.with_plugin(concat!(env!("CARGO_MANIFEST_DIR"), "/../http"));
    plugin
}

/// The chat's handlers as an endpoint, mounted at `/chat` of an http server that also has a
/// plain route `/health`, plus this plugin's own listener at `/own` with the same handlers
/// (and routes that misuse the hand-off); the http port and the own server's URL.
fn start_mounted_chat(plugin: &mut PluginTest) -> (u16, String) {
    let script = chat_script("").replace("server: @websocket.serve({path: \"/chat\", ", "handlers: ({")
        + r#"
chat: @websocket.endpoint(handlers)
site: @http_server(0)
health: @http_route("GET", "/health", req => {status: 200, body: {ok: true}})
mount: @http.websocket("/chat", req => @websocket.accept(req, chat))
ticket: @http_route("WEBSOCKET", "/ticket", req => @websocket.accept(req, {on_open: c => "ticket " + str(req.websocket)}))
ignored: @http.websocket("/ignored", req => null)
failing: @http.websocket("/failing", req => error("no websocket today"))
own: @websocket.serve({path: "/own", on_open: c => "welcome " + str(c.id), on_message: (c, m) => type_of(m) == "string" ? command(c, m) : m})
"#;
    let document = plugin.eval(&script).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(document["chat"]["kind"], json!("websocket endpoint"));
    assert_eq!(document["mount"], json!({"method": "WEBSOCKET", "path": "/chat"}));
    assert_eq!(document["ticket"], json!({"method": "WEBSOCKET", "path": "/ticket"}));
    let port = document["site"]["port"].as_u64().expect("a port") as u16;
    (port, document["own"]["url"].as_str().expect("a url").to_string())
}

/// A plain HTTP/1.1 GET over a socket of its own: the status line and the body.
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(GUARD)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

#[test]
fn an_endpoint_on_the_http_server_shares_its_port_with_routes_state_and_rooms() {
    let mut plugin = mounted_plugin();
    let (port, own_url) = start_mounted_chat(&mut plugin);
    let (texts, connections) = with_clients(
        &mut plugin,
        move |signals, answers| {
            let health = http_get(port, "/health");
            let plain = http_get(port, "/chat");
            block(async move {
                let url = format!("ws://127.0.0.1:{port}/chat?token=abc");
                let (mut mounted, mounted_id) = join_chat(&url).await;
                send(&mut mounted, "hello").await;
                let echo = next_text(&mut mounted).await;
                send(&mut mounted, "count").await;
                let first = next_text(&mut mounted).await;
                send(&mut mounted, "count").await;
                let second = next_text(&mut mounted).await;
                mounted.send(Message::binary(vec![9u8, 0, 255])).await.unwrap();
                let binary = next(&mut mounted).await;
                // A connection of the plugin's own listener and one through the http port meet
                // in one room.
                let (mut own, _) = join_chat(&own_url).await;
                for ws in [&mut mounted, &mut own] {
                    send(ws, "join:lobby").await;
                    assert_eq!(next_text(ws).await, "joined lobby");
                }
                send(&mut mounted, "room:lobby:hi lobby").await;
                let heard = [next_text(&mut mounted).await, next_text(&mut own).await];
                signals.send("connections".into()).unwrap();
                let connections = answers.recv().unwrap();
                own.close(None).await.unwrap();
                mounted.close(None).await.unwrap();
                let texts = vec![
                    health.0,
                    health.1,
                    plain.0,
                    plain.1,
                    echo,
                    first,
                    second,
                    format!("{binary:?}"),
                    heard.join(" | "),
                    mounted_id.to_string(),
                ];
                (texts, connections)
            })
        },
        |plugin, signal| {
            assert_eq!(signal, "connections");
            eval(plugin, "@websocket.connections()")
        },
    );
    assert_eq!(texts[0], "HTTP/1.1 200 OK");
    assert_eq!(texts[1], r#"{"ok":true}"#);
    assert_eq!(texts[2], "HTTP/1.1 426 Upgrade Required");
    assert_eq!(
        texts[3],
        r#"{"error":"/chat takes websocket connections only: connect with a websocket client (the request did not ask for `Upgrade: websocket`)"}"#
    );
    assert_eq!(texts[4..7], ["echo hello", "count 1", "count 2"]);
    assert_eq!(texts[7], format!("{:?}", Message::binary(vec![9u8, 0, 255])));
    assert_eq!(texts[8], "hi lobby | hi lobby");
    let mounted_id: u64 = texts[9].parse().unwrap();
    let mounted = connections.as_array().unwrap().iter().find(|c| c["id"] == json!(mounted_id)).expect("listed");
    assert_eq!(mounted["path"], json!("/chat"));
    assert_eq!(mounted["query"], json!("token=abc"));
    assert_eq!(mounted["state"], json!(2));
    assert_eq!(mounted["rooms"], json!(["lobby"]));
    assert!(mounted["remote"].as_str().unwrap().starts_with("127.0.0.1:"), "{mounted}");
    assert_eq!(connections.as_array().unwrap().len(), 2);
}

#[test]
fn a_broadcast_reaches_a_hundred_connections_through_the_http_port_and_the_own_listener() {
    const CLIENTS: usize = 100;
    let mut plugin = mounted_plugin();
    let (port, own_url) = start_mounted_chat(&mut plugin);
    let mut urls = vec![format!("ws://127.0.0.1:{port}/chat"); CLIENTS];
    urls.push(own_url);
    let received = broadcast_round(&mut plugin, urls, |plugin| eval(plugin, r#"broadcast_message("from the script")"#));
    let all = CLIENTS + 1;
    assert_eq!(received.len(), 2 * all + 1);
    assert!(received[..all].iter().all(|text| text == "hello everyone"), "{received:?}");
    assert!(received[all..2 * all].iter().all(|text| text == "from the script"), "{received:?}");
    assert_eq!(received[2 * all], all.to_string(), "broadcast_message counts the connections it reached");
}

#[test]
fn a_client_that_disconnects_mid_message_through_the_http_port_is_closed_as_abnormal() {
    let mut plugin = mounted_plugin();
    let (port, _) = start_mounted_chat(&mut plugin);
    check_a_disconnect_mid_message(&mut plugin, format!("ws://127.0.0.1:{port}/chat"));
}

/// A chat over the http port, the connection handed from the http plugin to this one; the
/// http plugin runs sandboxed when `http_sandboxed`, this one always.
fn chat_through_the_http_port(plugin: &mut PluginTest, http_sandboxed: bool) {
    let (port, _) = start_mounted_chat(plugin);
    // Both are loaded now: each runs where the test says (a runner's report, or none).
    let host = plugin.engine().plugins().expect("plugins are enabled").clone();
    assert!(host.sandbox_report("websocket").is_some(), "websocket runs sandboxed");
    assert_eq!(host.sandbox_report("http").is_some(), http_sandboxed, "where http runs");
    let texts = with_clients(
        plugin,
        move |_, _| {
            block(async move {
                let (mut ws, _) = join_chat(&format!("ws://127.0.0.1:{port}/chat")).await;
                send(&mut ws, "hello across").await;
                let echo = next_text(&mut ws).await;
                ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
                let binary = next(&mut ws).await;
                ws.close(None).await.unwrap();
                (echo, binary)
            })
        },
        no_signals,
    );
    assert_eq!(texts, ("echo hello across".to_string(), Message::binary(vec![1u8, 2, 3])));
    // Tickets keep their rules across the boundary.
    assert_eq!(
        error(plugin, "@websocket.accept({websocket: 123456789012}, {on_message: (c, m) => m})"),
        "[R009] Error: @websocket.accept: no connection was ever deposited under ticket 123456789012"
    );
}

/// This plugin sandboxed (as an untrusted copy runs), the http plugin in-process: the upgraded
/// connection crosses into the runner (`SCM_RIGHTS` over its channel to the host).
#[test]
fn sandboxed_it_takes_connections_the_in_process_http_plugin_upgraded() {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.grant("--allow-net");
    plugin.with_plugin_in_process(concat!(env!("CARGO_MANIFEST_DIR"), "/../http"));
    chat_through_the_http_port(&mut plugin, false);
}

/// Both plugins sandboxed, each in a runner of its own: the connection goes from one runner
/// to the host's desk and on to the other.
#[test]
fn sandboxed_it_takes_connections_a_sandboxed_http_plugin_upgraded() {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.grant("--allow-net");
    plugin.with_plugin(concat!(env!("CARGO_MANIFEST_DIR"), "/../http"));
    chat_through_the_http_port(&mut plugin, true);
}

#[test]
fn hand_off_tickets_are_good_once_and_connections_nobody_takes_are_closed_with_a_reason() {
    let mut plugin = mounted_plugin();
    let (port, _) = start_mounted_chat(&mut plugin);
    let texts = with_clients(
        &mut plugin,
        move |_, _| {
            block(async move {
                let mut ticketed = connect(&format!("ws://127.0.0.1:{port}/ticket")).await;
                let ticket = next_text(&mut ticketed).await;
                let mut ignored = connect(&format!("ws://127.0.0.1:{port}/ignored")).await;
                let ignored = next(&mut ignored).await;
                let mut failing = connect(&format!("ws://127.0.0.1:{port}/failing")).await;
                let failing = next(&mut failing).await;
                ticketed.close(None).await.unwrap();
                vec![ticket, format!("{ignored:?}"), format!("{failing:?}")]
            })
        },
        no_signals,
    );
    let ticket: u64 =
        texts[0].strip_prefix("ticket ").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{texts:?}"));
    let close = |code: u16, reason: &str| {
        format!(
            "{:?}",
            Message::Close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into()
            }))
        )
    };
    assert_eq!(
        texts[1],
        close(1008, "no websocket endpoint took the connection (the route's handler did not call @websocket.accept)")
    );
    assert_eq!(texts[2], close(1011, "the route's handler failed"));
    // The ticket the first connection came with was used; using it again, or one never
    // issued, is an error that says which.
    assert_eq!(
        error(&mut plugin, &format!("@websocket.accept({ticket}, {{on_message: (c, m) => m}})")),
        format!(
            "[R009] Error: @websocket.accept: the connection of ticket {ticket} was taken already (a ticket is good once)"
        )
    );
    assert_eq!(
        error(&mut plugin, "@websocket.accept({websocket: 123456789012}, {on_message: (c, m) => m})"),
        "[R009] Error: @websocket.accept: no connection was ever deposited under ticket 123456789012"
    );
    assert_eq!(
        error(&mut plugin, r#"@websocket.accept("a ticket", {})"#),
        "[R009] Error: @websocket.accept: expected the request of an @http.websocket route (with its `websocket` ticket) or the ticket, got \"a ticket\""
    );
    assert_eq!(
        error(&mut plugin, "@websocket.endpoint({port: 80})"),
        "[R009] Error: @websocket.endpoint: `port` is an option of @websocket.serve: an endpoint takes its connections from the routes of an HTTP server (@http.websocket)"
    );
}
