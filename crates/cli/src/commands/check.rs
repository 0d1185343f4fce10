//! `ronin check FILE…`: validate pipelines, print a model summary (or the resolved
//! pipeline) for each.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ronin_spec::{Override, summary};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline files to check.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print the model graph of each valid pipeline as JSON instead of a table.
    #[arg(long, conflicts_with = "resolved")]
    json: bool,
    /// Print each valid pipeline as RON, after `extends` and `--set`, every default filled in.
    #[arg(long)]
    resolved: bool,
    /// Change one value before checking, e.g. `--set optimizer.lr=3e-4` or
    /// `--set model.layers[0].filters=64`; VALUE is RON. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<Override>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    let mut reports = Vec::new();
    for file in &args.files {
        match super::load_pipeline(file, &args.set) {
            Ok(p) => {
                if args.resolved {
                    let text = p
                        .resolved_ron()
                        .with_context(|| format!("cannot print {} as RON", file.display()))?;
                    if args.files.len() > 1 {
                        println!("// {}", file.display());
                    }
                    println!("{text}");
                } else if args.json {
                    reports.push(serde_json::json!({
                        "file": file.display().to_string(),
                        "name": p.name,
                        "valid": true,
                        "graph": p.graph,
                        "trainable_params": p.graph.trainable_count(),
                    }));
                } else {
                    println!("{}: ok — pipeline '{}'", file.display(), p.name);
                    print!("{}", summary::render(&p.graph));
                }
            }
            Err(e) => {
                failed += 1;
                if args.json {
                    reports.push(serde_json::json!({"file": file.display().to_string(), "valid": false, "error": e.to_string()}));
                } else {
                    super::print_spec_error(&e);
                }
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::INVALID)
    })
}
