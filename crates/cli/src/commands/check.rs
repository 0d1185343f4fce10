//! `ronin check FILE…`: validate pipelines, print a model summary (or the resolved
//! pipeline) for each.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ronin_spec::{Override, summary};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline files to check.
    #[arg(required_unless_present = "preset")]
    files: Vec<PathBuf>,
    /// Check a model of the zoo alone, without a pipeline: LeNet5, AlexNet, VGG11,
    /// VGG11LRN, VGG13, VGG16C, VGG16, VGG19, ResNet18, ResNet34, ResNet50, GoogLeNet, NiN.
    #[arg(long, value_name = "MODEL")]
    preset: Option<String>,
    /// Input of --preset as C,H,W.
    #[arg(
        long,
        value_name = "C,H,W",
        default_value = "3,224,224",
        requires = "preset"
    )]
    input: String,
    /// Classes of --preset.
    #[arg(long, default_value_t = 1000, requires = "preset")]
    classes: usize,
    /// Width multiplier of --preset.
    #[arg(long, default_value_t = 1.0, requires = "preset")]
    width: f64,
    /// --preset with batch normalisation (VGG).
    #[arg(long, requires = "preset")]
    batch_norm: bool,
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
    if let Some(name) = &args.preset {
        return check_preset(name, &args);
    }
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
                        "receptive_fields": ronin_spec::receptive::receptive_sizes(&p.graph),
                        "trainable_params": p.graph.trainable_count(),
                    }));
                } else {
                    println!("{}: ok — pipeline '{}'", file.display(), p.name);
                    let frozen = p
                        .graph
                        .frozen_until(p.file.model.freeze.as_ref())
                        .unwrap_or(0);
                    print!("{}", summary::render_frozen(&p.graph, frozen));
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

/// `ronin check --preset MODEL`: the preset's summary (or JSON) at the given input size.
fn check_preset(name: &str, args: &Args) -> anyhow::Result<ExitCode> {
    let invalid = |msg: String| {
        eprintln!("error: {msg}");
        Ok(ExitCode::from(crate::exit::INVALID))
    };
    let Some(model) = ronin_spec::zoo::ALL
        .into_iter()
        .find(|m| format!("{m:?}").eq_ignore_ascii_case(name))
    else {
        let names: Vec<String> = ronin_spec::zoo::ALL
            .iter()
            .map(|m| format!("{m:?}"))
            .collect();
        return invalid(format!(
            "no preset is named {name:?}; the zoo has {}",
            names.join(", ")
        ));
    };
    let input: Result<Vec<usize>, _> = args.input.split(',').map(|d| d.trim().parse()).collect();
    let input = match input {
        Ok(v) if v.len() == 3 && !v.contains(&0) => v,
        _ => {
            return invalid(format!(
                "--input {:?} is not C,H,W (e.g. 3,224,224)",
                args.input
            ));
        }
    };
    let preset = ronin_spec::PresetSpec {
        model,
        classes: Some(args.classes),
        width: args.width,
        batch_norm: args.batch_norm,
        dropout: None,
    };
    let graph = match ronin_spec::zoo::preset_graph(&preset, input.clone(), args.classes) {
        Ok(g) => g,
        Err(e) => return invalid(format!("{model:?} at {input:?}: {e}")),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "preset": format!("{model:?}"),
                "input": input,
                "classes": args.classes,
                "trainable_params": graph.trainable_count(),
                "receptive_fields": ronin_spec::receptive::receptive_sizes(&graph),
                "graph": graph,
            }))?
        );
    } else {
        println!("preset {model:?}: ok");
        print!("{}", summary::render(&graph));
    }
    Ok(ExitCode::SUCCESS)
}
