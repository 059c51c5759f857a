//! [`Redacted`]: the one way a secret, token or header value appears in `Debug` output.

use std::fmt;

/// A value whose `Debug` output is `<redacted>`, never the value: for secrets, tokens and
/// header values in hand-written `Debug` impls.
///
/// # Examples
/// ```
/// use authjs_proxy::core::redact::Redacted;
/// let key = Some("s3cret");
/// assert_eq!(format!("{:?}", key.map(Redacted)), "Some(<redacted>)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Redacted<T>(pub T);

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `Some(<redacted>)` or `None`: whether an optional secret is set, never what it is.
pub fn redacted<T>(value: &Option<T>) -> Option<Redacted<&T>> {
    value.as_ref().map(Redacted)
}
