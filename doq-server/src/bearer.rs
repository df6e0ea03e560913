//! The bearer-token rule shared by HTTP (`access.rs`) and gRPC (`grpc/auth.rs`): an `authorization` value of
//! `Bearer <auth.token>`, compared in constant time (`subtle`), so response timing does not reveal how
//! much of a guessed token was right.
use subtle::ConstantTimeEq;

/// Whether `authorization` (the header or metadata value, if any) is `Bearer <token>`.
pub(crate) fn bearer_matches(authorization: Option<&str>, token: &str) -> bool {
    let presented = authorization
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // `ct_eq` returns at once on a length mismatch: the length of the token is not a secret worth the cost of
    // padding, and every byte of equal-length values is compared.
    bool::from(presented.as_bytes().ct_eq(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::bearer_matches;

    #[test]
    fn bearer_needs_the_scheme_and_every_byte() {
        assert!(bearer_matches(Some("Bearer secret"), "secret"));
        assert!(!bearer_matches(Some("Bearer secreT"), "secret"));
        assert!(!bearer_matches(Some("Bearer secret1"), "secret"));
        assert!(!bearer_matches(Some("Bearer "), "secret"));
        assert!(!bearer_matches(Some("secret"), "secret"));
        assert!(!bearer_matches(Some("bearer secret"), "secret"));
        assert!(!bearer_matches(None, "secret"));
    }
}
