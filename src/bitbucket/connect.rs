//! A request that never reached the server (nothing listens on the port, a host name that
//! does not resolve, a TLS handshake that fails, no answer to the connection attempt), told
//! in plain words: which host and port, what happened, and which setting to check, rather
//! than the HTTP stack's `client error (Connect)`.
//!
//! Such a failure on the very first request of a run is almost always a wrong `api_url` or a
//! server that is not running, which waiting will not fix: [`super::Client`] retries it once
//! after [`FIRST_CONTACT_WAIT`] instead of the whole backoff schedule. Once a request has
//! been answered, the same failure is a network hiccup and gets the normal retries.

use std::time::Duration;

use url::Url;

/// The wait before the one retry of a connection failure before any answer.
pub const FIRST_CONTACT_WAIT: Duration = Duration::from_secs(1);

/// Why a connection could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The host answered that nothing listens on the port.
    Refused,
    /// The host name does not resolve.
    HostNotFound,
    /// The TLS handshake failed (an untrusted certificate, or a server that does not speak
    /// TLS on that port); the TLS stack's own words.
    Tls(String),
    /// The connection attempt got no answer in time.
    TimedOut,
    /// Any other network error while connecting (unreachable network, reset); its words.
    Other(String),
}

/// The connection failure behind a reqwest error, or `None` when the connection was made
/// (the error is then about the request or its answer).
///
/// The HTTP stack wraps every failure of the TCP phase as `tcp connect error` around the
/// operating system's error, and DNS failures as `dns error`; on an `https` URL, a connect
/// error that is neither happened in the TLS handshake that follows.
pub fn classify(error: &reqwest::Error, url: &Url) -> Option<Failure> {
    if !error.is_connect() {
        return None;
    }
    if error.is_timeout() {
        return Some(Failure::TimedOut);
    }
    let mut tcp_phase = false;
    let mut innermost = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        let text = e.to_string();
        if text.starts_with("dns error") {
            return Some(Failure::HostNotFound);
        }
        tcp_phase |= text.starts_with("tcp connect error");
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Some(Failure::Refused),
                std::io::ErrorKind::TimedOut => return Some(Failure::TimedOut),
                _ => {}
            }
        }
        innermost = text;
        source = e.source();
    }
    if url.scheme() == "https" && !tcp_phase {
        return Some(Failure::Tls(innermost));
    }
    Some(Failure::Other(innermost))
}

impl Failure {
    /// What happened, in a few words (`connection refused`).
    pub fn cause(&self) -> String {
        match self {
            Failure::Refused => "connection refused: nothing is listening on that port".into(),
            Failure::HostNotFound => "the host name is not known to DNS".into(),
            Failure::Tls(detail) => match certificate_problem(detail) {
                Some(problem) => format!("{CERTIFICATE_REFUSED}: {problem}"),
                None => format!("the TLS handshake failed ({detail})"),
            },
            Failure::TimedOut => "no answer to the connection attempt".into(),
            Failure::Other(detail) => detail.clone(),
        }
    }

    /// What to check, naming the setting and its value (`configured`).
    pub fn advice(&self, setting: &str, configured: &Url) -> String {
        let shown = super::client::shown(configured);
        match self {
            Failure::Refused => {
                format!("check the host and port of `{setting}` ({shown}) and that the server is running")
            }
            Failure::HostNotFound => {
                format!("check the host name in `{setting}` ({shown}), and this machine's DNS and network")
            }
            Failure::Tls(_) => format!(
                "check that `{setting}` ({shown}) is an HTTPS server whose certificate this machine \
                 trusts (a proxy's or company's CA belongs in the system's trust store), or use \
                 http:// for a server that speaks plain HTTP"
            ),
            Failure::TimedOut | Failure::Other(_) => format!(
                "check `{setting}` ({shown}), and any firewall or proxy (HTTPS_PROXY) between \
                 this machine and it"
            ),
        }
    }
}

/// How [`Failure::cause`] begins for a certificate this machine refuses: trying again will
/// not change it, so the first-contact retry is skipped.
pub const CERTIFICATE_REFUSED: &str = "the server's TLS certificate is not trusted";

/// A certificate refusal of the TLS stack in plain words (`invalid peer certificate:
/// UnknownIssuer` → "it is not signed by an authority this machine trusts"), or `None` when
/// the handshake failed for another reason.
fn certificate_problem(detail: &str) -> Option<String> {
    let (_, reason) = detail.split_once("invalid peer certificate: ")?;
    let words = if reason.contains("UnknownIssuer") {
        "it is not signed by an authority this machine trusts"
    } else if reason.contains("CaUsedAsEndEntity") || reason.contains("SelfSigned") {
        "it is self-signed (a CA certificate used as the server's own)"
    } else if reason.contains("NotValidForName") {
        "it is not issued for this host name"
    } else if reason.contains("Expired") {
        "it has expired"
    } else if reason.contains("NotValidYet") {
        "it is not valid yet (or this machine's clock is wrong)"
    } else if reason.contains("Revoked") {
        "it has been revoked"
    } else {
        "the TLS stack refused it"
    };
    let code: String = reason
        .trim_start_matches("Other(OtherError(")
        .trim_end_matches(')')
        .chars()
        .take(80)
        .collect();
    Some(format!("{words} ({code})"))
}

/// `host:port` of a URL, the port always written (the scheme's default when absent).
pub fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_the_setting_and_its_value() {
        let url = Url::parse("http://127.0.0.1:9/2.0").unwrap();
        let advice = Failure::Refused.advice("api_url", &url);
        assert!(advice.contains("`api_url` (http://127.0.0.1:9/2.0)"), "{advice}");
        assert_eq!(host_port(&url), "127.0.0.1:9");
        assert_eq!(
            host_port(&Url::parse("https://api.bitbucket.org/2.0").unwrap()),
            "api.bitbucket.org:443"
        );
        let cause = Failure::Tls("invalid peer certificate: UnknownIssuer".into()).cause();
        assert!(
            cause.starts_with(CERTIFICATE_REFUSED) && cause.contains("not signed by an authority"),
            "{cause}"
        );
        let cause =
            Failure::Tls("invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))".into()).cause();
        assert!(
            cause.contains("self-signed")
                && cause.ends_with("(CaUsedAsEndEntity)")
                && !cause.contains("OtherError"),
            "{cause}"
        );
        let cause = Failure::Tls("received corrupt message of type InvalidContentType".into()).cause();
        assert!(cause.starts_with("the TLS handshake failed"), "{cause}");
    }
}
