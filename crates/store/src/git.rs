//! The commit and dirty state of the repository a run starts from (via the `git` command).

use std::path::Path;
use std::process::Command;

use crate::record::GitInfo;

/// Reads `git rev-parse HEAD` and `git status --porcelain` in `dir`, and when tracked
/// files have uncommitted changes, hashes `git diff HEAD` so that two runs from the same
/// dirty tree can be told apart from runs of different edits. Outside a repository, or
/// without git, returns no commit.
pub fn git_info(dir: &Path) -> GitInfo {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = run(&["rev-parse", "HEAD"]);
    let dirty = commit.is_some()
        && run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let diff_hash = if dirty {
        Command::new("git")
            .args(["diff", "HEAD", "--binary"])
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| crate::fingerprint::sha256_hex(&o.stdout))
    } else {
        None
    };
    GitInfo {
        commit,
        dirty,
        diff_hash,
    }
}
