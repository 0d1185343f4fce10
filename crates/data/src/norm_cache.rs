//! The mean and std of a folder or CSV training split, kept between runs.
//!
//! Computing them decodes every training file, which for a large folder costs as much as
//! an epoch of loading. The result is stored under `<cache>/normalization/<key>.json`,
//! where the key is a SHA-256 of the image options (size, colour) and, for every training
//! example in order, its file's path, length and modification time — the same quick check
//! the experiment fingerprint makes of such files. Any change of the split or of a file
//! is another key. `<cache>` is `$RONIN_CACHE_DIR`, else `.ronin/cache` in the current
//! directory (where pipelines' relative paths start). The cache is only an optimisation:
//! a file that cannot be read or written is ignored, a stale or corrupt entry recomputed.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Normalization;
use crate::files::ImageFiles;

const VERSION: &str = "ronin normalization cache v1";

/// The cache folder: `$RONIN_CACHE_DIR/normalization`, else `.ronin/cache/normalization`.
pub fn dir() -> PathBuf {
    std::env::var_os("RONIN_CACHE_DIR")
        .map_or_else(|| PathBuf::from(".ronin/cache"), PathBuf::from)
        .join("normalization")
}

/// The entry's key, `None` when a file cannot be stat'ed (the computation then reports it).
pub fn key(files: &ImageFiles, shape: [usize; 3], train: &[usize]) -> Option<String> {
    let mut h = Sha256::new();
    h.update(VERSION);
    h.update(format!("{shape:?} {:?}", files.options()));
    for &i in train {
        let path = files.path(i);
        let meta = std::fs::metadata(path).ok()?;
        let mtime = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        h.update(path.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(meta.len().to_le_bytes());
        h.update(mtime.to_le_bytes());
    }
    Some(format!("{:x}", h.finalize()))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    mean: Vec<f32>,
    std: Vec<f32>,
}

/// The stored normalisation of `key` in `dir`, if there is a valid one for `channels`.
pub fn load(dir: &Path, key: &str, channels: usize) -> Option<Normalization> {
    let text = std::fs::read_to_string(dir.join(format!("{key}.json"))).ok()?;
    let Entry { mean, std } = serde_json::from_str(&text).ok()?;
    let norm = Normalization { mean, std };
    norm.check(channels).ok()?;
    Some(norm)
}

/// Stores `norm` under `key` in `dir` (written to a temporary file, then renamed).
pub fn store(dir: &Path, key: &str, norm: &Normalization) {
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let entry = Entry {
            mean: norm.mean.clone(),
            std: norm.std.clone(),
        };
        let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        serde_json::to_writer(&mut f, &entry)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(format!("{key}.json")))
    };
    // An unwritable cache only costs the next run the same computation.
    let _ = write();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_exactly() {
        let norm = Normalization {
            mean: vec![0.1, 0.123_456_79, 1.0],
            std: vec![0.3, 0.25, 1e-3],
        };
        let dir = tempfile::tempdir().unwrap();
        store(dir.path(), "k", &norm);
        assert_eq!(load(dir.path(), "k", 3), Some(norm));
        assert_eq!(load(dir.path(), "k", 1), None, "wrong channel count");
        assert_eq!(load(dir.path(), "missing", 3), None);
        std::fs::write(dir.path().join("bad.json"), "{\"mean\": [x]}").unwrap();
        assert_eq!(
            load(dir.path(), "bad", 3),
            None,
            "a corrupt entry is a miss"
        );
    }
}
