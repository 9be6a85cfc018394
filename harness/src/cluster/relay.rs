//! [`DelayRelay`]: a TCP relay run by the harness that holds every chunk it forwards for a fixed
//! delay, in each direction: added latency where a node's kernel has no `netem` qdisc.
//!
//! Each direction of a connection is a queue of chunks with release times (read time + delay):
//! reading goes on while earlier chunks wait, so the delay adds to every byte once, and bytes
//! leave in the order they came. An end of stream is forwarded like a chunk, delayed too; an
//! error on either side drops the whole connection. [`Relays`] holds a cluster's relays, so its
//! teardown stops them whatever the steps did.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Largest chunk read at once.
const CHUNK: usize = 16 * 1024;
/// Chunks one direction may hold before reading waits (TCP's own back-pressure then applies).
const QUEUE: usize = 1024;
/// How long connecting to the target may take before the accepted connection is dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A running relay: accepts on [`DelayRelay::local_addr`], forwards to its target. Stop it with
/// [`DelayRelay::stop`]; dropping it aborts its tasks as a last resort.
pub struct DelayRelay {
    local: SocketAddr,
    target: SocketAddr,
    delay: Duration,
    counts: Arc<Counts>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    open: AtomicUsize,
}

/// Decrements the open count however a connection's task ends (finished or aborted).
struct OpenGuard(Arc<Counts>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl DelayRelay {
    /// Listens on `listen` (port 0: any free port) and forwards every accepted connection to
    /// `target`, each chunk held for `delay` in each direction.
    pub async fn start(
        listen: SocketAddr,
        target: SocketAddr,
        delay: Duration,
    ) -> std::io::Result<DelayRelay> {
        let listener = TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        let counts = Arc::new(Counts::default());
        let (shutdown, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(
            listener,
            target,
            delay,
            Arc::clone(&counts),
            stopped,
        ));
        Ok(DelayRelay {
            local,
            target,
            delay,
            counts,
            shutdown: Some(shutdown),
            task,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Where it forwards to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// The delay of each direction.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    /// Connections being relayed now.
    pub fn open(&self) -> usize {
        self.counts.open.load(Ordering::SeqCst)
    }

    /// Stops accepting and closes every relayed connection on both sides; returns once they
    /// are closed.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for DelayRelay {
    fn drop(&mut self) {
        // The accept task owns the connections' JoinSet: aborting it aborts them all.
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    delay: Duration,
    counts: Arc<Counts>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                counts.accepted.fetch_add(1, Ordering::SeqCst);
                counts.open.fetch_add(1, Ordering::SeqCst);
                let guard = OpenGuard(Arc::clone(&counts));
                connections.spawn(async move {
                    let _guard = guard;
                    if let Err(e) = relay(client, target, delay).await {
                        tracing::debug!(error = %e, %target, "relayed connection ended");
                    }
                });
            }
            // Reap finished connections so the set does not grow for the relay's life.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// Relays one connection until both directions ended, or either failed.
async fn relay(client: TcpStream, target: SocketAddr, delay: Duration) -> std::io::Result<()> {
    let upstream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    tokio::try_join!(
        delayed(client_read, upstream_write, delay),
        delayed(upstream_read, client_write, delay),
    )?;
    Ok(())
}

/// One direction: chunks read from `from` are written to `to` no earlier than `delay` after
/// they were read, in order; the end of stream follows the last chunk after its own delay.
async fn delayed(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
) -> std::io::Result<()> {
    // `None` is the end of stream.
    let (queue, mut due) = mpsc::channel::<(Instant, Option<Vec<u8>>)>(QUEUE);
    let read = async move {
        loop {
            let mut buf = vec![0; CHUNK];
            let n = from.read(&mut buf).await?;
            let release = Instant::now() + delay;
            let chunk = (n > 0).then(|| {
                buf.truncate(n);
                buf
            });
            let end = chunk.is_none();
            // The writer is gone only after a write error, which it reports.
            if queue.send((release, chunk)).await.is_err() || end {
                return Ok::<_, std::io::Error>(());
            }
        }
    };
    let write = async move {
        while let Some((release, chunk)) = due.recv().await {
            tokio::time::sleep_until(release).await;
            match chunk {
                Some(bytes) => to.write_all(&bytes).await?,
                None => {
                    to.shutdown().await?;
                    break;
                }
            }
        }
        Ok(())
    };
    tokio::try_join!(read, write)?;
    Ok(())
}

/// The relays of a cluster, by the faulted host they serve.
#[derive(Default)]
pub(crate) struct Relays(Mutex<BTreeMap<String, DelayRelay>>);

impl Relays {
    /// Keeps `relay` for `host`; a relay it already had is returned to be stopped.
    pub(crate) fn insert(&self, host: &str, relay: DelayRelay) -> Option<DelayRelay> {
        self.lock().insert(host.to_string(), relay)
    }

    /// The relay of `host`, taken out.
    pub(crate) fn take(&self, host: &str) -> Option<DelayRelay> {
        self.lock().remove(host)
    }

    /// Runs `f` on the relay of `host`, if there is one.
    pub(crate) fn with<T>(&self, host: &str, f: impl FnOnce(&DelayRelay) -> T) -> Option<T> {
        self.lock().get(host).map(f)
    }

    /// Stops every relay.
    pub(crate) async fn stop_all(&self) {
        let relays = std::mem::take(&mut *self.lock());
        futures_util::future::join_all(relays.into_values().map(DelayRelay::stop)).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, DelayRelay>> {
        // A panicking step may have poisoned it; the relays must still be stopped.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELAY: Duration = Duration::from_millis(150);

    /// A relay in front of an echo server that answers each chunk with itself.
    async fn relay_to_echo() -> DelayRelay {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = server.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = server.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        DelayRelay::start("127.0.0.1:0".parse().unwrap(), target, DELAY)
            .await
            .unwrap()
    }

    /// A relay in front of a listener the test accepts on itself.
    async fn relay_to_listener() -> (TcpListener, DelayRelay) {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = server.local_addr().unwrap();
        let relay = DelayRelay::start("127.0.0.1:0".parse().unwrap(), target, DELAY)
            .await
            .unwrap();
        (server, relay)
    }

    #[tokio::test]
    async fn each_direction_is_delayed_by_at_least_the_delay() {
        let relay = relay_to_echo().await;
        let mut conn = TcpStream::connect(relay.local_addr()).await.unwrap();
        let started = std::time::Instant::now();
        conn.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        conn.read_exact(&mut buf).await.unwrap();
        // To the echo server and back: two delays.
        assert!(started.elapsed() >= 2 * DELAY, "{:?}", started.elapsed());
        assert_eq!(&buf, b"ping");
        assert_eq!((relay.accepted(), relay.open()), (1, 1));
        relay.stop().await;
    }

    #[tokio::test]
    async fn bytes_keep_their_order_and_chunks_wait_concurrently() {
        let relay = relay_to_echo().await;
        let conn = TcpStream::connect(relay.local_addr()).await.unwrap();
        let (mut r, mut w) = conn.into_split();
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let expected = sent.clone();
        let started = std::time::Instant::now();
        // Many small writes spread over time: were each held in turn, they would take
        // 100 × 2 delays; queued with release times, they take about two.
        let writer = tokio::spawn(async move {
            for piece in sent.chunks(2_000) {
                w.write_all(piece).await.unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            w.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert!(got == expected, "the bytes came back changed or reordered");
        assert!(started.elapsed() >= 2 * DELAY);
        assert!(started.elapsed() < 20 * DELAY, "{:?}", started.elapsed());
        relay.stop().await;
    }

    #[tokio::test]
    async fn stop_closes_both_sides_and_refuses_new_connections() {
        let (server, relay) = relay_to_listener().await;
        let listen = relay.local_addr();
        let mut client = TcpStream::connect(listen).await.unwrap();
        let (mut upstream, _) = server.accept().await.unwrap();
        relay.stop().await;
        let mut buf = [0; 1];
        // Closed: end of stream or a reset, on both sides.
        assert!(matches!(client.read(&mut buf).await, Ok(0) | Err(_)));
        assert!(matches!(upstream.read(&mut buf).await, Ok(0) | Err(_)));
        assert!(TcpStream::connect(listen).await.is_err());
    }

    #[tokio::test]
    async fn an_end_of_stream_reaches_the_other_side_after_the_delay() {
        let (server, relay) = relay_to_listener().await;
        let mut client = TcpStream::connect(relay.local_addr()).await.unwrap();
        let (mut upstream, _) = server.accept().await.unwrap();
        let started = std::time::Instant::now();
        client.write_all(b"last words").await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        upstream.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"last words");
        assert!(started.elapsed() >= DELAY);
        // The other direction closes the connection; the relay then forgets it.
        drop(upstream);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while relay.open() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!((relay.accepted(), relay.open()), (1, 0));
        relay.stop().await;
    }

    #[tokio::test]
    async fn a_clusters_relays_stop_together() {
        let relays = Relays::default();
        let (a, b) = (relay_to_echo().await, relay_to_echo().await);
        let listening = [a.local_addr(), b.local_addr()];
        relays.insert("scdw", a);
        relays.insert("sdw1", b);
        assert_eq!(relays.with("scdw", DelayRelay::accepted), Some(0));
        relays.stop_all().await;
        for addr in listening {
            assert!(
                TcpStream::connect(addr).await.is_err(),
                "{addr} still accepts"
            );
        }
        assert!(relays.take("scdw").is_none());
    }

    #[tokio::test]
    async fn a_dropped_relay_stops_accepting() {
        let relay = relay_to_echo().await;
        let listen = relay.local_addr();
        drop(relay);
        // The abort takes effect when the runtime next polls the relay's task.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(listen).await.is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "{listen} still accepts"
            );
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_target_that_refuses_closes_the_accepted_connection() {
        // A port that was free a moment ago: nothing listens there.
        let target = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let relay = DelayRelay::start("127.0.0.1:0".parse().unwrap(), target, DELAY)
            .await
            .unwrap();
        let mut client = TcpStream::connect(relay.local_addr()).await.unwrap();
        let mut buf = [0; 1];
        assert!(matches!(client.read(&mut buf).await, Ok(0) | Err(_)));
        relay.stop().await;
    }
}
