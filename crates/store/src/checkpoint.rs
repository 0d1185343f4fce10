//! Where checkpoints live in a run, and how a new one replaces the old.
//!
//! A checkpoint is a folder `checkpoints/<name>/`. A new one is written to
//! `.<name>.partial/`, the old one is renamed to `.<name>.old/`, the new one renamed into
//! place, and the old one deleted. A process killed between the two renames leaves the
//! previous checkpoint in `.<name>.old/`; [`find_checkpoint`] falls back to it, so a
//! reader never finds a run without its last complete checkpoint.

use std::path::{Path, PathBuf};

/// The folder a new checkpoint is written into before it replaces `<name>`.
pub fn checkpoint_partial(checkpoints: &Path, name: &str) -> PathBuf {
    checkpoints.join(format!(".{name}.partial"))
}

/// The folder the previous `<name>` waits in while the new one is renamed into place.
pub fn checkpoint_old(checkpoints: &Path, name: &str) -> PathBuf {
    checkpoints.join(format!(".{name}.old"))
}

/// The complete checkpoint `<name>` of a run's `checkpoints/` folder: `<name>/`, or the
/// previous one left in `.<name>.old/` by a save that was cut short; `None` when neither exists.
pub fn find_checkpoint(checkpoints: &Path, name: &str) -> Option<PathBuf> {
    [checkpoints.join(name), checkpoint_old(checkpoints, name)]
        .into_iter()
        .find(|p| p.is_dir())
}

/// The names of a run's complete checkpoints (each one [`find_checkpoint`] finds), sorted.
pub fn list_checkpoints(checkpoints: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(checkpoints)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            match name.strip_prefix('.') {
                None => Some(name),
                Some(hidden) => hidden.strip_suffix(".old").map(str::to_owned),
            }
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_what_find_checkpoint_finds() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list_checkpoints(&dir.path().join("absent")).is_empty());
        for d in [
            "last",
            "epoch-2",
            ".best.old",
            ".last.old",
            ".epoch-3.partial",
        ] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), "").unwrap();
        let names = list_checkpoints(dir.path());
        assert_eq!(names, ["best", "epoch-2", "last"]);
        for n in &names {
            assert!(find_checkpoint(dir.path(), n).is_some(), "{n}");
        }
    }

    #[test]
    fn a_save_cut_between_its_renames_still_finds_the_previous_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_checkpoint(dir.path(), "best"), None);
        std::fs::create_dir(checkpoint_old(dir.path(), "best")).unwrap();
        std::fs::create_dir(checkpoint_partial(dir.path(), "best")).unwrap();
        assert_eq!(
            find_checkpoint(dir.path(), "best"),
            Some(dir.path().join(".best.old"))
        );
        std::fs::create_dir(dir.path().join("best")).unwrap();
        assert_eq!(
            find_checkpoint(dir.path(), "best"),
            Some(dir.path().join("best"))
        );
    }
}
