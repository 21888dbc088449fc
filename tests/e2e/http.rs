//! HTTP for the end-to-end tests, on loopback only: a server for a `/metrics` page (axum) and a
//! blocking `GET` for a JSON API (hyper's client), so that the tests speak HTTP through the
//! same crates a service would rather than a hand-written copy of HTTP/1.1.

#![allow(dead_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

/// What a handler answers: status, content type, body.
pub type Reply = (u16, String, Vec<u8>);

/// A server answering every request with `handler(method, target)`; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a server on 127.0.0.1 and an ephemeral port. Call inside a tokio runtime.
pub async fn serve<F>(handler: F) -> io::Result<Server>
where
    F: Fn(&str, &str) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let handler = Arc::new(handler);
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
        let handler = handler.clone();
        async move {
            let target = uri
                .path_and_query()
                .map_or(uri.path(), |target| target.as_str());
            let (status, content_type, body) = handler(method.as_str(), target);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, [(CONTENT_TYPE, content_type)], body)
        }
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Server { addr, task })
}

/// A response read by [`get`].
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// `GET http://{addr}{target}`, from synchronous code (on a runtime of its own), within
/// `timeout`.
pub fn get(addr: SocketAddr, target: &str, timeout: Duration) -> io::Result<Response> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        tokio::time::timeout(timeout, fetch(addr, target))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("GET {target}: no answer in {timeout:?}"),
                )
            })?
    })
}

async fn fetch(addr: SocketAddr, target: &str) -> io::Result<Response> {
    let uri: Uri = format!("http://{addr}{target}")
        .parse()
        .map_err(io::Error::other)?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let response = client.get(uri).await.map_err(io::Error::other)?;
    let status = response.status().as_u16();
    let body: Bytes = axum::body::to_bytes(Body::new(response.into_body()), usize::MAX)
        .await
        .map_err(io::Error::other)?;
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Percent-encodes `text` for a URL query component (no crate among the dev-dependencies
/// exposes this; hyper and axum take URIs already encoded).
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A port that was free a moment ago on 127.0.0.1 (for a child process to listen on).
pub fn free_port() -> io::Result<u16> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}
