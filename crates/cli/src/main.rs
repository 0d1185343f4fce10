//! `ronin`: every command that needs no libtorch runs here; the training commands are
//! handed to `ronin-train`, the binary beside this one (see the crate docs).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ronin_cli::{ABOUT, Global, about, exit, report};

#[derive(Debug, Parser)]
#[command(name = "ronin", version, about = ABOUT)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Front,
}

#[derive(Debug, Subcommand)]
enum Front {
    #[command(flatten)]
    Light(ronin_cli::Command),
    #[command(about = about::TRAIN, disable_help_flag = true)]
    Train(HandedOver),
    #[command(about = about::RESUME, disable_help_flag = true)]
    Resume(HandedOver),
    #[command(about = about::RERUN, disable_help_flag = true)]
    Rerun(HandedOver),
    #[command(about = about::WATCH, disable_help_flag = true)]
    Watch(HandedOver),
    #[command(about = about::SWEEP, disable_help_flag = true)]
    Sweep(HandedOver),
    #[command(about = about::TUNE, disable_help_flag = true)]
    Tune(HandedOver),
}

/// The arguments of a training command, parsed by `ronin-train`.
#[derive(Debug, clap::Args)]
struct HandedOver {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<OsString>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Front::Light(command) => report(ronin_cli::run(command, &cli.global.experiments)),
        _ => hand_over(),
    }
}

/// Replaces this process by `ronin-train` with the same arguments; returns only when that
/// fails.
fn hand_over() -> ExitCode {
    let trainer = trainer_path();
    let err = std::process::Command::new(&trainer)
        .args(std::env::args_os().skip(1))
        .exec();
    eprintln!(
        "error: cannot start {}: {err}\n  training commands run in `ronin-train`, which `cargo build -p ronin-cli` builds beside `ronin`; keep both binaries in one folder",
        trainer.display()
    );
    ExitCode::from(exit::FAILED)
}

/// `ronin-train` in the folder of this executable.
fn trainer_path() -> PathBuf {
    let name = format!("ronin-train{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .unwrap_or_else(|| PathBuf::from(name))
}
