//! Datasets, splits, normalisation and the batch loader of ronin.
//!
//! [`build`] turns a pipeline's `data` section into a [`DataBundle`]: the datasets read
//! from IDX files ([`idx`]) or CIFAR binary files ([`cifar`]), seeded and optionally
//! stratified [`Splits`], the [`Normalization`] and the class names. A [`Loader`] then
//! yields [`Batch`]es of normalised `f32` images (`[N, C, H, W]`) built by worker threads,
//! in an order that depends only on the seed and the epoch; training loaders may
//! [`augment`] each image.

pub mod augment;
mod batch;
mod build;
pub mod cifar;
mod dataset;
mod error;
mod files;
pub mod idx;
mod image_source;
mod loader;
mod norm_cache;
mod normalize;
mod rng;
mod split;

pub use augment::Augment;
pub use batch::{Batch, SampleStep, dataset_batch};
pub use build::{DataBundle, Part, build};
pub use dataset::{Dataset, Images, read_class_names};
pub use error::DataError;
pub use files::{ImageFiles, ImageHeader, decode as decode_image, image_header};
pub use loader::{EpochIter, Loader, LoaderOptions};
pub use normalize::Normalization;
pub use rng::{derive_seed, sample_rng, shuffle};
pub use split::Splits;
