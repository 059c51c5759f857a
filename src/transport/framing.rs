//! HTTP/1.1 response framing, tracked byte by byte on an upstream connection.
//!
//! awc reads the first response head as the answer and ends a body quietly when the connection
//! closes early. This tracker sits under it and knows where each response ends, so that
//! * interim `1xx` heads (`100`, `102`, `103`) are removed from the stream: awc only ever sees
//!   the final answer (RFC 9110 §15.2: a client must be able to parse and skip them);
//! * a connection that closes in the middle of a head or a body (`Content-Length` not reached,
//!   chunked body without its last chunk) is reported as an error, not as the end;
//! * bytes that arrive when no request is waiting for them are passed on at once, so awc's pool
//!   sees them and drops the connection instead of reusing it.

/// Longest response head accepted before giving up the tracking (awc's own limit is larger;
/// past this, bytes are passed through untracked).
const MAX_HEAD: usize = 64 * 1024;

/// Where the connection is in the current response.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Waiting for (or reading) a response head.
    Head,
    /// A body of this many bytes still to come.
    Length(u64),
    /// A chunked body.
    Chunked(ChunkedBody),
    /// A body that ends when the connection closes.
    UntilClose,
    /// After `101` or anything the tracker does not follow: bytes pass through.
    Opaque,
}

/// Where a chunked body is (`Transfer-Encoding: chunked`, RFC 9112 §7.1), followed byte by
/// byte outside chunk data and in bulk inside it. Requests and responses frame it alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkedBody(Chunk);

impl Default for ChunkedBody {
    fn default() -> Self {
        ChunkedBody(new_size())
    }
}

/// A chunked body whose framing cannot be followed (a size that is not hex or overflows, data
/// not followed by its line end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MalformedChunk;

impl ChunkedBody {
    /// Follows `bytes` of the body: `Ok(Some(n))` when the body (last chunk and trailers) ends
    /// after the first `n` of them, `Ok(None)` when all of them belong to it.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, MalformedChunk> {
        let mut i = 0;
        while i < bytes.len() {
            if let Chunk::Data(rem) = &mut self.0 {
                let take = (*rem).min((bytes.len() - i) as u64);
                *rem -= take;
                i += take as usize;
                if *rem == 0 {
                    self.0 = Chunk::DataCr;
                }
                continue;
            }
            let b = bytes[i];
            i += 1;
            if step_chunk(&mut self.0, b).map_err(|()| MalformedChunk)? {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }
}

/// Where a chunked body is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Chunk {
    /// Reading the chunk-size line; `size` so far, `ext` once past the digits.
    Size {
        size: u64,
        digits: bool,
        ext: bool,
    },
    /// The LF ending a size line (after CR).
    SizeLf {
        size: u64,
    },
    /// Chunk data still to come.
    Data(u64),
    /// The CRLF after chunk data.
    DataCr,
    DataLf,
    /// Trailer lines after the last chunk; `empty` when the current line has no bytes yet.
    Trailer {
        empty: bool,
        cr: bool,
    },
}

/// What to do with a complete head the tracker found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadVerdict {
    /// An interim answer: drop these bytes.
    Interim,
    /// The final answer: pass it on.
    Final,
}

/// The framing tracker of one connection.
#[derive(Debug, Clone)]
pub struct ResponseFraming {
    state: State,
    /// A request was written since the last response ended.
    awaiting: bool,
}

impl Default for ResponseFraming {
    fn default() -> Self {
        ResponseFraming {
            state: State::Head,
            awaiting: false,
        }
    }
}

/// The end of a head in `buf` (index after the blank line), CRLF or bare LF line endings.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', buf).find_map(|lf| match buf.get(lf + 1) {
        Some(b'\n') => Some(lf + 2),
        Some(b'\r') if buf.get(lf + 2) == Some(&b'\n') => Some(lf + 3),
        _ => None,
    })
}

impl ResponseFraming {
    /// A request (or part of one) was written: the next head answers it.
    pub fn request_written(&mut self) {
        if self.state == State::Head {
            self.awaiting = true;
        }
    }

    /// Whether head bytes are awaited for a request (held until the head is complete), as
    /// opposed to unsolicited bytes (passed on at once).
    pub fn wants_head(&self) -> bool {
        self.state == State::Head && self.awaiting
    }

    /// Whether the tracker is between responses (a head is next).
    pub fn at_head(&self) -> bool {
        self.state == State::Head
    }

