//! `ronin view`: a read-only HTTP server for the runs under one folder, on loopback.
//!
//! Routes (GET only; everything else is 405):
//!
//! | path | answer |
//! |---|---|
//! | `/`, `/app.js`, `/app.css` | the page (compiled into the binary) |
//! | `/assets/uPlot.iife.min.js`, `/assets/uPlot.min.css` | the chart library, from the folder the set-up installed it in |
//! | `/api/runs` | every run: record, duration, key hyperparameters |
//! | `/api/run/PIPELINE/ID` | one run: record, pipeline texts, test report, per-class scores, checkpoints |
//! | `/api/image/PIPELINE/ID/N` | the run's N-th logged image (PNG) |
//! | `/api/scalars/PIPELINE/ID?points=N` | every scalar series, each downsampled to at most N points (min and max of each bucket kept) |
//! | `/api/diff/PIPELINE/ID/PIPELINE/ID` | the unified diff of two runs' resolved pipelines |
//! | `/api/events` | server-sent events: `{"run": "PIPELINE/ID"}` when a run's files change |
//!
//! Only run directories under the served folder can be read, by names checked to be
//! plain (no `..`, no separators, no leading dot) and then by canonical path; nothing is
//! ever written; requests whose `Host` or `Origin` is not this server's are refused (no
//! cross-origin reads, no DNS rebinding).

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::read_scalars;

const INDEX: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const APP_CSS: &str = include_str!("page/app.css");
/// Files of a run the API may read, by name.
const RUN_FILES: [&str; 5] = [
    ronin_store::PIPELINE,
    ronin_store::RESOLVED,
    "test_report.json",
    "per_class.csv",
    "data.json",
];

/// What `ronin view` serves and where.
#[derive(Debug, Clone)]
pub struct ViewerOptions {
    /// The experiments folder.
    pub root: PathBuf,
    /// Where the set-up installed uPlot (`uPlot.iife.min.js`, `uPlot.min.css`).
    pub assets: PathBuf,
    /// Address to listen on; port 0 picks a free one.
    pub addr: SocketAddr,
}

/// A bound, not yet serving, viewer.
pub struct Viewer {
    server: Arc<Server>,
    root: PathBuf,
    assets: PathBuf,
    addr: SocketAddr,
}

impl Viewer {
    pub fn bind(opts: &ViewerOptions) -> std::io::Result<Self> {
        let server = Server::http(opts.addr).map_err(std::io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("the server has no IP address"))?;
        let root = opts
            .root
            .canonicalize()
            .unwrap_or_else(|_| opts.root.clone());
        Ok(Viewer {
            server: Arc::new(server),
            root,
            assets: opts.assets.clone(),
            addr,
        })
    }

    /// The address it listens on (with the port picked when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the process ends, each request on its own thread.
    pub fn run(self) {
        let shared = Arc::new(Shared {
            exports: self
                .root
                .parent()
                .map_or_else(|| PathBuf::from("exports"), |p| p.join("exports")),
            root: self.root,
            assets: self.assets,
            addr: self.addr,
        });
        for request in self.server.incoming_requests() {
            let shared = shared.clone();
            std::thread::spawn(move || shared.handle(request));
        }
    }
}

struct Shared {
    root: PathBuf,
    assets: PathBuf,
    /// Where `ronin export` writes models and manifests (the run page lists its own).
    exports: PathBuf,
    addr: SocketAddr,
}

type Reply = Response<Box<dyn Read + Send>>;

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
    let len = body.len();
    Response::new(
        status.into(),
        headers(&[
            ("Content-Type", content_type),
            ("X-Content-Type-Options", "nosniff"),
        ]),
        Box::new(std::io::Cursor::new(body)) as Box<dyn Read + Send>,
        Some(len),
        None,
    )
    .with_chunked_threshold(usize::MAX)
}

fn headers(pairs: &[(&str, &str)]) -> Vec<Header> {
    pairs
        .iter()
        .filter_map(|(n, v)| Header::from_bytes(n.as_bytes(), v.as_bytes()).ok())
        .collect()
}

fn json_reply(status: u16, value: &impl Serialize) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => reply(status, "application/json", body),
        Err(e) => reply(500, "text/plain", e.to_string().into_bytes()),
    }
}

fn error(status: u16, message: &str) -> Reply {
    json_reply(status, &json!({ "error": message }))
}

/// Percent-decodes a URL path once; `None` for malformed escapes, NUL or non-UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    if out.contains(&0) {
        return None;
    }
    String::from_utf8(out).ok()
}

