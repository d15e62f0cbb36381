//! Git plumbing for envcloak's drivers (DESIGN §8): enrollment in
//! `.gitattributes` and a clone's config, keyed fingerprints of values for
//! readable diffs (the textconv), and the key-level merge of three versions
//! of an encrypted file (the merge driver).
//!
//! `.env.enc` is one Fernet token, so git can neither show nor merge it.
//! `envcloak git enroll` marks `.env.enc` and `.env.*.enc` with
//! `diff=envcloak merge=envcloak` in `.gitattributes` (committed, so every
//! clone has it) and points this clone's `diff.envcloak.textconv` and
//! `merge.envcloak.driver` at the envcloak binary (local config, which a
//! clone does not inherit: [`configure`] sets it up, and the CLI does so
//! by itself in a clone that lacks it).
//!
//! Both drivers look for keys from the repository root, as the loader
//! does, never beside git's temporary copies of blobs. Plaintext stays in
//! memory: the textconv prints names and fingerprints (values only when
//! asked for), and the merge driver writes back an encrypted file, with
//! conflict markers inside the encryption when both sides changed a key.
//! Comments are part of the encrypted content and may hold old secrets
//! (`# old: TOKEN=...`), so the textconv shows each one as a keyed
//! fingerprint of its text too (`# [comment fp:…]`): a changed comment
//! shows as a changed line, its words do not show.
//!
//! The commands recorded in a clone's config run the envcloak binary at
//! the absolute path that configured them, and `envcloak` on `PATH` when
//! that binary is gone (after `cargo clean`, or a move to `cargo
//! install`), so `git log -p` keeps working ([`driver_config`]).
//!
//! ```
//! use envcloak::git::{Fingerprinter, Show, render};
//! let key = envcloak::crypto::Key::generate();
//! let fp = Fingerprinter::new(&key);
//! let shown = render("# api\nTOKEN=s3cret\n", Show::Fingerprints(&fp));
//! assert_eq!(
//!     *shown,
//!     format!("# [comment fp:{}]\nTOKEN=[fp:{}]\n", fp.comment("# api"), fp.fingerprint("s3cret"))
//! );
//! assert!(!shown.contains("s3cret") && !shown.contains("api"));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hmac::Mac as _;
use zeroize::Zeroizing;

use crate::crypto::{self, Key, Keyring};
use crate::dotenv;
use crate::error::{Error, Result};
use crate::keys;
use crate::vault::{self, Sealer};

/// The name of the drivers in `.gitattributes` and git's config
/// (`diff=envcloak`, `merge.envcloak.driver`).
pub const DRIVER: &str = "envcloak";

/// The `.gitattributes` patterns enrollment adds: the base encrypted file
/// and every profile's.
pub const PATTERNS: [&str; 2] = [".env.enc", ".env.*.enc"];

/// The attributes each pattern gets.
pub const ATTRIBUTES: &str = "diff=envcloak merge=envcloak";

/// The recipients files and sealed keyrings of per-person access (DESIGN
/// §9): merged by the same driver, member by member, and the keyring
/// re-sealed to the merged members. No `diff=`: neither is a Fernet token.
pub const SEALED_PATTERNS: [&str; 4] = [
    ".env.recipients",
    ".env.*.recipients",
    ".env.key.age",
    ".env.*.key.age",
];

/// The attribute each sealed-keyring pattern gets.
pub const SEALED_ATTRIBUTES: &str = "merge=envcloak";

/// The comment line enrollment puts above its lines in `.gitattributes`.
pub const ATTRIBUTES_COMMENT: &str =
    "# envcloak: readable diffs and key-level merges of encrypted env files (envcloak git enroll)";

/// What the textconv prints for a blob it cannot show: no key here opens
/// it (or it is not an encrypted file). One line, so `git log -p` goes on;
/// [`placeholder`] adds a digest of the blob, so a change still shows.
pub const NO_KEY_PLACEHOLDER: &str = "# envcloak: encrypted; no key here opens it";

/// The textconv's one line for a blob it cannot show:
/// [`NO_KEY_PLACEHOLDER`] and the first bytes of the SHA-256 of the blob
/// as it is (ciphertext: the digest reveals nothing of the plaintext), so
/// that two different versions still show as a changed line.
///
/// ```
/// let line = envcloak::git::placeholder(b"gAAAAAB...");
/// assert!(line.starts_with(envcloak::git::NO_KEY_PLACEHOLDER));
/// assert_ne!(line, envcloak::git::placeholder(b"gAAAAAC..."));
/// ```
pub fn placeholder(contents: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(contents);
    let hex: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    format!("{NO_KEY_PLACEHOLDER} (sha256 {hex})")
}

/// The `.gitattributes` lines enrollment adds, in order (the comment, then
/// one line per pattern).
pub fn attribute_lines() -> Vec<String> {
    std::iter::once(ATTRIBUTES_COMMENT.to_owned())
        .chain(PATTERNS.iter().map(|p| format!("{p} {ATTRIBUTES}")))
        .chain(
            SEALED_PATTERNS
                .iter()
                .map(|p| format!("{p} {SEALED_ATTRIBUTES}")),
        )
        .collect()
}

