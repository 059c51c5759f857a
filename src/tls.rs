//! TLS both ways (rustls, ring provider): the client side to the upstream (`[proxy.tls]`) and
//! the listener's certificate (`[server.tls]`), which reloads replace in place.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::core::error::ConfigError;
use crate::options::{ServerTlsOptions, UpstreamTlsOptions};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(field: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ConfigError::new(field, format!("cannot read {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ConfigError::new(
            field,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(certs)
}

fn read_key(field: &str, path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    // The error names the file, never its content.
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        ConfigError::new(
            field,
            format!("cannot read a PEM private key from {}: {e}", path.display()),
        )
    })
}

/// The rustls client configuration for the upstream, from `proxy.tls`.
///
/// The public web roots are always trusted; `ca_file` adds roots. `insecure_skip_verify` is
/// refused unless `upstream_loopback` or `allow_insecure` (`--allow-insecure`).
pub fn upstream_client_config(
    opts: &UpstreamTlsOptions,
    upstream_loopback: bool,
) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::new("tls", e.to_string()))?;
    let builder = if opts.insecure_skip_verify {
        if !upstream_loopback && !opts.allow_insecure {
            return Err(ConfigError::new(
                "tls.insecure_skip_verify",
                "is refused for a non-loopback upstream (run with --allow-insecure to force it)",
            ));
        }
        tracing::warn!(
            "proxy.tls.insecure_skip_verify = true: the upstream's certificate is NOT verified; \
             anyone on the path can read and change session cookies and secrets"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    } else {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = &opts.ca_file {
            for cert in read_certs("tls.ca_file", path)? {
                roots.add(cert).map_err(|e| {
                    ConfigError::new("tls.ca_file", format!("not a usable CA certificate: {e}"))
                })?;
            }
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&opts.client_cert_file, &opts.client_key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(
                read_certs("tls.client_cert_file", cert)?,
                read_key("tls.client_key_file", key)?,
            )
            .map_err(|e| {
                ConfigError::new(
                    "tls.client_key_file",
                    format!("does not fit client_cert_file: {e}"),
                )
            })?,
        (Some(_), None) => {
            return Err(ConfigError::new(
                "tls.client_key_file",
                "is required with client_cert_file",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "tls.client_cert_file",
                "is required with client_key_file",
            ));
        }
    };
    Ok(Arc::new(config))
}

/// The TLS reason behind a failed upstream connection (`invalid peer certificate:
/// UnknownIssuer`), when it was the TLS handshake that failed.
pub fn handshake_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(err);
    // Error chains are short; the bound keeps a cyclic `source` from looping.
    for _ in 0..8 {
        let e = current?;
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(tls.to_string());
        }
        current = e.source();
    }
    None
}

/// The TLS reason behind a failed upstream exchange: a refused server certificate shows up
/// while connecting, a refused client certificate (TLS 1.3) when the request is written or
/// the answer read. `None` when TLS was not the cause.
pub fn send_error_reason(e: &awc::error::SendRequestError) -> Option<String> {
    use actix_web::error::ParseError;
    use awc::error::{ConnectError, SendRequestError};
    match e {
        SendRequestError::Connect(ConnectError::Io(io))
        | SendRequestError::Send(io)
        | SendRequestError::Response(ParseError::Io(io)) => handshake_failure(io),
        _ => None,
    }
}

/// `insecure_skip_verify`: any certificate is accepted; handshake signatures are still
/// checked so the connection is at least consistent.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The listener's certificate and key; [`CertStore::reload`] swaps in renewed files and new
/// handshakes use them at once.
#[derive(Clone)]
pub struct CertStore {
    current: Arc<ArcSwap<CertifiedKey>>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("chain_len", &self.current.load().cert.len())
            .finish()
    }
}

fn certified_key(opts: &ServerTlsOptions) -> Result<CertifiedKey, ConfigError> {
    let certs = read_certs("server.tls.cert_file", &opts.cert_file)?;
    let key = read_key("server.tls.key_file", &opts.key_file)?;
    CertifiedKey::from_der(certs, key, &provider()).map_err(|e| {
        ConfigError::new(
            "server.tls.key_file",
            format!("does not fit server.tls.cert_file: {e}"),
        )
    })
}

impl CertStore {
    /// Reads the certificate chain and key; the error names the field at fault.
    pub fn load(opts: &ServerTlsOptions) -> Result<Self, ConfigError> {
        Ok(CertStore {
            current: Arc::new(ArcSwap::from_pointee(certified_key(opts)?)),
        })
    }

    /// Re-reads the files; on error the certificate in use stays.
    pub fn reload(&self, opts: &ServerTlsOptions) -> Result<(), ConfigError> {
        self.install(Self::read(opts)?);
        Ok(())
    }

    /// Reads and checks a certificate and its key without putting them in use.
    pub fn read(opts: &ServerTlsOptions) -> Result<Arc<CertifiedKey>, ConfigError> {
        Ok(Arc::new(certified_key(opts)?))
    }

    /// Puts a certificate read by [`CertStore::read`] in use for new handshakes.
    pub fn install(&self, certificate: Arc<CertifiedKey>) {
        self.current.store(certificate);
    }

    /// A rustls server configuration answering with this store's current certificate.
    pub fn server_config(&self) -> rustls::ServerConfig {
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(self.clone()))
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}
