//! TLS for PostgreSQL connections: rustls with the ring provider, chosen explicitly so that no
//! process-wide default provider is needed (or can clash with another crate's choice).
//!
//! The modes are libpq's `disable`, `prefer` and `require`. As in libpq, `prefer` and
//! `require` encrypt the connection but do not authenticate the server: the certificate is not
//! checked against trusted roots or the host name (that is libpq's `verify-full`, which this
//! plugin does not offer yet). The server's handshake signature is still checked against the
//! certificate it presents.

use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{SqlError, SqlErrorKind};

/// The TLS mode of a pool's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Never encrypt.
    Disable,
    /// Encrypt when the server offers it (the default, as in libpq).
    Prefer,
    /// Refuse servers that do not encrypt.
    Require,
}

impl TlsMode {
    /// `disable`, `prefer` or `require`.
    pub fn parse(text: &str) -> Result<TlsMode, SqlError> {
        match text {
            "disable" => Ok(TlsMode::Disable),
            "prefer" => Ok(TlsMode::Prefer),
            "require" => Ok(TlsMode::Require),
            other => Err(SqlError::new(SqlErrorKind::Configuration, format!("unknown TLS mode `{other}`"))
                .with_help("use \"disable\", \"prefer\" or \"require\" (certificate verification, libpq's verify-full, is not supported yet)")),
        }
    }

    pub(crate) fn ssl_mode(self) -> postgres::config::SslMode {
        match self {
            TlsMode::Disable => postgres::config::SslMode::Disable,
            TlsMode::Prefer => postgres::config::SslMode::Prefer,
            TlsMode::Require => postgres::config::SslMode::Require,
        }
    }
}

/// The connector for `prefer` and `require`.
pub(crate) fn connector() -> Result<MakeRustlsConnect, SqlError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| SqlError::new(SqlErrorKind::Configuration, format!("TLS set-up failed: {error}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(EncryptOnly { algorithms }))
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// libpq's `require`: any certificate is accepted, the handshake signature must match it.
#[derive(Debug)]
struct EncryptOnly {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
