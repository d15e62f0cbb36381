//! The commit guard (`envcloak git enroll --hook`): a pre-commit hook that
//! refuses staged plaintext env and key files, encrypted files the local
//! key cannot open or that hold conflict markers, and staged files holding
//! a decrypted value (DESIGN §8).
//!
//! The hook reads what is staged (the index blobs, through one
//! `git cat-file --batch`), never the work tree's copies, and searches
//! every staged file for every value of 8 characters or more at once (one
//! Aho-Corasick automaton), and for parts of values: each line of a
//! multi-line value (a PEM key pasted with CRLF endings, or in part) and
//! the password of a URL value. Values come from every encrypted env file
//! git tracks anywhere in the work tree (`.env.enc`, `.env.<profile>.enc`,
//! found with one `git ls-files`), each opened with the key search for its
//! own path, in its staged and its work-tree version; from every staged
//! encrypted file; and from the plaintext `.env` and `.env.<profile>`
//! files in the same directories (and at the top). A value that the
//! committed `.env.example` (HEAD's) next to its file gives the same key is
//! public and not searched for; so is one the work tree's `.env.example`
//! there gives the same key, unless it looks like a real secret. Messages
//! name files, lines and keys, never values.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use aho_corasick::{AhoCorasick, MatchKind};
use envcloak::crypto::DecryptError;
use envcloak::dotenv::{ParseError, ParseErrorKind};
use envcloak::vault::{self, Sealer};
use envcloak::{Error, fsio, keys};
use zeroize::Zeroizing;

use crate::Global;
use crate::ui::{self, CmdResult, Failure};

/// The name of the hook git runs before a commit.
const HOOK: &str = "pre-commit";
/// Where an existing hook is kept while the guard is installed; the guard
/// runs it first.
const CHAINED: &str = "pre-commit.envcloak-chained";
/// The line that marks the hook as the guard.
const MARKER: &str = "# envcloak commit guard";
/// Values shorter than this are not searched for (too many false alarms).
const MIN_VALUE_CHARS: usize = 8;

// ---------------------------------------------------------------------------
// The hook itself
// ---------------------------------------------------------------------------

/// Installs the pre-commit hook in the repository whose work tree is `root`
/// (chaining an existing hook, never replacing it). Returns what to tell
/// the user.
pub fn install_hook(root: &Path) -> Result<String, Failure> {
    let Some(hooks) = hooks_dir(root)? else {
        return Err(
            Failure::new(format!("{} is not in a git repository", root.display()))
                .hint("run 'envcloak git enroll --hook' inside the repository (after 'git init')"),
        );
    };
    std::fs::create_dir_all(&hooks).map_err(|e| Failure::from(Error::from_io(&hooks, e)))?;
    let hook = hooks.join(HOOK);
    let chained = hooks.join(CHAINED);
    let shown = shown(root, &hook);
    let script = hook_script();
    let _lock = lock(root, &hook)?;
    if std::fs::symlink_metadata(&hook).is_ok() {
        if is_ours(&hook) {
            if std::fs::read(&hook).is_ok_and(|old| old == script) {
                return Ok(format!("the commit guard is already installed in {shown}"));
            }
            fsio::write_atomic(&hook, &script, Some(0o755))?;
            return Ok(format!("updated the commit guard in {shown}"));
        }
        if std::fs::symlink_metadata(&chained).is_ok() {
            return Err(Failure::new(format!(
                "{shown} is not envcloak's, and {} already exists: nothing was changed",
                self::shown(root, &chained)
            ))
            .hint(format!(
                "move one of them away (or merge them into {shown}), then run \
                 'envcloak git enroll --hook' again"
            )));
        }
        std::fs::rename(&hook, &chained).map_err(|e| Failure::from(Error::from_io(&hook, e)))?;
        if let Err(e) = fsio::write_atomic(&hook, &script, Some(0o755)) {
            // Put the user's hook back as it was.
            let _ = std::fs::rename(&chained, &hook);
            return Err(e.into());
        }
        return Ok(format!(
            "installed the commit guard in {shown}; the hook that was there runs first \
             (kept as {CHAINED}, restored by 'envcloak git disenroll')"
        ));
    }
    fsio::write_atomic(&hook, &script, Some(0o755))?;
    Ok(format!("installed the commit guard in {shown}"))
}

/// Removes the hook `install_hook` put in, restoring a chained hook.
/// Returns what to tell the user, or `None` when there was no hook.
pub fn uninstall_hook(root: &Path) -> Result<Option<String>, Failure> {
    let Some(hooks) = hooks_dir(root)? else {
        return Ok(None);
    };
    let hook = hooks.join(HOOK);
    if std::fs::symlink_metadata(&hook).is_err() || !is_ours(&hook) {
        return Ok(None);
    }
    let chained = hooks.join(CHAINED);
    let shown = shown(root, &hook);
    let _lock = lock(root, &hook)?;
    if std::fs::symlink_metadata(&chained).is_ok() {
        std::fs::rename(&chained, &hook).map_err(|e| Failure::from(Error::from_io(&hook, e)))?;
        return Ok(Some(format!(
            "removed the commit guard from {shown}; the hook it chained is back in its place"
        )));
    }
    std::fs::remove_file(&hook).map_err(|e| Failure::from(Error::from_io(&hook, e)))?;
    Ok(Some(format!("removed the commit guard from {shown}")))
}

