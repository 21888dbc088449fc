//! Where `merge` reads snapshots from: files, stdin, and instances' live report services over
//! plain HTTP. Every source is read to at most a cap; every failure is a [`FleetError`] that
//! names the source, never a panic.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Token;
use crate::error::FleetError;
use crate::prometheus::{excerpt, http_agent};

/// The most of an HTTP error's body quoted in a message.
const ERROR_BODY: u64 = 4096;

/// One snapshot source as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `-`: the standard input.
    Stdin,
    /// A snapshot file.
    File(PathBuf),
    /// An `http://` URL, e.g. of an instance's `<mount>/snapshot.json`.
    Url(String),
}

impl Source {
    /// Reads a command-line argument: `-`, an `http://` URL, or else a file path. An
    /// `https://` URL (this build has no TLS), a URL without a host, and one with spaces or
    /// control characters are usage errors.
    pub fn parse(text: &str) -> Result<Source, FleetError> {
        if text == "-" {
            return Ok(Source::Stdin);
        }
        let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Err(FleetError::Usage(format!(
                "source {}: https is not supported yet; reach the instance over plain http (in \
                 the cluster, or through a port-forward)",
                quoted(text)
            )));
        }
        if lower.starts_with("http://") {
            let rest = &text["http://".len()..];
            if rest.is_empty() || rest.starts_with('/') {
                return Err(FleetError::Usage(format!(
                    "source {}: the URL has no host",
                    quoted(text)
                )));
            }
            if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(FleetError::Usage(format!(
                    "source {}: a URL without spaces or control characters, please",
                    quoted(text)
                )));
            }
            return Ok(Source::Url(text.to_owned()));
        }
        if text.is_empty() {
            return Err(FleetError::Usage(String::from(
                "an empty source: give a file, - or an http:// URL",
            )));
        }
        Ok(Source::File(PathBuf::from(text)))
    }

    /// The source as messages name it: `stdin`, the path or the URL (control characters
    /// escaped when printed).
    pub fn name(&self) -> String {
        match self {
            Source::Stdin => String::from("stdin"),
            Source::File(path) => path.display().to_string(),
            Source::Url(url) => url.clone(),
        }
    }
}

/// `text` in quotes with control characters escaped.
fn quoted(text: &str) -> String {
    format!("{text:?}")
}

/// Reads sources: files, stdin and URLs, each to at most `max_bytes`.
pub struct Reader<'a> {
    agent: ureq::Agent,
    token: Option<Token>,
    max_bytes: u64,
    stdin: &'a mut dyn Read,
}

impl<'a> Reader<'a> {
    /// A reader giving up on a URL after `timeout`, sending `token` to URLs, reading at most
    /// `max_bytes` of any source, and `stdin` for `-`.
    pub fn new(
        timeout: Duration,
        token: Option<Token>,
        max_bytes: u64,
        stdin: &'a mut dyn Read,
    ) -> Self {
        Self {
            agent: http_agent(timeout, false),
            token,
            max_bytes,
            stdin,
        }
    }

    /// The bytes of `source`.
    pub fn read(&mut self, source: &Source) -> Result<Vec<u8>, FleetError> {
        let name = source.name();
        match source {
            Source::Stdin => read_capped(&mut *self.stdin, self.max_bytes, &name),
            Source::File(path) => {
                let file = File::open(path).map_err(|error| FleetError::SourceUnreadable {
                    source: name.clone(),
                    detail: io_detail(&error),
                })?;
                read_capped(file, self.max_bytes, &name)
            }
            Source::Url(url) => self.fetch(url),
        }
    }

    /// `GET url`, with the token when there is one, redirects not followed.
    fn fetch(&self, url: &str) -> Result<Vec<u8>, FleetError> {
        let mut request = self.agent.get(url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {}", token.expose()));
        }
        let mut response = request.call().map_err(|error| transport(url, error))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => response
                .body_mut()
                .with_config()
                .limit(self.max_bytes)
                .read_to_vec()
                .map_err(|error| match error {
                    ureq::Error::BodyExceedsLimit(_) => FleetError::SourceUnreadable {
                        source: url.to_owned(),
                        detail: too_large(self.max_bytes),
                    },
                    ureq::Error::Timeout(_) => FleetError::SourceUnreachable {
                        source: url.to_owned(),
                        detail: String::from("timed out reading the answer (see --timeout)"),
                    },
                    other => FleetError::SourceHttp {
                        source: url.to_owned(),
                        detail: format!("the answer could not be read: {other}"),
                    },
                }),
            401 | 403 => Err(FleetError::SourceToken {
                source: url.to_owned(),
                status,
                sent: self.token.is_some(),
            }),
            300..=399 => {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|value| value.to_str().ok())
                    .map(excerpt)
                    .unwrap_or_else(|| String::from("(no Location)"));
                Err(FleetError::SourceHttp {
                    source: url.to_owned(),
                    detail: format!(
                        "HTTP {status}, a redirect to {location}: give the final URL (redirects \
                         are not followed, so that a token goes only where it was meant to)"
                    ),
                })
            }
            _ => {
                let body = response
                    .body_mut()
                    .with_config()
                    .limit(ERROR_BODY)
                    .lossy_utf8(true)
                    .read_to_string()
                    .unwrap_or_default();
                let hint = if status == 404 {
                    " (give the URL of the instance's <mount>/snapshot.json)"
                } else {
                    ""
                };
                let said = if body.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", excerpt(body.trim()))
                };
                Err(FleetError::SourceHttp {
                    source: url.to_owned(),
                    detail: format!("HTTP {status}{said}{hint}"),
                })
            }
        }
    }
}

