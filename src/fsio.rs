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
/// `mode` sets Unix permissions of the new file (`0o600` for keys and
/// plaintext); `None` keeps the mode of the file being replaced, or `0o644`
/// (less the umask's effect is not applied) for a new one.
pub fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> Result<()> {
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".envcloak-tmp-")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    set_mode(tmp.as_file(), path, mode)?;
    tmp.write_all(contents).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(&dir);
    Ok(())
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
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".envcloak-tmp-")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    set_mode(tmp.as_file(), path, Some(0o600))?;
    tmp.write_all(contents).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
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
    fn create_new_private_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        assert!(create_new_private(&p, b"one").unwrap());
        assert!(!create_new_private(&p, b"two").unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "one");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
