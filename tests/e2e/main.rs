//! End-to-end tests of the `ronin` binary: the files a run leaves on disk, read back.

mod bad_input;
mod board;
mod common;
mod data;
mod eval;
mod export_options;
mod folders;
mod interrupt;
mod malformed;
mod mix;
mod pipelines;
mod pseudo;
mod quantize;
mod resume;
mod slice;
mod store;
mod sweep;
mod transfer;
mod view;
mod watch;
mod zoo;
