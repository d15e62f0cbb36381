//! `envcloak diff`: which keys changed (names only) between revisions, a
//! revision and the work tree, or `.env` and `.env.enc`.
//!
//! Revisions are read with git (`git cat-file blob`) and decrypted in
//! memory with the key the work tree's file would use; nothing is written
//! anywhere. Only key names are printed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::Args;
use envcloak::crypto::DecryptError;
use envcloak::keys::Found;
use envcloak::vault::{self, Sealer};
use envcloak::{Error, fsio, merge};
use zeroize::Zeroizing;

use crate::Global;
use crate::out::outln;
use crate::ui::{self, CmdResult, Failure};

/// `diff`
#[derive(Args)]
pub struct DiffArgs {
    /// No revision: HEAD against the work tree; one: that revision against
    /// the work tree; two: the first against the second
    #[arg(num_args = 0..=2, value_name = "REV")]
    revs: Vec<String>,
    /// Compare the plaintext .env (.env.<profile> with --profile) with the
    /// encrypted file instead: what 'envcloak encrypt' would change
    #[arg(long, conflicts_with = "revs")]
    plain: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,
    /// Exit with 1 when keys differ and 0 when none do (as 'git diff
    /// --exit-code')
    #[arg(long)]
    exit_code: bool,
}

/// `diff` formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// one `added|changed|removed  KEY` line per key, or `no changes`
    Text,
    /// {"added": [...], "changed": [...], "removed": [...]}
    Json,
}

/// One side of the comparison.
enum Side {
    /// The encrypted file as of a revision.
    Rev(String),
    /// The encrypted file in the work tree.
    WorkTree,
    /// The plaintext file `encrypt` would read.
    Plain(PathBuf),
}

