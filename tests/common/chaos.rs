//! A TCP fault injector between the proxy and a fake upstream: a relay on 127.0.0.1:0 whose
//! behaviour the test switches at any moment (refuse, blackhole, delay, cut mid-response,
//! close idle connections, answer 503 to everything).
//!
//! Every thread stops by itself: when the relay is dropped, when its connection ends, or after
//! [`LIFETIME`] at the latest.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the relay lives at most, whatever the test does.
const LIFETIME: Duration = Duration::from_secs(90);
/// How often blocked reads wake up to look at the fault and the stop flag.
const TICK: Duration = Duration::from_millis(10);

/// What the relay does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Relay bytes both ways.
    Pass,
    /// Nothing listens: connections are refused (the upstream is down).
    Refuse,
    /// Accept, read and never answer.
    Blackhole,
    /// Relay, holding each chunk of the answer back this long.
    Delay(Duration),
    /// Relay the request, then half of the first chunk of the answer, then close.
    CutMidResponse,
    /// Relay, closing connections that carried nothing for this long (an upstream's
    /// keep-alive timeout).
    CloseIdle(Duration),
    /// Answer every request `503` without asking the upstream.
    Storm503,
}

struct Shared {
    fault: Mutex<Fault>,
    /// Bumped by every change of fault: connections of an older generation close.
    generation: AtomicU64,
    stop: AtomicBool,
    born: Instant,
    accepted: AtomicUsize,
    stormed: AtomicUsize,
    blackholed: AtomicUsize,
}

impl Shared {
    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap()
    }
    fn over(&self, generation: u64) -> bool {
        self.stop.load(Ordering::Relaxed)
            || self.generation.load(Ordering::Relaxed) != generation
            || self.born.elapsed() > LIFETIME
    }
}

/// The relay. Stops when dropped.
pub struct Relay {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Relay {
    /// Relays 127.0.0.1:<ephemeral> to `target`, passing bytes until told otherwise.
    pub fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            fault: Mutex::new(Fault::Pass),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            born: Instant::now(),
            accepted: AtomicUsize::new(0),
            stormed: AtomicUsize::new(0),
            blackholed: AtomicUsize::new(0),
        });
        let s = shared.clone();
        std::thread::spawn(move || accept_loop(Some(listener), addr, target, s));
        Relay { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the fault; open connections close, new ones get the new behaviour.
    pub fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Requests answered `503` in [`Fault::Storm503`].
    pub fn stormed(&self) -> usize {
        self.shared.stormed.load(Ordering::SeqCst)
    }

    /// Connections swallowed in [`Fault::Blackhole`].
    pub fn blackholed(&self) -> usize {
        self.shared.blackholed.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

fn accept_loop(
    mut listener: Option<TcpListener>,
    addr: SocketAddr,
    target: SocketAddr,
    shared: Arc<Shared>,
) {
    if let Some(l) = &listener {
        l.set_nonblocking(true).unwrap();
    }
    while !shared.stop.load(Ordering::Relaxed) && shared.born.elapsed() < LIFETIME {
        let fault = shared.fault();
        if fault == Fault::Refuse {
            // Closing the listener makes the kernel refuse connections to the port.
            listener = None;
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let Some(l) = &listener else {
            // Back up on the same port (std sets SO_REUSEADDR on listeners).
            match TcpListener::bind(addr) {
                Ok(l) => {
                    l.set_nonblocking(true).unwrap();
                    listener = Some(l);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
            continue;
        };
        match l.accept() {
            Ok((stream, _)) => {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let generation = shared.generation.load(Ordering::SeqCst);
                let fault = shared.fault();
                let s = shared.clone();
                std::thread::spawn(move || connection(stream, target, fault, generation, s));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

fn connection(
    client: TcpStream,
    target: SocketAddr,
    fault: Fault,
    generation: u64,
    shared: Arc<Shared>,
) {
    client.set_nodelay(true).ok();
    client.set_read_timeout(Some(TICK)).ok();
    match fault {
        Fault::Refuse => {}
        Fault::Blackhole => {
            shared.blackholed.fetch_add(1, Ordering::SeqCst);
            swallow(client, generation, &shared);
        }
        Fault::Storm503 => storm(client, generation, &shared),
        Fault::Pass | Fault::Delay(_) | Fault::CutMidResponse | Fault::CloseIdle(_) => {
            let Ok(upstream) = TcpStream::connect_timeout(&target, Duration::from_secs(1)) else {
                return;
            };
            upstream.set_nodelay(true).ok();
            upstream.set_read_timeout(Some(TICK)).ok();
            pipe(client, upstream, fault, generation, shared);
        }
    }
}

/// Reads and drops everything until the peer closes or the relay moves on.
fn swallow(mut client: TcpStream, generation: u64, shared: &Shared) {
    let mut buf = [0u8; 4096];
    while !shared.over(generation) {
        match client.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Answers each request `503`, reading heads and `Content-Length` bodies.
fn storm(mut client: TcpStream, generation: u64, shared: &Shared) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    while !shared.over(generation) {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                buf.drain(..end + 4 + len);
                shared.stormed.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"error":"overloaded"}"#;
                let answer = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if client.write_all(answer.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
        }
        match client.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Relays both ways on two threads; when either side ends, both sockets close.
fn pipe(
    client: TcpStream,
    upstream: TcpStream,
    fault: Fault,
    generation: u64,
    shared: Arc<Shared>,
) {
    let done = Arc::new(AtomicBool::new(false));
    let last = Arc::new(AtomicU64::new(0));
    let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let (d2, l2, s2) = (done.clone(), last.clone(), shared.clone());
    let up = std::thread::spawn(move || {
        pump(c2, u2, false, fault, generation, &s2, &d2, &l2);
    });
    pump(
        upstream, client, true, fault, generation, &shared, &done, &last,
    );
    let _ = up.join();
}

#[allow(clippy::too_many_arguments)]
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    answers: bool,
    fault: Fault,
    generation: u64,
    shared: &Shared,
    done: &AtomicBool,
    last: &AtomicU64,
) {
    let mut buf = [0u8; 16 * 1024];
    let now_ms = || shared.born.elapsed().as_millis() as u64;
    last.store(now_ms(), Ordering::Relaxed);
    loop {
        if done.load(Ordering::Relaxed) || shared.over(generation) {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                last.store(now_ms(), Ordering::Relaxed);
                let chunk = &buf[..n];
                if answers {
                    match fault {
                        Fault::Delay(d) => std::thread::sleep(d),
                        Fault::CutMidResponse => {
                            let _ = to.write_all(&chunk[..n / 2]);
                            break;
                        }
                        _ => {}
                    }
                }
                if to.write_all(chunk).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if let Fault::CloseIdle(idle) = fault
                    && now_ms().saturating_sub(last.load(Ordering::Relaxed))
                        > idle.as_millis() as u64
                {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    done.store(true, Ordering::Relaxed);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
