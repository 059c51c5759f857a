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
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Longest head followed; actix-http refuses longer ones itself (its read buffer limit).
const MAX_HEAD: usize = 131_072;
/// Bytes kept of the start of a head line that spans reads: enough for any framing header
/// actix-http accepts in practice; a longer framing header is refused.
const KEPT_LINE: usize = 256;
/// Bytes kept of the end of such a line (the request line's ` HTTP/1.1`).
const KEPT_END: usize = 16;

/// An IO stream whose request heads are checked for bare LF line endings as they are read,
/// and which ends a connection whose request head stays incomplete for [`HEAD_TIMEOUT`], or
/// whose request body stays incomplete for longer than the body timeout it was given.
#[derive(Debug)]
pub struct StrictHead<T> {
    io: T,
    tracker: HeadTracker,
    /// The time a request body may take, past which the handler has answered `408` and the
    /// connection is closed.
    body_timeout: Duration,
    /// When the head or body being read must be complete: which part of which request (the
    /// count of heads completed before it, and whether it is the body), and the timer.
    deadline: Option<(Part, Pin<Box<Sleep>>)>,
    /// The client closed its side: the read that saw it was answered `Pending`, and the next
    /// one fails (see [`StrictHead::poll_read`]).
    closed: bool,
}

/// A part of the request stream a deadline is for: the count of heads completed before it,
/// and whether it is that head's body.
type Part = (u64, bool);

/// How long a started request head may stay incomplete. actix-http bounds only the first
/// request's head (`408` after 5 s); a later head on a kept-alive connection could be sent a
/// byte at a time forever. This is longer than actix-http's own bound, so the first head still
/// gets its `408`; later ones have their connection closed.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(6);

/// Added to the body timeout before a stalled body closes the connection, so the handler's
/// `408` is written first. actix-http keeps reading a body its handler gave up on (to reuse
/// the connection), and a chunked body that never ends would hold the connection forever.
pub const BODY_GRACE: Duration = Duration::from_secs(1);

impl<T> StrictHead<T> {
    /// Wraps a client connection whose request bodies may take `body_timeout`.
    pub fn new(io: T, body_timeout: Duration) -> Self {
        StrictHead {
            io,
            tracker: HeadTracker::default(),
            body_timeout,
            deadline: None,
            closed: false,
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
        if let Some((_, deadline)) = &mut this.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request head or body not complete in time",
            )));
        }
        if this.closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the client closed the connection",
            )));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if buf.filled().len() == before && buf.remaining() > 0 {
            // End of stream. actix-http, which lets a client half-close, would go on serving
            // the request in flight, and a client that hung up would hold its upstream slot
            // until the upstream answered. Like nginx, a client that closes its side is taken
            // as gone: this read is answered `Pending` (so what was read with it is parsed,
            // and an answer ready at once is written), and the next read fails, which ends the
            // connection and drops the request still in flight.
            this.closed = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.tracker.scan(&mut buf.filled_mut()[before..]);
        // What is being read now, and for how long it may take: a head started, or the body
        // of the last complete head (a new one may have started in this very read).
        let part = (this.tracker.heads_completed(), this.tracker.in_body());
        let bound = if this.tracker.in_head() {
            Some(HEAD_TIMEOUT)
        } else if this.tracker.in_body() {
            Some(this.body_timeout + BODY_GRACE)
        } else {
            None
        };
        match (bound, &this.deadline) {
            (None, _) => this.deadline = None,
            (Some(_), Some((armed_for, _))) if *armed_for == part => {}
            (Some(bound), _) => {
                this.deadline = Some((part, Box::pin(tokio::time::sleep(bound))));
            }
        }
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
    Chunked(Chunk),
    /// Not followed any more: a head was refused, or the bytes that follow are not HTTP/1.1
    /// requests (an upgrade, `CONNECT`).
    Off,
}

/// Where a chunked request body is, step for step as actix-http's decoder reads it
/// (`actix_http::h1::chunked`): size lines and the CRLF after chunk data need their CR,
/// trailer lines end at a CR whatever came before it. Any disagreement with that decoder would
/// let the two read a head where the other reads a body, so this mirrors it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    SizeFirst,
    SizeRest(u64),
    SizeLws(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
}

/// What actix-http does with a chunked body's byte: go on, end the body, or fail (it answers
/// `400` and closes).
enum Step {
    Next(Chunk),
    End,
    Fail,
}

impl Chunk {
    /// Follows `bytes`: `Ok(Some(n))` when the body ends after the first `n` of them,
    /// `Ok(None)` when all of them belong to it, `Err` when actix-http fails on them.
    fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, ()> {
        let mut i = 0;
        while i < bytes.len() {
            if let Chunk::Data(rem) = self {
                let take = (*rem).min((bytes.len() - i) as u64);
                *rem -= take;
                i += take as usize;
                if *rem == 0 {
                    *self = Chunk::DataCr;
                }
                continue;
            }
            let b = bytes[i];
            i += 1;
            match self.step(b) {
                Step::Next(next) => *self = next,
                Step::End => return Ok(Some(i)),
                Step::Fail => return Err(()),
            }
        }
        Ok(None)
    }