/// `text` (a `.gitattributes`) with enrollment's lines added where they are
/// missing, every other line kept as it is; `None` when nothing is missing.
///
/// ```
/// let once = envcloak::git::enroll_attributes("*.png binary\n").unwrap();
/// assert!(once.starts_with("*.png binary\n"));
/// assert!(once.contains(".env.enc diff=envcloak merge=envcloak\n"));
/// assert_eq!(envcloak::git::enroll_attributes(&once), None);
/// ```
pub fn enroll_attributes(text: &str) -> Option<String> {
    let have = |line: &str| text.lines().any(|l| l.trim() == line);
    let missing: Vec<String> = attribute_lines()
        .into_iter()
        .skip(1)
        .filter(|l| !have(l))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !have(ATTRIBUTES_COMMENT) {
        out.push_str(ATTRIBUTES_COMMENT);
        out.push('\n');
    }
    for l in missing {
        out.push_str(&l);
        out.push('\n');
    }
    Some(out)
}

/// `text` (a `.gitattributes`) without enrollment's lines, every other
/// line kept; `None` when it has none of them.
///
/// ```
/// let enrolled = envcloak::git::enroll_attributes("*.png binary\n").unwrap();
/// assert_eq!(envcloak::git::disenroll_attributes(&enrolled).as_deref(), Some("*.png binary\n"));
/// ```
pub fn disenroll_attributes(text: &str) -> Option<String> {
    let ours = attribute_lines();
    let mut out = String::with_capacity(text.len());
    let mut removed = false;
    for line in text.split_inclusive('\n') {
        if ours.iter().any(|o| line.trim() == o) {
            removed = true;
        } else {
            out.push_str(line);
        }
    }
    removed.then_some(out)
}

/// Whether `text` (a `.gitattributes`) gives some path envcloak's drivers
/// (`diff=envcloak` or `merge=envcloak` outside a comment).
pub fn names_drivers(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        !l.starts_with('#')
            && l.split_whitespace()
                .any(|a| a == "diff=envcloak" || a == "merge=envcloak")
    })
}

// ---------------------------------------------------------------------------
// The repository and its config
// ---------------------------------------------------------------------------

fn git(root: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(if root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            root
        })
        .stdin(Stdio::null());
    cmd
}

/// The top of the work tree that `dir` is in (`git rev-parse
/// --show-toplevel`); `None` outside a work tree or when git is missing.
pub fn repo_root(dir: &Path) -> Option<PathBuf> {
    let out = git(dir)
        .args(["rev-parse", "--show-toplevel"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let top = text.trim_end_matches(['\n', '\r']);
    (!top.is_empty()).then(|| PathBuf::from(top))
}

/// Cheaply (without running git): the nearest directory from `start`
/// upward that holds a `.git`, when its `.gitattributes` names envcloak's
/// drivers. What the CLI checks before every command that may need the
/// drivers configured.
pub fn enrolled_root(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        if d.join(".git").exists() {
            let text = std::fs::read_to_string(d.join(".gitattributes")).ok()?;
            return names_drivers(&text).then(|| d.to_path_buf());
        }
        dir = d.parent();
    }
    None
}

/// `s` quoted for `sh` (git runs drivers through the shell): in single
/// quotes, each `'` written as `'\''`.
///
/// ```
/// assert_eq!(envcloak::git::shell_quote("/opt/my tools/envcloak"), "'/opt/my tools/envcloak'");
/// assert_eq!(envcloak::git::shell_quote("it's"), r"'it'\''s'");
/// ```
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// How a recorded driver command that falls back to `PATH` starts
/// ([`driver_command`]); the recorded binary's quoted path follows.
const FALLBACK_PREFIX: &str = "f() { if [ -x ";

/// The shell command git runs for a driver: the envcloak binary at `exe`
/// when it is still there, else `envcloak` on `PATH`, with `args` (git
/// runs it with `sh -c`, appending the file for a textconv and
/// substituting `%O %A %B %P`, quoted, for a merge driver).
///
/// ```
/// let cmd = envcloak::git::driver_command(std::path::Path::new("/opt/it's/envcloak"), "git textconv");
/// assert_eq!(
///     cmd,
///     r#"f() { if [ -x '/opt/it'\''s/envcloak' ]; then '/opt/it'\''s/envcloak' "$@"; else envcloak "$@"; fi; }; f git textconv"#
/// );
/// ```
pub fn driver_command(exe: &Path, args: &str) -> String {
    let program = shell_quote(&exe.to_string_lossy());
    format!(
        r#"{FALLBACK_PREFIX}{program} ]; then {program} "$@"; else envcloak "$@"; fi; }}; f {args}"#
    )
}

/// The program a recorded driver command runs: the quoted path after
/// [`FALLBACK_PREFIX`] in the form [`driver_command`] writes, otherwise the
/// first word (an older form, or one a user wrote).
fn recorded_program(cmd: &str) -> String {
    match cmd.trim_start().strip_prefix(FALLBACK_PREFIX) {
        Some(rest) => command_program(rest),
        None => command_program(cmd),
    }
}

/// The first word of a command, unquoted when it is single-quoted (as
/// [`shell_quote`] writes it).
fn command_program(cmd: &str) -> String {
    let cmd = cmd.trim_start();
    let mut out = String::new();
    let mut chars = cmd.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '\\' if !quoted => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c if c.is_whitespace() && !quoted => break,
            c => out.push(c),
        }
    }
    out
}

