//! `faultline serve [--store DIR] [--port P]`: a local web page of the store's runs.
//!
//! `/` lists the runs, newest first, with verdict colours and a filter on protocol, fault
//! and verdict (query parameters `?protocol=raft&fault=kill&verdict=invalid`); each row
//! opens the run's `report.html`, served with the rest of the store under `/runs/`.
//!
//! It binds 127.0.0.1 unless told otherwise, and serves nothing outside the store: a
//! requested path is refused when any component is `..`, `.`, empty, or absolute, and what
//! remains is canonicalized (resolving every symbolic link) and must still lie under the
//! canonical store. Refusals and misses are both 404, so the server says nothing about
//! what exists outside. The first line on stdout is `listening on http://ADDR/`, so a
//! caller that asked for port 0 learns the port.

use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use results::report::index::{self, Filter};

/// The largest file served (node logs can grow); larger ones are refused.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// URL path under which the store's files are served.
const RUNS_PREFIX: &str = "/runs/";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The store to serve.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Port to listen on (0: any free port, printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to bind; loopback unless you mean to share the store.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = match std::fs::canonicalize(&args.store) {
        Ok(store) if store.is_dir() => store,
        _ => {
            eprintln!("faultline: error: --store {} is not a directory", args.store.display());
            return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(args.bind, args.port);
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("faultline: error: cannot listen on {addr}: {e}");
                return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
            }
        };
        let local = listener.local_addr().context("reading the bound address")?;
        crate::outln!("listening on http://{local}/");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        axum::serve(listener, router(store)).with_graceful_shutdown(shutdown).await.context("serving")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The routes, over the canonical store path.
fn router(store: PathBuf) -> Router {
    Router::new()
        .route("/", get(list))
        .route("/runs/{*path}", get(file))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(Arc::new(store))
}

async fn list(State(store): State<Arc<PathBuf>>, RawQuery(query): RawQuery) -> Response {
    let filter = parse_filter(query.as_deref().unwrap_or(""));
    let store = store.clone();
    match tokio::task::spawn_blocking(move || index::list_runs(&store)).await {
        Ok(Ok(runs)) => Html(index::render(&runs, &filter, RUNS_PREFIX)).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "listing failed\n").into_response(),
    }
}

async fn file(State(store): State<Arc<PathBuf>>, UrlPath(path): UrlPath<String>) -> Response {
    let Some(resolved) = inside_store(&store, &path) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let Ok(meta) = tokio::fs::metadata(&resolved).await else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    if !meta.is_file() {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    if meta.len() > MAX_FILE_BYTES {
        return (StatusCode::PAYLOAD_TOO_LARGE, "file too large to serve\n").into_response();
    }
    match tokio::fs::read(&resolved).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(&resolved))], bytes).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// The file a URL path names, if it lies inside the store after resolving every link.
fn inside_store(store: &Path, requested: &str) -> Option<PathBuf> {
    if requested.is_empty() || requested.contains('\0') || requested.contains('\\') {
        return None;
    }
    let relative = Path::new(requested);
    if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    if requested.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return None;
    }
    let resolved = std::fs::canonicalize(store.join(relative)).ok()?;
    resolved.starts_with(store).then_some(resolved)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        _ => "text/plain; charset=utf-8",
    }
}

/// `protocol=raft&fault=kill&verdict=invalid`; empty values and unknown names are ignored.
fn parse_filter(query: &str) -> Filter {
    let mut filter = Filter::default();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        if value.is_empty() {
            continue;
        }
        match name {
            "protocol" => filter.protocol = Some(value),
            "fault" => filter.fault = Some(value),
            "verdict" => filter.verdict = Some(value),
            _ => {}
        }
    }
    filter
}

/// Form decoding: `+` is a space, `%XX` a byte; a malformed escape is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', None) => out.push(b' '),
            (b, None) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_store_are_refused() {
        let store = tempfile::tempdir().unwrap();
        let canonical = std::fs::canonicalize(store.path()).unwrap();
        std::fs::create_dir_all(canonical.join("t/r")).unwrap();
        std::fs::write(canonical.join("t/r/report.html"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", canonical.join("t/escape")).unwrap();
        assert!(inside_store(&canonical, "t/r/report.html").is_some());
        for bad in
            ["../etc/passwd", "t/../../etc/passwd", "/etc/passwd", "t//r", "t/./r", "t/escape/passwd", ""]
        {
            assert!(inside_store(&canonical, bad).is_none(), "{bad} was served");
        }
    }

    #[test]
    fn filters_parse_from_the_query() {
        let f = parse_filter("protocol=pb-async&fault=one%2Dway&verdict=&x=1");
        assert_eq!(f.protocol.as_deref(), Some("pb-async"));
        assert_eq!(f.fault.as_deref(), Some("one-way"));
        assert_eq!(f.verdict, None);
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz+b"), "%zz b");
    }
}