    fn step(self, b: u8) -> Step {
        let hex = |b: u8| (b as char).to_digit(16).map(u64::from);
        match self {
            Chunk::SizeFirst => hex(b).map_or(Step::Fail, |d| Step::Next(Chunk::SizeRest(d))),
            Chunk::SizeRest(size) => match b {
                b'\t' | b' ' => Step::Next(Chunk::SizeLws(size)),
                b';' => Step::Next(Chunk::Extension(size)),
                b'\r' => Step::Next(Chunk::SizeLf(size)),
                _ => match (hex(b), size.checked_mul(16)) {
                    (Some(d), Some(n)) => Step::Next(Chunk::SizeRest(n + d)),
                    _ => Step::Fail,
                },
            },
            Chunk::SizeLws(size) => match b {
                b'\t' | b' ' => Step::Next(Chunk::SizeLws(size)),
                b';' => Step::Next(Chunk::Extension(size)),
                b'\r' => Step::Next(Chunk::SizeLf(size)),
                _ => Step::Fail,
            },
            Chunk::Extension(size) => match b {
                b'\r' => Step::Next(Chunk::SizeLf(size)),
                0x00..=0x08 | 0x0a..=0x1f | 0x7f => Step::Fail,
                _ => Step::Next(Chunk::Extension(size)),
            },
            Chunk::SizeLf(size) => match (b, size) {
                (b'\n', 0) => Step::Next(Chunk::EndCr),
                (b'\n', n) => Step::Next(Chunk::Data(n)),
                _ => Step::Fail,
            },
            Chunk::Data(_) => unreachable!("chunk data is followed in bulk"),
            Chunk::DataCr if b == b'\r' => Step::Next(Chunk::DataLf),
            Chunk::DataLf if b == b'\n' => Step::Next(Chunk::SizeFirst),
            Chunk::DataCr | Chunk::DataLf => Step::Fail,
            Chunk::Trailer if b == b'\r' => Step::Next(Chunk::TrailerLf),
            Chunk::Trailer => Step::Next(Chunk::Trailer),
            Chunk::TrailerLf if b == b'\n' => Step::Next(Chunk::EndCr),
            Chunk::TrailerLf => Step::Fail,
            // A byte other than CR starts a trailer line and is part of it.
            Chunk::EndCr if b == b'\r' => Step::Next(Chunk::EndLf),
            Chunk::EndCr => Step::Next(Chunk::Trailer),
            Chunk::EndLf if b == b'\n' => Step::End,
            Chunk::EndLf => Step::Fail,
        }
    }
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
    /// Framing actix-http refuses (duplicate or invalid framing headers), or a framing header
    /// too long to follow: the head is refused.
    refused: bool,
}

/// What a complete head line leads to.
enum LineVerdict {
    More,
    EndOfHead,
    Refuse,
}

/// The current head line when it spans reads: its start (enough for the request method, a
/// header name and a framing header's value), its last bytes (the request line's version) and
/// its length. Long lines are never copied whole: actix-http holds them already.
#[derive(Debug, Default)]
struct PartialLine {
    start: Vec<u8>,
    end: Vec<u8>,
    len: usize,
}

impl PartialLine {
    fn push(&mut self, part: &[u8]) {
        // The line's first KEPT_LINE bytes and its CR.
        let room = (KEPT_LINE + 1).saturating_sub(self.start.len());
        self.start.extend_from_slice(&part[..part.len().min(room)]);
        self.end
            .extend_from_slice(&part[part.len().saturating_sub(KEPT_END)..]);
        let extra = self.end.len().saturating_sub(KEPT_END);
        self.end.drain(..extra);
        self.len += part.len();
    }

    fn clear(&mut self) {
        self.start.clear();
        self.end.clear();
        self.len = 0;
    }
}

/// The request framing of one connection, fed with the bytes read from it.
#[derive(Debug, Default)]
pub struct HeadTracker {
    state: State,
    head: HeadFacts,
    /// The current head line when it began in an earlier read.
    line: PartialLine,
    /// The last byte read in a head (to see the CR before an LF at the start of a read).
    last: u8,
    /// Heads completed on the connection.
    completed: u64,
}

impl HeadTracker {
    /// Whether the tracker stopped (after a refusal or on framing it does not follow).
    pub fn is_off(&self) -> bool {
        matches!(self.state, State::Off)
    }

    /// Whether part of a request head has been read and the rest has not.
    pub fn in_head(&self) -> bool {
        matches!(self.state, State::Head) && self.head.len > 0
    }