/// A path segment that can only name a folder directly inside its parent.
pub fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Shared {
    fn handle(&self, request: Request) {
        if let Err(refused) = self.check(&request) {
            let _ = request.respond(refused);
            return;
        }
        if request.url() == "/api/events" {
            return self.events(request);
        }
        let response = self.route(&request);
        let _ = request.respond(response);
    }

    /// Refuses writes and requests from other hosts or origins.
    fn check(&self, request: &Request) -> Result<(), Reply> {
        if !matches!(request.method(), Method::Get | Method::Head) {
            return Err(error(405, "the viewer is read-only"));
        }
        let get = |name: &'static str| {
            request
                .headers()
                .iter()
                .find(|h| h.field.equiv(name))
                .map(|h| h.value.as_str().to_owned())
        };
        if !get("Host").is_some_and(|h| self.allowed_host(&h)) {
            return Err(error(403, "unknown Host"));
        }
        if let Some(origin) = get("Origin") {
            let host = origin.split("://").nth(1).unwrap_or("");
            if !self.allowed_host(host) {
                return Err(error(403, "cross-origin requests are refused"));
            }
        }
        Ok(())
    }

    fn allowed_host(&self, value: &str) -> bool {
        let port = self.addr.port();
        let ip = self.addr.ip();
        let mut names = vec![format!("{ip}:{port}"), format!("localhost:{port}")];
        if ip.is_ipv6() {
            names.push(format!("[{ip}]:{port}"));
        }
        if ip.is_unspecified() {
            // Served on every interface on purpose (--host): any host name of this port.
            return value.ends_with(&format!(":{port}"));
        }
        names.iter().any(|n| n == value)
    }

    fn route(&self, request: &Request) -> Reply {
        let url = request.url();
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let Some(path) = percent_decode(path) else {
            return error(400, "malformed path");
        };
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            [] => reply(200, "text/html; charset=utf-8", INDEX.as_bytes().to_vec()),
            ["app.js"] => reply(
                200,
                "text/javascript; charset=utf-8",
                APP_JS.as_bytes().to_vec(),
            ),
            ["app.css"] => reply(200, "text/css; charset=utf-8", APP_CSS.as_bytes().to_vec()),
            ["assets", name @ ("uPlot.iife.min.js" | "uPlot.min.css")] => {
                let kind = if name.ends_with(".js") {
                    "text/javascript; charset=utf-8"
                } else {
                    "text/css; charset=utf-8"
                };
                match fs_err::read(self.assets.join(name)) {
                    Ok(bytes) => reply(200, kind, bytes),
                    Err(_) => error(
                        404,
                        "the chart library is missing; run bash .ci/setup.sh (it installs uPlot into .ronin/web)",
                    ),
                }
            }
            ["api", "runs"] => json_reply(200, &self.runs()),
            ["api", "run", p, id] => match self.run_dir(p, id) {
                Some(dir) => json_reply(200, &run_detail(&dir, &self.exports)),
                None => error(404, "no such run"),
            },
            ["api", "image", p, id, n] => match (self.run_dir(p, id), n.parse::<usize>()) {
                (Some(dir), Ok(n)) => match crate::read_images(dir.join(ronin_store::EVENTS)) {
                    Ok(images) => match images.into_iter().nth(n) {
                        Some(img) => reply(200, "image/png", img.encoded),
                        None => error(404, "no such image"),
                    },
                    Err(e) => error(500, &e.to_string()),
                },
                _ => error(404, "no such image"),
            },
            ["api", "scalars", p, id] => match self.run_dir(p, id) {
                Some(dir) => {
                    let points = query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("points="))
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(2000)
                        .clamp(10, 100_000);
                    match scalars(&dir, points) {
                        Ok(v) => json_reply(200, &v),
                        Err(e) => error(500, &e),
                    }
                }
                None => error(404, "no such run"),
            },
            ["api", "diff", pa, ia, pb, ib] => match (self.run_dir(pa, ia), self.run_dir(pb, ib)) {
                (Some(a), Some(b)) => {
                    let text = |d: &Path| {
                        fs_err::read_to_string(d.join(ronin_store::RESOLVED)).unwrap_or_default()
                    };
                    let (ta, tb) = (text(&a), text(&b));
                    let diff = similar::TextDiff::from_lines(&ta, &tb)
                        .unified_diff()
                        .context_radius(2)
                        .header(&format!("{pa}/{ia}"), &format!("{pb}/{ib}"))
                        .to_string();
                    json_reply(200, &json!({ "identical": ta == tb, "diff": diff }))
                }
                _ => error(404, "no such run"),
            },
            _ => error(404, "not found"),
        }
    }

    /// The run directory `root/pipeline/id`, when both are plain names of a run inside
    /// the served folder.
    fn run_dir(&self, pipeline: &str, id: &str) -> Option<PathBuf> {
        if !plain_name(pipeline) || !plain_name(id) {
            return None;
        }
        let dir = self.root.join(pipeline).join(id).canonicalize().ok()?;
        (dir.starts_with(&self.root) && dir.join(ronin_store::RECORD).is_file()).then_some(dir)
    }

    fn runs(&self) -> Value {
        let (runs, errors) = ronin_store::list_runs(&self.root, None);
        let rows: Vec<Value> = runs
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(&r.record).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut v {
                    m.insert("hparams".into(), hparams(&r.path));
                    m.insert(
                        "duration_seconds".into(),
                        json!(r.record.duration_seconds()),
                    );
                }
                v
            })
            .collect();
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        json!({ "runs": rows, "errors": errors })
    }

    /// Server-sent events: a line each time a file of a run changes, written straight to
    /// the connection (coalescing what arrives within 100 ms), a comment every 15 s.
    fn events(&self, request: Request) {
        let (tx, rx) = channel::<String>();
        let root = self.root.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            for p in &event.paths {
                let Ok(rel) = p.strip_prefix(&root) else {
                    continue;
                };
                let mut parts = rel.components().filter_map(|c| c.as_os_str().to_str());
                if let (Some(pipeline), Some(id)) = (parts.next(), parts.next())
                    && plain_name(pipeline)
                    && plain_name(id)
                {
                    let _ = tx.send(format!("{pipeline}/{id}"));
                }
            }
        });
        use notify::Watcher as _;
        let Some(watcher) = watcher.ok().and_then(|mut w| {
            w.watch(&self.root, notify::RecursiveMode::Recursive)
                .ok()
                .map(|()| w)
        }) else {
            let _ = request.respond(error(500, "cannot watch the experiments folder"));
            return;
        };
        // The stream is the connection itself: tiny_http buffers response bodies.
        let mut head = Response::empty(200);
        for h in headers(&[
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-cache"),
        ]) {
            head.add_header(h);
        }
        let mut stream = request.upgrade("sse", head);
        let mut send = |text: &str| -> bool {
            use std::io::Write;
            stream.write_all(text.as_bytes()).is_ok() && stream.flush().is_ok()
        };
        if !send("retry: 1000\n\n") {
            return;
        }
        loop {
            let text = match rx.recv_timeout(Duration::from_secs(15)) {
                Ok(first) => {
                    let mut runs = std::collections::BTreeSet::from([first]);
                    std::thread::sleep(Duration::from_millis(100));
                    while let Ok(more) = rx.try_recv() {
                        runs.insert(more);
                    }
                    runs.iter()
                        .map(|r| format!("data: {}\n\n", json!({ "run": r })))
                        .collect::<String>()
                }
                Err(RecvTimeoutError::Timeout) => ": keep-alive\n\n".to_owned(),
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if !send(&text) {
                break;
            }
        }
        drop(watcher);
    }
}

