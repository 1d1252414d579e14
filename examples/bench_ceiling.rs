//! The ingest ceiling for `bench/run`: an axum server that checks the HMAC of
//! the raw body, as storybridge does, and answers 204. Nothing else.
//! Usage: bench_ceiling PORT SECRET

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect("port");
    let secret: &'static str = Box::leak(args.next().expect("secret").into_boxed_str());
    let app = axum::Router::new().route(
        "/hooks/shortcut",
        post(move |headers: HeaderMap, body: Bytes| async move {
            let signature = headers.get("payload-signature").and_then(|v| hex::decode(v.as_bytes()).ok());
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(&body);
            match signature.map(|s| mac.verify_slice(&s).is_ok()) {
                Some(true) => StatusCode::NO_CONTENT,
                _ => StatusCode::UNAUTHORIZED,
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}
