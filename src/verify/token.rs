//! Pivotal Tracker cannot sign its webhooks, so it authenticates with a secret
//! token in the URL. The comparison must not leak, through timing, how much of a
//! guess was right, nor the token's length.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Compares digests rather than the strings so that neither the position of the
/// first difference nor a length mismatch shows in the time taken.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    let expected = Sha256::digest(expected.as_bytes());
    let given = Sha256::digest(given.as_bytes());
    expected.ct_eq(&given).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        assert!(tokens_match("t0ken", "t0ken"));
        assert!(!tokens_match("t0ken", "t0ke"));
        assert!(!tokens_match("t0ken", "T0KEN"));
        assert!(!tokens_match("t0ken", ""));
    }
}
