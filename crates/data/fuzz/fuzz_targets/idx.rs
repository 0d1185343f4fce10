//! Any bytes given as an IDX file, raw or gzip: the readers return images or labels whose
//! sizes agree with their header, or an error; they never panic, overflow or allocate
//! beyond what the bytes hold.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ronin_data::idx::{decode_images, decode_labels, gunzip_if_compressed};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.idx");
    let Ok(bytes) = gunzip_if_compressed(data.to_vec(), path) else {
        return;
    };
    if let Ok(images) = decode_images(bytes.clone(), path) {
        let per_image: usize = images.shape.iter().product();
        assert_eq!(images.pixels.len(), images.count * per_image);
    }
    if let Ok(labels) = decode_labels(bytes.clone(), path) {
        assert!(labels.len() <= bytes.len());
    }
});
