//! `decrypt --format github|docker|k8s`: the values in each platform's own
//! syntax, as its documentation defines it.
//!
//! - GitHub Actions ("Workflow commands for GitHub Actions"): a multi-line
//!   value goes to the file `GITHUB_ENV` names as `NAME<<DELIMITER`, the
//!   value, `DELIMITER`; a value is masked in the log by printing
//!   `::add-mask::VALUE` on standard output, one line at a time (the runner
//!   masks single lines), with `%` written `%25` (the runner unescapes
//!   command data).
//! - Docker (`docker run --env-file`): one `VARIABLE=VALUE` per line, the
//!   value passed through as it is: no quotes, no escapes, so no newline;
//!   lines are read with Go's line scanner, which drops a `\r` before the
//!   newline and refuses a line of 64 KiB or more.
//! - Kubernetes: a v1 `Secret` with `data` values in standard base64; its
//!   name a DNS-1123 subdomain, its namespace a DNS-1123 label, its data
//!   keys `[-._a-zA-Z0-9]+` (not `.`, `..` or starting with `..`), at most
//!   253 characters.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::ui::{CmdResult, Failure};

/// Keys and values, in file order.
pub type Entries = Vec<(String, Zeroizing<String>)>;

/// The file `GITHUB_ENV` names: it must be set and be an existing regular
/// file (the runner creates it for each step). `/dev/stdout` or a pipe
/// would put the values in the log.
pub fn github_env_file() -> CmdResult<PathBuf> {
    let Some(path) = std::env::var_os("GITHUB_ENV").filter(|v| !v.is_empty()) else {
        return Err(Failure::new("--format github: GITHUB_ENV is not set")
            .hint("run it in a GitHub Actions step, or set GITHUB_ENV to the file to append to"));
    };
    let path = PathBuf::from(path);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        Ok(_) => Err(Failure::new(format!(
            "--format github: GITHUB_ENV names {}, which is not a regular file; nothing was written",
            path.display()
        ))),
        Err(e) => Err(Failure::new(format!(
            "--format github: GITHUB_ENV names {}: {e}",
            path.display()
        ))),
    }
}

