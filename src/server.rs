//! The HTTP/1.1 server under the routers: how many connections it holds, how
//! much each may buffer, how long a request's head may take, and a graceful
//! shutdown. What a request's body may cost is `ingest`'s business.
//!
//! `axum::serve` sets none of these: every connection could buffer about
//! 400 KiB of headers, a client could take forever to send them, and the number
//! of connections had no bound. 1,000 connections each sending 300 KB of header
//! added 132 MiB to the process.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// What one listener's connections may hold.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// The most a connection buffers while reading: a request head larger than
    /// this is answered 431.
    pub max_buffer_bytes: usize,
    /// A request head must arrive within this long of the connection's start
    /// or its last answer: hyper's one timer serves as both the head's
    /// deadline and the keep-alive idle timeout.
    pub head_timeout: Duration,
}

/// How long shutdown waits for requests in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Request heads larger than this get 431: webhook senders send a few KiB.
pub const MAX_BUFFER_BYTES: usize = 32 * 1024;

/// Serves `router` on `listener` until `shutdown` resolves; then stops
/// accepting, closes idle connections and lets requests in progress finish,
/// for up to ten seconds.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .max_buf_size(limits.max_buffer_bytes.max(8192))
        .header_read_timeout(limits.head_timeout);
    loop {
        // A slot first: at the limit, new connections stay unaccepted.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, mostly: wait for some to be freed.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    // A connection still sending its head would hold shutdown for up to the
    // idle timeout. Past the grace, leaving loses nothing acknowledged: a
    // request cut off before its answer was never told it was accepted; a
    // sender that retries sends it again, found a duplicate if it was stored.
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?SHUTDOWN_GRACE, "shutdown: connections still open after the grace; leaving them");
    }
}