/// The hyperparameters the runs table shows, from the run's resolved pipeline.
fn hparams(dir: &Path) -> Value {
    let Ok(text) = fs_err::read_to_string(dir.join(ronin_store::RESOLVED)) else {
        return Value::Null;
    };
    let Ok(file) = ron::from_str::<ronin_spec::PipelineFile>(&text) else {
        return Value::Null;
    };
    json!({
        "optimizer": file.optimizer.name(),
        "lr": file.optimizer.lr(),
        "batch_size": file.data.batch_size,
        "epochs": file.epochs,
        "augment": file.augment.len(),
        "layers": file.model.layers.len(),
    })
}

/// The model summary (layer, output shape, parameters) from the run's resolved pipeline
/// and recorded input shape.
fn model_summary(dir: &Path) -> Option<String> {
    let text = fs_err::read_to_string(dir.join(ronin_store::RESOLVED)).ok()?;
    let file: ronin_spec::PipelineFile = ron::from_str(&text).ok()?;
    let data: Value =
        serde_json::from_str(&fs_err::read_to_string(dir.join("data.json")).ok()?).ok()?;
    let shape: Vec<usize> = data["input_shape"]
        .as_array()?
        .iter()
        .filter_map(|v| v.as_u64().map(|x| x as usize))
        .collect();
    let classes = data["classes"].as_array().map_or(0, Vec::len);
    let graph = file.model.graph(shape, classes).ok()?;
    Some(ronin_spec::summary::render(&graph))
}

