//! URL percent-decoding and encoding, written out to keep the dependency list short.
//!
//! Query strings follow form encoding (`+` is a space, `%2B` is a plus), path segments follow
//! RFC 3986 (`+` stays a plus). Invalid escapes are kept literally and invalid UTF-8 is
//! replaced, so no input can make decoding fail.

/// Percent-decodes `s`; with `plus_as_space`, `+` becomes a space (query strings).
pub fn decode(s: &str, plus_as_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes a query component: everything but RFC 3986 unreserved characters is
/// escaped, so a space becomes `%20` and a plus `%2B` (unambiguous under any decoder).
pub fn encode_component(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// A decoded query string, keeping the order and repetitions of its parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// `(name, value)` pairs, decoded, in request order.
    pub pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string (without the `?`). Empty pieces (`a=1&&b=2`) are skipped;
    /// a piece without `=` has an empty value.
    pub fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (decode(k, true), decode(v, true)),
                None => (decode(p, true), String::new()),
            })
            .collect();
        Query { pairs }
    }

    /// The first value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a (repeatable) parameter.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The query with `name` set to `value`: replaces the first occurrence in place (dropping
    /// later ones) or appends it. Every other parameter is kept, in order.
    pub fn with(&self, name: &str, value: &str) -> Query {
        let mut pairs = Vec::with_capacity(self.pairs.len() + 1);
        let mut done = false;
        for (k, v) in &self.pairs {
            if k == name {
                if !done {
                    pairs.push((k.clone(), value.to_string()));
                    done = true;
                }
            } else {
                pairs.push((k.clone(), v.clone()));
            }
        }
        if !done {
            pairs.push((name.to_string(), value.to_string()));
        }
        Query { pairs }
    }

    /// Encodes back to a query string (without the `?`).
    pub fn encode(&self) -> String {
        self.pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(decode("a+b%2Bc%20d", true), "a b+c d");
        assert_eq!(decode("a+b", false), "a+b");
        assert_eq!(decode("%7Bx%7D", false), "{x}");
        // invalid escapes stay literal, truncated ones too
        assert_eq!(decode("%zz%4", true), "%zz%4");
        assert_eq!(decode("%", true), "%");
        assert_eq!(decode("%4", true), "%4");
        // invalid UTF-8 is replaced, never a panic
        assert_eq!(decode("%ff", true), "\u{fffd}");
    }

    #[test]
    fn query_roundtrip() {
        let q = Query::parse(
            "state=OPEN&state=MERGED&q=updated_on+%3E%3D+2026-01-01T00%3A00%3A00%2B00%3A00&flag&&page=2",
        );
        assert_eq!(q.get_all("state").collect::<Vec<_>>(), ["OPEN", "MERGED"]);
        assert_eq!(q.get("q"), Some("updated_on >= 2026-01-01T00:00:00+00:00"));
        assert_eq!(q.get("flag"), Some(""));
        let next = q.with("page", "3");
        assert_eq!(
            next.encode(),
            "state=OPEN&state=MERGED&q=updated_on%20%3E%3D%202026-01-01T00%3A00%3A00%2B00%3A00&flag=&page=3"
        );
        assert_eq!(Query::parse(&next.encode()), next);
        assert_eq!(Query::parse("a=1").with("page", "2").encode(), "a=1&page=2");
    }
}
