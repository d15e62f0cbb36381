//! Atomic writes, private temporary files, and the write lock.
//!
//! Every file envcloak changes is written to a temporary file in the same
//! directory, flushed to disk, and renamed over the target: an interrupted
//! write leaves the old file whole. A symlink is written through: the
//! temporary file goes beside the link's target, which is replaced, and the
//! link stays a link.
//!
//! Every read-modify-write holds a [`WriteLock`] from the read to the
//! rename, so two envcloak processes changing the same file never lose an
//! update.

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Writes `contents` to `path` atomically (temp file in the same directory,
/// fsync, rename, fsync of the directory).
///
/// `mode` sets the Unix permissions of the new file (`0o600` for keys and
/// plaintext); `None` keeps the mode of the file being replaced, or gives a
/// new one `0o644`. A symlink at `path` is written through to its target.
/// An existing target that is not a regular file (a FIFO, a device, a
/// directory) is refused: it is never renamed over.
pub fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> Result<()> {
    let target = resolve(path)?;
    if std::fs::metadata(path)
        .or_else(|_| std::fs::metadata(&target))
        .is_ok_and(|m| !m.is_file())
    {
        return Err(Error::io(
            path,
            std::io::Error::other("not a regular file; nothing was written"),
        ));
    }
    let (tmp, dir) = staged(&target, contents, mode)?;
    tmp.persist(&target).map_err(|e| Error::io(path, e.error))?;
    sync_dir(&dir);
    Ok(())
}

/// The file a write to `path` lands in: `path` itself, or, when it is a
/// symlink, the file it points to (followed through any chain of links,
/// relative links read from the link's own directory). The target need
/// not exist yet.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&current).map_err(|e| Error::io(&current, e))?;
                current = if link.is_absolute() {
                    link
                } else {
                    parent_dir(&current).join(link)
                };
            }
            _ => return Ok(current),
        }
    }
    Err(Error::io(
        path,
        std::io::Error::other("too many levels of symbolic links"),
    ))
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
    // A symlink's target is what a write replaces: that is what to keep
    // (a link to the link would follow the new contents).
    let path = &resolve(path)?;
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

/// A free name for a backup of `path`: `<name>.backup-YYYYMMDDTHHMMSSZ`
/// beside it (with `-2`, `-3`, ... if taken).
pub fn backup_name(path: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let stamp = format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut candidate = path.with_file_name(format!("{name}.backup-{stamp}"));
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = path.with_file_name(format!("{name}.backup-{stamp}-{n}"));
    }
    candidate
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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

/// The lock file envcloak keeps in each directory it writes in. It is
/// never removed (removing a lock file while another process waits on it
/// would let two writers in); it holds nothing, and the CLI keeps it in
/// `.gitignore`.
pub const LOCK_FILE: &str = ".envcloak.lock";

/// How long [`lock`] waits by default for another writer.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// How [`lock_with`] waits.
pub struct LockOptions<'a> {
    /// Give up after this long ([`Error::LockTimeout`]).
    pub timeout: Duration,
    /// Called once, with the file being written, when the lock has not come
    /// after about a second: the CLI prints "waiting for another envcloak
    /// writing .env.enc…".
    pub on_wait: Option<&'a dyn Fn(&Path)>,
}

impl LockOptions<'_> {
    /// The default wait, or `ENVCLOAK_LOCK_TIMEOUT` seconds when that
    /// variable is set (an invalid value is an error naming it).
    pub fn from_env() -> Result<LockOptions<'static>> {
        let timeout = match std::env::var_os("ENVCLOAK_LOCK_TIMEOUT") {
            None => DEFAULT_LOCK_TIMEOUT,
            Some(v) if v.is_empty() => DEFAULT_LOCK_TIMEOUT,
            Some(v) => v
                .to_str()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 1e9)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| Error::Setting {
                    name: "ENVCLOAK_LOCK_TIMEOUT".into(),
                    reason: "expected a number of seconds".into(),
                })?,
        };
        Ok(LockOptions {
            timeout,
            on_wait: None,
        })
    }
}

/// An exclusive write lock for the files of one directory, released on
/// drop (and by the operating system if the process dies, so a killed
/// writer never leaves it stuck).
///
/// It is an advisory lock (`flock`) on the directory's [`LOCK_FILE`], not on
/// the file being written: the atomic rename replaces that file's inode,
/// and a lock on a replaced inode protects nothing. Locks are re-entrant
/// within a thread (a write of `.env.enc` that also updates `.gitignore` in
/// the same directory takes the lock once); other threads and processes
/// wait.
#[must_use = "the lock is released when this is dropped"]
pub struct WriteLock {
    dir: PathBuf,
    /// Held in one thread: the lock's file lives in that thread's table of
    /// held locks (`!Send`, so a guard is never dropped elsewhere).
    _not_send: std::marker::PhantomData<*const ()>,
}

impl std::fmt::Debug for WriteLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WriteLock({})", self.dir.display())
    }
}

/// A directory lock this thread holds: how many guards share it, and the
/// locked file, closed (and so unlocked) when the last guard goes, in
/// whatever order the guards are dropped.
struct Held {
    dir: PathBuf,
    depth: usize,
    file: std::fs::File,
}

