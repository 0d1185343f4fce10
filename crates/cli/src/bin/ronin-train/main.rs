//! `ronin-train`: the whole `ronin` command line, linked with libtorch; `ronin` hands it
//! the training commands (train, resume, rerun, watch, sweep, tune), which live here.

mod sweep;
mod train;
mod tune;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ronin_cli::{ABOUT, Global, about, report};

#[derive(Debug, Parser)]
#[command(name = "ronin", bin_name = "ronin", version, about = ABOUT)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Light(ronin_cli::Command),
    #[command(about = about::TRAIN)]
    Train(train::Args),
    #[command(about = about::RESUME)]
    Resume(train::ResumeArgs),
    #[command(about = about::RERUN)]
    Rerun(train::RerunArgs),
    #[command(about = about::WATCH)]
    Watch(watch::Args),
    #[command(about = about::SWEEP)]
    Sweep(sweep::Args),
    #[command(about = about::TUNE, subcommand)]
    Tune(tune::Tune),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let experiments = &cli.global.experiments;
    report(match cli.command {
        Command::Light(command) => ronin_cli::run(command, experiments),
        Command::Train(args) => train::run(args, experiments),
        Command::Resume(args) => train::resume(args, experiments),
        Command::Rerun(args) => train::rerun(args, experiments),
        Command::Watch(args) => watch::run(args, experiments),
        Command::Sweep(args) => sweep::run(args, experiments),
        Command::Tune(t) => tune::run(t, experiments),
    })
}