/// The local config entries that enrollment sets, for the envcloak binary
/// at `exe` (falling back to `envcloak` on `PATH` when it is gone:
/// [`driver_command`]): the textconv, `cachetextconv` off (decrypted text
/// is never cached in git notes), the merge driver with `%O %A %B %P`, and
/// `recursive = binary` for the virtual bases of criss-cross merges.
pub fn driver_config(exe: &Path) -> Vec<(&'static str, String)> {
    vec![
        (
            "diff.envcloak.textconv",
            driver_command(exe, "git textconv"),
        ),
        ("diff.envcloak.cachetextconv", "false".to_owned()),
        (
            "merge.envcloak.name",
            "envcloak: key-level merge of encrypted env files".to_owned(),
        ),
        (
            "merge.envcloak.driver",
            // %S %X %Y (git 2.44+): the labels of base, ours and theirs,
            // from which the sealed-keyring merge finds the commits.
            driver_command(exe, "git merge-driver %O %A %B %P %S %X %Y"),
        ),
        // A criss-cross merge first merges the merge bases into a virtual
        // one; git's `binary` driver then takes their own base instead of
        // conflict markers, and this driver merges the rest by key.
        ("merge.envcloak.recursive", "binary".to_owned()),
    ]
}

/// What a clone's local config says about the drivers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverState {
    /// `diff.envcloak.textconv`.
    pub textconv: Option<String>,
    /// `diff.envcloak.cachetextconv`.
    pub cachetextconv: Option<String>,
    /// `merge.envcloak.driver`.
    pub merge_driver: Option<String>,
}

impl DriverState {
    /// Whether the drivers are set up and runnable: both commands present,
    /// and `cachetextconv` off. A command in the form [`driver_command`]
    /// writes counts when the binary it records still exists (so a clone
    /// whose binary moved records the new one); an absolute path in another
    /// form counts not at all (it is rewritten in the form that falls back
    /// to `PATH`); a bare program name is left to `PATH`.
    pub fn is_complete(&self) -> bool {
        let runnable = |cmd: &Option<String>| {
            cmd.as_deref().is_some_and(|c| {
                let fallback = c.trim_start().starts_with(FALLBACK_PREFIX);
                let program = recorded_program(c);
                !program.is_empty()
                    && if program.contains('/') {
                        fallback && Path::new(&program).exists()
                    } else {
                        !fallback
                    }
            })
        };
        runnable(&self.textconv)
            && runnable(&self.merge_driver)
            && self.cachetextconv.as_deref() == Some("false")
    }
}

/// Reads the drivers' entries from the local config of the repository at
/// `root` (one `git config` run).
pub fn driver_state(root: &Path) -> Result<DriverState> {
    let out = git(root)
        .args([
            "config",
            "--local",
            "--null",
            "--get-regexp",
            r"^(diff|merge)\.envcloak\.",
        ])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| Error::io(root, e))?;
    let mut state = DriverState::default();
    // Exit status 1: no entry matches.
    for item in out.stdout.split(|&b| b == 0) {
        let item = String::from_utf8_lossy(item);
        let Some((name, value)) = item.split_once('\n') else {
            continue;
        };
        let value = Some(value.to_owned());
        match name {
            "diff.envcloak.textconv" => state.textconv = value,
            "diff.envcloak.cachetextconv" => state.cachetextconv = value,
            "merge.envcloak.driver" => state.merge_driver = value,
            _ => {}
        }
    }
    Ok(state)
}

fn run_git(root: &Path, args: &[&str]) -> Result<bool> {
    let out = git(root)
        .args(args)
        .stdout(Stdio::null())
        .output()
        .map_err(|e| Error::io(root, e))?;
    Ok(out.status.success())
}

/// Sets the drivers up in the local config of the repository at `root`
/// ([`driver_config`] for the binary at `exe`).
pub fn configure(root: &Path, exe: &Path) -> Result<()> {
    for (name, value) in driver_config(exe) {
        if !run_git(root, &["config", "--local", name, &value])? {
            return Err(Error::io(
                root,
                std::io::Error::other(format!("git config {name} failed")),
            ));
        }
    }
    Ok(())
}

/// Removes the drivers' sections from the local config of the repository
/// at `root`. Returns whether there was anything to remove.
pub fn unconfigure(root: &Path) -> Result<bool> {
    let mut removed = false;
    for section in ["diff.envcloak", "merge.envcloak"] {
        // Fails when the section does not exist: nothing to remove.
        removed |= run_git(root, &["config", "--local", "--remove-section", section])?;
    }
    Ok(removed)
}

// ---------------------------------------------------------------------------
// Fingerprints and the textconv
// ---------------------------------------------------------------------------

/// The label of the subkey fingerprints are made with
/// ([`Key::subkey`]): changing it changes every fingerprint.
const FINGERPRINT_LABEL: &str = "envcloak git diff value fingerprints v1";

/// How many bytes of the HMAC a fingerprint shows (as twice as many hex
/// digits).
pub const FINGERPRINT_BYTES: usize = 5;