    /// Whether a request body is being read.
    pub fn in_body(&self) -> bool {
        matches!(self.state, State::Length(_) | State::Chunked(_))
    }

    /// How many request heads were completed on the connection.
    pub fn heads_completed(&self) -> u64 {
        self.completed
    }

    /// Follows newly read bytes; a refused head gets a NUL byte where actix-http will fail.
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
                    // actix-http fails on the same byte and closes the connection.
                    Err(()) => self.state = State::Off,
                },
                State::Head => i = self.scan_head(bytes, i),
            }
        }
    }

    /// Refuses the head being read: `bytes[at]` (a byte of it in this read, never a CR)
    /// becomes NUL, which httparse refuses anywhere in a head.
    fn refuse(&mut self, bytes: &mut [u8], at: usize) -> usize {
        bytes[at] = 0;
        self.state = State::Off;
        self.line = PartialLine::default();
        bytes.len()
    }

    /// Reads head lines from `bytes[from..]`; answers where the head (or the input) ends.
    fn scan_head(&mut self, bytes: &mut [u8], from: usize) -> usize {
        let mut start = from;
        loop {
            let Some(p) = memchr::memchr(b'\n', &bytes[start..]) else {
                let rest = &bytes[start..];
                let Some(&last) = rest.last() else {
                    return bytes.len();
                };
                self.head.len += rest.len();
                self.line.push(rest);
                self.last = last;
                if self.head.len > MAX_HEAD {
                    // Refused on a byte of this read that is no CR; a lone CR waits for the
                    // LF after it, which is refused then.
                    let at = (start..bytes.len()).rev().find(|&i| bytes[i] != b'\r');
                    if let Some(at) = at {
                        return self.refuse(bytes, at);
                    }
                }
                return bytes.len();
            };
            let lf = start + p;
            let before = if lf > start { bytes[lf - 1] } else { self.last };
            self.head.len += p + 1;
            if before != b'\r' || self.head.len > MAX_HEAD {
                // An LF that no CR precedes, or a head longer than is followed.
                return self.refuse(bytes, lf);
            }
            self.last = b'\n';
            let verdict = if self.line.len == 0 {
                self.on_line(&bytes[start..lf - 1], None)
            } else {
                // The line began in an earlier read (its CR may be the last byte kept).
                let mut line = std::mem::take(&mut self.line);
                line.push(&bytes[start..lf]);
                let verdict = if line.len <= KEPT_LINE + 1 {
                    line.start.pop();
                    self.on_line(&line.start, None)
                } else {
                    line.end.pop();
                    self.on_line(&line.start, Some(&line.end))
                };
                line.clear();
                self.line = line;
                verdict
            };
            match verdict {
                LineVerdict::More => start = lf + 1,
                LineVerdict::EndOfHead => return lf + 1,
                LineVerdict::Refuse => return self.refuse(bytes, lf),
            }
        }
    }

    /// One complete head line without its CRLF: all of it, or (`end` given) its first
    /// [`KEPT_LINE`] bytes and its last bytes.
    fn on_line(&mut self, line: &[u8], end: Option<&[u8]>) -> LineVerdict {
        if !self.head.started {
            if line.is_empty() {
                // Skipped as httparse does, but counted: blank lines alone must not hold a
                // connection past the head deadline or the head size.
                return LineVerdict::More;
            }
            self.head.started = true;
            self.head.connect = line.starts_with(b"CONNECT ");
            self.head.http11 = end.unwrap_or(line).ends_with(b" HTTP/1.1");
            return LineVerdict::More;
        }
        if line.is_empty() {
            return self.end_of_head();
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            // No name within the kept start (not a framing header) or no colon at all
            // (httparse refuses the head).
            return LineVerdict::More;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        let framing = [&b"content-length"[..], b"transfer-encoding", b"upgrade"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n));
        if !framing {
            return LineVerdict::More;
        }
        if end.is_some() {
            // A framing header too long to read whole.
            return LineVerdict::Refuse;
        }
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
        } else if value.eq_ignore_ascii_case(b"websocket") {
            facts.websocket = true;
        }
        LineVerdict::More
    }

    /// Sets up what follows a complete head, as actix-http frames it.
    fn end_of_head(&mut self) -> LineVerdict {
        let facts = std::mem::take(&mut self.head);
        self.completed += 1;
        if facts.refused
            || (facts.transfer_encoding && (!facts.chunked || facts.content_length.is_some()))
        {
            return LineVerdict::Refuse;
        }
        self.state = if facts.chunked {
            State::Chunked(Chunk::SizeFirst)
        } else if facts.websocket {
            State::Off
        } else {
            match facts.content_length {
                Some(n) if n > 0 => State::Length(n),
                _ if facts.connect => State::Off,
                _ => State::Head,
            }
        };
        LineVerdict::EndOfHead
    }
}

#[cfg(test)]
mod tests;
