//! `envcloak check` as a library call: the configuration against
//! `.env.example`, the syntax of every file that feeds it, definitions
//! that a higher layer hides (`shadowed`: `.env:4 hides .env.enc:2`), and
//! the git and permission checks, as a [`Report`] a program can inspect,
//! print or serialize (to the JSON `envcloak check --format json` prints).
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! # std::fs::write(dir.path().join(".env.example"), "# @type int\nPORT=8000\nSECRET_KEY=\n")?;
//! # std::fs::write(dir.path().join(".env"), "PORT=eighty\n")?;
//! use envcloak::check::{CheckOptions, check};
//! let report = check(&CheckOptions::new(dir.path()).process_env(false))?;
//! assert!(!report.ok());
//! let kinds: Vec<&str> = report.problems.iter().map(|p| p.kind).collect();
//! assert!(kinds.contains(&"type") && kinds.contains(&"missing"));
//! // Never a value: the message names the key, the file and line, the type.
//! assert!(report.problems.iter().all(|p| !p.to_string().contains("eighty")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::process::Stdio;

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::config::{Config, ConfigBuilder};
use crate::crypto::Keyring;
use crate::dotenv;
use crate::error::{Error, Result};
use crate::example::{self, Example, Problem, Severity};
use crate::keys;
use crate::vault::{self, Sealer};

/// What [`check`] looks at. Built with [`CheckOptions::new`] and the
/// methods below; every choice not made is what `envcloak check` does.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    root: PathBuf,
    example: Option<PathBuf>,
    profile: Option<String>,
    encrypted: Option<PathBuf>,
    key_file: Option<PathBuf>,
    strict: bool,
    process_env: bool,
}

impl CheckOptions {
    /// Checks the project in `root` (its `.env.example`, `.env`,
    /// `.env.enc`, key files), reading keys and `ENVCLOAK_PASSWORD` from
    /// the process environment as the CLI does.
    pub fn new(root: impl Into<PathBuf>) -> CheckOptions {
        CheckOptions {
            root: root.into(),
            example: None,
            profile: None,
            encrypted: None,
            key_file: None,
            strict: false,
            process_env: true,
        }
    }

    /// Another example file than `ROOT/.env.example`.
    pub fn example(mut self, path: impl Into<PathBuf>) -> Self {
        self.example = Some(path.into());
        self
    }

    /// A profile: `.env.<profile>` and `.env.<profile>.enc` too.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Another encrypted file than `.env.enc` (or `.env.<profile>.enc`).
    pub fn encrypted_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.encrypted = Some(path.into());
        self
    }

    /// Read the key from this file instead of searching for one.
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// Warnings fail the check too ([`Report::ok`]).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Whether the process environment counts (its values override files;
    /// its `ENVCLOAK_KEY*` and `ENVCLOAK_PASSWORD` open `.env.enc`); on by
    /// default. Off, the check sees the files alone.
    pub fn process_env(mut self, read: bool) -> Self {
        self.process_env = read;
        self
    }

    fn encrypted_path(&self) -> PathBuf {
        match (&self.encrypted, &self.profile) {
            (Some(p), _) => p.clone(),
            (None, Some(p)) => self.root.join(format!(".env.{p}.enc")),
            (None, None) => self.root.join(".env.enc"),
        }
    }

    fn env(&self, name: &str) -> Option<String> {
        self.process_env.then(|| std::env::var(name).ok()).flatten()
    }

    fn password(&self) -> Option<Zeroizing<String>> {
        self.env("ENVCLOAK_PASSWORD")
            .filter(|p| !p.is_empty())
            .map(Zeroizing::new)
    }

    fn find_key(&self, encrypted: &Path) -> Result<Option<Keyring>> {
        if let Some(file) = &self.key_file {
            return keys::read_key_file(file).map(Some);
        }
        let env = |name: &str| self.env(name);
        let search = keys::Search {
            env: &env,
            profile: self.profile.as_deref(),
            encrypted,
        };
        if self.process_env {
            keys::check_process_env_utf8(&search)?;
        }
        Ok(keys::find(&search)?.map(|f| f.keyring))
    }

    fn builder(&self, read_encrypted: bool) -> ConfigBuilder {
        let mut b = Config::builder()
            .dir(&self.root)
            .process_env(self.process_env)
            .read_encrypted(read_encrypted)
            // `check` reports an unread encrypted file (`no-key`) rather
            // than fail on it, in CI too (`--strict` makes it fail).
            .require_key(false);
        if let Some(p) = &self.profile {
            b = b.profile(p);
        }
        if read_encrypted {
            if let Some(f) = &self.encrypted {
                b = b.encrypted_file(f);
            }
            if let Some(k) = &self.key_file {
                b = b.key_file(k);
            }
            if let Some(p) = self.password() {
                b = b.password(SecretString::from(p.as_str()));
            }
        }
        b
    }
}