/// The repository's hooks directory (absolute; `core.hooksPath` counts),
/// `None` outside a repository.
fn hooks_dir(root: &Path) -> CmdResult<Option<PathBuf>> {
    let out = git_in(root)
        .args(["rev-parse", "--path-format=absolute", "--git-path", "hooks"])
        .output()
        .map_err(git_failed)?;
    if !out.status.success() {
        return Ok(None);
    }
    let path = OsStr::from_bytes(out.stdout.strip_suffix(b"\n").unwrap_or(&out.stdout));
    Ok(Some(PathBuf::from(path)))
}

/// The write lock for the hook. Its lock file stays out of `git status`:
/// inside the git directory nothing is tracked anyway (and no `.gitignore`
/// belongs there); a hooks directory in the work tree (`core.hooksPath`)
/// gets it ignored as every envcloak lock file is.
fn lock(root: &Path, hook: &Path) -> CmdResult<fsio::WriteLock> {
    let git_dir = git_in(root)
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .output()
        .map_err(git_failed)?;
    let git_dir = PathBuf::from(OsStr::from_bytes(
        git_dir
            .stdout
            .strip_suffix(b"\n")
            .unwrap_or(&git_dir.stdout),
    ));
    if git_dir.as_os_str().is_empty() || !hook.starts_with(&git_dir) {
        return ui::lock(hook);
    }
    Ok(fsio::lock_with(hook, &ui::lock_options()?)?)
}

/// `path` relative to `root` when it is inside it.
fn shown(root: &Path, path: &Path) -> String {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn is_ours(hook: &Path) -> bool {
    std::fs::read(hook)
        .is_ok_and(|text| text.split(|&b| b == b'\n').any(|l| l == MARKER.as_bytes()))
}

/// The hook: runs a chained hook first (its failure refuses the commit),
/// then this binary's `git pre-commit` (or `envcloak` on `PATH` when this
/// binary has moved).
fn hook_script() -> Vec<u8> {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("envcloak"));
    let mut s = Vec::new();
    s.extend_from_slice(
        format!(
            "#!/bin/sh\n\
             {MARKER}\n\
             # Refuses a commit that would leak a secret. Installed by\n\
             # 'envcloak git enroll --hook'; 'envcloak git disenroll' removes it\n\
             # and puts back the hook it chained. To commit anyway, deliberately:\n\
             # git commit --no-verify\n\
             chained=\"$(dirname \"$0\")/{CHAINED}\"\n\
             if [ -x \"$chained\" ]; then\n\
             \x20   \"$chained\" \"$@\" || exit $?\n\
             fi\n\
             envcloak="
        )
        .as_bytes(),
    );
    s.extend_from_slice(&shell_quote(exe.as_os_str().as_bytes()));
    s.extend_from_slice(
        b"\n\
          if [ ! -x \"$envcloak\" ]; then\n\
          \x20   if ! command -v envcloak >/dev/null 2>&1; then\n\
          \x20       echo \"envcloak commit guard: envcloak is not installed at $envcloak nor on PATH\" >&2\n\
          \x20       echo \"hint: install it, run 'envcloak git enroll --hook' again, or commit with --no-verify\" >&2\n\
          \x20       exit 1\n\
          \x20   fi\n\
          \x20   envcloak=envcloak\n\
          fi\n\
          exec \"$envcloak\" git pre-commit\n",
    );
    s
}

/// `'…'` for sh, each `'` written as `'\''`.
fn shell_quote(s: &[u8]) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in s {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

// ---------------------------------------------------------------------------
// `envcloak git pre-commit`
// ---------------------------------------------------------------------------

/// What a staged file is, by its name.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// `.env`, `.env.<profile>`, `.env.local`, a `.env` backup: plaintext.
    Plain,
    /// `.env.key`, `.env.<profile>.key`.
    KeyFile,
    /// `.env.enc`, `.env.<profile>.enc`; the profile, if any.
    Encrypted(Option<String>),
    /// Anything else, `.env.example` and friends included.
    Other,
}

/// Names of `.env.*` files that are meant to be committed.
const COMMITTED: [&str; 6] = [
    "example",
    "sample",
    "template",
    "dist",
    "schema",
    "recipients",
];
/// Endings of `.env.*` files that are encrypted by other tools.
const SEALED_ENDINGS: [&str; 4] = [".age", ".gpg", ".asc", ".vault"];

