//! Reading a response body within a cap, and naming what came back when a body that should
//! be JSON is not.
//!
//! A body is read chunk by chunk ([`reqwest::Response::chunk`]) into a buffer that never
//! grows past the cap (`max_response_bytes`): a `Content-Length` above the cap fails before
//! any of the body is read, and a body without one (chunked, or delimited by the connection
//! closing) fails as soon as the bytes received cross the cap, without reading the rest. So a
//! server that never stops sending costs at most the cap per request in flight, instead of
//! memory until the request timeout. The chunks are what reqwest hands over after content
//! decoding: if its decompression features (`gzip`, `brotli`, …; off today) are ever turned
//! on, the cap bounds the decoded size, which is what takes memory (reqwest then reports no
//! length up front, so only the streaming check applies).

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The body is larger than the cap: `declared` is its `Content-Length` when that already
    /// said so (nothing was read), `None` when the bytes received crossed the cap.
    TooLarge {
        /// The `Content-Length`, when it exceeded the cap.
        declared: Option<u64>,
    },
    /// The connection failed or timed out while reading.
    Transport(reqwest::Error),
}

/// How much of an error answer's body is read: enough for Bitbucket's error envelope or the
/// title of a proxy's error page, and no more, so that a 5xx with an endless body is still a
/// (retried) 5xx rather than a body over the cap.
pub(crate) const ERROR_BODY_PREFIX: u64 = 64 << 10;

/// Reads the body of an answer: all of a successful one, within `cap` ([`read_capped`]); the
/// first [`ERROR_BODY_PREFIX`] bytes (at most `cap`) of any other, which is only read for its
/// message ([`read_prefix`]).
pub(crate) async fn read(response: reqwest::Response, cap: u64) -> Result<Vec<u8>, BodyError> {
    if response.status().is_success() {
        read_capped(response, cap).await
    } else {
        read_prefix(response, ERROR_BODY_PREFIX.min(cap))
            .await
            .map_err(BodyError::Transport)
    }
}

/// The first `limit` bytes of the body of `response` (all of it when shorter); the rest is
/// left unread and the connection closed with the response.
pub(crate) async fn read_prefix(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, reqwest::Error> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut body = Vec::new();
    while body.len() < limit {
        let Some(chunk) = response.chunk().await? else {
            break;
        };
        body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())]);
    }
    Ok(body)
}

/// Reads the whole body of `response`, failing as soon as it is known to exceed `cap` bytes.
/// The buffer's capacity never exceeds the cap either (it doubles, clamped to the cap, or is
/// sized once from `Content-Length`).
pub(crate) async fn read_capped(mut response: reqwest::Response, cap: u64) -> Result<Vec<u8>, BodyError> {
    let cap_len = usize::try_from(cap).unwrap_or(usize::MAX);
    let mut body = Vec::new();
    if let Some(declared) = response.content_length() {
        if declared > cap {
            return Err(BodyError::TooLarge {
                declared: Some(declared),
            });
        }
        body.reserve_exact(usize::try_from(declared).unwrap_or(cap_len));
    }
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        let len = body.len().saturating_add(chunk.len());
        if len > cap_len {
            return Err(BodyError::TooLarge { declared: None });
        }
        if len > body.capacity() {
            let target = body.capacity().saturating_mul(2).clamp(len, cap_len);
            body.reserve_exact(target - body.len());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A byte count as people read it: `64 MiB`, `512 KiB`, or `1234567 bytes`.
pub(crate) fn byte_size(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    match bytes {
        0 => "0 bytes".into(),
        b if b % GIB == 0 => format!("{} GiB", b / GIB),
        b if b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

/// Whether a `Content-Type` says JSON: `application/json`, or any `…/…+json` or `…/json`.
fn is_json_type(media_type: &str) -> bool {
    media_type.ends_with("/json") || media_type.ends_with("+json")
}

/// What a successful answer that failed to decode as JSON really was, when it is plainly not
/// JSON: its `Content-Type` does not say JSON and the body does not start like a JSON document
/// (`{` or `[`). `None` otherwise, so a JSON body with a missing or odd `Content-Type` that is
/// merely truncated stays a (retried) malformed body. The answer names the content type and
/// the HTML `<title>` or the first words of the body, sanitised (no control characters) and
/// short: `` `text/html` (title "Sign in · Corp proxy") ``.
pub(crate) fn not_json(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let media_type = content_type.map(|t| {
        let t = t
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        clip(&clean(&t), 60)
    });
    let start = body
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(body)
        .iter()
        .find(|b| !b.is_ascii_whitespace());
    // A JSON type is believed unless the body is markup (a proxy's page sent with the
    // API's content type): a truncated or garbled JSON body stays malformed, and retried.
    if media_type.as_deref().is_some_and(is_json_type) && start != Some(&b'<') {
        return None;
    }
    if matches!(start, Some(b'{' | b'[')) {
        return None;
    }
    let shown_type = match &media_type {
        Some(t) if !t.is_empty() => format!("`{t}`"),
        _ => "no Content-Type".into(),
    };
    // The title or first words are near the top: a bounded prefix is enough.
    let head = String::from_utf8_lossy(&body[..body.len().min(64 << 10)]);
    let html = media_type.as_deref().is_some_and(|t| t.contains("html")) || matches!(start, Some(b'<'));
    let excerpt = if let Some(title) = html.then(|| html_title(&head)).flatten() {
        format!("title \"{title}\"")
    } else {
        let text = if html {
            strip_tags(&head)
        } else {
            head.into_owned()
        };
        let words = clip(&clean(&text), 80);
        if words.is_empty() {
            "an empty body".into()
        } else {
            format!("\"{words}\"")
        }
    };
    Some(format!("{shown_type} ({excerpt})"))
}

/// The `<title>` of a body that is an HTML page (starts with `<`), cleaned and short: the
/// readable part of a proxy's error page (`502 Bad Gateway`).
pub(crate) fn page_title(body: &[u8]) -> Option<String> {
    let start = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *start != b'<' {
        return None;
    }
    html_title(&String::from_utf8_lossy(&body[..body.len().min(64 << 10)]))
}

/// The text of the first `<title>` element, cleaned, when it has any.
fn html_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let text_start = open + lower[open..].find('>')? + 1;
    let text_end = text_start
        + lower[text_start..]
            .find("</title")
            .unwrap_or(lower.len() - text_start);
    let title = clip(&clean(&decode_entities(&html[text_start..text_end])), 80);
    (!title.is_empty()).then_some(title)
}

/// The text of some HTML without its tags (and without `<script>`/`<style>` contents' tags;
/// good enough to show the first words of an error page).
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len().min(4096));
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
        if out.len() > 4096 {
            break;
        }
    }
    decode_entities(&out)
}