/// What [`check`] found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The example file checked against.
    pub example: PathBuf,
    /// How many keys the example lists (0 when it does not parse).
    pub keys: usize,
    /// Every problem, in the order `envcloak check` prints them.
    pub problems: Vec<Problem>,
    /// Whether warnings fail the check.
    pub strict: bool,
}

impl Report {
    /// The number of errors.
    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }

    /// The number of warnings.
    pub fn warnings(&self) -> usize {
        self.problems.len() - self.errors()
    }

    /// No errors (and, when strict, no warnings): `envcloak check` exits 0.
    pub fn ok(&self) -> bool {
        self.errors() == 0 && (!self.strict || self.warnings() == 0)
    }

    /// The report as `envcloak check --format json` prints it:
    /// `{ok, errors, warnings, problems: [{severity, kind, file, line,
    /// key, message}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let list: Vec<serde_json::Value> = self
            .problems
            .iter()
            .map(|p| {
                serde_json::json!({
                    "severity": if p.severity == Severity::Error { "error" } else { "warning" },
                    "kind": p.kind,
                    "file": p.file.as_ref().map(|f| f.display().to_string()),
                    "line": p.line,
                    "key": p.key,
                    "message": p.message,
                })
            })
            .collect();
        serde_json::json!({
            "ok": self.ok(),
            "errors": self.errors(),
            "warnings": self.warnings(),
            "problems": list,
        })
    }
}