fn kind(name: &[u8]) -> Kind {
    let Ok(name) = std::str::from_utf8(name) else {
        return Kind::Other;
    };
    if name == ".env" {
        return Kind::Plain;
    }
    let Some(rest) = name.strip_prefix(".env.") else {
        return Kind::Other;
    };
    if rest == "enc" {
        return Kind::Encrypted(None);
    }
    if let Some(profile) = rest.strip_suffix(".enc") {
        return Kind::Encrypted(envcloak::valid_profile(profile).then(|| profile.to_owned()));
    }
    if rest == "key"
        || rest
            .strip_suffix(".key")
            .is_some_and(envcloak::valid_profile)
    {
        return Kind::KeyFile;
    }
    let last = rest.rsplit('.').next().unwrap_or(rest);
    if COMMITTED.contains(&last) || SEALED_ENDINGS.iter().any(|e| rest.ends_with(e)) {
        return Kind::Other;
    }
    Kind::Plain
}

/// One staged file: its path from the top of the work tree and its blob.
struct Staged {
    path: Vec<u8>,
    oid: String,
}

impl Staged {
    fn shown(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }

    fn name(&self) -> &[u8] {
        self.path
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or(&self.path)
    }
}

/// A value to search for, and where it comes from.
struct Needle {
    value: Zeroizing<String>,
    key: String,
    source: String,
    /// The directory of the file it comes from (`""` at the top, else
    /// `"dir/"`): the `.env.example` there decides what is public.
    dir: Vec<u8>,
}