    /// Whether a head longer than this is given up on.
    pub fn head_too_long(len: usize) -> bool {
        len > MAX_HEAD
    }

    /// Stops tracking (an unparseable or oversized head): bytes pass through from now on.
    pub fn give_up(&mut self) {
        self.state = State::Opaque;
    }

    /// Reads a complete head and sets up its body. The caller drops the head when `Interim`.
    pub fn on_head(&mut self, head: &[u8]) -> HeadVerdict {
        let status = parse_status(head);
        match status {
            Some(s) if (100..200).contains(&s) && s != 101 => return HeadVerdict::Interim,
            Some(101) | None => {
                self.state = State::Opaque;
                return HeadVerdict::Final;
            }
            _ => {}
        }
        let status = status.unwrap_or(200);
        let (length, chunked) = body_headers(head);
        self.state = if status == 204 || status == 304 {
            State::Head
        } else if chunked {
            State::Chunked(ChunkedBody::default())
        } else if let Some(n) = length {
            State::Length(n)
        } else {
            State::UntilClose
        };
        self.finish_if_done();
        HeadVerdict::Final
    }

    fn finish_if_done(&mut self) {
        if self.state == State::Length(0) {
            self.state = State::Head;
        }
        if self.state == State::Head {
            self.awaiting = false;
        }
    }

    /// Follows body bytes (all of which are passed on). Returns how many of them belong to the
    /// current body; the rest start the next head.
    pub fn on_body(&mut self, bytes: &[u8]) -> usize {
        let mut i = 0;
        while i < bytes.len() {
            match &mut self.state {
                State::Head => break,
                State::Opaque | State::UntilClose => return bytes.len(),
                State::Length(rem) => {
                    let take = (*rem).min((bytes.len() - i) as u64);
                    *rem -= take;
                    i += take as usize;
                }
                State::Chunked(body) => match body.feed(&bytes[i..]) {
                    Ok(Some(n)) => {
                        i += n;
                        self.state = State::Head;
                    }
                    Ok(None) => i = bytes.len(),
                    Err(MalformedChunk) => self.state = State::Opaque,
                },
            }
            self.finish_if_done();
        }
        self.finish_if_done();
        i
    }

    /// Whether a close of the connection now cuts a response short: in the middle of a head
    /// that was awaited, of a `Content-Length` body, or of a chunked body.
    pub fn eof_is_premature(&self, held_head_bytes: usize) -> bool {
        match self.state {
            State::Head => held_head_bytes > 0,
            State::Length(_) | State::Chunked(_) => true,
            State::UntilClose | State::Opaque => false,
        }
    }
}

/// One byte of chunked framing outside chunk data. `Ok(true)` when the body is complete.
fn step_chunk(chunk: &mut Chunk, b: u8) -> Result<bool, ()> {
    match chunk {
        Chunk::Size { size, digits, ext } => match b {
            b'\r' if *digits => *chunk = Chunk::SizeLf { size: *size },
            b'\n' if *digits => {
                let size = *size;
                return Ok(enter_data(chunk, size));
            }
            _ if *ext => {}
            b';' | b' ' | b'\t' if *digits => *ext = true,
            _ => {
                let d = (b as char).to_digit(16).ok_or(())?;
                *size = size.checked_mul(16).ok_or(())? + u64::from(d);
                *digits = true;
            }
        },
        Chunk::SizeLf { size } => {
            if b != b'\n' {
                return Err(());
            }
            let size = *size;
            return Ok(enter_data(chunk, size));
        }
        Chunk::Data(_) => unreachable!("chunk data is consumed in bulk"),
        Chunk::DataCr => match b {
            b'\r' => *chunk = Chunk::DataLf,
            b'\n' => *chunk = new_size(),
            _ => return Err(()),
        },
        Chunk::DataLf => {
            if b != b'\n' {
                return Err(());
            }
            *chunk = new_size();
        }
        Chunk::Trailer { empty, cr } => match b {
            b'\r' => *cr = true,
            b'\n' if *empty => return Ok(true),
            b'\n' => {
                *empty = true;
                *cr = false;
            }
            _ => {
                *empty = false;
                *cr = false;
            }
        },
    }
    Ok(false)
}

fn new_size() -> Chunk {
    Chunk::Size {
        size: 0,
        digits: false,
        ext: false,
    }
}