/// The few HTML entities a title commonly holds.
fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Text safe for one log line: terminal escape sequences dropped, control, line-separator
/// and bidirectional-override characters made spaces, runs of white space one space, trimmed.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4096));
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            // A CSI sequence (`ESC [ 0 m`): parameters up to a final byte in `@`..=`~`.
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
            out.push(' ');
            continue;
        }
        let invisible = c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}');
        out.push(if invisible { ' ' } else { c });
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters, with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: Vec<u8>) -> reqwest::Response {
        reqwest::Response::from(oauth2::http::Response::new(body))
    }

    #[tokio::test]
    async fn a_body_up_to_the_cap_is_read_and_one_byte_more_is_not() {
        let at_cap = read_capped(response(vec![b'x'; 1000]), 1000).await.unwrap();
        assert_eq!(at_cap.len(), 1000);
        assert!(at_cap.capacity() <= 1000);
        let over = read_capped(response(vec![b'x'; 1001]), 1000).await.unwrap_err();
        // A body of known length is refused from its length, before reading.
        assert!(
            matches!(over, BodyError::TooLarge { declared: Some(1001) }),
            "{over:?}"
        );
    }

    #[tokio::test]
    async fn an_error_body_is_read_only_as_far_as_its_message() {
        let body = read_prefix(response(vec![b'x'; 10_000]), 100).await.unwrap();
        assert_eq!(body.len(), 100);
        let body = read_prefix(response(b"short".to_vec()), 100).await.unwrap();
        assert_eq!(body, b"short");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(byte_size(64 << 20), "64 MiB");
        assert_eq!(byte_size(512 << 10), "512 KiB");
        assert_eq!(byte_size(1000), "1000 bytes");
        assert_eq!(byte_size(4 << 30), "4 GiB");
    }

    #[test]
    fn an_html_page_is_named_by_its_title() {
        let page = b"<!DOCTYPE html>\n<html><head><meta charset=utf-8><TITLE>\n  Sign in \xc2\xb7 Corp&amp;Co\tproxy\x1b[31m </TITLE></head><body>Please log in</body></html>";
        assert_eq!(
            not_json(Some("text/html; charset=UTF-8"), page).as_deref(),
            Some("`text/html` (title \"Sign in · Corp&Co proxy\")")
        );
        let page = b"<html><body><h1>Access denied</h1>\n<p>by the firewall</p></body></html>";
        assert_eq!(
            not_json(Some("text/html"), page).as_deref(),
            Some("`text/html` (\"Access denied by the firewall\")")
        );
        let long = format!("Maintenance: {}", "word ".repeat(100));
        let shown = not_json(None, long.as_bytes()).unwrap();
        assert!(
            shown.starts_with("no Content-Type (\"Maintenance: word word"),
            "{shown}"
        );
        assert!(shown.chars().count() < 120 && shown.ends_with("…\")"), "{shown}");
        assert_eq!(
            not_json(Some("text/plain"), b"  \r\n").as_deref(),
            Some("`text/plain` (an empty body)")
        );
    }

    #[test]
    fn json_bodies_and_json_types_are_left_to_the_json_error() {
        // Truncated JSON with a missing or odd content type is still a malformed body.
        assert_eq!(not_json(None, b"{\"values\": [1, 2"), None);
        assert_eq!(not_json(Some("text/plain"), b"\xEF\xBB\xBF [1, "), None);
        assert_eq!(
            not_json(Some("application/problem+json; charset=utf-8"), b"oops"),
            None
        );
    }

    #[test]
    fn markup_sent_as_json_is_named_as_the_page_it_is() {
        assert_eq!(
            not_json(
                Some("application/json"),
                b"\n<html><head><title>Proxy login</title></head></html>"
            )
            .as_deref(),
            Some("`application/json` (title \"Proxy login\")")
        );
    }
}
