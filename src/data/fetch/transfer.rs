//! One HTTP download into `NAME.part`, continuing a previous partial one with a Range request.
//!
//! The part file's length is the resume point. A server that answers a Range request with the
//! whole file (200) is fine: the part is emptied and refilled. One that answers with a range not
//! starting where asked, or says the range is unsatisfiable without the part being complete, gets
//! a second, plain request.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use ureq::http::{header, Uri};

use super::progress::Reporter;
use super::FetchError;

/// Far above the largest file (Fashion-MNIST's 26 MB of training images), so that a server
/// streaming without end fills neither the disk nor the time.
const MAX_BYTES: u64 = 256 << 20;

/// Long enough for a slow link, short enough that a dead mirror gives way to the next.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A finished transfer: the part file holds `bytes` bytes, of which the first `resumed_from`
/// were there before.
#[derive(Debug)]
pub struct Downloaded {
    pub bytes: u64,
    pub resumed_from: u64,
}

/// A mirror's failure (try the next one) or this machine's (stop).
#[derive(Debug)]
pub enum Failure {
    Remote(String),
    Local(FetchError),
}

impl From<FetchError> for Failure {
    fn from(e: FetchError) -> Self {
        Failure::Local(e)
    }
}

/// Proxies from the environment (HTTPS_PROXY, NO_PROXY, ...) except for a mirror on this
/// machine, which a proxy elsewhere cannot reach. Certificates are checked against the
/// system's trust store, as curl and pip check them: a site whose proxy inspects TLS installs
/// its certificate there.
fn agent_for(uri: &Uri) -> ureq::Agent {
    let local = matches!(uri.host(), Some("localhost" | "127.0.0.1" | "[::1]" | "::1"));
    let proxy = if local { None } else { ureq::Proxy::try_from_env() };
    let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::PlatformVerifier).build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(proxy)
        .tls_config(tls)
        .timeout_connect(Some(TIMEOUT))
        .timeout_per_read(Some(TIMEOUT))
        .user_agent(concat!("depthlab/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// `Content-Range: bytes START-END/TOTAL` or `bytes */TOTAL`: (START, TOTAL), each `None` where
/// the header has `*`.
fn content_range(v: &str) -> Option<(Option<u64>, Option<u64>)> {
    let (range, total) = v.strip_prefix("bytes ")?.split_once('/')?;
    let start = match range.trim() {
        "*" => None,
        r => Some(r.split_once('-')?.0.parse().ok()?),
    };
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start, total))
}

fn size(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{n} bytes ({:.1} MiB)", n as f64 / (1 << 20) as f64)
    } else {
        format!("{n} bytes")
    }
}

/// Download `url` into `part`, resuming from its current length. `name` labels the progress.
pub fn download(url: &str, part: &Path, name: &str, rep: &mut Reporter) -> Result<Downloaded, Failure> {
    let uri: Uri = url.parse().map_err(|e| Failure::Remote(format!("{url}: not a URL: {e}")))?;
    let agent = agent_for(&uri);
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut from = have;
    // Two requests at most: the resuming one, and a plain one when the server cannot resume.
    for _ in 0..2 {
        // identity: the bytes must be the file's own, or a Range offset would mean nothing.
        let mut req = agent.get(url).header(header::ACCEPT_ENCODING, "identity");
        if from > 0 {
            req = req.header(header::RANGE, format!("bytes={from}-"));
        }
        let resp = req.call().map_err(|e| Failure::Remote(format!("{url}: {e}")))?;
        let status = resp.status().as_u16();
        let range = resp.headers().get(header::CONTENT_RANGE).and_then(|v| v.to_str().ok()).and_then(content_range);
        let total = match (status, range) {
            (206, Some((Some(start), total))) if from > 0 && start == from => total,
            (206, _) if from > 0 => {
                rep.line(&format!("{url} answered a different range than bytes {from}-; starting over"));
                from = 0;
                continue;
            }
            (200, _) => {
                if from > 0 {
                    rep.line(&format!("{url} does not resume downloads; starting over"));
                }
                from = 0;
                resp.body().content_length()
            }
            // The part already holds the whole file: interrupted after the last byte, before
            // it was verified and renamed.
            (416, Some((None, Some(total)))) if from > 0 && total == have => {
                return Ok(Downloaded { bytes: have, resumed_from: have });
            }
            (416, _) if from > 0 => {
                rep.line(&format!("{url} cannot continue from byte {from}; starting over"));
                from = 0;
                continue;
            }
            _ => {
                let reason = resp.status().canonical_reason().unwrap_or("");
                return Err(Failure::Remote(format!("{url}: HTTP {status} {reason}").trim_end().to_string()));
            }
        };
        if let Some(t) = total.filter(|&t| t > MAX_BYTES) {
            return Err(Failure::Remote(format!(
                "{url}: the server announces {}, far more than any of these files",
                size(t)
            )));
        }
        return receive(resp, url, part, name, from, total, rep);
    }
    Err(Failure::Remote(format!("{url}: the server answered a plain request like a Range request")))
}

/// Write the body into `part` after its first `from` bytes.
fn receive(
    resp: ureq::http::Response<ureq::Body>,
    url: &str,
    part: &Path,
    name: &str,
    from: u64,
    total: Option<u64>,
    rep: &mut Reporter,
) -> Result<Downloaded, Failure> {
    let write_err = |e| Failure::Local(FetchError::io("write", part, e));
    let mut file = OpenOptions::new().create(true).write(true).truncate(false).open(part).map_err(write_err)?;
    file.set_len(from).and_then(|()| file.seek(SeekFrom::Start(from))).map_err(write_err)?;
    let mut body = resp.into_body().into_reader();
    let mut got = from;
    let mut buf = vec![0u8; 1 << 16];
    rep.start(name, url, from, total);
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n as u64,
            Err(e) => {
                rep.stop();
                let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
                return Err(Failure::Remote(format!(
                    "{url}: the transfer broke off after {got}{of} bytes ({e}); they are kept in {} and the next \
                     attempt resumes from there",
                    part.display()
                )));
            }
        };
        if got + n > MAX_BYTES {
            rep.stop();
            drop(file);
            let _ = std::fs::remove_file(part);
            return Err(Failure::Remote(format!(
                "{url}: the server sent more than {}; download deleted",
                size(MAX_BYTES)
            )));
        }
        file.write_all(&buf[..n as usize]).map_err(write_err)?;
        got += n;
        rep.advance(n);
    }
    rep.stop();
    if let Some(t) = total.filter(|&t| t != got) {
        return Err(Failure::Remote(format!(
            "{url}: the server announced {t} bytes but the connection ended after {got}; they are kept in {} and \
             the next attempt resumes from there",
            part.display()
        )));
    }
    Ok(Downloaded { bytes: got, resumed_from: from })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_range() {
        assert_eq!(content_range("bytes 100-199/200"), Some((Some(100), Some(200))));
        assert_eq!(content_range("bytes 0-9/*"), Some((Some(0), None)));
        assert_eq!(content_range("bytes */4540"), Some((None, Some(4540))));
        assert_eq!(content_range("items 0-9/10"), None);
        assert_eq!(content_range("bytes x-9/10"), None);
    }
}
