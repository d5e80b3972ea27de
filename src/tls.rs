//! TLS for AMQP 1.0 (`amqps://`): a rustls client (the `ring` provider)
//! that trusts the Mozilla roots (webpki-roots) or the CA file given, can
//! present a client certificate (mutual TLS), and, only when asked, skips
//! verification (a loud warning wherever the endpoint is shown).
//!
//! AMQPS is TLS from the first byte (RabbitMQ's 5671), so the handshake
//! runs on streamprobe's own socket before the AMQP connection opens on it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// How an `amqps://` connection is secured (flags `--amqp-ca`,
/// `--amqp-client-cert`, `--amqp-client-key`, `--tls-skip-verify`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of the CA(s) that sign the broker's certificate; `None` =
    /// the Mozilla roots (webpki-roots).
    pub ca: Option<PathBuf>,
    /// PEM certificate chain presented to the broker (mutual TLS).
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Accept any certificate (never for a real deployment: anyone on the
    /// path can read and change the messages).
    pub skip_verify: bool,
    /// CA certificate(s) as PEM text (Bento's `root_cas`), besides `ca`.
    pub ca_pem: Option<String>,
    /// Client certificate and key as PEM text (Bento's `client_certs[0]`
    /// `cert` / `key`), instead of the files.
    pub client_pem: Option<(String, String)>,
    /// TLS even for an `amqp://` URL (Bento's `tls.enabled`).
    pub force: bool,
    /// What errors call the files: the flags, or a stream file's fields.
    pub names: TlsNames,
}

/// The names by which a user set the CA, client certificate and key files,
/// so an error about one names it as the user wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsNames {
    pub ca: &'static str,
    pub client_cert: &'static str,
    pub client_key: &'static str,
}

impl TlsNames {
    /// streamprobe's flags.
    pub const FLAGS: TlsNames = TlsNames {
        ca: "--amqp-ca",
        client_cert: "--amqp-client-cert",
        client_key: "--amqp-client-key",
    };
    /// The fields of Bento's `tls` block.
    pub const BENTO: TlsNames = TlsNames {
        ca: "root_cas_file",
        client_cert: "client_certs[0].cert_file",
        client_key: "client_certs[0].key_file",
    };
}

impl Default for TlsNames {
    fn default() -> Self {
        TlsNames::FLAGS
    }
}

/// The warning for Kafka brokers whose certificates are not checked.
pub const KAFKA_SKIP_VERIFY_WARNING: &str = "Kafka TLS certificates NOT verified (enable.ssl.certificate.verification off, or ssl.endpoint.identification.algorithm=none: the brokers' names not checked): anyone on the path can read and change these messages";

/// The warning shown next to an endpoint whose certificate is not checked.
pub const SKIP_VERIFY_WARNING: &str = "AMQP TLS certificate NOT verified (--tls-skip-verify, or a stream file's skip_cert_verify): anyone on the path can read and change these messages";

impl TlsOptions {
    /// The files are readable and hold what they should (a certificate, a
    /// key; a client certificate and its key come together).
    ///
    /// Errors: name the file and how it was set ([`TlsOptions::names`]).
    pub fn check(&self) -> Result<()> {
        self.config().map(|_| ())
    }

    /// The rustls client configuration.
    pub fn config(&self) -> Result<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        // The CA files are read even when verification is skipped, so a
        // wrong path is reported now, not when the flag is dropped later.
        let roots = self.roots()?;
        let builder = if self.skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        } else {
            builder.with_root_certificates(roots)
        };
        if let Some((cert, key)) = &self.client_pem {
            let chain = pem_certs("client_certs[0].cert", cert)?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                .map_err(|e| anyhow!("client_certs[0].key: no private key read: {e}"))?;
            return builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| anyhow!("client_certs[0]: {e}"));
        }
        match (&self.client_cert, &self.client_key) {
            (None, None) => Ok(builder.with_no_client_auth()),
            (Some(c), Some(k)) => {
                let TlsNames {
                    client_cert: cn,
                    client_key: kn,
                    ..
                } = self.names;
                let chain = certs(cn, c)?;
                let key = PrivateKeyDer::from_pem_file(k)
                    .map_err(|e| anyhow!("{kn} {}: no private key read: {e}", k.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| anyhow!("{cn} {} with {kn} {}: {e}", c.display(), k.display()))
            }
            (Some(_), None) => Err(anyhow!(
                "{} needs {}",
                self.names.client_cert,
                self.names.client_key
            )),
            (None, Some(_)) => Err(anyhow!(
                "{} needs {}",
                self.names.client_key,
                self.names.client_cert
            )),
        }
    }

    /// The trusted roots: the CA file and `root_cas` PEM when given, else
    /// the Mozilla roots (webpki-roots).
    ///
    /// Errors: a CA file unreadable or holding no usable certificate (named
    /// as the user set it).
    fn roots(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        if let Some(path) = &self.ca {
            let flag = self.names.ca;
            for cert in certs(flag, path)? {
                roots.add(cert).map_err(|e| {
                    anyhow!(
                        "{flag} {}: not a usable CA certificate: {e}",
                        path.display()
                    )
                })?;
            }
        }
        if let Some(pem) = &self.ca_pem {
            for cert in pem_certs("root_cas", pem)? {
                roots.add(cert).map_err(|e| anyhow!("root_cas: {e}"))?;
            }
        }
        if self.ca.is_none() && self.ca_pem.is_none() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Ok(roots)
    }

    /// Runs the TLS handshake on `stream` for `host` (the name checked in
    /// the broker's certificate).
    ///
    /// Errors: rustls's words (e.g. `invalid peer certificate: UnknownIssuer`).
    pub async fn handshake(&self, stream: TcpStream, host: &str) -> Result<TlsStream<TcpStream>> {
        let connector = TlsConnector::from(Arc::new(self.config()?));
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| anyhow!("{host:?} is not a TLS server name: {e}"))?;
        connector
            .connect(name, stream)
            .await
            .map_err(|e| anyhow!("TLS handshake failed: {e}"))
    }
}

/// Every certificate of PEM text (at least one).
fn pem_certs(what: &str, pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    let list: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| anyhow!("{what}: {e}"))?;
    if list.is_empty() {
        return Err(anyhow!("{what}: no PEM certificate in it"));
    }
    Ok(list)
}

/// Checks that `path` (given as `flag`) is a readable PEM file holding at
/// least one certificate, e.g. `--kafka-ca` before librdkafka reads it.
///
/// Errors: name the flag and the file, and why (not readable, a folder, no
/// PEM certificate in it, bad PEM).
pub fn check_ca_file(flag: &str, path: &Path) -> Result<()> {
    certs(flag, path).map(|_| ())
}

/// Every certificate of a PEM file (at least one).
fn certs(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let list: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| anyhow!("{flag} {}: {e}", path.display()))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| anyhow!("{flag} {}: {e}", path.display()))?;
    if list.is_empty() {
        return Err(anyhow!(
            "{flag} {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(list)
}

/// Accepts any server certificate (`--tls-skip-verify`); signatures are
/// still checked, so the handshake itself is sound.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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
