//! Echo round trips over one connection: a client of the bench (tokio-tungstenite) sends a
//! text message and waits for it to come back, against the plugin's server whose `on_message`
//! is the script lambda `(c, m) => m` (in-process, handlers on the bench's thread as on the
//! interpreter's), and against a plain tokio-tungstenite echo server (the ceiling: no script,
//! no event loop).
//!
//! `cargo bench -p tusk-plugin-websocket --bench echo`

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tusk_plugin_testkit::PluginTest;

const MESSAGE: &str = "a message of about fifty bytes, sent and echoed back";

/// `iters` round trips on one connection to `url`; the time they took (connecting excluded).
async fn round_trips(url: &str, iters: u64) -> Duration {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connected");
    let started = Instant::now();
    for _ in 0..iters {
        ws.send(Message::text(MESSAGE)).await.unwrap();
        loop {
            match ws.next().await.expect("open").expect("a frame") {
                Message::Text(text) if text.as_str() == MESSAGE => break,
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let took = started.elapsed();
    let _ = ws.close(None).await;
    took
}

fn client(url: String, iters: u64) -> Duration {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(round_trips(&url, iters))
}

fn echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("echo_round_trip");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);

    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.in_process();
    let server = plugin.eval("server: @websocket.serve({port: 0, on_message: (c, m) => m})").unwrap();
    let url = server["server"]["url"].as_str().unwrap().to_string();
    group.bench_function("tusk_on_message", |b| {
        b.iter_custom(|iters| {
            let url = url.clone();
            let clients = std::thread::spawn(move || client(url, iters));
            while !clients.is_finished() {
                plugin.engine().run_services_for(Duration::from_millis(10));
            }
            clients.join().unwrap()
        })
    });

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let plain_url = format!("ws://{}/", listener.local_addr().unwrap());
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_text() && ws.send(message).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    group.bench_function("plain_tokio_tungstenite", |b| {
        b.iter_custom(|iters| client(plain_url.clone(), iters));
    });
    group.finish();
}

criterion_group!(benches, echo);
criterion_main!(benches);
