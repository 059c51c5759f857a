//! Request heads whose lines end in a bare LF are refused.
//!
//! RFC 9112 §2.2 lets a recipient read a bare LF as a line end, and httparse (under actix-http)
//! does. Node's parser (so Auth.js) and strict front proxies do not, and two parsers that split
//! the same bytes into different headers are how requests get smuggled past a front proxy. The
//! service therefore reads every connection through [`StrictHead`], which follows HTTP/1.1
//! request framing (heads, `Content-Length` and chunked bodies) and, at the first LF in a head
//! that no CR precedes, turns that byte into NUL before actix-http sees it: httparse then fails
//! on the head, and actix-http answers `400 Bad Request` and closes the connection. Bodies are
//! never touched; a connection whose framing the tracker cannot follow (an upgrade, `CONNECT`,
//! a head actix-http refuses anyway) is passed through from then on.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::transport::framing::ChunkedBody;

/// Longest head followed; actix-http refuses longer ones itself (its read buffer limit).
const MAX_HEAD: usize = 131_072;
/// Capacity of the line buffer kept between requests (a line spanning two reads is copied).
const KEPT_CAPACITY: usize = 8 * 1024;

/// An IO stream whose request heads are checked for bare LF line endings as they are read.
#[derive(Debug)]
pub struct StrictHead<T> {
    io: T,
    tracker: HeadTracker,
}

impl<T> StrictHead<T> {
    /// Wraps a client connection.
    pub fn new(io: T) -> Self {
        StrictHead {
            io,
            tracker: HeadTracker::default(),
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StrictHead<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        this.tracker.scan(&mut buf.filled_mut()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StrictHead<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Where the connection is in the current request.
#[derive(Debug, Default)]
enum State {
    /// Reading a request head.
    #[default]
    Head,
    /// A body of this many bytes still to come.
    Length(u64),
    /// A chunked body.
    Chunked(ChunkedBody),
    /// Not followed any more: a bare LF was refused, or the framing is not HTTP/1.1's.
    Off,
}

/// What the head read so far says about the body that follows it.
#[derive(Debug, Default)]
struct HeadFacts {
    /// The request line was read (empty lines before it are skipped, as httparse does).
    started: bool,
    /// Bytes of the head so far.
    len: usize,
    connect: bool,
    http11: bool,
    content_length: Option<u64>,
    transfer_encoding: bool,
    chunked: bool,
    websocket: bool,
    /// Something actix-http refuses (duplicate or invalid framing headers): it answers 400
    /// and closes, so the tracker stops.
    refused: bool,
}

/// The request framing of one connection, fed with the bytes read from it.
#[derive(Debug, Default)]
pub struct HeadTracker {
    state: State,
    head: HeadFacts,
    /// The start of the current head line when it spans reads.
    line: Vec<u8>,
    /// The last byte read in a head (to see the CR before an LF at the start of a read).
    last: u8,
}

impl HeadTracker {
    /// Whether the tracker stopped (after a refusal or on framing it does not follow).
    pub fn is_off(&self) -> bool {
        matches!(self.state, State::Off)
    }

    /// Follows newly read bytes; a bare LF in a head is replaced by NUL.
    pub fn scan(&mut self, bytes: &mut [u8]) {
        let mut i = 0;
        while i < bytes.len() {
            match &mut self.state {
                State::Off => return,
                State::Length(rem) => {
                    let take = (*rem).min((bytes.len() - i) as u64);
                    *rem -= take;
                    i += take as usize;
                    if *rem == 0 {
                        self.state = State::Head;
                    }
                }
                State::Chunked(body) => match body.feed(&bytes[i..]) {
                    Ok(Some(n)) => {
                        i += n;
                        self.state = State::Head;
                    }
                    Ok(None) => return,
                    Err(_) => self.state = State::Off,
                },
                State::Head => i = self.scan_head(bytes, i),
            }
        }
    }

    /// Reads head lines from `bytes[from..]`; answers where the head (or the input) ends.
    fn scan_head(&mut self, bytes: &mut [u8], from: usize) -> usize {
        let mut start = from;
        loop {
            let Some(p) = bytes[start..].iter().position(|b| *b == b'\n') else {
                let rest = &bytes[start..];
                if let Some(b) = rest.last() {
                    self.last = *b;
                }
                self.line.extend_from_slice(rest);
                self.head.len += rest.len();
                if self.head.len > MAX_HEAD {
                    self.stop();
                }
                return bytes.len();
            };
            let lf = start + p;
            let before = if lf > start { bytes[lf - 1] } else { self.last };
            if before != b'\r' {
                // An LF that no CR precedes: refuse the head.
                bytes[lf] = 0;
                self.stop();
                return bytes.len();
            }
            self.last = b'\n';
            self.head.len += p + 1;
            let ended = if self.line.is_empty() {
                self.on_line(&bytes[start..lf - 1])
            } else {
                // The line began in an earlier read.
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&bytes[start..lf]);
                line.pop(); // its CR
                let ended = self.on_line(&line);
                line.clear();
                if line.capacity() <= KEPT_CAPACITY {
                    self.line = line;
                }
                ended
            };
            start = lf + 1;
            if ended {
                return start;
            }
            if self.head.len > MAX_HEAD {
                self.stop();
                return bytes.len();
            }
        }
    }

    /// Stops following the connection.
    fn stop(&mut self) {
        self.state = State::Off;
        self.line = Vec::new();
    }

    /// One complete head line (without CRLF). Answers whether the head ended.
    fn on_line(&mut self, line: &[u8]) -> bool {
        if !self.head.started {
            if line.is_empty() {
                self.head.len = 0;
                return false;
            }
            self.head.started = true;
            self.head.connect = line.starts_with(b"CONNECT ");
            self.head.http11 = line.ends_with(b" HTTP/1.1");
            return false;
        }
        if line.is_empty() {
            self.end_of_head();
            return true;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            return false;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        let facts = &mut self.head;
        if name.eq_ignore_ascii_case(b"content-length") {
            let parsed = (!value.starts_with(b"+"))
                .then(|| std::str::from_utf8(value).ok()?.parse::<u64>().ok())
                .flatten();
            match (facts.content_length, parsed) {
                (None, Some(n)) => facts.content_length = Some(n),
                _ => facts.refused = true,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if facts.transfer_encoding || !facts.http11 {
                facts.refused = true;
            }
            facts.transfer_encoding = true;
            if value.eq_ignore_ascii_case(b"chunked") {
                facts.chunked = true;
            } else if !value.eq_ignore_ascii_case(b"identity") {
                facts.refused = true;
            }
        } else if name.eq_ignore_ascii_case(b"upgrade") && value.eq_ignore_ascii_case(b"websocket")
        {
            facts.websocket = true;
        }
        false
    }

    /// Sets up what follows a complete head, as actix-http frames it.
    fn end_of_head(&mut self) {
        let facts = std::mem::take(&mut self.head);
        self.state = if facts.refused
            || (facts.transfer_encoding && (!facts.chunked || facts.content_length.is_some()))
        {
            State::Off
        } else if facts.chunked {
            State::Chunked(ChunkedBody::default())
        } else if facts.websocket {
            State::Off
        } else {
            match facts.content_length {
                Some(n) if n > 0 => State::Length(n),
                _ if facts.connect => State::Off,
                _ => State::Head,
            }
        };
    }
}

#[cfg(test)]
mod tests;
