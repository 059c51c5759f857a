//! Paths: normalising and joining base paths, the plain-path check every configured path
//! passes, and where a request path sits below a base.

use crate::core::error::ConfigError;

/// Normalises a base path: leading `/` added, trailing `/` removed (except for `/`).
///
/// # Examples
/// ```
/// use authjs_proxy::core::path::normalize_path;
/// assert_eq!(normalize_path("api/auth/"), "/api/auth");
/// assert_eq!(normalize_path("/"), "/");
/// ```
pub fn normalize_path(p: &str) -> String {
    let trimmed = p.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    if trimmed.starts_with('/') {
        trimmed.into()
    } else {
        format!("/{trimmed}")
    }
}

/// Joins a normalised base path and a suffix with exactly one `/`.
pub fn join_path(base: &str, suffix: &str) -> String {
    let suffix = suffix.trim_start_matches('/');
    if base == "/" {
        format!("/{suffix}")
    } else if suffix.is_empty() {
        base.to_owned()
    } else {
        format!("{base}/{suffix}")
    }
}

/// A base path normalised, or an error naming `field` when it is not a plain path (no `.`/`..`
/// segments, `//`, backslashes, `%`, `?`, `#`, spaces or control characters).
pub fn plain_base_path(field: &'static str, p: &str) -> Result<String, ConfigError> {
    let n = normalize_path(p);
    if !is_plain_path(&n) {
        return Err(ConfigError::new(
            field,
            "must be a plain path (no `.`/`..` segments, `//`, `\\`, `%`, `?`, `#` or spaces)",
        ));
    }
    Ok(n)
}

/// Whether `p` is a plain path: no `.`/`..` segments, no `//`, and none of `\\ ? # %`, spaces
/// or control characters. Every path an operator configures passes it.
pub fn is_plain_path(p: &str) -> bool {
    !(p.split('/').any(|s| s == "." || s == "..")
        || p.contains("//")
        || p.chars()
            .any(|c| c == '\\' || c == '?' || c == '#' || c == '%' || c.is_control() || c == ' '))
}

/// The raw suffix of `path` below `base` (`None` when `path` is not under `base`).
pub fn suffix_below<'a>(path: &'a str, base: &str) -> Option<&'a str> {
    if base == "/" {
        return path.strip_prefix('/');
    }
    let rest = path.strip_prefix(base)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}
