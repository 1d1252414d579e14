//! TLS to PostgreSQL, as libpq reads `sslmode`: `disable` never, `prefer`
//! (the default) and `require` encrypt without checking the server's
//! certificate (as libpq does without a root certificate), `verify-ca` and
//! `verify-full` check it against the Mozilla roots and the host name.
//! tokio-postgres knows only disable, prefer and require, so the two verify
//! modes are read here and handed on as `require`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Whether the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    No,
    Yes,
}

/// The URL as tokio-postgres takes it, and whether to verify; an `sslmode`
/// libpq does not know is refused by name.
pub fn read_sslmode(url: &str) -> Result<(String, Verify), String> {
    let Ok(mut parsed) = url::Url::parse(url) else { return Ok((url.to_owned(), Verify::No)) };
    let mut verify = Verify::No;
    let mut pairs = Vec::new();
    for (key, value) in parsed.query_pairs() {
        let value = match (key.as_ref(), value.as_ref()) {
            ("sslmode", "verify-ca" | "verify-full") => {
                verify = Verify::Yes;
                "require"
            }
            // libpq tries plain first, then TLS; prefer is the nearest both ways.
            ("sslmode", "allow") => "prefer",
            ("sslmode", "disable" | "prefer" | "require") => value.as_ref(),
            ("sslmode", other) => {
                return Err(format!(
                    "sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
                ))
            }
            (_, value) => value,
        };
        pairs.push((key.clone().into_owned(), value.to_owned()));
    }
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    if parsed.query() == Some("") {
        parsed.set_query(None);
    }
    Ok((parsed.to_string(), verify))
}

pub fn connector(verify: Verify) -> tokio_postgres_rustls::MakeRustlsConnect {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions");
    let config = match verify {
        Verify::Yes => {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Verify::No => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth(),
    };
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

/// Any certificate, as libpq's `prefer` and `require` take it; the handshake's
/// signatures are still checked, so the session is bound to the key shown.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verify_modes_become_require_with_a_check() {
        assert_eq!(read_sslmode("postgres://a@h/db"), Ok(("postgres://a@h/db".to_owned(), Verify::No)));
        assert_eq!(read_sslmode("postgres://a@h/db?sslmode=require").unwrap().1, Verify::No);
        let (url, verify) =
            read_sslmode("postgres://a@h/db?sslmode=verify-full&application_name=sb").unwrap();
        assert_eq!(
            (url.as_str(), verify),
            ("postgres://a@h/db?sslmode=require&application_name=sb", Verify::Yes)
        );
        assert_eq!(
            read_sslmode("postgres://a@h/db?sslmode=allow").unwrap().0,
            "postgres://a@h/db?sslmode=prefer"
        );
        assert_eq!(
            read_sslmode("postgres://a@h/db?sslmode=on"),
            Err("sslmode `on` is not one of disable, allow, prefer, require, verify-ca, verify-full".into())
        );
    }
}