/// After a size line: data, or the trailer section after the last (zero) chunk.
fn enter_data(chunk: &mut Chunk, size: u64) -> bool {
    *chunk = if size == 0 {
        Chunk::Trailer {
            empty: true,
            cr: false,
        }
    } else {
        Chunk::Data(size)
    };
    false
}

/// The status code of a response head (`HTTP/1.x NNN ...`).
fn parse_status(head: &[u8]) -> Option<u16> {
    let rest = head.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    if rest.get(1) != Some(&b' ') || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// `Content-Length` (first) and whether `Transfer-Encoding` ends in `chunked`.
fn body_headers(head: &[u8]) -> (Option<u64>, bool) {
    let mut length = None;
    let mut chunked = false;
    let mut start = 0;
    for lf in memchr::memchr_iter(b'\n', head) {
        let line = &head[start..lf];
        start = lf + 1;
        // Only `Content-Length` and `Transfer-Encoding` matter here.
        if !matches!(line.first(), Some(b'c' | b'C' | b't' | b'T')) {
            continue;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") && length.is_none() {
            length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        }
    }
    (length, chunked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_of(framing: &mut ResponseFraming, head: &str) -> HeadVerdict {
        framing.request_written();
        framing.on_head(head.as_bytes())
    }

    #[test]
    fn head_end_finds_crlf_and_bare_lf_blank_lines() {
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\na: b\r\n\r\nbody"), Some(25));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\na: b\n\nbody"), Some(22));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\na: b\r\n"), None);
    }

    #[test]
    fn interim_heads_are_dropped_and_101_is_not() {
        let mut f = ResponseFraming::default();
        for h in [
            "HTTP/1.1 100 Continue\r\n\r\n",
            "HTTP/1.1 103 Early\r\nlink: x\r\n\r\n",
        ] {
            assert_eq!(head_of(&mut f, h), HeadVerdict::Interim);
            assert!(f.wants_head());
        }
        assert_eq!(
            head_of(&mut f, "HTTP/1.1 101 Switching\r\n\r\n"),
            HeadVerdict::Final
        );
        assert!(!f.eof_is_premature(0));
    }

    #[test]
    fn content_length_body_ends_where_it_says() {
        let mut f = ResponseFraming::default();
        head_of(&mut f, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n");
        assert_eq!(f.on_body(b"nu"), 2);
        assert!(f.eof_is_premature(0));
        assert_eq!(f.on_body(b"llHTTP/1.1"), 2);
        assert!(f.at_head());
        assert!(!f.eof_is_premature(0));
    }

    #[test]
    fn chunked_body_ends_after_the_last_chunk_and_trailers() {
        let mut f = ResponseFraming::default();
        head_of(
            &mut f,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        let body = b"5;ext=1\r\nhello\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        for (i, b) in body.iter().enumerate() {
            if f.at_head() {
                assert_eq!(&body[i..], b"NEXT");
                return;
            }
            assert!(f.eof_is_premature(0), "premature at byte {i}");
            assert_eq!(f.on_body(std::slice::from_ref(b)), 1);
        }
        panic!("the body never ended");
    }

    #[test]
    fn chunked_body_cut_before_its_last_chunk_is_premature() {
        let mut f = ResponseFraming::default();
        head_of(
            &mut f,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        f.on_body(b"5\r\nhello\r\n");
        assert!(f.eof_is_premature(0));
    }

    #[test]
    fn no_length_body_ends_with_the_connection() {
        let mut f = ResponseFraming::default();
        head_of(&mut f, "HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(f.on_body(b"anything"), 8);
        assert!(!f.eof_is_premature(0));
    }

    #[test]
    fn bodiless_statuses_end_with_their_head() {
        for h in [
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        ] {
            let mut f = ResponseFraming::default();
            head_of(&mut f, h);
            assert!(f.at_head(), "{h}");
            assert!(!f.wants_head(), "{h}");
        }
    }

    #[test]
    fn a_cut_in_the_middle_of_an_awaited_head_is_premature() {
        let f = ResponseFraming::default();
        assert!(f.eof_is_premature(7));
        assert!(!f.eof_is_premature(0));
    }

    #[test]
    fn malformed_chunk_sizes_stop_the_tracking_instead_of_guessing() {
        let mut f = ResponseFraming::default();
        head_of(
            &mut f,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        f.on_body(b"zz\r\n");
        assert!(!f.eof_is_premature(0));
    }
}
