//! `.gitignore` upkeep: plaintext, key files, envcloak's temporary and lock
//! files must never be committed.
//!
//! Each change to a `.gitignore` is a read-modify-write under the directory's
//! [`WriteLock`](crate::fsio::WriteLock), so parallel envcloak processes that
//! each add a line never lose one another's.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::fsio;

/// Whether git ignores `path` (asked with `git check-ignore`, so every
/// `.gitignore`, `.git/info/exclude` and the global excludes count).
/// `false` outside a git work tree, or when git is not installed.
pub fn is_ignored(path: &Path) -> bool {
    let dir = fsio::parent_dir(path);
    let Some(name) = path.file_name() else {
        return false;
    };
    git(&dir)
        .args(["check-ignore", "-q", "--"])
        .arg(name)
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `dir` is inside a git work tree.
pub fn in_work_tree(dir: &Path) -> bool {
    git(dir)
        .args(["rev-parse", "--is-inside-work-tree"])
        .status()
        .is_ok_and(|s| s.success())
}

fn git(dir: &Path) -> Command {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Makes sure git ignores `path`, and envcloak's temporary and lock files
/// beside it (a write killed before its rename leaves a private temporary
/// file that may hold plaintext). Each pattern git does not ignore yet is
/// appended to the `.gitignore` in the same directory. Returns the
/// patterns added, for the caller to report.
///
/// This works before the directory is a git repository too (the patterns
/// are then simply written), so a project made before `git init` is safe.
pub fn ensure_ignored(path: &Path) -> Result<Vec<String>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = fsio::parent_dir(path);
    let wanted = [
        (path.to_path_buf(), name),
        (
            dir.join(format!("{}x", fsio::TEMP_PREFIX)),
            format!("{}*", fsio::TEMP_PREFIX),
        ),
        (dir.join(fsio::LOCK_FILE), fsio::LOCK_FILE.to_owned()),
    ];
    let mut missing = Vec::new();
    for (file, pattern) in wanted {
        if !is_ignored(&file) {
            missing.push(pattern);
        }
    }
    add_patterns(&dir, &missing)
}

/// Appends each of `patterns` that `dir/.gitignore` does not list yet, as a
/// line of its own, under the directory's write lock. Returns the ones
/// added.
pub fn add_patterns(dir: &Path, patterns: &[String]) -> Result<Vec<String>> {
    if patterns.is_empty() {
        return Ok(Vec::new());
    }
    let gitignore = dir.join(".gitignore");
    let _lock = fsio::lock(&gitignore)?;
    let mut text = match std::fs::read_to_string(&gitignore) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(&gitignore, e)),
    };
    let mut added = Vec::new();
    for pattern in patterns {
        let listed = text
            .lines()
            .any(|l| l.trim() == pattern || l.trim().strip_prefix('/') == Some(pattern));
        if listed || added.contains(pattern) {
            continue;
        }
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(pattern);
        text.push('\n');
        added.push(pattern.clone());
    }
    if !added.is_empty() {
        fsio::write_atomic(&gitignore, text.as_bytes(), None)?;
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_added_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "target").unwrap();
        let added = add_patterns(dir.path(), &[".env".into(), ".env".into()]).unwrap();
        assert_eq!(added, [".env"]);
        assert!(
            add_patterns(dir.path(), &["/.env".into(), ".env".into()])
                .unwrap()
                .len()
                == 1
        );
        let text = std::fs::read_to_string(dir.path().join(".gitignore")).unwrap();
        assert_eq!(text, "target\n.env\n/.env\n");
    }

    #[test]
    fn parallel_writers_lose_no_line() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            for i in 0..16 {
                let d = dir.path();
                s.spawn(move || add_patterns(d, &[format!(".env.p{i}")]).unwrap());
            }
        });
        let text = std::fs::read_to_string(dir.path().join(".gitignore")).unwrap();
        for i in 0..16 {
            assert!(text.lines().any(|l| l == format!(".env.p{i}")), "{text}");
        }
    }
}
