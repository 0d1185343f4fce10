//! ronin-sweep: hyperparameter search spaces and strategies, as pure logic.
//!
//! A sweep is a list of [`Param`]s, each a path into the pipeline configuration and a
//! [`Domain`] of values. [`grid`] enumerates the cartesian product, [`random`] draws a
//! seeded sample; each gives [`Trial`]s whose values [`apply_path`] writes into the
//! configuration (as JSON) before the trial runs; [`suggest`] is Bayesian search (TPE)
//! from the trials so far. Nothing here does I/O.

mod domain;
mod error;
mod file;
mod path;
mod prune;
mod strategy;
mod tpe;

pub use domain::Domain;
pub use error::{ParamError, ParamProblem, PathError, SweepError};
pub use file::{Goal, StrategySpec, SweepFile, parse_sweep, value_to_ron};
pub use path::{Segment, apply_path, parse_path};
pub use prune::{Pruner, asha_keeps, is_rung};
pub use strategy::{MAX_GRID_TRIALS, Param, Trial, grid, random, validate};
pub use tpe::{Observation, TpeOptions, suggest};
