//! Accepting connections: a bounded number at once, each with a deadline for its
//! request head, half-closed clients answered, and a graceful stop.
//!
//! - **`--max-connections`**: at most that many connections are served at once. One over
//!   the limit is accepted and answered `503` at once (so the listen queue keeps moving
//!   and no file descriptor is held), never left waiting unseen.
//! - **`--header-timeout`**: a connection that has not sent a whole request head within
//!   it is closed. The same deadline runs while a keep-alive connection waits for its
//!   next request, so it is also the idle timeout.
//! - **Half-close**: a client that sends its request and shuts its write side still gets
//!   the answer.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tower_service::Service as _;

/// Descriptors kept free for everything else (the log, reloads, the watcher).
const FD_HEADROOM: usize = 64;

/// The default `--max-connections`: the open-files limit minus headroom.
pub(crate) fn default_max_connections() -> usize {
    open_files_limit().map_or(1024, |n| n.saturating_sub(FD_HEADROOM).max(16))
}

/// The soft open-files limit, from `/proc/self/limits` (Linux).
fn open_files_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The answer to a connection over the limit.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
connection: close\r\ncontent-length: 61\r\n\r\n\
{\"decision\":\"deny\",\"error\":\"too many connections; try again\"}\n";

/// How the connections are limited.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    pub(crate) max_connections: usize,
    pub(crate) header_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, then lets every connection
/// finish its request in flight (the caller bounds how long that may take).
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of descriptors or a connection reset before accept: try again soon.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // A fresh socket's send buffer takes the short answer without waiting.
            let _ = stream.try_write(BUSY);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let mut router = router.clone();
                async move { router.call(req).await }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .half_close(true)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let stopping = tokio::select! {
                _ = conn.as_mut() => false,
                r = stop.wait_for(|s| *s) => r.is_ok(),
            };
            if stopping {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection gives its slot back when it ends.
    let _ = slots
        .acquire_many(u32::try_from(max).unwrap_or(u32::MAX))
        .await;
}