/// Export manifests in `exports` whose source run (`source_run_dir`) is this run.
fn exports_of(dir: &Path, exports: &Path) -> Vec<Value> {
    // The manifest records the run as it was given (often relative to the repository
    // root): the same directory, or the same `<pipeline>/<run-id>` when it cannot be found
    // from here.
    let tail: Vec<_> = dir.components().rev().take(2).collect();
    let same_run = |source: &str| {
        let source = Path::new(source);
        source.canonicalize().is_ok_and(|s| s == dir)
            || source.components().rev().take(2).collect::<Vec<_>>() == tail
    };
    std::fs::read_dir(exports)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| {
            let m: Value = serde_json::from_str(&fs_err::read_to_string(e.path()).ok()?).ok()?;
            same_run(m["source_run_dir"].as_str()?).then(
                || json!({ "manifest": e.file_name().to_string_lossy(), "parity": m["parity"] }),
            )
        })
        .collect()
}

fn run_detail(dir: &Path, exports: &Path) -> Value {
    let record = ronin_store::read_record(dir)
        .ok()
        .and_then(|r| serde_json::to_value(r).ok())
        .unwrap_or(Value::Null);
    let mut files = BTreeMap::new();
    for name in RUN_FILES {
        if let Ok(text) = fs_err::read_to_string(dir.join(name)) {
            let value = if name.ends_with(".json") {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            } else {
                Value::String(text)
            };
            files.insert(name, value);
        }
    }
    let mut checkpoints: Vec<Value> = std::fs::read_dir(dir.join(ronin_store::CHECKPOINTS))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            json!({
                "name": e.file_name().to_string_lossy(),
                "bytes": ronin_store::dir_size(&e.path()),
            })
        })
        .collect();
    checkpoints.sort_by_key(|c| c["name"].as_str().map(str::to_owned));
    let images: Vec<Value> = crate::read_images(dir.join(ronin_store::EVENTS))
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, img)| json!({ "index": i, "tag": img.tag, "step": img.step, "width": img.width, "height": img.height }))
        .collect();
    json!({
        "record": record,
        "files": files,
        "checkpoints": checkpoints,
        "summary": model_summary(dir),
        "exports": exports_of(dir, exports),
        "images": images,
    })
}

/// Every scalar series of a run, each cut to at most `points` points.
fn scalars(dir: &Path, points: usize) -> Result<Value, String> {
    let log = read_scalars(dir.join(ronin_store::EVENTS)).map_err(|e| e.to_string())?;
    let series: BTreeMap<&String, Vec<[f64; 3]>> = log
        .series
        .iter()
        .map(|(tag, pts)| {
            let rows: Vec<[f64; 3]> = pts
                .iter()
                .map(|p| [p.step as f64, p.wall_time, p.value])
                .collect();
            (tag, downsample(&rows, points))
        })
        .collect();
    Ok(json!({ "series": series, "warnings": log.warnings }))
}

/// At most `max` points of a series: the first and last, and the minimum and maximum
/// value of each bucket of steps in between, in order — spikes survive.
pub fn downsample(rows: &[[f64; 3]], max: usize) -> Vec<[f64; 3]> {
    if rows.len() <= max || max < 4 {
        return rows.to_vec();
    }
    let buckets = (max - 2) / 2;
    let inner = &rows[1..rows.len() - 1];
    let mut out = Vec::with_capacity(max);
    out.push(rows[0]);
    for b in 0..buckets {
        let (lo, hi) = (b * inner.len() / buckets, (b + 1) * inner.len() / buckets);
        let chunk = &inner[lo..hi];
        let (Some(min), Some(maxp)) = (
            chunk.iter().min_by(|a, b| a[2].total_cmp(&b[2])),
            chunk.iter().max_by(|a, b| a[2].total_cmp(&b[2])),
        ) else {
            continue;
        };
        if min[0] <= maxp[0] {
            out.extend([*min, *maxp]);
        } else {
            out.extend([*maxp, *min]);
        }
    }
    out.push(rows[rows.len() - 1]);
    out.dedup_by(|a, b| a[0] == b[0] && a[2] == b[2]);
    out
}