/// At most `max` bytes of `reader`; more is refused.
pub fn read_capped(reader: impl Read, max: u64, name: &str) -> Result<Vec<u8>, FleetError> {
    let mut bytes = Vec::new();
    reader
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| FleetError::SourceUnreadable {
            source: name.to_owned(),
            detail: io_detail(&error),
        })?;
    if bytes.len() as u64 > max {
        return Err(FleetError::SourceUnreadable {
            source: name.to_owned(),
            detail: too_large(max),
        });
    }
    Ok(bytes)
}

fn too_large(max: u64) -> String {
    format!("larger than {max} bytes, refused (see --max-bytes)")
}

fn io_detail(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => String::from("no such file"),
        io::ErrorKind::PermissionDenied => String::from("permission denied"),
        _ => error.to_string(),
    }
}

/// A transport failure: unreachable, unless the server answered something that is not HTTP.
fn transport(url: &str, error: ureq::Error) -> FleetError {
    match error {
        ureq::Error::Protocol(_) | ureq::Error::TooManyRedirects => FleetError::SourceHttp {
            source: url.to_owned(),
            detail: format!("not a usable HTTP answer: {error}"),
        },
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
            FleetError::Usage(format!("source {}: {error}", quoted(url)))
        }
        ureq::Error::Timeout(_) => FleetError::SourceUnreachable {
            source: url.to_owned(),
            detail: String::from("timed out (see --timeout)"),
        },
        ureq::Error::HostNotFound => FleetError::SourceUnreachable {
            source: url.to_owned(),
            detail: String::from("unknown host"),
        },
        other => FleetError::SourceUnreachable {
            source: url.to_owned(),
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;

    #[test]
    fn sources_are_files_stdin_or_http_urls() {
        assert_eq!(Source::parse("-").unwrap(), Source::Stdin);
        assert_eq!(
            Source::parse("a/b.json").unwrap(),
            Source::File(PathBuf::from("a/b.json"))
        );
        assert_eq!(
            Source::parse("http://10.0.0.7:8080/darklaunch/snapshot.json").unwrap(),
            Source::Url(String::from(
                "http://10.0.0.7:8080/darklaunch/snapshot.json"
            ))
        );
        for bad in [
            "https://p/snapshot.json",
            "HTTPS://p",
            "http://",
            "http:///x",
            "http://a b",
            "",
        ] {
            assert_eq!(
                Source::parse(bad).unwrap_err().exit(),
                Exit::Usage,
                "{bad:?}"
            );
        }
        assert_eq!(Source::Stdin.name(), "stdin");
    }

    #[test]
    fn reads_are_capped() {
        assert_eq!(read_capped(&b"12345"[..], 5, "x").unwrap(), b"12345");
        let error = read_capped(&b"123456"[..], 5, "x").unwrap_err();
        assert_eq!(error.exit(), Exit::SourceUnreadable);
        assert!(error.to_string().contains("larger than 5 bytes"), "{error}");
        // An endless source costs no more than the cap.
        let error = read_capped(io::repeat(b'{'), 1 << 20, "zeros").unwrap_err();
        assert_eq!(error.exit(), Exit::SourceUnreadable);
    }

    #[test]
    fn files_that_cannot_be_read_say_so() {
        let mut stdin = io::empty();
        let mut reader = Reader::new(Duration::from_secs(1), None, 1024, &mut stdin);
        let error = reader
            .read(&Source::File(PathBuf::from(
                "/nonexistent/darklaunch/a.json",
            )))
            .unwrap_err();
        assert_eq!(error.exit(), Exit::SourceUnreadable);
        assert!(error.to_string().contains("/nonexistent/darklaunch/a.json"));
        assert!(error.to_string().contains("no such file"), "{error}");
        // A directory is no file either.
        let error = reader
            .read(&Source::File(std::env::temp_dir()))
            .unwrap_err();
        assert_eq!(error.exit(), Exit::SourceUnreadable);
    }

    #[test]
    fn tokens_stay_out_of_debug_output() {
        let token = Token::new("s3cret").unwrap();
        assert!(!format!("{token:?}").contains("s3cret"));
        assert!(Token::new("").is_err());
        assert!(Token::new("a b").is_err());
        assert!(Token::new("a\nb").is_err());
    }
}