/// Makes short keyed fingerprints of values, for diffs that show which
/// values changed without showing any.
///
/// A fingerprint is HMAC-SHA256 over the value, under a subkey of the
/// file's key ([`Key::subkey`] with a fixed label), cut to
/// [`FINGERPRINT_BYTES`] bytes in hex. Only someone who holds the key can
/// make one, so nobody can test guesses of a value against a diff offline.
/// The same value gives the same fingerprint: an unchanged value shows as
/// an unchanged line, a changed value as a changed line, and a renamed key
/// as a rename (the old name's fingerprint under the new name). The price,
/// chosen knowingly: two keys that hold the same value show the same
/// fingerprint, which tells a reader of the diff that they are equal (and
/// nothing more).
///
/// Which key: the first (encrypting) key of the keyring that opened the
/// file. While a rotation is under way the local keyring holds the new key
/// first and the old one after it, so old and new versions of the file
/// are shown with the same fingerprints. Two people whose keyrings differ
/// see different fingerprints; each one's diffs stay consistent. A
/// password-mode file uses the key derived from the password and the
/// file's salt (which a re-write under the same password keeps).
///
/// ```
/// use envcloak::git::Fingerprinter;
/// let fp = Fingerprinter::new(&envcloak::crypto::Key::generate());
/// let a = fp.fingerprint("one");
/// assert_eq!(a.len(), 10);
/// assert_eq!(a, fp.fingerprint("one"));
/// assert_ne!(a, fp.fingerprint("two"));
/// let other = Fingerprinter::new(&envcloak::crypto::Key::generate());
/// assert_ne!(a, other.fingerprint("one"));
/// ```
pub struct Fingerprinter {
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprinter(<redacted>)")
    }
}

impl Fingerprinter {
    /// Fingerprints under `key` (a file's key; see the type's docs).
    pub fn new(key: &Key) -> Fingerprinter {
        Fingerprinter {
            key: key.subkey(FINGERPRINT_LABEL),
        }
    }

    /// The fingerprint of `value`: lower-case hex.
    pub fn fingerprint(&self, value: &str) -> String {
        self.mac(&[value.as_bytes()])
    }

    /// The fingerprint of a comment line's text (`# ...` as it is in the
    /// file, without its line ending): lower-case hex, made apart from
    /// values' (a comment and a value with the same text do not show the
    /// same fingerprint).
    pub fn comment(&self, line: &str) -> String {
        self.mac(&[b"comment\0", line.as_bytes()])
    }

    fn mac(&self, parts: &[&[u8]]) -> String {
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.key[..])
            .expect("HMAC takes a key of any length");
        for part in parts {
            mac.update(part);
        }
        let tag = mac.finalize().into_bytes();
        tag.iter()
            .take(FINGERPRINT_BYTES)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// What [`render`] shows for each value.
#[derive(Debug, Clone, Copy)]
pub enum Show<'a> {
    /// `KEY=[fp:…]`.
    Fingerprints(&'a Fingerprinter),
    /// The decrypted text as it is (`ENVCLOAK_DIFF_VALUES=1`).
    Values,
}

/// The text the textconv prints for a decrypted file: its entries in file
/// order as `KEY=[fp:…]`, one line each (a value over several lines is one
/// line), with its blank lines. A commented-out entry (`# KEY=value`) is
/// shown as `# KEY=[fp:…]`; every other full-line comment as
/// `# [comment fp:…]` ([`Fingerprinter::comment`] of its text), since a
/// comment may hold an old secret. A text with conflict markers is
/// shown piece by piece between the marker lines, which are kept; a piece
/// that does not parse is replaced by a note naming its lines. Nothing of
/// a value is ever shown with [`Show::Fingerprints`].
pub fn render(text: &str, show: Show<'_>) -> Zeroizing<String> {
    let fp = match show {
        Show::Values => return Zeroizing::new(text.to_owned()),
        Show::Fingerprints(fp) => fp,
    };
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Zeroizing::new(String::with_capacity(body.len()));
    if render_entries(body, 0, fp, &mut out).is_ok() {
        return out;
    }
    out.clear();
    // Between conflict markers, each piece is whole entries.
    let mut piece = 0;
    let mut piece_line = 0u32;
    let mut at = 0;
    for (i, line) in body.split_inclusive('\n').enumerate() {
        let start = at;
        at += line.len();
        if dotenv::is_conflict_marker(line) {
            render_piece(
                body.get(piece..start).unwrap_or_default(),
                piece_line,
                fp,
                &mut out,
            );
            // The marker itself; what follows it on the line (a label, or
            // the rest of a quoted value that only looks like a marker)
            // is fingerprinted like a comment.
            let bare = line.trim_end_matches(['\n', '\r']);
            let (marker, rest) = match (bare.get(..7), bare.get(7..)) {
                (Some(m), Some(r)) => (m, r),
                _ => (bare, ""),
            };
            out.push_str(marker);
            let rest = rest.trim();
            if !rest.is_empty() && !matches!(rest, "ours" | "theirs" | "yours") {
                out.push_str(&format!(" [fp:{}]", fp.comment(rest)));
            } else if !rest.is_empty() {
                out.push(' ');
                out.push_str(rest);
            }
            out.push('\n');
            piece = at;
            piece_line = i as u32 + 1;
        }
    }
    render_piece(
        body.get(piece..).unwrap_or_default(),
        piece_line,
        fp,
        &mut out,
    );
    out
}

/// [`render_entries`] of a piece of a conflicted text whose first line is
/// line `before + 1`, or a note when it does not parse.
fn render_piece(piece: &str, before: u32, fp: &Fingerprinter, out: &mut String) {
    if piece.is_empty() {
        return;
    }
    let mut shown = Zeroizing::new(String::new());
    if render_entries(piece, before, fp, &mut shown).is_ok() {
        out.push_str(&shown);
    } else {
        let last = before + piece.lines().count().max(1) as u32;
        out.push_str(&format!(
            "# envcloak: lines {}-{last} not shown (they do not parse)\n",
            before + 1
        ));
    }
}

/// Appends the rendering of `body` (whose first line is line `before + 1`
/// of the file) to `out`; nothing when it does not parse.
fn render_entries(
    body: &str,
    before: u32,
    fp: &Fingerprinter,
    out: &mut String,
) -> std::result::Result<(), dotenv::ParseError> {
    let entries = dotenv::parse(body)?;
    let entry_line = |e: &dotenv::Entry<'_>| format!("{}=[fp:{}]", e.key, fp.fingerprint(&e.value));
    let mut next = entries.iter().peekable();
    let mut at = 0;
    // The end of the last entry shown: lines before it belong to it.
    let mut shown_until = 0;
    for (i, line) in body.split_inclusive('\n').enumerate() {
        let start = at;
        at += line.len();
        if start < shown_until {
            continue;
        }
        let lineno = i as u32 + 1;
        let text_line = line.trim_end_matches(['\n', '\r']);
        let trimmed = text_line.trim_start();
        match next.peek() {
            Some(e) if e.line == lineno => {
                out.push_str(&entry_line(e));
                shown_until = e.span.end;
                next.next();
            }
            _ if trimmed.starts_with('#') => {
                // A commented-out entry is shown as one, fingerprinted.
                let inner = trimmed.trim_start_matches('#');
                match dotenv::parse(inner).ok().as_deref() {
                    Some([e]) => {
                        out.push_str("# ");
                        out.push_str(&entry_line(e));
                    }
                    _ => {
                        out.push_str("# [comment fp:");
                        out.push_str(&fp.comment(text_line.trim()));
                        out.push(']');
                    }
                }
            }
            _ if trimmed.is_empty() => {}
            _ => out.push_str(&format!("# envcloak: line {} not shown", before + lineno)),
        }
        out.push('\n');
    }
    Ok(())
}

/// A file opened by [`open_from_root`]: its text, what seals it again, and
/// the key its fingerprints are made with.
pub struct Opened {
    /// The decrypted text.
    pub text: Zeroizing<String>,
    /// What seals it (the keyring that opened it, or the password).
    pub sealer: Sealer,
    /// The file's fingerprints ([`Fingerprinter`]).
    pub fingerprinter: Fingerprinter,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Opened({:?}, <redacted>)", self.sealer)
    }
}

