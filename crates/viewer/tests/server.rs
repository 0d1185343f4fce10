//! The viewer's HTTP server over a real experiments folder: the API, downsampling, live
//! events, and what it refuses (writes, other hosts and origins, paths outside the folder).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use ronin_store::{GitInfo, RunRecord, RunStatus};
use ronin_viewer::{Viewer, ViewerOptions};
use tensorboard_rs::summary_writer::SummaryWriter;

fn record(id: &str) -> RunRecord {
    RunRecord {
        id: id.into(),
        pipeline: "probe".into(),
        status: RunStatus::Completed,
        git: GitInfo::default(),
        seed: 1,
        device: "cpu".into(),
        versions: BTreeMap::new(),
        host: "test".into(),
        started: "2026-12-01T10:00:00Z".into(),
        ended: Some("2026-12-01T10:01:40Z".into()),
        epochs_completed: 3,
        best: None,
        final_metrics: BTreeMap::from([("val_accuracy".into(), 0.5)]),
        test_metrics: BTreeMap::new(),
        message: None,
        tags: BTreeMap::new(),
        continued_from: None,
        fingerprint: None,
    }
}

/// An experiments folder with one run of 100,000 loss points (one spike), and a secret
/// file beside the folder that must stay unreadable.
fn fixture() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("experiments");
    let run = root.join("probe").join("20261201-100000-abcd");
    std::fs::create_dir_all(&run).unwrap();
    ronin_store::write_record(&run, &record("20261201-100000-abcd")).unwrap();
    std::fs::write(run.join("pipeline.ron"), "(epochs: 3)").unwrap();
    std::fs::write(run.join("resolved.ron"), "(epochs: 3)").unwrap();
    {
        let mut w = SummaryWriter::new(run.join("events"));
        for step in 0..100_000usize {
            let v = if step == 54_321 {
                99.0
            } else {
                1.0 / (1.0 + step as f32)
            };
            w.add_scalar("batch/loss", v, step);
        }
        w.flush();
    }
    std::fs::write(tmp.path().join("secret.txt"), "do not serve").unwrap();
    std::fs::create_dir_all(tmp.path().join("assets")).unwrap();
    std::fs::write(
        tmp.path().join("assets/uPlot.iife.min.js"),
        "var uPlot = 1;",
    )
    .unwrap();
    (tmp, root)
}

fn start(tmp: &Path, root: &Path) -> SocketAddr {
    let viewer = Viewer::bind(&ViewerOptions {
        root: root.to_owned(),
        assets: tmp.join("assets"),
        addr: "127.0.0.1:0".parse().unwrap(),
    })
    .unwrap();
    let addr = viewer.addr();
    std::thread::spawn(move || viewer.run());
    addr
}

/// One raw HTTP/1.1 request; (status, body).
fn request(addr: SocketAddr, method: &str, path: &str, extra: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, "GET", path, "")
}

#[test]
fn the_api_lists_runs_and_downsamples_long_series_keeping_spikes() {
    let (tmp, root) = fixture();
    let addr = start(tmp.path(), &root);
    let (status, body) = get(addr, "/api/runs");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["runs"][0]["id"], "20261201-100000-abcd");
    assert_eq!(v["runs"][0]["duration_seconds"], 100.0);

    let (status, body) = get(addr, "/api/scalars/probe/20261201-100000-abcd?points=1000");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let pts = v["series"]["batch/loss"].as_array().unwrap();
    assert!(pts.len() <= 1000 && pts.len() > 500, "{} points", pts.len());
    assert_eq!(pts[0][0], 0.0);
    assert_eq!(pts[pts.len() - 1][0], 99_999.0);
    assert!(
        pts.iter().any(|p| p[0] == 54_321.0 && p[2] == 99.0),
        "the spike survives"
    );
    let steps: Vec<f64> = pts.iter().map(|p| p[0].as_f64().unwrap()).collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "in step order");

    let (status, body) = get(addr, "/api/run/probe/20261201-100000-abcd");
    assert_eq!(status, 200);
    assert!(body.contains("\"pipeline.ron\":\"(epochs: 3)\""), "{body}");
    let (status, body) = get(addr, "/");
    assert_eq!(status, 200);
    assert!(body.contains("uPlot.iife.min.js"));
    assert_eq!(get(addr, "/assets/uPlot.iife.min.js").1, "var uPlot = 1;");
    let (status, body) = get(
        addr,
        "/api/diff/probe/20261201-100000-abcd/probe/20261201-100000-abcd",
    );
    assert_eq!(status, 200);
    assert!(body.contains("\"identical\":true"));
}

#[test]
fn nothing_outside_the_folder_can_be_read_and_nothing_written() {
    let (tmp, root) = fixture();
    let addr = start(tmp.path(), &root);
    for path in [
        "/api/run/../secret.txt",
        "/api/run/..%2f..%2fsecret.txt/x",
        "/api/run/%2e%2e/%2e%2e",
        "/api/run/probe/..",
        "/api/run/probe/%2e%2e%2fsecret.txt",
        "/api/run//tmp",
        "/api/run/%2Ftmp/x",
        "/api/scalars/probe/..%5c..",
        "/assets/../../secret.txt",
        "/assets/%2e%2e/secret.txt",
        "/../../secret.txt",
        "/api/run/probe/20261201-100000-abcd%00",
        "/api/run/probe/%zz",
    ] {
        let (status, body) = get(addr, path);
        assert!(matches!(status, 400 | 404), "{path}: {status} {body}");
        assert!(!body.contains("do not serve"), "{path} leaked the file");
    }
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        assert_eq!(request(addr, method, "/api/runs", "").0, 405, "{method}");
    }
    // Another Host (DNS rebinding) or Origin (a page elsewhere reading the logs): refused.
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /api/runs HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");
    let (status, _) = request(addr, "GET", "/api/runs", "Origin: http://evil.example\r\n");
    assert_eq!(status, 403);
    let (status, body) = request(
        addr,
        "GET",
        "/api/runs",
        &format!("Origin: http://{addr}\r\n"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("Access-Control-Allow-Origin"));
}

#[test]
fn a_new_event_reaches_the_live_stream_within_two_seconds() {
    let (tmp, root) = fixture();
    let addr = start(tmp.path(), &root);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /api/events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut reader = BufReader::new(s);
    // Past the headers and the retry line.
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 && !line.starts_with("retry") {
        line.clear();
    }
    std::thread::sleep(Duration::from_millis(200));
    let sent = Instant::now();
    {
        let mut w = SummaryWriter::new(root.join("probe/20261201-100000-abcd/events"));
        w.add_scalar("val/loss", 0.5, 1);
        w.flush();
    }
    let mut seen = String::new();
    while sent.elapsed() < Duration::from_secs(5) {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.starts_with("data:") {
            seen = line.clone();
            break;
        }
    }
    let waited = sent.elapsed();
    assert!(
        seen.contains("\"run\":\"probe/20261201-100000-abcd\""),
        "{seen:?}"
    );
    assert!(waited < Duration::from_secs(2), "{waited:?}");
}