/// What one object of the first `cat-file` batch is for.
enum Want<'a> {
    /// A staged encrypted file: it must open, parse and hold no conflict;
    /// its values are searched for.
    Check(&'a Staged, Option<String>),
    /// A tracked encrypted file the commit does not change: its values are
    /// searched for.
    Values(&'a Staged, Option<String>),
    /// HEAD's `.env.example` in this directory.
    Example(Vec<u8>),
}

/// Where a refused file's staged content still is, and how to remove it.
const HINT: &str = "fix what is listed and stage again; a refused file's staged plaintext is \
     still in .git/objects ('git add' wrote it) until 'git restore --staged FILE' (or 'git rm \
     --cached FILE' to stop tracking it) and then 'git gc --prune=now' remove it; to commit \
     anyway, deliberately: git commit --no-verify";

/// `envcloak git pre-commit`, run by the hook.
pub fn pre_commit(g: &Global) -> CmdResult {
    // git runs hooks at the top of the work tree; a manual run may not.
    let top = toplevel()?;
    std::env::set_current_dir(&top).map_err(|e| Failure::from(Error::from_io(&top, e)))?;
    let staged = staged_files()?;
    let tracked = tracked_encrypted()?;
    let mut problems: Vec<String> = Vec::new();
    let mut encrypted: Vec<(&Staged, Option<String>)> = Vec::new();
    let mut scanned: Vec<&Staged> = Vec::new();
    for f in &staged {
        let p = f.shown();
        match kind(f.name()) {
            Kind::Plain => problems.push(format!(
                "{p}: a plaintext env file: it must not be committed (stop tracking it: \
                 git rm --cached -- '{p}'; keep it in .gitignore; 'envcloak encrypt' seals it)"
            )),
            Kind::KeyFile => problems.push(format!(
                "{p}: a key file: it must never be committed (stop tracking it: \
                 git rm --cached -- '{p}'; share the key out of band)"
            )),
            Kind::Encrypted(profile) => encrypted.push((f, profile)),
            Kind::Other => scanned.push(f),
        }
    }

    // The directories whose env files give values: the top, and every
    // directory holding an encrypted env file git tracks (or is adding).
    let mut dirs: BTreeSet<Vec<u8>> = BTreeSet::from([Vec::new()]);
    for f in tracked.iter().chain(encrypted.iter().map(|(f, _)| *f)) {
        dirs.insert(dir_of(&f.path).to_vec());
    }

    // One batch: the staged encrypted files, the other tracked ones, and
    // HEAD's `.env.example` of each directory.
    let staged_paths: HashSet<&[u8]> = staged.iter().map(|f| f.path.as_slice()).collect();
    let mut wants: Vec<(Vec<u8>, Want)> = Vec::new();
    for (f, profile) in &encrypted {
        wants.push((f.oid.clone().into_bytes(), Want::Check(f, profile.clone())));
    }
    for f in &tracked {
        if !staged_paths.contains(f.path.as_slice())
            && let Kind::Encrypted(profile) = kind(f.name())
        {
            wants.push((f.oid.clone().into_bytes(), Want::Values(f, profile)));
        }
    }
    for dir in &dirs {
        // cat-file reads one name a line.
        if !dir.contains(&b'\n') {
            let mut name = b"HEAD:".to_vec();
            name.extend_from_slice(dir);
            name.extend_from_slice(b".env.example");
            wants.push((name, Want::Example(dir.clone())));
        }
    }

    let mut needles: Vec<Needle> = Vec::new();
    let mut plaintext_needles: Vec<Needle> = Vec::new();
    let mut committed_examples: HashMap<Vec<u8>, HashMap<String, String>> = HashMap::new();
    // Encrypted contents already opened (or tried): the work tree's copy
    // is usually the staged one.
    let mut tried: HashSet<Vec<u8>> = HashSet::new();
    // Files already noted as not searched.
    let mut noted: HashSet<String> = HashSet::new();
    let mut note_unopened = |label: &str, why: &str| {
        if noted.insert(label.to_owned()) {
            ui::note(format!(
                "{label} could not be opened, so its values were not searched for ({why})"
            ));
        }
    };
    let names: Vec<&[u8]> = wants.iter().map(|(n, _)| n.as_slice()).collect();
    let mut i = 0;
    read_blobs(&names, |contents| {
        let Some((_, want)) = wants.get(i) else {
            return;
        };
        i += 1;
        match want {
            Want::Check(f, profile) => {
                let label = f.shown();
                let for_keys = Path::new(OsStr::from_bytes(&f.path));
                tried.insert(contents.to_vec());
                match open_contents(g, for_keys, &label, profile.as_deref(), contents) {
                    Ok(text) => match envcloak::dotenv::parse(&text) {
                        Err(ParseError {
                            line,
                            kind: ParseErrorKind::ConflictMarker { key },
                        }) => problems.push(format!(
                            "{label}: unresolved merge conflict at line {line}{}: resolve it \
                             with 'envcloak edit', then stage it again",
                            key.map(|k| format!(" (key {k})")).unwrap_or_default()
                        )),
                        Err(e) => problems.push(format!(
                            "{label}:{}: {} (fix it with 'envcloak edit')",
                            e.line, e.kind
                        )),
                        Ok(_) => {
                            let _ = add_needles(&mut needles, &text, &label, dir_of(&f.path));
                        }
                    },
                    Err(problem) => problems.push(problem),
                }
            }
            Want::Values(f, profile) => {
                if !tried.insert(contents.to_vec()) {
                    return;
                }
                let label = f.shown();
                let for_keys = Path::new(OsStr::from_bytes(&f.path));
                match open_contents(g, for_keys, &label, profile.as_deref(), contents) {
                    Ok(text) => {
                        let _ = add_needles(&mut needles, &text, &label, dir_of(&f.path));
                    }
                    Err(why) => note_unopened(&label, &why),
                }
            }
            Want::Example(dir) => {
                if let Ok(text) = std::str::from_utf8(contents) {
                    committed_examples.insert(dir.clone(), dotenv_values(text));
                }
            }
        }
    })?;

    // The env files in those directories, from the work tree: the
    // plaintext ones are ignored by git, the encrypted ones may be newer
    // than what is staged.
    let mut examples: HashMap<Vec<u8>, HashMap<String, String>> = HashMap::new();
    for dir in &dirs {
        examples.insert(dir.clone(), example_values(dir));
        for (path, label, kind) in env_files_in(dir) {
            match kind {
                Kind::Plain => {
                    let Ok(bytes) = std::fs::read(&path).map(Zeroizing::new) else {
                        continue;
                    };
                    let Ok(text) = std::str::from_utf8(&bytes) else {
                        continue;
                    };
                    if let Err(line) = add_needles(&mut plaintext_needles, text, &label, dir) {
                        ui::note(format!(
                            "{label}:{line} does not parse, so its values were not searched for"
                        ));
                    }
                }
                Kind::Encrypted(profile) => {
                    let Ok(contents) = std::fs::read(&path) else {
                        continue;
                    };
                    if !tried.insert(contents.clone()) {
                        continue;
                    }
                    match open_contents(g, &path, &label, profile.as_deref(), &contents) {
                        Ok(text) => {
                            let _ = add_needles(&mut needles, &text, &label, dir);
                        }
                        Err(why) => note_unopened(&label, &why),
                    }
                }
                _ => {}
            }
        }
    }
    // Public values: what the committed `.env.example` next to the file
    // gives the same key, and what the work tree's example there gives it
    // when that does not look like a real secret (`init --encrypt` copies
    // an example's defaults, such as `postgres://localhost/app`, into
    // `.env.enc`, and the first commit of that example must go through; a
    // real token pasted into the example is still caught).
    let long = |n: &Needle| n.value.trim().chars().count() >= MIN_VALUE_CHARS;
    let public = |n: &Needle| {
        let gives = |examples: &HashMap<Vec<u8>, HashMap<String, String>>| {
            examples.get(&n.dir).and_then(|e| e.get(&n.key)) == Some(&*n.value)
        };
        gives(&committed_examples)
            || (gives(&examples) && !envcloak::example::looks_like_secret(&n.value))
    };
    needles.retain(|n| long(n) && !public(n));
    // A plaintext value its encrypted file holds too is reported once,
    // from the encrypted file.
    let sealed: HashSet<(&[u8], &str, &str)> = needles
        .iter()
        .map(|n| (n.dir.as_slice(), n.key.as_str(), n.value.as_str()))
        .collect();
    plaintext_needles.retain(|n| {
        long(n)
            && !public(n)
            && !sealed.contains(&(n.dir.as_slice(), n.key.as_str(), n.value.as_str()))
    });
    drop(sealed);
    needles.append(&mut plaintext_needles);

    // Every other staged file, searched for every value (and every part
    // of one worth searching for) at once.
    if !needles.is_empty() && !scanned.is_empty() {
        let parts: Vec<Vec<Zeroizing<String>>> = needles.iter().map(|n| parts(&n.value)).collect();
        // Each pattern, with the needles it belongs to and whether it is
        // the whole value.
        let mut unique: BTreeMap<&str, Vec<(usize, bool)>> = BTreeMap::new();
        for (i, n) in needles.iter().enumerate() {
            unique.entry(n.value.as_str()).or_default().push((i, true));
        }
        for (i, ps) in parts.iter().enumerate() {
            for p in ps {
                unique.entry(p.as_str()).or_default().push((i, false));
            }
        }
        let patterns: Vec<&str> = unique.keys().copied().collect();
        let owners: Vec<&Vec<(usize, bool)>> = unique.values().collect();
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| Failure::new(format!("the commit guard could not search: {e}")))?;
        let oids: Vec<&[u8]> = scanned.iter().map(|f| f.oid.as_bytes()).collect();
        let mut i = 0;
        read_blobs(&oids, |contents| {
            let Some(f) = scanned.get(i) else {
                return;
            };
            i += 1;
            // Per needle, where the whole value and where a part of it
            // first is.
            let mut found: BTreeMap<usize, (Option<usize>, Option<usize>)> = BTreeMap::new();
            for m in ac.find_overlapping_iter(contents) {
                for &(n, whole) in owners.get(m.pattern().as_usize()).map_or(&[][..], |v| v) {
                    let at = found.entry(n).or_default();
                    let slot = if whole { &mut at.0 } else { &mut at.1 };
                    *slot = Some(slot.map_or(m.start(), |s| s.min(m.start())));
                }
            }
            // Each key and source once per file, at its first line; the
            // whole value rather than a part.
            let mut reported: Vec<(String, bool, usize)> = Vec::new();
            for (n, (whole, part)) in found {
                let Some(needle) = needles.get(n) else {
                    continue;
                };
                let Some((is_whole, start)) = whole.map(|s| (true, s)).or(part.map(|s| (false, s)))
                else {
                    continue;
                };
                let line = contents
                    .get(..start)
                    .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
                    + 1;
                let what = format!("{} (from {})", needle.key, needle.source);
                match reported.iter_mut().find(|(w, _, _)| *w == what) {
                    Some(r) if is_whole && !r.1 => *r = (what, true, line),
                    Some(_) => {}
                    None => reported.push((what, is_whole, line)),
                }
            }
            reported.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
            for (what, whole, line) in reported {
                let which = if whole {
                    "the value"
                } else {
                    "part of the value"
                };
                problems.push(format!(
                    "{}:{line}: holds {which} of {what}: take it out (read it from the \
                     environment instead) and stage the file again",
                    f.shown()
                ));
            }
        })?;
    }

    if problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    crate::out::err_line("envcloak commit guard: refusing this commit");
    for p in &problems {
        crate::out::err_line(format_args!("  {p}"));
    }
    Err(Failure::new(format!(
        "commit refused: {} problem(s) in the staged files (values are never shown)",
        problems.len()
    ))
    .code(1)
    .hint(HINT))
}

