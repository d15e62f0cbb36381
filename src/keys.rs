//! Where keys come from: environment variables, key files, a key command.
//!
//! The order (DESIGN §3): `ENVCLOAK_KEY_<PROFILE>` (for the profile's own
//! `.env.<profile>.enc` only), `ENVCLOAK_KEY`, the file
//! named by `ENVCLOAK_KEY_FILE`, the output of `ENVCLOAK_KEY_CMD`, then the
//! key file beside the encrypted file (`.env.<profile>.key` for
//! `.env.<profile>.enc`, and `.env.key`). An empty variable counts as unset,
//! so a CI secret that is not available (forks) means "no key", not a bad key.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::crypto::Keyring;
use crate::error::{Error, Result};

/// What [`find`] searches with.
pub struct Search<'a> {
    /// The environment to read `ENVCLOAK_KEY*` from.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The active profile, if any.
    pub profile: Option<&'a str>,
    /// The encrypted file the key is for; key files are looked for beside it.
    pub encrypted: &'a Path,
}

/// A key that was found, and where.
#[derive(Debug)]
pub struct Found {
    /// The key or keyring.
    pub keyring: Keyring,
    /// Where it came from: `ENVCLOAK_KEY`, `.env.key`, ...
    pub origin: String,
}

/// The key file that belongs to an encrypted file: `X.enc` -> `X.key`
/// (`.env.enc` -> `.env.key`), otherwise `X.key` appended.
pub fn key_file_for(encrypted: &Path) -> PathBuf {
    let name = encrypted
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".enc").unwrap_or(&name);
    encrypted.with_file_name(format!("{stem}.key"))
}

/// Every place [`find`] looks, in order, for messages.
pub fn places(search: &Search<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(var) = profile_var(search) {
        out.push(var);
    }
    out.extend(["ENVCLOAK_KEY", "ENVCLOAK_KEY_FILE", "ENVCLOAK_KEY_CMD"].map(String::from));
    for file in key_files(search) {
        out.push(file.display().to_string());
    }
    out
}

/// `ENVCLOAK_KEY_<PROFILE>`, for the profile's own encrypted file only
/// (`.env.staging.enc`): `.env.enc` keeps its own key even with a profile.
fn profile_var(search: &Search<'_>) -> Option<String> {
    let p = search.profile?;
    let name = search.encrypted.file_name()?.to_str()?;
    (name == format!(".env.{p}.enc")).then(|| format!("ENVCLOAK_KEY_{}", p.to_ascii_uppercase()))
}

fn key_files(search: &Search<'_>) -> Vec<PathBuf> {
    let own = key_file_for(search.encrypted);
    let default = search.encrypted.with_file_name(".env.key");
    if own == default {
        vec![own]
    } else {
        vec![own, default]
    }
}

/// Looks for a key for `search.encrypted`. `Ok(None)` when none is found
/// anywhere; an error when one is found but unusable.
pub fn find(search: &Search<'_>) -> Result<Option<Found>> {
    let var = |name: &str| (search.env)(name).filter(|v| !v.trim().is_empty());
    let mut vars = Vec::new();
    vars.extend(profile_var(search));
    vars.push("ENVCLOAK_KEY".to_owned());
    for name in vars {
        if let Some(v) = var(&name) {
            let v = Zeroizing::new(v);
            return parse(&v, &name).map(|keyring| {
                Some(Found {
                    keyring,
                    origin: name,
                })
            });
        }
    }
    if let Some(file) = var("ENVCLOAK_KEY_FILE") {
        let keyring = read_key_file(Path::new(&file))?;
        return Ok(Some(Found {
            keyring,
            origin: format!("ENVCLOAK_KEY_FILE ({file})"),
        }));
    }
    if let Some(cmd) = var("ENVCLOAK_KEY_CMD") {
        let out = run_key_command(&cmd)?;
        let keyring = parse(&out, "ENVCLOAK_KEY_CMD")?;
        return Ok(Some(Found {
            keyring,
            origin: "ENVCLOAK_KEY_CMD".into(),
        }));
    }
    for file in key_files(search) {
        if file.exists() {
            let keyring = read_key_file(&file)?;
            return Ok(Some(Found {
                keyring,
                origin: file.display().to_string(),
            }));
        }
    }
    Ok(None)
}

/// Like [`find`], but no key is an [`Error::KeyNotFound`] listing every
/// place looked in.
pub fn require(search: &Search<'_>) -> Result<Found> {
    find(search)?.ok_or_else(|| Error::KeyNotFound {
        path: search.encrypted.to_path_buf(),
        looked: places(search),
    })
}

fn parse(text: &str, origin: &str) -> Result<Keyring> {
    Keyring::parse(text).map_err(|e| Error::Key {
        origin: origin.into(),
        reason: e.to_string().into(),
    })
}

/// Reads a key file: a regular file, not readable or writable by group or
/// others (as ssh insists), holding a key or comma-separated keyring.
pub fn read_key_file(path: &Path) -> Result<Keyring> {
    let origin = || path.display().to_string().into_boxed_str();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::Key {
            origin: origin(),
            reason: "not a regular file".into(),
        });
    }
    check_permissions(path, &meta)?;
    if meta.len() > 64 * 1024 {
        return Err(Error::Key {
            origin: origin(),
            reason: "larger than 64 KiB: not a key file".into(),
        });
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io(path, e))?);
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::Key {
        origin: origin(),
        reason: "not UTF-8 text".into(),
    })?;
    parse(text, &path.display().to_string())
}

#[cfg(unix)]
fn check_permissions(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::Key {
            origin: path.display().to_string().into(),
            reason: format!(
                "permissions {mode:04o} are too open: others can read the key; run 'chmod 600 {}'",
                path.display()
            )
            .into(),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_: &Path, _: &std::fs::Metadata) -> Result<()> {
    Ok(())
}

/// Runs `sh -c CMD`, returns its trimmed standard output.
fn run_key_command(cmd: &str) -> Result<Zeroizing<String>> {
    let origin = || "ENVCLOAK_KEY_CMD".into();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| Error::Key {
            origin: origin(),
            reason: format!("could not run 'sh': {e}").into(),
        })?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        return Err(Error::Key {
            origin: origin(),
            reason: format!("the command failed ({})", out.status).into(),
        });
    }
    let text = std::str::from_utf8(&stdout).map_err(|_| Error::Key {
        origin: origin(),
        reason: "the command printed something that is not UTF-8".into(),
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::Key {
            origin: origin(),
            reason: "the command printed nothing".into(),
        });
    }
    Ok(Zeroizing::new(text.to_owned()))
}
