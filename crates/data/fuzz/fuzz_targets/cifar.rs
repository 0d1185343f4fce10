//! Any bytes given as a CIFAR-10 or CIFAR-100 binary file: the reader returns whole
//! records with in-range labels, or an error; it never panics.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ronin_data::cifar::{CifarFormat, decode};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.bin");
    for format in [
        CifarFormat::CIFAR10,
        CifarFormat::CIFAR100_FINE,
        CifarFormat::CIFAR100_COARSE,
    ] {
        if let Ok((pixels, labels)) = decode(data, path, format) {
            assert_eq!(pixels.len(), labels.len() * 3 * 32 * 32);
            assert!(labels.iter().all(|&l| usize::from(l) < format.classes));
        }
    }
});
