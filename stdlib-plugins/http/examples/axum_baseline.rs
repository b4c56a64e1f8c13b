//! The ceiling of `bench/http.py`: the benchmark's route in plain axum, on a tokio runtime of
//! the same size as the plugin's (2 workers), answering the same small JSON object.
//!
//! `cargo run --release -p tusk-plugin-http --example axum_baseline -- PORT`

use axum::http::header;
use axum::response::IntoResponse;

async fn hello() -> impl IntoResponse {
    let body = serde_json::to_vec(&serde_json::json!({"message": "hello", "n": 1})).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body)
}

fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|port| port.parse().ok()).unwrap_or(8081);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("a free port");
        let app = axum::Router::new().route("/hello", axum::routing::get(hello));
        axum::serve(listener, app).await.expect("serving");
    });
}