pub fn diff(g: &Global, a: DiffArgs) -> CmdResult {
    let path = ui::encrypted_path(g, None)?;
    let (old, new) = if a.plain {
        (Side::WorkTree, Side::Plain(plaintext_for(&path)?))
    } else {
        let mut revs = a.revs.into_iter();
        match (revs.next(), revs.next()) {
            (None, _) => (Side::Rev("HEAD".to_owned()), Side::WorkTree),
            (Some(r), None) => (Side::Rev(r), Side::WorkTree),
            (Some(r1), Some(r2)) => (Side::Rev(r1), Side::Rev(r2)),
        }
    };
    let mut reader = Reader::new(g, &path);
    let old = reader.load(&old)?;
    let new = reader.load(&new)?;
    let s = merge::summary(&old.text, &new.text).map_err(|e| {
        // Both texts were checked before; kept for safety.
        Failure::new(format!("line {}: {}", e.line, e.kind))
    })?;
    match a.format {
        DiffFormat::Json => {
            let doc = serde_json::json!({
                "added": s.added,
                "changed": s.changed,
                "removed": s.removed,
            });
            let text =
                serde_json::to_string_pretty(&doc).map_err(|e| Failure::new(e.to_string()))?;
            outln!("{text}");
        }
        DiffFormat::Text => {
            if s.is_empty() {
                outln!("no changes");
            }
            for (verb, keys) in [
                ("added", &s.added),
                ("changed", &s.changed),
                ("removed", &s.removed),
            ] {
                for k in keys {
                    outln!("{verb:<8} {k}");
                }
            }
        }
    }
    Ok(if a.exit_code && !s.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The plaintext file `encrypt` would seal into `encrypted`: its name
/// without `.enc` (`.env`, `.env.<profile>`).
fn plaintext_for(encrypted: &Path) -> CmdResult<PathBuf> {
    let name = encrypted
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    match name.as_deref().and_then(|n| n.strip_suffix(".enc")) {
        Some(stem) if !stem.is_empty() => Ok(encrypted.with_file_name(stem)),
        _ => Ok(ui::root()?.join(".env")),
    }
}

/// A side, opened: its dotenv text (empty when the file is absent).
struct Loaded {
    text: Zeroizing<String>,
}

/// Reads and decrypts the sides, finding the key (or asking for the
/// password) once.
struct Reader<'a> {
    g: &'a Global,
    /// The work tree's encrypted file (the key search is for it).
    path: &'a Path,
    /// How the file is named in messages: relative to the project root.
    name: String,
    found: Option<Found>,
    password: Option<Zeroizing<String>>,
    repo: Option<Repo>,
}

/// What was tried to open a side, for errors.
enum Tried {
    /// A key, described as [`Found::describe`] does.
    Key(String),
    /// A password, from where.
    Password(&'static str),
}

/// Where the file lives in git.
struct Repo {
    /// The directory git runs in.
    dir: PathBuf,
    /// The file's path from the top of the repository.
    path_in_repo: OsString,
}

impl<'a> Reader<'a> {
    fn new(g: &'a Global, path: &'a Path) -> Reader<'a> {
        let name = ui::root()
            .ok()
            .and_then(|r| path.strip_prefix(r).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| path.to_path_buf())
            .display()
            .to_string();
        Reader {
            g,
            path,
            name,
            found: None,
            password: None,
            repo: None,
        }
    }

    fn load(&mut self, side: &Side) -> CmdResult<Loaded> {
        match side {
            Side::Plain(p) => {
                let label = display_name(p, self.path, &self.name);
                let bytes = match std::fs::read(p) {
                    Ok(b) => Zeroizing::new(b),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(Failure::new(format!(
                            "{label} does not exist: there is no plaintext to compare with {}",
                            self.name
                        ))
                        .hint("without --plain, diff compares revisions of the encrypted file"));
                    }
                    Err(e) => return Err(Error::from_io(p, e).into()),
                };
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| Failure::new(format!("{label}: not UTF-8 text")))?;
                let text = Zeroizing::new(text.to_owned());
                checked(&label, text, false)
            }
            Side::WorkTree => {
                let contents = match std::fs::read(self.path) {
                    Ok(b) => Zeroizing::new(b),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        ui::note(format!(
                            "{} does not exist in the work tree: counted as empty",
                            self.name
                        ));
                        return Ok(Loaded {
                            text: Zeroizing::new(String::new()),
                        });
                    }
                    Err(e) => return Err(Error::from_io(self.path, e).into()),
                };
                let label = self.name.clone();
                let text = self.open(&label, &contents, None)?;
                checked(&label, text, true)
            }
            Side::Rev(rev) => {
                let label = format!("{}:{}", rev, self.name);
                let Some(contents) = self.blob(rev)? else {
                    ui::note(format!(
                        "{} does not exist at {rev}: counted as empty",
                        self.name
                    ));
                    return Ok(Loaded {
                        text: Zeroizing::new(String::new()),
                    });
                };
                let text = self.open(&label, &contents, Some(rev))?;
                checked(&label, text, false)
            }
        }
    }

    /// Decrypts `contents` with the work tree file's key (or password).
    fn open(
        &mut self,
        label: &str,
        contents: &[u8],
        rev: Option<&str>,
    ) -> CmdResult<Zeroizing<String>> {
        let label_path = Path::new(label);
        let (sealer, tried) = match vault::password_header(label_path, contents)? {
            Some(header) => {
                if self.password.is_none() {
                    let prompt = format!("password for {}: ", self.name);
                    self.password = Some(ui::password(&prompt, false)?);
                }
                let password = self.password.clone().unwrap_or_default();
                (
                    Sealer::Password {
                        password,
                        iterations: header.iterations,
                        salt: Some(header.salt),
                    },
                    Tried::Password(ui::password_source()),
                )
            }
            None => {
                if self.found.is_none() {
                    self.found = ui::find_keyring(self.g, self.path)?;
                }
                let Some(found) = &self.found else {
                    let e = Error::KeyNotFound {
                        path: self.path.to_path_buf(),
                        looked: key_places(self.g, self.path)?,
                    };
                    return Err(e.into());
                };
                (
                    Sealer::Keys(found.keyring.clone()),
                    Tried::Key(found.describe()),
                )
            }
        };
        vault::open(label_path, contents, &sealer, None).map_err(|e| {
            let e = match &tried {
                Tried::Key(from) => e.tried_key(from),
                Tried::Password(from) => e.tried_password(from),
            };
            let wrong_key = matches!(
                &e,
                Error::Decrypt {
                    kind: DecryptError::Authentication | DecryptError::WrongPassword,
                    ..
                }
            );
            match rev {
                Some(rev) if wrong_key => Failure::new(format!(
                    "{label}: {tried} does not open the file as of {rev} (sealed with another key?)",
                    tried = match &tried {
                        Tried::Key(from) => format!("the key from {from}"),
                        Tried::Password(from) => format!("the password from {from}"),
                    }
                ))
                .hint(
                    "a keyring opens older revisions too: put the old key after the current one \
                     (ENVCLOAK_KEY=new,old, or both in the key file, as 'envcloak rotate' leaves \
                     them), or compare revisions sealed with the current key",
                ),
                _ => Failure::from(e),
            }
        })
    }

    /// The encrypted file's contents at `rev`, `None` when it has no such
    /// file.
    fn blob(&mut self, rev: &str) -> CmdResult<Option<Vec<u8>>> {
        let repo = match self.repo.take() {
            Some(r) => r,
            None => self.find_repo()?,
        };
        let repo = &*self.repo.insert(repo);
        let commit = git(&repo.dir)
            .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
            .arg(format!("{rev}^{{commit}}"))
            .output()
            .map_err(git_failed)?;
        if !commit.status.success() {
            return Err(Failure::new(format!("unknown revision '{rev}'")).hint(
                "name a commit, branch or tag ('git log --oneline' lists them); \
                 a repository with no commit yet has no HEAD",
            ));
        }
        let oid = String::from_utf8_lossy(&commit.stdout).trim().to_owned();
        let mut object = OsString::from(format!("{oid}:"));
        object.push(&repo.path_in_repo);
        let kind = git(&repo.dir)
            .args(["cat-file", "-t"])
            .arg(&object)
            .output()
            .map_err(git_failed)?;
        if !kind.status.success() {
            return Ok(None);
        }
        if kind.stdout.trim_ascii() != b"blob" {
            return Err(Failure::new(format!(
                "{rev}:{}: not a file at that revision",
                self.name
            )));
        }
        let blob = git(&repo.dir)
            .args(["cat-file", "blob"])
            .arg(&object)
            .output()
            .map_err(git_failed)?;
        if !blob.status.success() {
            return Err(Failure::new(format!(
                "{rev}:{}: git could not read it",
                self.name
            )));
        }
        Ok(Some(blob.stdout))
    }

    fn find_repo(&self) -> CmdResult<Repo> {
        let dir = fsio::parent_dir(self.path);
        let prefix = git(&dir)
            .args(["rev-parse", "--show-prefix"])
            .output()
            .map_err(git_failed)?;
        let inside = git(&dir)
            .args(["rev-parse", "--is-inside-work-tree"])
            .output()
            .map_err(git_failed)?;
        if !prefix.status.success() || inside.stdout.trim_ascii() != b"true" {
            return Err(Failure::new(format!(
                "{} is not in a git work tree: there are no revisions to compare",
                dir.display()
            ))
            .hint("'envcloak diff --plain' compares .env with .env.enc without git"));
        }
        let mut path_in_repo =
            OsString::from(String::from_utf8_lossy(prefix.stdout.trim_ascii_end()).into_owned());
        if let Some(name) = self.path.file_name() {
            path_in_repo.push(name);
        }
        Ok(Repo { dir, path_in_repo })
    }
}

