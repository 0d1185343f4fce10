//! `ronin view` in a real browser: headless Chromium (Debian's) through playwright-core,
//! both installed by the set-up, on a run that `ronin train` wrote.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Writes one `live/probe` scalar into `events` with TensorBoard's own writer.
const LIVE_WRITER: &str = r#"
import sys, time
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.compat.proto import event_pb2, summary_pb2
w = EventFileWriter(sys.argv[1], filename_suffix=".live")
v = summary_pb2.Summary.Value(tag="live/probe", simple_value=0.25)
w.add_event(event_pb2.Event(wall_time=time.time(), step=1, summary=summary_pb2.Summary(value=[v])))
w.close()
"#;

#[test]
fn the_page_shows_runs_curves_details_and_live_updates_in_chromium() {
    require_data();
    let web = repo().join(".ronin/web");
    assert!(
        web.join("node_modules/playwright-core").is_dir()
            && Path::new("/usr/bin/chromium").is_file(),
        "playwright-core or chromium is missing: run `bash .ci/setup.sh --test` (it installs both)"
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let run = train_quick(&exp, "pipelines/mnist_cnn.ron", 2, 128, &[]);

    let mut server = Command::new(ronin_bin())
        .args(["view", exp.to_str().expect("utf-8"), "--port", "0"])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ronin view starts");
    let mut url = String::new();
    std::io::BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut url)
        .expect("the URL");
    let url = url.trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let shot = tmp.path().join("view.png");
    let ready = tmp.path().join("ready");
    let mut browser = Command::new("node")
        .arg(repo().join("tests/web/view_test.mjs"))
        .args([
            &url,
            shot.to_str().expect("utf-8"),
            ready.to_str().expect("utf-8"),
        ])
        .env("RONIN_WEB", &web)
        .current_dir(&web)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let start = Instant::now();
    while !ready.exists() {
        if start.elapsed() > Duration::from_secs(90) || browser.try_wait().ok().flatten().is_some()
        {
            let _ = server.kill();
            let _ = server.wait();
            let out = browser.wait_with_output().expect("node output");
            panic!(
                "the page never got ready:\n{}\n{}",
                stdout(&out),
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let wrote = python_script_inline(LIVE_WRITER, &run.join("events"));
    let result = browser.wait_with_output().expect("node ends");
    let _ = server.kill();
    let _ = server.wait();
    assert!(wrote, "the live event could not be written");
    assert!(
        result.status.success(),
        "{}\n{}",
        stdout(&result),
        stderr(&result)
    );
    let v: serde_json::Value = serde_json::from_str(stdout(&result).trim()).expect("JSON");
    assert_eq!(v["rows"], 1, "{v}");
    let charts: Vec<&str> = v["charts"]
        .as_array()
        .expect("charts")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    for tag in ["train/loss", "val/accuracy", "lr"] {
        assert!(charts.contains(&tag), "no chart of {tag}: {charts:?}");
    }
    assert_eq!(v["detail"], true);
    assert_eq!(
        v["summary"], true,
        "the run page shows the model summary: {v}"
    );
    let images: Vec<&str> = v["images"]
        .as_array()
        .expect("images")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(images.contains(&"images/confusion_matrix"), "{images:?}");
    assert!(
        v["errors"].as_array().is_some_and(Vec::is_empty),
        "page errors: {v}"
    );
    assert!(
        v["live"].as_i64().is_some_and(|ms| ms < 2000),
        "live update took {v}"
    );

    // The screenshot is a real page, not a blank one.
    let img = image::open(&shot).expect("a PNG screenshot").to_rgb8();
    let total = (img.width() * img.height()) as usize;
    let inked = img
        .pixels()
        .filter(|p| p.0.iter().any(|&c| c < 200))
        .count();
    let colors: std::collections::BTreeSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(
        inked * 50 > total && colors.len() > 20,
        "blank screenshot: {inked}/{total} dark pixels, {} colours",
        colors.len()
    );
}

fn python_script_inline(script: &str, arg: &Path) -> bool {
    Command::new(python())
        .args(["-c", script])
        .arg(arg)
        .status()
        .is_ok_and(|s| s.success())
}
