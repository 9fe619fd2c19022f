//! HTTP/1.1 plumbing: a hyper server on its own thread and single-threaded tokio runtime.
//!
//! The listener is bound synchronously by the caller, so the port is known and accepting
//! before [`spawn`] returns; tests can use the simulator from plain `#[test]` functions.
//! Dropping the [`ServerHandle`] stops accepting, drops open connections and joins the thread.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use crate::api::{is_api_path, ApiRequest, State};

/// The largest request body read (the token endpoint's form); larger bodies are ignored.
const MAX_BODY: usize = 64 * 1024;

/// A running server thread.
#[derive(Debug)]
pub struct ServerHandle {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `state` on an already bound listener, on a new thread.
pub fn spawn(listener: std::net::TcpListener, state: Arc<State>) -> io::Result<ServerHandle> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (tx, rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("bitbucket-simulator".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => serve(listener, state, rx).await,
                    Err(e) => eprintln!("bitbucket-simulator: cannot use the listener: {e}"),
                }
            });
        })?;
    Ok(ServerHandle {
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

async fn serve(listener: tokio::net::TcpListener, state: Arc<State>, mut shutdown: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let state = Arc::clone(&state);
                    tokio::spawn(async move {
                        let service = service_fn(move |req| {
                            let state = Arc::clone(&state);
                            async move { Ok::<_, Infallible>(respond(&state, req).await) }
                        });
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

async fn respond(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let api = is_api_path(parts.uri.path());
    // Counted from arrival to the end of the added latency.
    let _in_flight = api.then(|| state.enter());
    let body = if api {
        Bytes::new()
    } else {
        Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default()
    };
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let api_req = ApiRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        host,
        authorization: parts.headers.get(AUTHORIZATION).map(HeaderValue::as_bytes),
        body: &body,
    };
    let out = state.handle(&api_req);
    if api {
        let ms = state.latency_ms();
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
    let mut response = Response::new(Full::new(Bytes::from(out.body)));
    *response.status_mut() = StatusCode::from_u16(out.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(out.content_type));
    for (name, value) in out.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(name, v);
        }
    }
    response
}
