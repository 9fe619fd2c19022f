//! The last line of defence for secrets on stderr: every secret the process knows (the
//! configured token, password or consumer secret, the `Authorization` header values built
//! from them, and each OAuth token obtained during the run) is registered here, and every
//! line written to stderr (log events, the connection test's summary, the final error line)
//! passes through [`redact`]. The tap never formats a secret itself; this catches a server
//! that echoes one back in an error message, an HTML page title or an OAuth error
//! description, which the tap quotes to say what went wrong.
//!
//! Values shorter than [`MIN_LEN`] are not registered: replacing every `x` of the stderr
//! output would destroy the messages, and no real credential is that short.

use std::borrow::Cow;
use std::io::Write;
use std::sync::{PoisonError, RwLock};

/// The shortest value treated as a secret.
pub const MIN_LEN: usize = 8;

/// What replaces a secret.
pub const MASK: &str = "****";

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers a secret (and the forms it takes inside JSON strings and URLs), so that no later
/// stderr line shows it.
pub fn register(secret: &str) {
    if secret.len() < MIN_LEN {
        return;
    }
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    let json = quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default()
        .to_string();
    let url: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut secrets = SECRETS.write().unwrap_or_else(PoisonError::into_inner);
    for form in [secret.to_string(), json, url] {
        if form.len() >= MIN_LEN && !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    // Longest first, so that a secret containing another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret replaced by [`MASK`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    out
}

/// Writes `line` (a whole line or log event) to stderr, redacted.
pub fn write_stderr(line: &str) {
    let _ = std::io::stderr().lock().write_all(redact(line).as_bytes());
}

/// Stderr for the logger: each event arrives whole in one `write` (the formatter renders it
/// into a buffer first), so a secret is never split across two calls.
pub struct RedactingStderr;

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().lock().write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_masked_in_every_form() {
        register("s3cr\"et/+token");
        register("abcdefg");
        let text =
            r#"Bearer s3cr"et/+token; json "s3cr\"et/+token"; url s3cr%22et%2F%2Btoken; abcdefg stays"#;
        let shown = redact(text);
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(shown.contains("abcdefg stays"), "{shown}");
        assert_eq!(redact("nothing secret here"), "nothing secret here");
    }
}
