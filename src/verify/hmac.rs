//! HMAC-SHA256 signatures: parse the header value, then compare in constant time
//! against every configured secret (several, so secrets can be rotated).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature header was refused. The HTTP answer is 401 either way; the
/// variants exist for logs and tests, and none carries the header's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature is not hex")]
    NotHex,
    #[error("signature is not 32 bytes long")]
    WrongLength,
    #[error("signature matches no configured secret")]
    Mismatch,
}

/// `header` is the raw header value: whitespace around it and an optional
/// case-insensitive `prefix` (such as `sha256=`) are allowed; hex may be any case.
pub fn check(
    header: &[u8],
    prefix: Option<&str>,
    secrets: &[Secret],
    body: &[u8],
) -> Result<(), SignatureError> {
    let digest = parse(header, prefix)?;
    let matched = secrets.iter().any(|secret| {
        let mut mac =
            HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes keys of any length");
        mac.update(body);
        // verify_slice compares in constant time.
        mac.verify_slice(&digest).is_ok()
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn parse(header: &[u8], prefix: Option<&str>) -> Result<Vec<u8>, SignatureError> {
    let mut value = header.trim_ascii();
    if let Some(prefix) = prefix {
        let prefix = prefix.as_bytes();
        if value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix) {
            value = value[prefix.len()..].trim_ascii_start();
        }
    }
    let digest = hex::decode(value).map_err(|_| SignatureError::NotHex)?;
    if digest.len() != 32 {
        return Err(SignatureError::WrongLength);
    }
    Ok(digest)
}

/// The lowercase hex HMAC-SHA256 of `body`: what a sender puts in its header.
pub fn sign_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(values: &[&str]) -> Vec<Secret> {
        values.iter().map(|value| Secret::new(*value)).collect()
    }

    #[test]
    fn accepts_a_signature_from_any_configured_secret() {
        let body = br#"{"id":"1"}"#;
        let signature = sign_hex("previous", body);
        assert_eq!(check(signature.as_bytes(), None, &secrets(&["current", "previous"]), body), Ok(()));
        assert_eq!(
            check(signature.as_bytes(), None, &secrets(&["current"]), body),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn hex_case_whitespace_and_prefix_case_do_not_matter() {
        let body = b"payload";
        let header = format!("  SHA256={}\t", sign_hex("k", body).to_uppercase());
        assert_eq!(check(header.as_bytes(), Some("sha256="), &secrets(&["k"]), body), Ok(()));
    }

    #[test]
    fn malformed_signatures_are_refused_before_any_comparison() {
        let ks = secrets(&["k"]);
        assert_eq!(check(b"zz", None, &ks, b""), Err(SignatureError::NotHex));
        assert_eq!(check(b"abcd", None, &ks, b""), Err(SignatureError::WrongLength));
        let too_long = format!("{}00", sign_hex("k", b""));
        assert_eq!(check(too_long.as_bytes(), None, &ks, b""), Err(SignatureError::WrongLength));
    }

    #[test]
    fn a_signature_for_another_body_does_not_match() {
        let signature = sign_hex("k", b"other body");
        assert_eq!(
            check(signature.as_bytes(), None, &secrets(&["k"]), b"body"),
            Err(SignatureError::Mismatch)
        );
    }
}
