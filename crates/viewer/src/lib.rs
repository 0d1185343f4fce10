//! ronin-viewer: the training-log viewer.
//!
//! Today it holds the foundation, a reader of TensorBoard event files as written by
//! ronin (through `tensorboard-rs`), PyTorch's `SummaryWriter`, TensorFlow and Keras:
//!
//! - [`read_scalars`] reads every scalar series of a run (a file, an `events/`
//!   directory or a run directory), checking each record's CRC32C;
//! - [`EventTail`] follows a run that is still writing, returning only new points.
//!
//! Scalars are found both as `simple_value`s (TF1, PyTorch's default) and as
//! single-element tensors of the `scalars` plugin (TF2, Keras, PyTorch `new_style`).

mod error;
mod proto;
mod record;
mod scalars;
mod server;
mod tail;
#[cfg(test)]
mod test_events;

pub use error::{RecordPart, ViewerError};
pub use record::{encode_record, masked_crc32c};
pub use scalars::{ScalarLog, ScalarPoint};
pub use server::{Viewer, ViewerOptions, downsample, percent_decode, plain_name};
pub use tail::{EventTail, LoggedImage, event_files, read_images, read_scalars};