/// The directory part of a path from the top (`"svc/api/"`, `""` at the
/// top), with its final `/`.
fn dir_of(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => path.get(..=i).unwrap_or_default(),
        None => &[],
    }
}

/// Parts of `value` worth searching for on their own (never the whole
/// value): each line of a multi-line value, trimmed (a PEM key pasted
/// with CRLF endings, or in part), and the password of a URL
/// (`scheme://user:PASSWORD@host`), as written and percent-decoded; each
/// of [`MIN_VALUE_CHARS`] or more. PEM armour lines, conflict markers and
/// local-development passwords are no secrets and left out.
fn parts(value: &str) -> Vec<Zeroizing<String>> {
    let mut out: Vec<Zeroizing<String>> = Vec::new();
    let mut push = |p: &str| {
        let p = p.trim();
        if p.chars().count() >= MIN_VALUE_CHARS && p != value && !out.iter().any(|o| **o == p) {
            out.push(Zeroizing::new(p.to_owned()));
        }
    };
    let lines: Vec<&str> = value.split('\n').collect();
    for line in &lines {
        let l = line.trim();
        if !l.starts_with("-----") && !envcloak::dotenv::is_conflict_marker(l) {
            push(l);
        }
    }
    for line in lines {
        if let Some(password) = url_password(line) {
            push(password);
            if let Some(decoded) = percent_decoded(password) {
                push(&decoded);
            }
        }
    }
    out
}

