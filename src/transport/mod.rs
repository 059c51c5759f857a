//! The upstream transport under awc: TCP (and TLS) connections whose HTTP/1.1 response
//! framing is tracked ([`framing`]), so interim answers never reach awc and a connection cut
//! in the middle of an answer is an error, not an end.
//!
//! TLS is done here too (rustls, SNI from the upstream host), because the tracking must see
//! the plain bytes: awc is handed `http://` URLs with the upstream's explicit port and never
//! does TLS itself.

pub mod framing;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_rt::net::{ActixStream, Ready, TcpStream};
use actix_service::Service;
use actix_tls::connect::rustls_0_23::{
    TlsConnector, TlsConnectorService, reexports::AsyncTlsStream,
};
use actix_tls::connect::{ConnectError, ConnectInfo, Connection, ConnectorService};
use actix_web::http::Uri;
use futures_util::future::LocalBoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use framing::{HeadVerdict, ResponseFraming, head_end};

/// A plain or TLS upstream stream.
enum Stream {
    Plain(TcpStream),
    Tls(Box<AsyncTlsStream<TcpStream>>),
}

/// An upstream connection with its response framing tracked.
pub struct Tracked {
    io: Stream,
    framing: ResponseFraming,
    /// Bytes of an awaited head, held until the head is complete.
    held: Vec<u8>,
    /// Bytes released to awc but not yet read by it.
    ready: Vec<u8>,
    ready_pos: usize,
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracked")
            .field("tls", &matches!(self.io, Stream::Tls(_)))
            .finish_non_exhaustive()
    }
}

impl Tracked {
    fn new(io: Stream) -> Self {
        Tracked {
            io,
            framing: ResponseFraming::default(),
            held: Vec::new(),
            ready: Vec::new(),
            ready_pos: 0,
        }
    }

    fn io_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }

    /// Splits complete heads off `held`: interim ones are dropped, the final one and what
    /// follows it are released.
    fn settle_heads(&mut self) {
        while self.framing.wants_head() {
            let Some(end) = head_end(&self.held) else {
                if ResponseFraming::head_too_long(self.held.len()) {
                    self.framing.give_up();
                    self.ready.append(&mut self.held);
                }
                return;
            };
            if self.framing.on_head(&self.held[..end]) == HeadVerdict::Interim {
                self.held.drain(..end);
                continue;
            }
            self.framing.on_body(&self.held[end..]);
            // The final head and what follows it are released as they are: `ready` is empty
            // whenever a head is awaited, so the buffers swap instead of copying.
            if self.ready_pos == self.ready.len() {
                std::mem::swap(&mut self.ready, &mut self.held);
                self.held.clear();
                self.ready_pos = 0;
            } else {
                self.ready.append(&mut self.held);
            }
        }
    }

    fn eof(&self) -> io::Result<()> {
        if self.framing.eof_is_premature(self.held.len()) {
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "upstream closed the connection in the middle of an answer",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready_pos < this.ready.len() {
                let n = (this.ready.len() - this.ready_pos).min(buf.remaining());
                buf.put_slice(&this.ready[this.ready_pos..this.ready_pos + n]);
                this.ready_pos += n;
                if this.ready_pos == this.ready.len() {
                    this.ready.clear();
                    this.ready_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.framing.wants_head() && this.held.is_empty() {
                // Fast path: the head is read straight into awc's buffer. When it is there
                // whole and final (nearly always), nothing is copied; otherwise the bytes
                // move to `held` and wait there as below.
                let before = buf.filled().len();
                std::task::ready!(this.io_read(cx, buf))?;
                let new = &buf.filled()[before..];
                if new.is_empty() {
                    return Poll::Ready(this.eof());
                }
                if let Some(end) = head_end(new)
                    && this.framing.on_head(&new[..end]) == HeadVerdict::Final
                {
                    this.framing.on_body(&new[end..]);
                    return Poll::Ready(Ok(()));
                }
                this.held.extend_from_slice(new);
                buf.set_filled(before);
                this.settle_heads();
                continue;
            }
            if this.framing.wants_head() {
                let mut chunk = [0u8; 4096];
                let mut tmp = ReadBuf::new(&mut chunk);
                std::task::ready!(this.io_read(cx, &mut tmp))?;
                if tmp.filled().is_empty() {
                    return Poll::Ready(this.eof());
                }
                this.held.extend_from_slice(tmp.filled());
                this.settle_heads();
                continue;
            }
            let before = buf.filled().len();
            std::task::ready!(this.io_read(cx, buf))?;
            let new = &buf.filled()[before..];
            if new.is_empty() {
                return Poll::Ready(this.eof());
            }
            if !this.framing.at_head() {
                this.framing.on_body(new);
            }
            return Poll::Ready(Ok(()));
        }
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = match &mut this.io {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, data),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
        };
        if let Poll::Ready(Ok(n)) = &written
            && *n > 0
        {
            this.framing.request_written();
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl ActixStream for Tracked {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        if self.ready_pos < self.ready.len() {
            return Poll::Ready(Ok(Ready::READABLE));
        }
        match &self.io {
            Stream::Plain(s) => ActixStream::poll_read_ready(s, cx),
            Stream::Tls(s) => ActixStream::poll_read_ready(s.get_ref().0, cx),
        }
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        match &self.io {
            Stream::Plain(s) => ActixStream::poll_write_ready(s, cx),
            Stream::Tls(s) => ActixStream::poll_write_ready(s.get_ref().0, cx),
        }
    }
}

/// awc's connector service: connects (and does TLS when the upstream is https) and tracks
/// response framing on the connection.
#[derive(Clone)]
pub struct UpstreamConnector {
    tcp: ConnectorService,
    tls: Option<TlsConnectorService>,
}

impl UpstreamConnector {
    /// A connector; with `tls`, every connection is TLS with that client configuration.
    pub fn new(tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        UpstreamConnector {
            tcp: actix_tls::connect::Connector::default().service(),
            tls: tls.map(TlsConnector::service),
        }
    }
}

impl Service<ConnectInfo<Uri>> for UpstreamConnector {
    type Response = Connection<Uri, Tracked>;
    type Error = ConnectError;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    actix_service::always_ready!();

    fn call(&self, req: ConnectInfo<Uri>) -> Self::Future {
        let tcp = self.tcp.call(req);
        let tls = self.tls.clone();
        Box::pin(async move {
            let conn = tcp.await?;
            match tls {
                None => {
                    let (io, conn) = conn.replace_io(());
                    Ok(conn.replace_io(Tracked::new(Stream::Plain(io))).1)
                }
                Some(tls) => {
                    let conn = tls.call(conn).await.map_err(ConnectError::Io)?;
                    let (io, conn) = conn.replace_io(());
                    Ok(conn.replace_io(Tracked::new(Stream::Tls(Box::new(io)))).1)
                }
            }
        })
    }
}