/// The fingerprints of a file sealed with `sealer` whose contents are
/// `contents` (for a password, the key derived with the file's salt).
fn fingerprinter(sealer: &Sealer, contents: &[u8]) -> Option<Fingerprinter> {
    match sealer {
        Sealer::Keys(ring) => Some(Fingerprinter::new(ring.first())),
        Sealer::Password { password, .. } => {
            let (header, _) = crypto::split_file(contents).ok()?;
            let header = header?;
            Some(Fingerprinter::new(&crypto::derive_key(
                password.as_bytes(),
                &header.salt,
                header.iterations,
            )))
        }
    }
}

/// The profile an encrypted file's name belongs to: `.env.staging.enc` ->
/// `staging`; `None` for `.env.enc` and any other name.
pub fn profile_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let p = name.strip_prefix(".env.")?.strip_suffix(".enc")?;
    crate::valid_profile(p).then(|| p.to_owned())
}

/// Every keyring that may open an encrypted file of the repository at
/// `root` whose path is unknown (git's textconv gets a temporary copy):
/// what the base search finds ([`keys::find`] for `.env.enc`), then each
/// profile's (`ENVCLOAK_KEY_<PROFILE>` variables, `.env.<profile>.key`
/// files), then every key file at the root. Unusable sources are skipped.
/// Which `ENVCLOAK_KEY_<PROFILE>` variables exist is read from the process
/// environment; their values, like every other variable, come from `env`.
pub fn candidate_keyrings(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Keyring> {
    let mut out: Vec<Keyring> = Vec::new();
    let base = root.join(".env.enc");
    if let Ok(Some(found)) = keys::find(&keys::Search {
        env,
        profile: None,
        encrypted: &base,
    }) {
        out.push(found.keyring);
    }
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("ENVCLOAK_KEY_")
            && !matches!(
                name,
                "ENVCLOAK_KEY_FILE" | "ENVCLOAK_KEY_CMD" | "ENVCLOAK_KEY_CMD_TIMEOUT"
            )
            && let Some(v) = env(name).map(Zeroizing::new)
            && let Ok(ring) = Keyring::parse(&v)
        {
            out.push(ring);
        }
    }
    out.extend(keyrings_in(root));
    out
}

/// The keyrings of the key files (`.env.key`, `.env.*.key`) in `dir`, in
/// name order; unreadable or unusable ones left out.
fn keyrings_in(dir: &Path) -> Vec<Keyring> {
    let mut key_files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".env.") && n.ends_with(".key"))
        })
        .collect();
    key_files.sort();
    key_files
        .iter()
        .filter_map(|file| keys::read_key_file(file).ok())
        .collect()
}

/// The keyrings of key files beside encrypted files that git tracks below
/// the root (`app/.env.enc` with `app/.env.key`): the textconv's last
/// resort in a repository with several projects.
fn nested_keyrings(root: &Path) -> Vec<Keyring> {
    let Ok(out) = git(root)
        .args([
            "ls-files",
            "-z",
            "--",
            ":(glob)**/.env.enc",
            ":(glob)**/.env.*.enc",
        ])
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = out
        .stdout
        .split(|&b| b == 0)
        .filter_map(|p| std::str::from_utf8(p).ok())
        .filter_map(|p| Path::new(p).parent().map(Path::to_path_buf))
        .filter(|d| !d.as_os_str().is_empty())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs.iter()
        .flat_map(|d| keyrings_in(&root.join(d)))
        .collect()
}