thread_local! {
    static HELD: RefCell<Vec<Held>> = const { RefCell::new(Vec::new()) };
}

/// Takes the write lock that covers `target` (a file to be changed, or a
/// symlink to one), waiting as [`LockOptions::from_env`] says.
pub fn lock(target: &Path) -> Result<WriteLock> {
    lock_with(target, &LockOptions::from_env()?)
}

/// Takes the write locks that cover every one of `targets` (a command that
/// changes files in two directories: an encrypted file and a key file kept
/// elsewhere), always in the same order — sorted by directory — so that
/// two commands never each hold one and wait for the other's.
pub fn lock_all_with(targets: &[&Path], options: &LockOptions<'_>) -> Result<Vec<WriteLock>> {
    let mut keyed = Vec::with_capacity(targets.len());
    for target in targets {
        let dir = parent_dir(&resolve(target)?);
        let key = std::fs::canonicalize(&dir).map_err(|e| Error::io(&dir, e))?;
        keyed.push((key, *target));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    keyed
        .into_iter()
        .map(|(_, target)| lock_with(target, options))
        .collect()
}

/// Takes the write lock that covers `target`: the lock of the directory
/// its real file (symlinks followed) lives in.
pub fn lock_with(target: &Path, options: &LockOptions<'_>) -> Result<WriteLock> {
    let real = resolve(target)?;
    let dir = parent_dir(&real);
    let key = std::fs::canonicalize(&dir).map_err(|e| Error::io(&dir, e))?;
    let reentrant = HELD.with(|held| {
        let mut held = held.borrow_mut();
        match held.iter_mut().find(|h| h.dir == key) {
            Some(h) => {
                h.depth += 1;
                true
            }
            None => false,
        }
    });
    if reentrant {
        return Ok(WriteLock {
            dir: key,
            _not_send: std::marker::PhantomData,
        });
    }
    let lock_path = key.join(LOCK_FILE);
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let file = opts
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    let start = Instant::now();
    let mut told = false;
    let mut pause = Duration::from_millis(2);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let waited = start.elapsed();
        if waited >= options.timeout {
            return Err(Error::LockTimeout {
                path: target.to_path_buf(),
                waited_secs: waited.as_secs(),
            });
        }
        if !told && waited >= Duration::from_secs(1) {
            told = true;
            if let Some(on_wait) = options.on_wait {
                on_wait(target);
            }
        }
        // Short pauses at first (writes take milliseconds), then at most
        // 50 ms, with jitter so queued writers do not wake in lockstep.
        let jitter = Duration::from_micros(u64::from(crate::crypto::random_bytes(1)[0]) * 40);
        std::thread::sleep((pause + jitter).min(options.timeout.saturating_sub(waited)));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    HELD.with(|held| {
        held.borrow_mut().push(Held {
            dir: key.clone(),
            depth: 1,
            file,
        })
    });
    Ok(WriteLock {
        dir: key,
        _not_send: std::marker::PhantomData,
    })
}

impl WriteLock {
    /// An error unless this lock covers writes to `path` (the directory of
    /// its real file): a guard against writing a file under another
    /// directory's lock.
    pub fn check_covers(&self, path: &Path) -> Result<()> {
        let dir = parent_dir(&resolve(path)?);
        let dir = std::fs::canonicalize(&dir).map_err(|e| Error::io(&dir, e))?;
        if dir == self.dir {
            Ok(())
        } else {
            Err(Error::io(
                path,
                std::io::Error::other("internal: written without its write lock"),
            ))
        }
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let released = HELD.with(|held| {
            let mut held = held.borrow_mut();
            let i = held.iter().position(|h| h.dir == self.dir)?;
            held[i].depth -= 1;
            (held[i].depth == 0).then(|| held.swap_remove(i))
        });
        if let Some(h) = released {
            let _ = h.file.unlock();
        }
    }
}

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
    fn a_reentrant_lock_holds_until_the_last_guard_whatever_the_order() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        let quick = LockOptions {
            timeout: Duration::from_millis(50),
            on_wait: None,
        };
        let a = lock_with(&f, &quick).unwrap();
        let b = lock_with(&f, &quick).unwrap();
        drop(a);
        // Another thread still cannot take it while `b` lives.
        let try_elsewhere = || {
            let f = f.clone();
            std::thread::spawn(move || {
                let quick = LockOptions {
                    timeout: Duration::from_millis(50),
                    on_wait: None,
                };
                lock_with(&f, &quick).is_ok()
            })
            .join()
            .unwrap()
        };
        assert!(!try_elsewhere());
        drop(b);
        assert!(try_elsewhere());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_418), (2025, 11, 26));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn the_backup_of_a_symlink_keeps_its_target_s_old_contents() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::fs::write(dir.path().join("real/dev.env"), "OLD=1").unwrap();
        let link = dir.path().join(".env");
        std::os::unix::fs::symlink("real/dev.env", &link).unwrap();
        let b = dir.path().join(".env.backup");
        assert!(backup(&link, &b).unwrap());
        write_atomic(&link, b"NEW=1", Some(0o600)).unwrap();
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "OLD=1");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "NEW=1");
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