/// The password of a URL (`scheme://user:PASSWORD@host/...`), unless it
/// is a local-development one: the user's name, a `$VARIABLE`, or (under
/// 16 characters) one holding a word like `password`, `postgres` or
/// `secret` (what [`envcloak::example::looks_like_secret`] calls a
/// placeholder), which would match half the code base.
fn url_password(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _host) = authority.rsplit_once('@')?;
    let (user, password) = userinfo.split_once(':')?;
    // What `looks_like_secret` says of the password alone in a URL.
    let real = envcloak::example::looks_like_secret(&Zeroizing::new(format!(
        "x://{user}:{password}@host"
    )));
    (real || password.chars().count() >= 2 * MIN_VALUE_CHARS && password != user)
        .then_some(password)
        .filter(|p| !p.starts_with('$'))
}

/// `s` with `%XX` escapes decoded, when it has any and the result is text.
fn percent_decoded(s: &str) -> Option<Zeroizing<String>> {
    if !s.contains('%') {
        return None;
    }
    let b = s.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(b.len()));
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out.to_vec()).ok().map(Zeroizing::new)
}

/// Every value in a dotenv `text`, tagged with its key, `source` and
/// directory; the line of a syntax error.
fn add_needles(needles: &mut Vec<Needle>, text: &str, source: &str, dir: &[u8]) -> Result<(), u32> {
    let entries = envcloak::dotenv::parse(text).map_err(|e| e.line)?;
    for e in entries {
        needles.push(Needle {
            value: Zeroizing::new(e.value.into_owned()),
            key: e.key.to_owned(),
            source: source.to_owned(),
            dir: dir.to_vec(),
        });
    }
    Ok(())
}

/// The work tree's `.env.example` values in `dir` (`""` or `"dir/"`), by
/// key.
fn example_values(dir: &[u8]) -> HashMap<String, String> {
    let mut path = dir.to_vec();
    path.extend_from_slice(b".env.example");
    let Ok(text) = std::fs::read_to_string(OsStr::from_bytes(&path)) else {
        return HashMap::new();
    };
    dotenv_values(&text)
}

fn dotenv_values(text: &str) -> HashMap<String, String> {
    let Ok(entries) = envcloak::dotenv::parse(text) else {
        return HashMap::new();
    };
    entries
        .into_iter()
        .map(|e| (e.key.to_owned(), e.value.into_owned()))
        .collect()
}

/// The plaintext and encrypted env files in the work tree directory `dir`
/// (`""` or `"dir/"`): each one's path, label and kind.
fn env_files_in(dir: &[u8]) -> Vec<(PathBuf, String, Kind)> {
    let at = if dir.is_empty() {
        Path::new(".")
    } else {
        Path::new(OsStr::from_bytes(dir))
    };
    let Ok(entries) = std::fs::read_dir(at) else {
        return Vec::new();
    };
    let mut files: Vec<(PathBuf, String, Kind)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name();
            match kind(name.as_bytes()) {
                k @ (Kind::Plain | Kind::Encrypted(_)) => {
                    let mut path = dir.to_vec();
                    path.extend_from_slice(name.as_bytes());
                    let label = String::from_utf8_lossy(&path).into_owned();
                    Some((PathBuf::from(OsStr::from_bytes(&path)), label, k))
                }
                _ => None,
            }
        })
        .collect();
    files.sort_by(|a, b| a.1.cmp(&b.1));
    files
}

/// The encrypted env files git tracks anywhere in the work tree (one `git
/// ls-files`), with their index blobs.
fn tracked_encrypted() -> CmdResult<Vec<Staged>> {
    let out = git()
        .args(["ls-files", "-s", "-z"])
        .output()
        .map_err(git_failed)?;
    if !out.status.success() {
        return Err(Failure::new(
            "git pre-commit: git could not list the tracked files",
        ));
    }
    let mut files = Vec::new();
    for entry in out.stdout.split(|&b| b == 0) {
        // "mode oid stage\tpath"
        let Some(tab) = entry.iter().position(|&b| b == b'\t') else {
            continue;
        };
        let (Some(meta), Some(path)) = (entry.get(..tab), entry.get(tab + 1..)) else {
            continue;
        };
        let f = Staged {
            path: path.to_vec(),
            oid: String::new(),
        };
        if !matches!(kind(f.name()), Kind::Encrypted(_)) {
            continue;
        }
        let meta = String::from_utf8_lossy(meta);
        let parts: Vec<&str> = meta.split(' ').collect();
        let (Some(mode), Some(oid)) = (parts.first(), parts.get(1)) else {
            continue;
        };
        if *mode == "160000" {
            continue;
        }
        files.push(Staged {
            oid: (*oid).to_owned(),
            ..f
        });
    }
    Ok(files)
}

