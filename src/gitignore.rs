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

/// Whether git tracks `path` (it is in the index). `false` outside a git
/// work tree.
pub fn is_tracked(path: &Path) -> bool {
    let dir = fsio::parent_dir(path);
    let Some(name) = path.file_name() else {
        return false;
    };
    git(&dir)
        .args(["ls-files", "--error-unmatch", "--"])
        .arg(name)
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `dir` is inside a git work tree (not inside `.git`, where
/// `git rev-parse --is-inside-work-tree` succeeds but prints `false`).
pub fn in_work_tree(dir: &Path) -> bool {
    git(dir)
        .args(["rev-parse", "--is-inside-work-tree"])
        .stdout(Stdio::piped())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.trim_ascii() == b"true")
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
        (
            path.to_path_buf(),
            escape(&name).map_err(|e| Error::io(path, e))?,
        ),
        (
            dir.join(format!("{}x", fsio::TEMP_PREFIX)),
            format!("{}*", fsio::TEMP_PREFIX),
        ),
        (dir.join(fsio::LOCK_FILE), fsio::LOCK_FILE.to_owned()),
    ];
    // git never ignores a file it tracks: a pattern would not help.
    if is_tracked(path) {
        return Err(Error::io(
            path,
            std::io::Error::other(
                "is committed to git: run 'git rm --cached' on it (and change the secrets it held), then try again",
            ),
        ));
    }
    let missing: Vec<&(std::path::PathBuf, String)> = wanted
        .iter()
        .filter(|(file, _)| !is_ignored(file))
        .collect();
    let patterns: Vec<String> = missing.iter().map(|(_, p)| p.clone()).collect();
    let added = add_patterns(&dir, &patterns)?;
    // Trust git, not the file: another rule (`!.env`) may still win.
    if !added.is_empty() && in_work_tree(&dir) {
        for (file, _) in missing {
            if !is_ignored(file) {
                return Err(Error::io(
                    file,
                    std::io::Error::other(format!(
                        "git still does not ignore it after adding it to {}: another rule \
                         (a '!' pattern?) wins; fix .gitignore before going on",
                        dir.join(".gitignore").display()
                    )),
                ));
            }
        }
    }
    Ok(added)
}

/// `name` as a `.gitignore` pattern that matches exactly that name:
/// `*`, `?`, `[` and `\` escaped, a leading `#` or `!` escaped, trailing
/// spaces kept. A name with a line break cannot be written: an error.
pub fn escape(name: &str) -> std::io::Result<String> {
    if name.contains(['\n', '\r']) {
        return Err(std::io::Error::other(
            "a file name with a line break cannot be listed in .gitignore; choose another name",
        ));
    }
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if matches!(c, '*' | '?' | '[' | '\\') || (i == 0 && matches!(c, '#' | '!')) {
            out.push('\\');
        }
        out.push(c);
    }
    // Trailing spaces are dropped by git unless escaped.
    let trimmed = out.trim_end_matches(' ').len();
    let spaces = out.len() - trimmed;
    out.truncate(trimmed);
    for _ in 0..spaces {
        out.push_str("\\ ");
    }
    Ok(out)
}

/// Appends each of `patterns` that `dir/.gitignore` does not list yet, as a
/// line of its own, under the directory's write lock. Returns the ones
/// added.
pub fn add_patterns(dir: &Path, patterns: &[String]) -> Result<Vec<String>> {
    if patterns.is_empty() {
        return Ok(Vec::new());
    }
    let gitignore = dir.join(".gitignore");
    if std::fs::symlink_metadata(&gitignore).is_ok_and(|m| m.file_type().is_symlink()) {
        // git does not read a symlinked .gitignore: writing through it would
        // report files as ignored that are not.
        return Err(Error::io(
            &gitignore,
            std::io::Error::other(
                "is a symbolic link, which git does not read; make it a regular file \
                 (nothing was written)",
            ),
        ));
    }
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
    fn names_are_escaped_to_match_only_themselves() {
        assert_eq!(escape(".env").unwrap(), ".env");
        assert_eq!(escape("#x.env").unwrap(), "\\#x.env");
        assert_eq!(escape("!y.env").unwrap(), "\\!y.env");
        assert_eq!(escape("a[1]*.env").unwrap(), "a\\[1]\\*.env");
        assert_eq!(escape("b\\c").unwrap(), "b\\\\c");
        assert_eq!(escape("trail  ").unwrap(), "trail\\ \\ ");
        assert!(escape("nl\nx").is_err());
    }

    /// A temporary directory holding a new git repository.
    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("git")
            .args(["init", "-q"])
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(ok.success());
        dir
    }

    #[test]
    fn escaped_names_are_ignored_by_git() {
        let dir = repo();
        for name in ["#x.env", "!y.env", "a[1].env", "trail ", "b\\c", "*"] {
            let path = dir.path().join(name);
            std::fs::write(&path, "x").unwrap();
            ensure_ignored(&path).unwrap();
            assert!(is_ignored(&path), "{name}");
            // Only that name: a sibling is not ignored.
            assert!(!is_ignored(&dir.path().join("other")), "{name}");
        }
    }

    #[test]
    fn inside_dot_git_is_not_a_work_tree() {
        let dir = repo();
        assert!(in_work_tree(dir.path()));
        assert!(!in_work_tree(&dir.path().join(".git")));
        assert!(!in_work_tree(&dir.path().join(".git/hooks")));
    }

    #[test]
    fn a_symlinked_gitignore_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::NamedTempFile::new().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(".gitignore")).unwrap();
        let err = add_patterns(dir.path(), &[".env".into()]).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(elsewhere.path()).unwrap(), "");
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