/// Where the key search looked, for a "no key found" error.
fn key_places(g: &Global, path: &Path) -> CmdResult<Vec<String>> {
    let p = ui::profile(g)?;
    let env = |name: &str| std::env::var(name).ok();
    Ok(envcloak::keys::places(&envcloak::keys::Search {
        env: &env,
        profile: p.as_deref(),
        encrypted: path,
    }))
}

/// How a plaintext file is named in messages: relative to the project
/// root, like the encrypted file.
fn display_name(p: &Path, encrypted: &Path, encrypted_name: &str) -> String {
    if p.parent() == encrypted.parent()
        && let Some(n) = p.file_name()
    {
        let dir = Path::new(encrypted_name).parent().unwrap_or(Path::new(""));
        return dir.join(n).display().to_string();
    }
    p.display().to_string()
}

/// Refuses a text that holds conflict markers or does not parse, naming the
/// line, never the text.
fn checked(label: &str, text: Zeroizing<String>, work_tree: bool) -> CmdResult<Loaded> {
    if let Some(line) = merge::first_marker(&text) {
        let f = Failure::new(format!("unresolved merge conflict at {label}:{line}"));
        return Err(if work_tree {
            f.hint("resolve it with 'envcloak edit' (it shows both versions), then diff again")
        } else {
            f.hint(
                "that version was committed with the conflict unresolved: compare other \
                 revisions, or resolve it in the work tree with 'envcloak edit'",
            )
        });
    }
    if let Err(e) = envcloak::dotenv::parse(&text) {
        return Err(
            Failure::new(format!("{label}:{}: {}", e.line, e.kind)).hint(if work_tree {
                "fix that line with 'envcloak edit' (values are never shown in messages)"
            } else {
                "fix that line (values are never shown in messages)"
            }),
        );
    }
    Ok(Loaded { text })
}

fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn git_failed(e: std::io::Error) -> Failure {
    Failure::new(format!("could not run git: {e}")).hint("install git, or put it on PATH")
}