/// Opens encrypted `contents` with the key (or password) for the work
/// tree file `for_keys`; a problem line naming `label` when it cannot.
fn open_contents(
    g: &Global,
    for_keys: &Path,
    label: &str,
    profile: Option<&str>,
    contents: &[u8],
) -> Result<Zeroizing<String>, String> {
    let label_path = Path::new(label);
    let header = vault::password_header(label_path, contents).map_err(|e| e.to_string())?;
    let (sealer, tried) = match header {
        Some(h) => {
            let Some(password) = std::env::var("ENVCLOAK_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
            else {
                return Err(format!(
                    "{label}: in password mode, and ENVCLOAK_PASSWORD is not set: the guard \
                     cannot check it (set ENVCLOAK_PASSWORD for the commit)"
                ));
            };
            (
                Sealer::Password {
                    password: Zeroizing::new(password),
                    iterations: h.iterations,
                    salt: Some(h.salt),
                },
                "the password from ENVCLOAK_PASSWORD".to_owned(),
            )
        }
        None => {
            let found = match &g.key_file {
                Some(file) => keys::read_key_file(file)
                    .map(|keyring| (keyring, format!("--key-file {}", file.display()))),
                None => {
                    let env = |name: &str| std::env::var(name).ok();
                    let search = keys::Search {
                        env: &env,
                        profile,
                        encrypted: for_keys,
                    };
                    match keys::find(&search) {
                        Ok(Some(f)) => {
                            let d = f.describe();
                            Ok((f.keyring, d))
                        }
                        Ok(None) => {
                            return Err(format!(
                                "{label}: no key here opens it, so the guard cannot check it \
                                 (looked in {}; get the team's key, or commit with --no-verify)",
                                keys::places(&search).join(", ")
                            ));
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            let (keyring, from) = found.map_err(|e| format!("{label}: {e}"))?;
            (Sealer::Keys(keyring), format!("the key from {from}"))
        }
    };
    vault::open(label_path, contents, &sealer, None).map_err(|e| match e {
        Error::Decrypt {
            kind: DecryptError::Authentication | DecryptError::WrongPassword,
            ..
        } => format!(
            "{e} (tried {tried}): the local key does not open it; seal it with the team's key \
             ('envcloak edit' or 'envcloak set' with that key)"
        ),
        e => format!(
            "{e}: damaged or not an envcloak file (unstage it: git restore --staged -- '{label}')"
        ),
    })
}

/// The top of the work tree.
fn toplevel() -> CmdResult<PathBuf> {
    let out = git()
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .map_err(git_failed)?;
    if !out.status.success() {
        return Err(Failure::new("git pre-commit: not in a git work tree")
            .hint("the commit guard runs from git's pre-commit hook"));
    }
    let path = out.stdout.strip_suffix(b"\n").unwrap_or(&out.stdout);
    Ok(PathBuf::from(OsStr::from_bytes(path)))
}

/// The files the commit adds or changes, with their staged blobs.
fn staged_files() -> CmdResult<Vec<Staged>> {
    let head = git()
        .args(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
        .output()
        .map_err(git_failed)?;
    let base = if head.status.success() {
        String::from_utf8_lossy(&head.stdout).trim().to_owned()
    } else {
        // No commit yet: everything staged is new.
        let empty = git()
            .args(["hash-object", "-t", "tree", "/dev/null"])
            .output()
            .map_err(git_failed)?;
        String::from_utf8_lossy(&empty.stdout).trim().to_owned()
    };
    let out = git()
        .args([
            "diff-index",
            "--cached",
            "-z",
            "--no-renames",
            "--diff-filter=ACMT",
            &base,
        ])
        .output()
        .map_err(git_failed)?;
    if !out.status.success() {
        return Err(Failure::new(
            "git pre-commit: git could not list the staged files",
        ));
    }
    let mut files = Vec::new();
    let mut fields = out.stdout.split(|&b| b == 0);
    while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
        // ":old-mode new-mode old-oid new-oid status"
        let meta = String::from_utf8_lossy(meta);
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        let (Some(mode), Some(oid)) = (parts.get(1), parts.get(3)) else {
            continue;
        };
        // Submodules (160000) are commits, not files.
        if *mode == "160000" {
            continue;
        }
        files.push(Staged {
            path: path.to_vec(),
            oid: (*oid).to_owned(),
        });
    }
    Ok(files)
}

/// Reads the objects `names` (blob ids, or `REV:PATH`) through one `git
/// cat-file --batch`, handing each one's contents to `each`, in order (a
/// missing one as empty).
fn read_blobs(names: &[&[u8]], mut each: impl FnMut(&[u8])) -> CmdResult<()> {
    if names.is_empty() {
        return Ok(());
    }
    let mut child = git()
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(git_failed)?;
    let mut input = Vec::with_capacity(names.len() * 41);
    for name in names {
        input.extend_from_slice(name);
        input.push(b'\n');
    }
    let Some(mut stdin) = child.stdin.take() else {
        return Err(Failure::new("git cat-file: no standard input"));
    };
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let Some(stdout) = child.stdout.take() else {
        return Err(Failure::new("git cat-file: no standard output"));
    };
    let mut reader = BufReader::new(stdout);
    let mut header = Vec::new();
    let mut contents = Vec::new();
    let broken = || Failure::new("git cat-file: unexpected output");
    for _ in names {
        header.clear();
        reader
            .read_until(b'\n', &mut header)
            .map_err(|_| broken())?;
        let text = String::from_utf8_lossy(&header);
        let text = text.trim_end_matches('\n');
        // "<oid> <type> <size>", or "<name> missing" (the name may hold
        // blanks).
        if text.ends_with(" missing") || text.ends_with(" ambiguous") {
            each(&[]);
            continue;
        }
        let size = text
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(broken)?;
        contents.clear();
        (&mut reader)
            .take(size)
            .read_to_end(&mut contents)
            .map_err(|_| broken())?;
        let mut newline = [0u8; 1];
        reader.read_exact(&mut newline).map_err(|_| broken())?;
        each(&contents);
    }
    let _ = writer.join();
    let _ = child.wait();
    Ok(())
}

/// `git`, in the current directory (where git runs its hooks), with its
/// messages hidden.
fn git() -> Command {
    let mut cmd = Command::new("git");
    cmd.stdin(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// `git -C dir`, with its messages hidden.
fn git_in(dir: &Path) -> Command {
    let mut cmd = git();
    cmd.arg("-C").arg(dir);
    cmd
}

fn git_failed(e: std::io::Error) -> Failure {
    Failure::new(format!("could not run git: {e}")).hint("install git, or put it on PATH")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_told_apart() {
        for plain in [
            ".env",
            ".env.production",
            ".env.local",
            ".env.backup-20260101T000000Z",
        ] {
            assert_eq!(kind(plain.as_bytes()), Kind::Plain, "{plain}");
        }
        for key in [".env.key", ".env.staging.key"] {
            assert_eq!(kind(key.as_bytes()), Kind::KeyFile, "{key}");
        }
        assert_eq!(kind(b".env.enc"), Kind::Encrypted(None));
        assert_eq!(
            kind(b".env.production.enc"),
            Kind::Encrypted(Some("production".to_owned()))
        );
        for other in [
            ".env.example",
            ".env.production.example",
            ".env.recipients",
            ".env.key.age",
            ".envrc",
            "env.rs",
            "main.rs",
        ] {
            assert_eq!(kind(other.as_bytes()), Kind::Other, "{other}");
        }
    }

    fn parts_of(value: &str) -> Vec<String> {
        parts(value).iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn parts_of_values_are_lines_and_url_passwords() {
        // Lines, trimmed of CRLF and blanks, without the PEM armour.
        assert_eq!(
            parts_of(
                "-----BEGIN KEY-----\r\n  AAAABBBBCCCC\r\nshort\r\nDDDDEEEEFFFF\r\n-----END KEY-----"
            ),
            ["AAAABBBBCCCC", "DDDDEEEEFFFF"]
        );
        // A single-line value is no part of itself; blanks around it are.
        assert!(parts_of("abcdefgh12345").is_empty());
        assert_eq!(parts_of("  abcdefgh12345\r"), ["abcdefgh12345"]);
        // URL passwords, as written and decoded.
        assert_eq!(
            parts_of("postgres://app:Zq8%40xR4vT9w@db.internal:5432/app?ssl=1"),
            ["Zq8%40xR4vT9w", "Zq8@xR4vT9w"]
        );
        assert_eq!(
            parts_of("redis://:k3Jd8sLq0pWz@cache:6379"),
            ["k3Jd8sLq0pWz"]
        );
        // Local-development passwords and short ones are not searched for.
        for url in [
            "postgres://postgres:postgres@localhost/app",
            "mysql://root:password@127.0.0.1/app",
            "postgres://app:${DB_PASSWORD}@db/app",
            "postgres://app:k3Jd8s@db/app",
            "postgres://app@db/app",
            "https://example.com/a:b@c",
        ] {
            assert!(parts_of(url).is_empty(), "{url}");
        }
        // A long real password is searched for even with a word in it.
        assert_eq!(
            parts_of("postgres://app:Sup3rS3cretPassw0rd@db/app"),
            ["Sup3rS3cretPassw0rd"]
        );
    }

    #[test]
    fn directories_of_paths() {
        assert_eq!(dir_of(b".env.enc"), b"");
        assert_eq!(dir_of(b"svc/api/.env.enc"), b"svc/api/");
    }

    #[test]
    fn quotes_survive_the_shell() {
        assert_eq!(shell_quote(b"/a b/it's"), b"'/a b/it'\\''s'".to_vec());
    }
}
