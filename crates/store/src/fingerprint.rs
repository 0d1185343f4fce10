//! What makes two runs the same experiment: the resolved pipeline, the bytes of the data
//! files it reads (for a folder or CSV source: each image's path, size and modification
//! time, see [`files_stamp`]), and the code — the commit and a hash of the uncommitted
//! changes.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use ronin_spec::{Pipeline, SourceSpec, image_source};
use sha2::{Digest, Sha256};

use crate::StoreError;
use crate::record::GitInfo;

/// A hex sha256 identifying the experiment `pipeline` describes, run from code `git`.
/// Whitespace and comments do not change it (the resolved pipeline is hashed); a changed
/// data file, starting-weights file, commit or uncommitted diff does.
pub fn experiment_fingerprint(
    pipeline: &Pipeline,
    git: &GitInfo,
    experiments: &Path,
) -> Result<String, StoreError> {
    let resolved = pipeline.resolved_ron().map_err(|e| StoreError::Encode {
        path: PathBuf::from(&pipeline.name),
        message: e.to_string(),
    })?;
    let mut h = Sha256::new();
    h.update(b"ronin experiment v1\0");
    h.update(resolved.as_bytes());
    let source = &pipeline.file.data.source;
    match source {
        SourceSpec::ImageFolder { root, test, .. } => {
            for (field, dir) in [("root", Some(root)), ("test", test.as_ref())] {
                if let Some(dir) = dir {
                    h.update([0]);
                    h.update(field.as_bytes());
                    h.update([0]);
                    h.update(folder_stamp(Path::new(dir))?.as_bytes());
                }
            }
        }
        SourceSpec::Csv {
            file,
            test,
            root,
            path_column,
            label_column,
            ..
        } => {
            for (field, csv) in [("file", Some(file)), ("test", test.as_ref())] {
                if let Some(csv) = csv {
                    let csv = Path::new(csv);
                    h.update([0]);
                    h.update(field.as_bytes());
                    h.update([0]);
                    h.update(file_digest(csv)?.as_bytes());
                    let rows = image_source::read_csv(
                        csv,
                        root.as_deref().map(Path::new),
                        path_column,
                        label_column,
                    )
                    .map_err(|e| StoreError::Read {
                        path: csv.to_owned(),
                        source: std::io::Error::other(e.to_string()),
                    })?;
                    let paths: Vec<PathBuf> = rows.into_iter().map(|r| r.path).collect();
                    h.update(files_stamp(Path::new(""), &paths)?.as_bytes());
                }
            }
        }
        _ => {
            for (field, path) in ronin_spec::source_files(source) {
                h.update([0]);
                h.update(field.as_bytes());
                h.update([0]);
                h.update(file_digest(Path::new(path))?.as_bytes());
            }
        }
    }
    for (field, path) in ronin_spec::extra_files(&pipeline.file.data) {
        h.update([0]);
        h.update(field.as_bytes());
        h.update([0]);
        h.update(file_digest(Path::new(path))?.as_bytes());
    }
    // The starting weights are data too: a retrained base model is another experiment.
    if let Some(w) = crate::listing::weights_file(pipeline, experiments)? {
        h.update(b"\0weights\0");
        h.update(file_digest(&w)?.as_bytes());
    }
    h.update([0]);
    h.update(git.commit.as_deref().unwrap_or("no commit").as_bytes());
    h.update([0]);
    h.update(git.diff_hash.as_deref().unwrap_or("clean").as_bytes());
    Ok(hex(&h.finalize()))
}

/// sha256 of a file's bytes, remembered for the life of the process while the file's size
/// and modification time stay the same (watch mode re-checks the same data on every save).
fn file_digest(path: &Path) -> Result<String, StoreError> {
    type Key = (PathBuf, u64, Option<SystemTime>);
    static CACHE: OnceLock<Mutex<HashMap<Key, String>>> = OnceLock::new();
    let read_err = |source| StoreError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = fs_err::metadata(path).map_err(read_err)?;
    let key = (path.to_owned(), meta.len(), meta.modified().ok());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(d) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(d);
    }
    let mut file = fs_err::File::open(path).map_err(read_err)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let digest = hex(&h.finalize());
    if let Ok(mut c) = cache.lock() {
        c.insert(key, digest.clone());
    }
    Ok(digest)
}

