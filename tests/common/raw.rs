//! A raw-socket fake upstream on 127.0.0.1:0, for byte-level control over every failure point
//! of an HTTP/1.1 exchange (close after the head, truncated bodies, interim answers, ...).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the fake lives at most, whatever the test does (bounded loops).
const LIFETIME: Duration = Duration::from_secs(60);

/// A request head (and body) as the fake read it off the socket.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// Request line and headers, as received.
    pub head: String,
    /// Body bytes read (by `Content-Length`).
    pub body: Vec<u8>,
    /// On a reused connection: how long it sat idle since the previous answer.
    pub idle_before: Option<Duration>,
}

impl RawRequest {
    /// The request method.
    pub fn method(&self) -> &str {
        self.head.split(' ').next().unwrap_or("")
    }

    /// A header value (first match, case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// What the fake does once it has read a request head.
#[derive(Debug, Clone)]
pub enum Act {
    /// Close at once, before reading the body.
    CloseAfterHead,
    /// Read the body, then close without answering.
    CloseAfterBody,
    /// Read the body, write these bytes, keep the connection open for the next request.
    Reply(Vec<u8>),
    /// Read the body, write these bytes, then close.
    ReplyClose(Vec<u8>),
    /// Read the body, write these bytes, wait, then write the rest and keep the connection.
    ReplyInTwo(Vec<u8>, Duration, Vec<u8>),
    /// Read the body and never answer (until the fake stops).
    Silent,
}

type Script = Arc<dyn Fn(usize, &RawRequest) -> Act + Send + Sync>;

/// The raw fake upstream. Stops (closes its listener) when dropped.
pub struct RawUpstream {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<RawRequest>>>,
    connections: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
}

impl RawUpstream {
    /// Answers each request head with `script(n, request)`, `n` counting earlier requests.
    pub fn start(script: impl Fn(usize, &RawRequest) -> Act + Send + Sync + 'static) -> Self {
        Self::spawn(Some(Arc::new(script)))
    }

    /// Accepts every connection and closes it at once, reading nothing.
    pub fn accept_and_close() -> Self {
        Self::spawn(None)
    }

    fn spawn(script: Option<Script>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<RawRequest>>> = Arc::default();
        let connections: Arc<Mutex<usize>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, conns, halt) = (requests.clone(), connections.clone(), stop.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            while !halt.load(Ordering::Relaxed) && started.elapsed() < LIFETIME {
                match listener.accept() {
                    Ok((stream, _)) => {
                        *conns.lock().unwrap() += 1;
                        let Some(script) = script.clone() else {
                            drop(stream);
                            continue;
                        };
                        let (reqs, halt) = (reqs.clone(), halt.clone());
                        std::thread::spawn(move || serve(stream, script, reqs, halt));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        RawUpstream {
            addr,
            requests,
            connections,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Request heads received so far.
    pub fn requests(&self) -> Vec<RawRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// How many request heads were received.
    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads one request head; `None` when the peer closed or went quiet.
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..end + 4).collect();
            return Some(String::from_utf8_lossy(&head).into_owned());
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn read_body(stream: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> Vec<u8> {
    let mut chunk = [0u8; 4096];
    while buf.len() < len {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf.drain(..len.min(buf.len())).collect()
}

fn serve(
    mut stream: TcpStream,
    script: Script,
    requests: Arc<Mutex<Vec<RawRequest>>>,
    stop: Arc<AtomicBool>,
) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let mut answered_at: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) && started.elapsed() < LIFETIME {
        let Some(head) = read_head_patiently(&mut stream, &mut buf, &stop) else {
            return;
        };
        let mut req = RawRequest {
            head,
            body: Vec::new(),
            idle_before: answered_at.map(|t| t.elapsed()),
        };
        let n = {
            let mut all = requests.lock().unwrap();
            all.push(req.clone());
            all.len() - 1
        };
        let act = script(n, &req);
        if matches!(act, Act::CloseAfterHead) {
            return;
        }
        let len = req
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        req.body = read_body(&mut stream, &mut buf, len);
        requests.lock().unwrap()[n].body = req.body.clone();
        match act {
            Act::CloseAfterHead | Act::CloseAfterBody => return,
            Act::Reply(bytes) => {
                let _ = stream.write_all(&bytes);
                answered_at = Some(Instant::now());
            }
            Act::ReplyClose(bytes) => {
                let _ = stream.write_all(&bytes);
                return;
            }
            Act::ReplyInTwo(first, pause, rest) => {
                let _ = stream.write_all(&first);
                std::thread::sleep(pause);
                let _ = stream.write_all(&rest);
                answered_at = Some(Instant::now());
            }
            Act::Silent => {
                while !stop.load(Ordering::Relaxed) && started.elapsed() < LIFETIME {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
        }
    }
}

/// [`read_head`] that keeps waiting through read timeouts until the fake stops.
fn read_head_patiently(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    stop: &AtomicBool,
) -> Option<String> {
    let started = Instant::now();
    loop {
        if let Some(head) = read_head(stream, buf) {
            return Some(head);
        }
        // `read_head` returns None on timeout too; tell a timeout from a close by peeking.
        let mut probe = [0u8; 1];
        stream.set_nonblocking(true).ok()?;
        let closed = matches!(stream.peek(&mut probe), Ok(0));
        stream.set_nonblocking(false).ok()?;
        if closed || stop.load(Ordering::Relaxed) || started.elapsed() > LIFETIME {
            return None;
        }
    }
}

/// An HTTP/1.1 response with a body and a `Content-Length`.
pub fn response(status: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