/// Opens an encrypted file's `contents` whose path in the repository at
/// `root` is unknown (the textconv's case): with `ENVCLOAK_PASSWORD` for a
/// password-mode file, otherwise with the first of
/// [`candidate_keyrings`] that opens it, then of the key files beside
/// encrypted files that git tracks in subdirectories. `None` when nothing
/// here opens it
/// (no key, a wrong key, not an encrypted file). Nothing is written.
pub fn open_from_root(
    root: &Path,
    contents: &[u8],
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Opened> {
    let label = Path::new("(blob)");
    let header = crypto::split_file(contents).ok()?.0;
    let key_mode = header.is_none();
    let sealers: Vec<Sealer> = match header {
        Some(h) => {
            let password = env("ENVCLOAK_PASSWORD").filter(|p| !p.is_empty())?;
            vec![Sealer::Password {
                password: Zeroizing::new(password),
                iterations: h.iterations,
                salt: Some(h.salt),
            }]
        }
        None => candidate_keyrings(root, env)
            .into_iter()
            .map(Sealer::Keys)
            .collect(),
    };
    let nested = key_mode.then(|| {
        // Only when nothing at the root opens it.
        std::iter::once_with(|| nested_keyrings(root))
            .flatten()
            .map(Sealer::Keys)
    });
    for sealer in sealers.into_iter().chain(nested.into_iter().flatten()) {
        match vault::open(label, contents, &sealer, None) {
            Ok(text) => {
                let fingerprinter = fingerprinter(&sealer, contents)?;
                return Some(Opened {
                    text,
                    sealer,
                    fingerprinter,
                });
            }
            // Not a token at all: no other key will do better.
            Err(Error::Decrypt { kind, .. })
                if !matches!(kind, crypto::DecryptError::Authentication) =>
            {
                return None;
            }
            Err(_) => continue,
        }
    }
    None
}

// ---------------------------------------------------------------------------
// The merge driver
// ---------------------------------------------------------------------------

/// The three versions a merge driver gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `%O`, the common ancestor.
    Base,
    /// `%A`, ours (the result is written over it).
    Ours,
    /// `%B`, theirs.
    Theirs,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::Base => "the common ancestor's version",
            Version::Ours => "our version",
            Version::Theirs => "their version",
        })
    }
}

/// Why [`merge_encrypted`] could not merge: which version, and the error
/// (no key, a key that does not open it, a syntax error in its text).
#[derive(Debug)]
pub struct MergeFailure {
    /// The version that failed.
    pub version: Version,
    /// What went wrong (names files, keys and lines, never values).
    pub error: Error,
}

impl fmt::Display for MergeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.version, self.error)
    }
}

impl std::error::Error for MergeFailure {}

/// The result of [`merge_encrypted`].
pub struct MergedFile {
    /// The new file contents, sealed with ours' keyring (its first key) or
    /// ours' password.
    pub contents: String,
    /// Keys in conflict (both sides changed them differently, or one
    /// changed and the other removed them), in order; their entries sit
    /// between `<<<<<<< ours` and `>>>>>>> theirs` markers inside the
    /// encryption.
    pub conflicts: Vec<String>,
}

impl fmt::Debug for MergedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MergedFile")
            .field("conflicts", &self.conflicts)
            .finish_non_exhaustive()
    }
}