/// The images of a folder source, stamped as [`files_stamp`] says, by their paths
/// relative to `dir` (so a moved folder is the same data).
fn folder_stamp(dir: &Path) -> Result<String, StoreError> {
    let files = image_source::images_under(dir).map_err(|e| StoreError::Read {
        path: dir.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    files_stamp(dir, &files)
}

/// sha256 of each file's path (relative to `base`), size and modification time, not of
/// its bytes: the quick check of rsync and make. Hashing every byte of a folder of images
/// would cost as much as an epoch of reading it at every `ronin train`; the price is that
/// a copy which does not keep modification times (`cp` without `-p`, a fresh clone or
/// download) counts as other data, and an edit that keeps a file's size and time
/// (`touch -r`) goes unseen. CSV files themselves are hashed by content.
fn files_stamp(base: &Path, files: &[PathBuf]) -> Result<String, StoreError> {
    let mut h = Sha256::new();
    h.update(b"files v1\0");
    for f in files {
        let meta = fs_err::metadata(f).map_err(|source| StoreError::Read {
            path: f.clone(),
            source,
        })?;
        let rel = f.strip_prefix(base).unwrap_or(f);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(meta.len().to_le_bytes());
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        h.update(mtime.to_le_bytes());
    }
    Ok(hex(&h.finalize()))
}

/// sha256 of some bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(dir: &Path, text_extra: &str) -> Pipeline {
        let text = format!(
            r#"(epochs: 1, data: (source: Idx(images: "{0}/images-idx3-ubyte", labels: "{0}/labels-idx1-ubyte")),
               model: (layers: [Flatten, Linear(units: 2)]), optimizer: Adam(lr: 0.001)){text_extra}"#,
            dir.display()
        );
        Pipeline::from_str_named(&text, "tiny", None).unwrap()
    }

    fn write_data(dir: &Path, pixel: u8) {
        let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2];
        bytes.extend([pixel; 4]);
        std::fs::write(dir.join("images-idx3-ubyte"), bytes).unwrap();
        std::fs::write(dir.join("labels-idx1-ubyte"), [0, 0, 8, 1, 0, 0, 0, 1, 1]).unwrap();
    }

    #[test]
    fn comments_do_not_change_the_experiment_but_data_and_code_do() {
        let dir = tempfile::tempdir().unwrap();
        write_data(dir.path(), 7);
        let clean = GitInfo {
            commit: Some("abc".into()),
            dirty: false,
            diff_hash: None,
        };
        let a = experiment_fingerprint(&pipeline(dir.path(), ""), &clean, dir.path()).unwrap();
        let b = experiment_fingerprint(
            &pipeline(dir.path(), "\n// a comment\n"),
            &clean,
            dir.path(),
        )
        .unwrap();
        assert_eq!(a, b);
        let dirty = GitInfo {
            dirty: true,
            diff_hash: Some("d1".into()),
            ..clean.clone()
        };
        assert_ne!(
            experiment_fingerprint(&pipeline(dir.path(), ""), &dirty, dir.path()).unwrap(),
            a
        );
        let other = GitInfo {
            commit: Some("abd".into()),
            ..clean.clone()
        };
        assert_ne!(
            experiment_fingerprint(&pipeline(dir.path(), ""), &other, dir.path()).unwrap(),
            a
        );
        // Same size, other bytes, and a later modification time: a new experiment.
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_data(dir.path(), 9);
        assert_ne!(
            experiment_fingerprint(&pipeline(dir.path(), ""), &clean, dir.path()).unwrap(),
            a
        );
    }

    #[test]
    fn a_folder_source_is_stamped_by_its_images_paths_sizes_and_times() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("imgs");
        for class in ["a", "b"] {
            std::fs::create_dir_all(root.join(class)).unwrap();
            std::fs::write(root.join(class).join("1.png"), [1, 2, 3]).unwrap();
        }
        let text = format!(
            r#"(epochs: 1, data: (source: ImageFolder(root: "{}", size: (2, 2))),
               model: (layers: [Flatten, Linear(units: 2)]), optimizer: Adam(lr: 0.001))"#,
            root.display()
        );
        let p = Pipeline::from_str_named(&text, "folder", None).unwrap();
        let git = GitInfo::default();
        let a = experiment_fingerprint(&p, &git, dir.path()).unwrap();
        assert_eq!(experiment_fingerprint(&p, &git, dir.path()).unwrap(), a);
        // A file that is not an image does not count; a new image does.
        std::fs::write(root.join("a").join("notes.txt"), "x").unwrap();
        assert_eq!(experiment_fingerprint(&p, &git, dir.path()).unwrap(), a);
        std::fs::write(root.join("b").join("2.png"), [4]).unwrap();
        let b = experiment_fingerprint(&p, &git, dir.path()).unwrap();
        assert_ne!(b, a);
        // Other bytes of another length.
        std::fs::write(root.join("b").join("2.png"), [4, 5]).unwrap();
        assert_ne!(experiment_fingerprint(&p, &git, dir.path()).unwrap(), b);
    }
}
