pub mod check;
pub mod export;
pub mod predict;
pub mod runs;
pub mod sweep;
pub mod train;
pub mod tune;
pub mod view;
pub mod watch;

use std::path::Path;

use ronin_spec::{Override, Pipeline, SpecError};

/// Loads a pipeline (following its `extends`), applies `--set` overrides, validates it; the
/// caller prints a failure in full and exits with [`crate::exit::INVALID`].
pub fn load_pipeline(path: &Path, overrides: &[Override]) -> Result<Pipeline, SpecError> {
    Pipeline::from_path_with(path, overrides)
}
