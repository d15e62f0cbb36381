//! Atomic writes and private temporary files.
//!
//! Every file envcloak changes is written to a temporary file in the same
//! directory, flushed to disk, and renamed over the target: an interrupted
//! write leaves the old file whole.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `contents` to `path` atomically (temp file in the same directory,
/// fsync, rename, fsync of the directory).
///
/// `mode` sets the Unix permissions of the new file (`0o600` for keys and
/// plaintext); `None` keeps the mode of the file being replaced, or gives a
/// new one `0o644`.
pub fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> Result<()> {
    let (tmp, dir) = staged(path, contents, mode)?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(&dir);
    Ok(())
}

/// A temporary file beside `path` holding `contents`, with `mode`, already
/// flushed to disk: all that is left is the rename. Also sweeps leftovers.
fn staged(
    path: &Path,
    contents: &[u8],
    mode: Option<u32>,
) -> Result<(tempfile::NamedTempFile, PathBuf)> {
    let dir = parent_dir(path);
    sweep_stale_temps(&dir);
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    set_mode(tmp.as_file(), path, mode)?;
    tmp.write_all(contents).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    Ok((tmp, dir))
}

/// The prefix of envcloak's temporary files. A process killed between
/// writing one and renaming it leaves it behind (mode 0600); the next write
/// in that directory removes leftovers older than [`STALE_AFTER`], and the
/// CLI keeps the pattern in `.gitignore`.
pub const TEMP_PREFIX: &str = ".envcloak-tmp-";

/// How old a temporary file must be before it counts as left behind (a
/// live write never takes this long).
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes `.envcloak-tmp-*` files in `dir` older than [`STALE_AFTER`]:
/// leftovers of killed writes, which may hold plaintext. Best effort.
pub fn sweep_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let old = entry
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Keeps the current `path` under the new name `backup` without copying
/// it (a hard link: atomic, and no temporary copy of its contents exists at
/// any moment); falls back to a private atomic copy where links are not
/// supported. The backup is made private (0600) — and so, until it is
/// replaced, is `path`, which shares its inode. `Ok(false)` when `backup`
/// already exists.
pub fn backup(path: &Path, backup: &Path) -> Result<bool> {
    match std::fs::hard_link(path, backup) {
        Ok(()) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(backup, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| Error::io(backup, e))?;
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(_) => {
            let old = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| Error::io(path, e))?);
            create_new_private(backup, &old)
        }
    }
}

/// The directory `path` lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File, target: &Path, mode: Option<u32>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match mode {
        Some(m) => m,
        None => std::fs::metadata(target)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644),
    };
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(target, e))
}

#[cfg(not(unix))]
fn set_mode(_: &std::fs::File, _: &Path, _: Option<u32>) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    // Best effort: makes the rename itself durable.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_: &Path) {}

/// Creates `path` with `contents` only if it does not exist yet (mode
/// 0600), atomically. Returns `false` when it already existed.
pub fn create_new_private(path: &Path, contents: &[u8]) -> Result<bool> {
    let (tmp, dir) = staged(path, contents, Some(0o600))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => {
            sync_dir(&dir);
            Ok(true)
        }
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io(path, e.error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "old").unwrap();
        write_atomic(&p, b"new", Some(0o600)).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn stale_temps_are_swept_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".envcloak-tmp-old");
        let fresh = dir.path().join(".envcloak-tmp-new");
        std::fs::write(&stale, "plaintext").unwrap();
        std::fs::write(&fresh, "in flight").unwrap();
        let long_ago = std::time::SystemTime::now() - STALE_AFTER * 2;
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        write_atomic(&dir.path().join("f"), b"x", None).unwrap();
        assert!(!stale.exists());
        assert!(fresh.exists());
    }

    #[test]
    fn backup_links_without_copying() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        let b = dir.path().join(".env.backup");
        std::fs::write(&p, "old").unwrap();
        assert!(backup(&p, &b).unwrap());
        write_atomic(&p, b"new", Some(0o600)).unwrap();
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "old");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert!(!backup(&p, &b).unwrap());
    }

    #[test]
    fn create_new_private_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        assert!(create_new_private(&p, b"one").unwrap());
        assert!(!create_new_private(&p, b"two").unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "one");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