impl serde::Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// Runs every check `envcloak check` runs. An error only when the check
/// itself cannot run (the example file is missing, an encrypted file cannot
/// be read); everything it finds is a [`Problem`] in the [`Report`].
pub fn check(options: &CheckOptions) -> Result<Report> {
    let root = &options.root;
    let example_path = options
        .example
        .clone()
        .unwrap_or_else(|| root.join(".env.example"));
    if !example_path.exists() {
        return Err(Error::from_io(
            &example_path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    let profile = options.profile.clone();
    let mut problems = Vec::new();
    let example = match Example::load(&example_path) {
        Ok(e) => Some(e),
        Err(Error::Parse { path, line, reason }) => {
            problems.push(problem(
                Severity::Error,
                "syntax",
                &path,
                Some(line),
                None,
                reason,
            ));
            None
        }
        Err(e) => return Err(e),
    };
    if let Some(ex) = &example {
        // The example's own values, parsed once (the last definition wins).
        let entries = dotenv::parse(&ex.text).unwrap_or_default();
        let values: std::collections::HashMap<&str, &str> =
            entries.iter().map(|e| (e.key, e.value.as_ref())).collect();
        for k in &ex.keys {
            let value = values.get(k.key.as_str()).copied().unwrap_or_default();
            if let Some(ty) = k.ty
                && !value.trim().is_empty()
                && let Err(reason) = ty.check(value)
            {
                problems.push(problem(
                    Severity::Error,
                    "example-type",
                    &ex.path,
                    Some(k.line),
                    Some(&k.key),
                    format!(
                        "the example's own value is not a valid {}: {reason}",
                        ty.name()
                    ),
                ));
            }
            if example::looks_like_secret(value) {
                problems.push(problem(
                    Severity::Error,
                    "secret-in-example",
                    &ex.path,
                    Some(k.line),
                    Some(&k.key),
                    "looks like a real secret: .env.example is committed; use a placeholder",
                ));
            }
        }
    }

    // Syntax and duplicates of every file that feeds the configuration.
    let mut plain = vec![root.join(".env")];
    if let Some(p) = &profile {
        plain.push(root.join(format!(".env.{p}")));
    }
    let mut files_ok = true;
    for path in &plain {
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            problems.push(problem(
                Severity::Error,
                "unreadable",
                path,
                None,
                None,
                "not a regular file",
            ));
            files_ok = false;
            continue;
        }
        if let Ok(bytes) = std::fs::read(path) {
            let bytes = zeroize::Zeroizing::new(bytes);
            match std::str::from_utf8(&bytes) {
                Ok(text) => files_ok &= lint(path, text, &mut problems),
                Err(_) => {
                    problems.push(problem(
                        Severity::Error,
                        "syntax",
                        path,
                        None,
                        None,
                        "not UTF-8",
                    ));
                    files_ok = false;
                }
            }
        }
    }
    let enc = options.encrypted_path();
    let mut read_encrypted = true;
    let mut key_error = false;
    if enc.exists() {
        let contents = vault::read(&enc)?;
        let header = vault::password_header(&enc, &contents)?;
        let password_mode = header.is_some();
        let sealer = match header {
            Some(h) => options.password().map(|password| Sealer::Password {
                password,
                iterations: h.iterations,
                salt: None,
            }),
            None => match options.find_key(&enc) {
                Ok(found) => found.map(Sealer::Keys),
                // A key that cannot be used (loose permissions, bad format)
                // is a problem to report, not a reason to stop checking
                // (loose permissions are reported below, with the fix).
                Err(e) => {
                    let loose =
                        matches!(&e, Error::Key { reason, .. } if reason.contains("too open"));
                    if !loose {
                        problems.push(problem(
                            Severity::Error,
                            "key",
                            &enc,
                            None,
                            None,
                            e.to_string(),
                        ));
                    }
                    key_error = true;
                    None
                }
            },
        };
        // Without a key the library skips the file itself (and says so in
        // "not set" problems); without a password or with an unusable key,
        // leave it out.
        if key_error || (sealer.is_none() && password_mode) {
            read_encrypted = false;
        }
        match sealer {
            None if key_error => {}
            None => problems.push(problem(
                Severity::Warning,
                "no-key",
                &enc,
                None,
                None,
                "not read: no key (set ENVCLOAK_KEY or create .env.key); its keys were not checked",
            )),
            Some(sealer) => match vault::open(&enc, &contents, &sealer, None) {
                Ok(text) => files_ok &= lint(&enc, &text, &mut problems),
                Err(Error::Parse { line, reason, .. }) => {
                    problems.push(problem(
                        Severity::Error,
                        "syntax",
                        &enc,
                        Some(line),
                        None,
                        reason,
                    ));
                    files_ok = false;
                }
                Err(e) => return Err(e),
            },
        }
    }

    // The effective configuration against the example.
    if let Some(ex) = &example {
        if files_ok {
            let cfg = options.builder(read_encrypted).build()?;
            problems.extend(example::check_config(&cfg, ex));
            problems.extend(shadowed_problems(&cfg));
        } else {
            problems.push(problem(
                Severity::Error,
                "syntax",
                &example_path,
                None,
                None,
                "keys not compared: fix the syntax errors above first",
            ));
        }
    }

    problems.extend(git_problems(root, profile.as_deref()));
    problems.extend(permission_problems(root, options.key_file.as_deref()));
    // Per-person access: a recipients file and a sealed keyring that
    // disagree, a bare .env.key that differs from the sealed one.
    let env = |n: &str| options.env(n);
    for p in crate::team::problems(root, profile.as_deref(), &env) {
        let severity = if p.error {
            Severity::Error
        } else {
            Severity::Warning
        };
        problems.push(problem(severity, "team", &p.path, None, None, p.message));
    }
    Ok(Report {
        keys: example.as_ref().map_or(0, |e| e.keys.len()),
        example: example_path,
        problems,
        strict: options.strict,
    })
}

/// Every definition a higher layer hides (see [`Config::shadowed`]): a
/// warning of kind `shadowed` naming both places, at the hidden one.
///
/// Files hiding files only: that is the silent case (`.env` hiding the
/// team's `.env.enc`). The environment overriding a file is how CI and
/// deployments set values on purpose (twelve-factor), and is visible where
/// it is set; `envcloak ls --all` and `set`/`unset` still show it. Counting
/// it here would make `check --strict` fail every CI job that overrides.
fn shadowed_problems(cfg: &Config) -> Vec<Problem> {
    cfg.shadowed()
        .into_iter()
        .filter(|s| s.by != crate::Origin::Environment)
        .map(|s| {
            let (file, line) = match &s.hidden {
                crate::Origin::Dotenv { path, line } | crate::Origin::Encrypted { path, line } => {
                    (Some(path.to_path_buf()), Some(*line))
                }
                crate::Origin::FileIndirection { path, .. }
                | crate::Origin::SecretsDir { path } => (Some(path.to_path_buf()), None),
                _ => (None, None),
            };
            Problem {
                severity: Severity::Warning,
                kind: "shadowed",
                file,
                line,
                message: format!("{} hides {}", s.by, s.hidden),
                key: Some(s.key),
            }
        })
        .collect()
}

fn problem(
    severity: Severity,
    kind: &'static str,
    file: &Path,
    line: Option<u32>,
    key: Option<&str>,
    message: impl Into<String>,
) -> Problem {
    Problem {
        severity,
        kind,
        file: Some(file.to_path_buf()),
        line,
        key: key.map(str::to_owned),
        message: message.into(),
    }
}

/// Syntax errors and duplicate keys of one dotenv text.
fn lint(path: &Path, text: &str, problems: &mut Vec<Problem>) -> bool {
    match dotenv::parse(text) {
        Err(e) => {
            let (code, key, message) = match &e.kind {
                dotenv::ParseErrorKind::ConflictMarker { key } => (
                    "conflict",
                    *key,
                    "unresolved merge conflict: resolve it with 'envcloak edit'".to_owned(),
                ),
                kind => ("syntax", None, kind.to_string()),
            };
            problems.push(problem(
                Severity::Error,
                code,
                path,
                Some(e.line),
                key.as_ref().map(|k| k.as_str()),
                message,
            ));
            false
        }
        Ok(entries) => {
            let mut seen = std::collections::HashMap::new();
            for e in &entries {
                if let Some(first) = seen.insert(e.key, e.line) {
                    problems.push(problem(
                        Severity::Warning,
                        "duplicate",
                        path,
                        Some(e.line),
                        Some(e.key),
                        format!("defined again (first on line {first}); the last one wins"),
                    ));
                }
            }
            true
        }
    }
}

fn git(root: &Path, args: &[&str]) -> Option<bool> {
    let dir = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
        .map(|s| s.success())
}

/// Local files git must ignore and must not track.
fn git_problems(root: &Path, profile: Option<&str>) -> Vec<Problem> {
    let mut out = Vec::new();
    if git(root, &["rev-parse", "--is-inside-work-tree"]) != Some(true) {
        return out;
    }
    let mut names = vec![".env".to_owned(), ".env.key".to_owned()];
    if let Some(p) = profile {
        names.push(format!(".env.{p}"));
        names.push(format!(".env.{p}.key"));
    }
    if let Ok(dir) = std::fs::read_dir(if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    }) {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".env.") && name.ends_with(".key") && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    for name in names {
        let path = root.join(&name);
        if git(root, &["ls-files", "--error-unmatch", "--", &name]) == Some(true) {
            out.push(problem(
                Severity::Error,
                "tracked",
                &path,
                None,
                None,
                format!(
                    "is committed to git: run 'git rm --cached {name}', and rotate every secret it held"
                ),
            ));
        } else if git(root, &["check-ignore", "-q", "--no-index", "--", &name]) != Some(true) {
            // Not ignored: an error when the file exists, a warning before it does.
            let severity = if path.exists() {
                Severity::Error
            } else {
                Severity::Warning
            };
            out.push(problem(
                severity,
                "not-ignored",
                &path,
                None,
                None,
                format!("is not ignored by git: add '{name}' to .gitignore"),
            ));
        }
    }
    out
}

/// Key files that group or others can read.
fn permission_problems(root: &Path, key_file: Option<&Path>) -> Vec<Problem> {
    let mut files: Vec<PathBuf> = Vec::new();
    let dir = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == ".env.key" || (name.starts_with(".env.") && name.ends_with(".key")) {
                files.push(root.join(name));
            }
        }
    }
    files.extend(key_file.map(Path::to_path_buf));
    if let Some(f) = std::env::var_os("ENVCLOAK_KEY_FILE").filter(|f| !f.is_empty()) {
        files.push(PathBuf::from(f));
    }
    files.sort();
    files.dedup();
    let mut out = Vec::new();
    for f in files {
        if let Err(Error::Key { reason, .. }) = keys::read_key_file(&f)
            && reason.contains("too open")
        {
            out.push(problem(
                Severity::Error,
                "permissions",
                &f,
                None,
                None,
                reason.to_string(),
            ));
        }
    }
    out
}
