//! `ronin view [DIR]`: the training-log viewer on http://127.0.0.1:PORT/.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ronin_viewer::{Viewer, ViewerOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder of runs (default: the experiments folder).
    dir: Option<PathBuf>,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 6060)]
    port: u16,
    /// Interface to listen on; anything but loopback exposes the logs to the network.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Open the page in the default browser.
    #[arg(long)]
    open: bool,
    /// Where uPlot's files are (default: .ronin/web/uplot/dist, installed by the set-up).
    #[arg(
        long,
        env = "RONIN_WEB_ASSETS",
        default_value = ".ronin/web/uplot/dist"
    )]
    assets: PathBuf,
}

pub fn run(args: Args, experiments: &Path) -> anyhow::Result<ExitCode> {
    let root = args.dir.clone().unwrap_or_else(|| experiments.to_owned());
    if !root.is_dir() {
        eprintln!(
            "error: {} is not a folder of runs (train a pipeline first, or give the folder)",
            root.display()
        );
        return Ok(ExitCode::from(crate::exit::INVALID));
    }
    if !args.assets.join("uPlot.iife.min.js").is_file() {
        eprintln!(
            "warning: {} has no uPlot.iife.min.js; the page will have no charts until `bash .ci/setup.sh` installs it",
            args.assets.display()
        );
    }
    if !args.host.is_loopback() {
        eprintln!(
            "warning: serving on {}: anyone who can reach this machine can read these logs",
            args.host
        );
    }
    let viewer = Viewer::bind(&ViewerOptions {
        root: root.clone(),
        assets: args.assets.clone(),
        addr: SocketAddr::new(args.host, args.port),
    })
    .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let url = format!("http://{}/", viewer.addr());
    println!("{url}");
    eprintln!("ronin view: {} at {url} (Ctrl-C to stop)", root.display());
    if args.open {
        let _ = std::process::Command::new("xdg-open").arg(&url).spawn();
    }
    viewer.run();
    Ok(ExitCode::SUCCESS)
}