/// Merges three versions of the encrypted file at `path` (relative to the
/// repository `root`) by key, in memory: what git's merge driver does.
///
/// The key is looked for as the loader looks for `root/path`'s
/// ([`keys::find`], so `.env.staging.enc` uses `ENVCLOAK_KEY_STAGING` and
/// `.env.staging.key`); a password-mode file uses `ENVCLOAK_PASSWORD`.
/// Ours must open with it; base and theirs must open with the same
/// keyring (which, during a rotation, holds the old key after the new
/// one), or the merge fails naming the version. An empty base (a file
/// added on both sides) counts as an empty text. The texts are merged with
/// [`merge::merge_labelled`](crate::merge::merge_labelled) and the result
/// is sealed with ours' keyring. Nothing is written.
pub fn merge_encrypted(
    root: &Path,
    path: &Path,
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
    env: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<MergedFile, MergeFailure> {
    let encrypted = root.join(path);
    let fail = |version: Version| move |error: Error| MergeFailure { version, error };
    let header = vault::password_header(path, ours).map_err(fail(Version::Ours))?;
    let sealer = match header {
        Some(h) => {
            let password = env("ENVCLOAK_PASSWORD")
                .filter(|p| !p.is_empty())
                .ok_or_else(|| Error::Decrypt {
                    path: path.to_path_buf(),
                    kind: crypto::DecryptError::PasswordRequired,
                    key: None,
                })
                .map_err(fail(Version::Ours))?;
            Sealer::Password {
                password: Zeroizing::new(password),
                iterations: h.iterations,
                salt: Some(h.salt),
            }
        }
        None => {
            let profile = profile_of(path);
            let search = keys::Search {
                env,
                profile: profile.as_deref(),
                encrypted: &encrypted,
            };
            let found = keys::require(&search).map_err(|e| match e {
                Error::KeyNotFound { looked, .. } => Error::KeyNotFound {
                    path: path.to_path_buf(),
                    looked,
                },
                other => other,
            });
            let found = found.map_err(fail(Version::Ours))?;
            let tried = found.describe();
            let sealer = Sealer::Keys(found.keyring);
            // The key's source is named when it fails on ours.
            vault::open(path, ours, &sealer, None)
                .map_err(|e| e.tried_key(&tried))
                .map_err(fail(Version::Ours))?;
            sealer
        }
    };
    let open = |contents: &[u8], version: Version| {
        if contents.trim_ascii().is_empty() {
            return Ok(Zeroizing::new(String::new()));
        }
        vault::open(path, contents, &sealer, None).map_err(fail(version))
    };
    let ours_text = open(ours, Version::Ours)?;
    let base_text = open(base, Version::Base)?;
    let theirs_text = open(theirs, Version::Theirs)?;
    let parse = |version: Version| {
        move |e: dotenv::ParseError| MergeFailure {
            version,
            error: Error::parse(path, e),
        }
    };
    // Which text fails to parse, named.
    for (text, version) in [
        (&base_text, Version::Base),
        (&ours_text, Version::Ours),
        (&theirs_text, Version::Theirs),
    ] {
        dotenv::parse(text).map_err(parse(version))?;
    }
    let merged = crate::merge::merge_labelled(&base_text, &ours_text, &theirs_text, "ours")
        .map_err(parse(Version::Ours))?;
    Ok(MergedFile {
        contents: vault::seal_to_string(&merged.text, &sealer),
        conflicts: merged.conflicts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_depend_on_the_key_and_the_value() {
        let k1 = Key::generate();
        let k2 = Key::generate();
        let (a, b) = (Fingerprinter::new(&k1), Fingerprinter::new(&k2));
        assert_eq!(a.fingerprint("v"), a.fingerprint("v"));
        assert_ne!(a.fingerprint("v"), b.fingerprint("v"));
        assert_ne!(a.fingerprint("v"), a.fingerprint("w"));
        assert_ne!(a.fingerprint(""), a.fingerprint(" "));
        assert!(a.fingerprint("v").bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(!format!("{a:?}").contains(&a.fingerprint("v")));
    }

    #[test]
    fn fingerprints_are_a_fixed_hmac_of_the_key() {
        // A fixed key gives fixed fingerprints: a change to the derivation
        // (label, encoding, length) shows up here.
        let key = Key::parse("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=").unwrap();
        let fp = Fingerprinter::new(&key);
        let sub = key.subkey(FINGERPRINT_LABEL);
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&sub[..]).unwrap();
        mac.update(b"hunter2");
        let tag = mac.finalize().into_bytes();
        let want: String = tag.iter().take(5).map(|b| format!("{b:02x}")).collect();
        assert_eq!(fp.fingerprint("hunter2"), want);
        // The subkey is not the key itself.
        assert_ne!(
            &sub[..],
            &Key::parse("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=")
                .unwrap()
                .to_base64()
                .as_bytes()[..32]
        );
    }

    #[test]
    fn render_keeps_order_and_hides_values_and_comments() {
        let fp = Fingerprinter::new(&Key::generate());
        let text = "# top\n\nexport A=alpha-secret\nB=\"multi\nline secret\"\n# OLD=retired-secret\n  # old: K=words-secret\nC=gamma-secret # note\n";
        let out = render(text, Show::Fingerprints(&fp));
        let f = |_k: &str, v: &str| fp.fingerprint(v);
        assert_eq!(
            *out,
            format!(
                "# [comment fp:{}]\n\nA=[fp:{}]\nB=[fp:{}]\n# OLD=[fp:{}]\n# [comment fp:{}]\nC=[fp:{}]\n",
                fp.comment("# top"),
                f("A", "alpha-secret"),
                f("B", "multi\nline secret"),
                f("OLD", "retired-secret"),
                fp.comment("# old: K=words-secret"),
                f("C", "gamma-secret"),
            )
        );
        assert!(!out.contains("secret") && !out.contains("alpha") && !out.contains("top"));
        assert_eq!(*render(text, Show::Values), text);
        // A changed comment is a changed line; comments and values with
        // the same text do not share a fingerprint.
        assert_ne!(fp.comment("# a"), fp.comment("# b"));
        assert_ne!(fp.comment("# a"), fp.fingerprint("# a"));
    }

    #[test]
    fn render_shows_a_conflicted_text_without_values() {
        let fp = Fingerprinter::new(&Key::generate());
        let text = "A=1\n<<<<<<< ours\nB=ours-secret\n=======\nB=theirs-secret\n>>>>>>> theirs\nC=\"open\n";
        let out = render(text, Show::Fingerprints(&fp));
        assert!(out.contains("<<<<<<< ours\nB=[fp:"), "{}", *out);
        assert!(out.contains("=======\nB=[fp:"), "{}", *out);
        assert!(
            out.contains(">>>>>>> theirs\n# envcloak: lines 7-7 not shown"),
            "{}",
            *out
        );
        assert!(!out.contains("secret") && !out.contains("open"));
        // A value over several lines, one of them like a comment, in a
        // conflict block: shown as one entry.
        let text = "<<<<<<< ours\nK=\"one\n# hidden-secret\"\n=======\nK=two\n>>>>>>> theirs\n";
        let out = render(text, Show::Fingerprints(&fp));
        assert!(!out.contains("hidden"), "{}", *out);
        assert_eq!(out.lines().count(), 5, "{}", *out);
        // A quoted value with a line that looks like a marker, in a text
        // that does not parse: the rest of that line is not shown.
        let text =
            "<<<<<<< ours\nK=\"one\n======= s3cr3t-tail\n\"\n=======\nK=two\n>>>>>>> theirs\n";
        let out = render(text, Show::Fingerprints(&fp));
        assert!(!out.contains("s3cr3t"), "{}", *out);
    }

    #[test]
    fn attributes_are_added_once_and_removed_cleanly() {
        let user = "*.png binary\n# mine\n";
        let enrolled = enroll_attributes(user).unwrap();
        assert_eq!(
            enrolled,
            format!(
                "{user}{ATTRIBUTES_COMMENT}\n.env.enc {ATTRIBUTES}\n.env.*.enc {ATTRIBUTES}\n\
                 .env.recipients {SEALED_ATTRIBUTES}\n.env.*.recipients {SEALED_ATTRIBUTES}\n\
                 .env.key.age {SEALED_ATTRIBUTES}\n.env.*.key.age {SEALED_ATTRIBUTES}\n"
            )
        );
        assert_eq!(enroll_attributes(&enrolled), None);
        assert!(names_drivers(&enrolled));
        assert!(!names_drivers(user));
        assert!(!names_drivers("# .env.enc diff=envcloak\n"));
        assert_eq!(disenroll_attributes(&enrolled).as_deref(), Some(user));
        assert_eq!(disenroll_attributes(user), None);
        // No final newline: kept apart.
        assert!(
            enroll_attributes("*.png binary")
                .unwrap()
                .starts_with("*.png binary\n#")
        );
        // One line missing: only that one is added.
        let half = format!(".env.enc {ATTRIBUTES}\n");
        assert_eq!(
            enroll_attributes(&half).unwrap(),
            format!(
                "{half}{ATTRIBUTES_COMMENT}\n.env.*.enc {ATTRIBUTES}\n\
                 .env.recipients {SEALED_ATTRIBUTES}\n.env.*.recipients {SEALED_ATTRIBUTES}\n\
                 .env.key.age {SEALED_ATTRIBUTES}\n.env.*.key.age {SEALED_ATTRIBUTES}\n"
            )
        );
    }

    #[test]
    fn recorded_programs_are_read_back() {
        assert_eq!(
            command_program("'/a b/envcloak' git textconv"),
            "/a b/envcloak"
        );
        assert_eq!(
            command_program(r"'/it'\''s/envcloak' git"),
            "/it's/envcloak"
        );
        assert_eq!(command_program("envcloak git textconv"), "envcloak");
        let exe = Path::new("/a b/it's/envcloak");
        assert_eq!(
            recorded_program(&driver_command(exe, "git textconv")),
            "/a b/it's/envcloak"
        );
        let configured = |exe: &Path| {
            let config = driver_config(exe);
            let get = |n: &str| config.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
            DriverState {
                textconv: get("diff.envcloak.textconv"),
                cachetextconv: get("diff.envcloak.cachetextconv"),
                merge_driver: get("merge.envcloak.driver"),
            }
        };
        // The new form: complete while the binary exists.
        let here = std::env::current_exe().unwrap();
        assert!(configured(&here).is_complete());
        assert!(!configured(Path::new("/no/such/envcloak")).is_complete());
        // The old form (an absolute path alone), even of a binary that
        // exists, is rewritten in the new one.
        let old = DriverState {
            textconv: Some(format!(
                "{} git textconv",
                shell_quote(&here.to_string_lossy())
            )),
            ..configured(&here)
        };
        assert!(!old.is_complete());
        let state = DriverState {
            textconv: Some("envcloak git textconv".into()),
            cachetextconv: Some("false".into()),
            merge_driver: Some("'/no/such/envcloak' git merge-driver %O %A %B %P".into()),
        };
        assert!(!state.is_complete());
        let state = DriverState {
            merge_driver: Some("envcloak git merge-driver %O %A %B %P".into()),
            ..state
        };
        assert!(state.is_complete());
    }

    #[test]
    fn profiles_from_file_names() {
        assert_eq!(
            profile_of(Path::new("x/.env.staging.enc")).as_deref(),
            Some("staging")
        );
        assert_eq!(profile_of(Path::new(".env.enc")), None);
        assert_eq!(profile_of(Path::new("secrets.enc")), None);
    }

    #[test]
    fn merging_sealed_files() {
        let ring = Keyring::from(Key::generate());
        let seal = |t: &str| crypto::encrypt(&ring, t.as_bytes());
        let dir = std::env::temp_dir();
        let key = ring.to_base64();
        let env = |n: &str| (n == "ENVCLOAK_KEY").then(|| key.to_string());
        let m = merge_encrypted(
            &dir,
            Path::new("no-such-dir-envcloak/.env.enc"),
            b"",
            seal("A=1\n").as_bytes(),
            seal("B=2\n").as_bytes(),
            &env,
        )
        .unwrap();
        assert!(m.conflicts.is_empty());
        let text = crypto::decrypt(&ring, m.contents.as_bytes(), None).unwrap();
        // Their B has no predecessor: before our first entry.
        assert_eq!(&text[..], b"B=2\nA=1\n");
        // Theirs under a key we lack: named.
        let other = Keyring::from(Key::generate());
        let err = merge_encrypted(
            &dir,
            Path::new("no-such-dir-envcloak/.env.enc"),
            b"",
            seal("A=1\n").as_bytes(),
            crypto::encrypt(&other, b"B=2\n").as_bytes(),
            &env,
        )
        .unwrap_err();
        assert_eq!(err.version, Version::Theirs);
    }
}