/// `--format github`: one `::add-mask::` line per non-blank line of every
/// value on standard output, then every entry appended to `env_file` as a
/// heredoc with a random delimiter that no key or value contains — in one
/// `write` under `O_APPEND`, so that what other steps append is never
/// interleaved with it.
pub fn github(entries: &Entries, env_file: &std::path::Path) -> CmdResult {
    let delimiter = loop {
        let d = format!("ENVCLOAK_EOF_{}", envcloak::crypto::token_hex(16).as_str());
        if !entries
            .iter()
            .any(|(k, v)| k.contains(&d) || v.contains(&d))
        {
            break d;
        }
    };
    let mut masks = Zeroizing::new(String::new());
    for (_, value) in entries {
        for line in value.split(['\n', '\r']) {
            // The runner refuses to mask a blank string.
            if line.trim().is_empty() {
                continue;
            }
            masks.push_str("::add-mask::");
            masks.push_str(&line.replace('%', "%25"));
            masks.push('\n');
        }
    }
    let mut block = Zeroizing::new(String::new());
    for (key, value) in entries {
        for part in [
            key.as_str(),
            "<<",
            &delimiter,
            "\n",
            value,
            "\n",
            &delimiter,
            "\n",
        ] {
            block.push_str(part);
        }
    }
    // Masks first: a value must never reach a later step unmasked.
    // Nothing is appended unless the masks were written.
    crate::out::write_required(masks.as_bytes())?;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(env_file)
        .map_err(|e| envcloak::Error::from_io(env_file, e))?;
    file.write_all(block.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| envcloak::Error::from_io(env_file, e))?;
    crate::ui::note(format!(
        "appended {} value(s) to {} (GITHUB_ENV) for the next steps",
        entries.len(),
        env_file.display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Go's `bufio.MaxScanTokenSize`: docker cannot read a longer line.
const DOCKER_MAX_LINE: usize = 64 * 1024;

/// `--format docker`: `KEY=value` lines, values literal.
pub fn docker(entries: &Entries) -> CmdResult<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::new());
    for (key, value) in entries {
        let why = if value.contains('\n') {
            Some("it has a newline, which docker's --env-file cannot hold")
        } else if value.ends_with('\r') {
            Some("it ends with a carriage return, which docker's --env-file drops")
        } else if value.contains('\0') {
            Some("it holds a NUL byte, which an environment cannot carry")
        } else if key.len() + 1 + value.len() >= DOCKER_MAX_LINE {
            Some("the line is 64 KiB or longer, which docker's --env-file cannot read")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Failure::new(format!(
                "{key}: cannot be written for docker --env-file: {why}; nothing was written"
            ))
            .hint("use --format k8s, or give the container that value another way (a mounted file and NAME_FILE)"));
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
        out.push('\n');
    }
    Ok(out)
}

/// `--format k8s`: a v1 Secret manifest, keys in file order, every
/// string double-quoted (names and keys are checked to need no escapes;
/// quoting keeps a key like `yes` or `123` a string for YAML 1.1 readers).
pub fn k8s(entries: &Entries, name: &str, namespace: Option<&str>) -> CmdResult<Zeroizing<String>> {
    for (key, _) in entries {
        if !secret_key(key) {
            return Err(Failure::new(format!(
                "{key}: not a valid key for a Kubernetes Secret (letters, digits, '-', '_' and '.' only, at most 253 characters); nothing was written"
            )));
        }
    }
    let mut out = Zeroizing::new(String::new());
    out.push_str(
        "# Made by 'envcloak decrypt --format k8s'. It holds secrets: base64 is not encryption.\n",
    );
    out.push_str("apiVersion: v1\nkind: Secret\nmetadata:\n");
    out.push_str(&format!("  name: \"{name}\"\n"));
    if let Some(ns) = namespace {
        out.push_str(&format!("  namespace: \"{ns}\"\n"));
    }
    out.push_str("type: Opaque\n");
    if entries.is_empty() {
        out.push_str("data: {}\n");
        return Ok(out);
    }
    out.push_str("data:\n");
    for (key, value) in entries {
        let encoded =
            Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(value.as_bytes()));
        for part in ["  \"", key.as_str(), "\": \"", &encoded, "\"\n"] {
            out.push_str(part);
        }
    }
    Ok(out)
}

/// A DNS-1123 label: at most 63 lowercase letters, digits and `-`,
/// starting and ending with a letter or digit (a namespace).
pub fn dns1123_label(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|&c| alnum(c) || c == b'-')
}

/// A DNS-1123 subdomain: at most 253 characters, labels joined by `.`
/// (an object name).
pub fn dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns1123_label)
}

/// A valid key of a Secret's `data` (Kubernetes' `IsConfigMapKey`).
pub fn secret_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s != "."
        && !s.starts_with("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_names() {
        for ok in ["app", "my-app", "a.b-c.d", "0", "a1"] {
            assert!(dns1123_subdomain(ok), "{ok}");
        }
        for bad in ["", "App", "-a", "a-", "a..b", "a_b", ".a", &"a".repeat(254)] {
            assert!(!dns1123_subdomain(bad), "{bad}");
        }
        assert!(dns1123_label("prod-1"));
        for bad in ["a.b", "Prod", "", "-x", &"a".repeat(64)] {
            assert!(!dns1123_label(bad), "{bad}");
        }
        for ok in ["A", "a.b", "DB_URL", "tls.crt", "-x", "_", ".a"] {
            assert!(secret_key(ok), "{ok}");
        }
        for bad in ["", ".", "..", "..a", "a b", "a/b", "é", &"a".repeat(254)] {
            assert!(!secret_key(bad), "{bad}");
        }
    }
}
