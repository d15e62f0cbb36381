//! Per-person access (DESIGN §9): the project's Fernet keyring sealed to
//! each member's SSH or age key, so that nobody passes a key around.
//!
//! Two committed files per keyring:
//!
//! - `.env.recipients` (or `.env.<profile>.recipients`): text, one member a
//!   line, `NAME RECIPIENT`, `#` comments. A recipient is an `ssh-ed25519`
//!   or `ssh-rsa` public key line (a trailing comment is allowed) or an
//!   `age1…` key ([`Recipients::parse`]).
//! - `.env.key.age` (or `.env.<profile>.key.age`): the keyring, encrypted
//!   with [age](https://age-encryption.org) to every recipient, ASCII-armored
//!   ([`seal`]). Its plaintext is exactly what a `.env.key` holds, so
//!   `age -d -i ~/.ssh/id_ed25519 .env.key.age` prints an ordinary keyring,
//!   and any Fernet implementation then opens `.env.enc`.
//!
//! Opening uses the first identities found, in this order
//! ([`Identities::find`]): `ENVCLOAK_IDENTITY` (the identity itself: an
//! `AGE-SECRET-KEY-1…` line or an unencrypted OpenSSH private key, for CI),
//! the file named by `ENVCLOAK_IDENTITY_FILE`, `~/.ssh/id_ed25519`,
//! `~/.ssh/id_rsa`, and envcloak's own age identity,
//! `$XDG_CONFIG_HOME/envcloak/identity.txt` (or
//! `~/.config/envcloak/identity.txt`). A passphrase-protected SSH key is
//! unlocked only when it is a recipient of the file, with the
//! [`Prompt`] the caller gives (the CLI asks on the terminal); without one
//! the error says so ([`TeamErrorKind::PassphraseNeeded`]), never a hang.
//!
//! Messages name members, files and identity *sources*
//! (`~/.ssh/id_ed25519`), never a key: neither the keyring nor a private
//! key pasted where a public one belongs.
//!
//! ```
//! use envcloak::team::{self, Recipients};
//! use envcloak::crypto::{Key, Keyring};
//!
//! let ci = age::x25519::Identity::generate();
//! let text = format!("ci {}\n", ci.to_public());
//! let members = Recipients::parse(&text, ".env.recipients".as_ref())?;
//! let ring = Keyring::from(Key::generate());
//! let armored = team::seal(&ring, &members, ".env.key.age".as_ref())?;
//! assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
//! # Ok::<(), envcloak::Error>(())
//! ```

use std::collections::HashSet;
use std::fmt;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use age::secrecy::{ExposeSecret as _, SecretString};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::Digest as _;
use zeroize::Zeroizing;

use crate::crypto::{self, Keyring};
use crate::error::{Error, Result};
use crate::fsio;

/// The variable that holds an identity itself (for CI secrets).
pub const IDENTITY_VAR: &str = "ENVCLOAK_IDENTITY";
/// The variable that names an identity file.
pub const IDENTITY_FILE_VAR: &str = "ENVCLOAK_IDENTITY_FILE";
/// The largest recipients or sealed file read (a thousand members fit).
const MAX_TEXT: usize = 1024 * 1024;

/// Asks for the passphrase of a protected SSH key; the argument names the
/// key file (`~/.ssh/id_ed25519`). `None`: it cannot be asked (no terminal).
pub type Prompt<'a> = &'a dyn Fn(&str) -> Option<Zeroizing<String>>;

/// What went wrong with team access, for callers that match on it
/// ([`Error::Team`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TeamErrorKind {
    /// A recipients file or a recipient given is malformed, a private key,
    /// or a duplicate.
    Recipients,
    /// No identity was found (no `ENVCLOAK_IDENTITY*`, no `~/.ssh` key, no
    /// envcloak age identity).
    NoIdentity,
    /// Identities were found but none is a recipient of the sealed file.
    NotARecipient,
    /// The identity that is a recipient is protected by a passphrase and
    /// there is no way to ask for it.
    PassphraseNeeded,
    /// The passphrase given does not unlock the key.
    WrongPassphrase,
    /// An identity (variable or file) could not be read or parsed.
    Identity,
    /// The sealed file is damaged, not an age file, or still holds git
    /// conflict markers.
    Sealed,
    /// A member name that is not there, or a change that is refused.
    Member,
}

// ---------------------------------------------------------------------------
// File names
// ---------------------------------------------------------------------------

/// The recipients file of a profile (`.env.<profile>.recipients`) or of the
/// base keyring (`.env.recipients`), in `root`.
pub fn recipients_file(root: &Path, profile: Option<&str>) -> PathBuf {
    match profile {
        Some(p) => root.join(format!(".env.{p}.recipients")),
        None => root.join(".env.recipients"),
    }
}

/// The sealed keyring of a profile (`.env.<profile>.key.age`) or of the base
/// keyring (`.env.key.age`), in `root`.
pub fn sealed_file(root: &Path, profile: Option<&str>) -> PathBuf {
    match profile {
        Some(p) => root.join(format!(".env.{p}.key.age")),
        None => root.join(".env.key.age"),
    }
}

/// The recipients file that belongs to a sealed keyring:
/// `.env.key.age` -> `.env.recipients`.
pub fn recipients_for(sealed: &Path) -> PathBuf {
    let name = sealed
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".key.age").unwrap_or(&name);
    sealed.with_file_name(format!("{stem}.recipients"))
}

/// The sealed keyring that belongs to an encrypted file: `X.enc` ->
/// `X.key.age` (`.env.production.enc` -> `.env.production.key.age`).
pub fn sealed_for(encrypted: &Path) -> PathBuf {
    let key = crate::keys::key_file_for(encrypted);
    let mut name = key.file_name().unwrap_or_default().to_os_string();
    name.push(".age");
    key.with_file_name(name)
}

// ---------------------------------------------------------------------------
// Recipients
// ---------------------------------------------------------------------------

/// The kind of a recipient's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// An `ssh-ed25519` public key.
    SshEd25519,
    /// An `ssh-rsa` public key.
    SshRsa,
    /// An age X25519 key (`age1…`).
    Age,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::SshEd25519 => "ssh-ed25519",
            KeyKind::SshRsa => "ssh-rsa",
            KeyKind::Age => "age",
        })
    }
}

/// One public key a keyring is sealed to.
#[derive(Clone)]
pub struct Recipient {
    kind: KeyKind,
    /// The canonical text: `ssh-ed25519 AAAA…` (no comment) or `age1…`.
    text: String,
    /// The comment after an SSH key (`alice@laptop`), if any.
    comment: Option<String>,
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({} {})", self.kind, self.fingerprint())
    }
}

impl PartialEq for Recipient {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for Recipient {}

impl Recipient {
    /// Parses one recipient: `ssh-ed25519 AAAA… [comment]`,
    /// `ssh-rsa AAAA… [comment]` or `age1…`. A private key (an OpenSSH or
    /// PEM block, `AGE-SECRET-KEY-…`) is refused, and the error never
    /// quotes the text.
    ///
    /// ```
    /// let err = envcloak::team::Recipient::parse("AGE-SECRET-KEY-1QQQ").unwrap_err();
    /// assert!(err.contains("private key"));
    /// assert!(!err.contains("QQQ"));
    /// ```
    pub fn parse(text: &str) -> std::result::Result<Recipient, String> {
        let text = text.trim_start_matches('\u{feff}').trim();
        if looks_private(text) {
            return Err(String::from(
                "this is a private key, not a public one (it is not shown): give the \
                 .pub file or the age1… recipient instead, and if the private key was \
                 shared anywhere, replace it",
            ));
        }
        let mut words = text.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.starts_with("age1") {
            if words.next().is_some() {
                return Err(String::from(
                    "an age recipient is one word (age1…) with nothing after it",
                ));
            }
            let r = age::x25519::Recipient::from_str(first).map_err(|_| {
                String::from("not a valid age recipient (age1… with a bad checksum or length)")
            })?;
            return Ok(Recipient {
                kind: KeyKind::Age,
                text: r.to_string(),
                comment: None,
            });
        }
        let kind = match first {
            "ssh-ed25519" => KeyKind::SshEd25519,
            "ssh-rsa" => KeyKind::SshRsa,
            "" => return Err(String::from("empty: expected a public key")),
            _ if first.starts_with("ssh-")
                || first.starts_with("ecdsa-")
                || first.starts_with("sk-") =>
            {
                return Err(String::from(
                    "unsupported SSH key type: use an ssh-ed25519 or ssh-rsa key, or an age1… recipient",
                ));
            }
            _ => {
                return Err(String::from(
                    "not a recipient: expected an ssh-ed25519 or ssh-rsa public key line, or an age1… key",
                ));
            }
        };
        let Some(blob) = words.next() else {
            return Err(String::from("the public key's base64 part is missing"));
        };
        let comment = words.collect::<Vec<_>>().join(" ");
        let r = age::ssh::Recipient::from_str(&format!("{first} {blob}")).map_err(|e| {
            use age::ssh::ParseRecipientKeyError as P;
            String::from(match e {
                P::RsaModulusTooSmall => "an ssh-rsa key shorter than 2048 bits is too weak",
                P::RsaModulusTooLarge => "an ssh-rsa key longer than 4096 bits is not supported",
                _ => "not a valid SSH public key (damaged or truncated base64?)",
            })
        })?;
        Ok(Recipient {
            kind,
            text: r.to_string(),
            comment: (!comment.is_empty()).then_some(comment),
        })
    }

    /// The kind of key.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The canonical public text: `ssh-ed25519 AAAA…` (without its comment)
    /// or `age1…`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The comment of an SSH public key line (`alice@laptop`), if any.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// A fingerprint to compare with what the member sees: `SHA256:…` as
    /// `ssh-keygen -l` prints it for an SSH key, the `age1…` recipient
    /// itself for an age key (it is public and short).
    pub fn fingerprint(&self) -> String {
        match self.ssh_blob() {
            Some(blob) => format!(
                "SHA256:{}",
                STANDARD_NO_PAD.encode(sha2::Sha256::digest(&blob))
            ),
            None => self.text.clone(),
        }
    }

    /// The SSH wire-format public key.
    fn ssh_blob(&self) -> Option<Vec<u8>> {
        if self.kind == KeyKind::Age {
            return None;
        }
        let b64 = self.text.split_whitespace().nth(1)?;
        STANDARD.decode(b64).ok()
    }

    /// The tag age writes in this recipient's stanza of a file header (the
    /// first four bytes of the key's SHA-256, base64), for SSH keys.
    fn ssh_tag(&self) -> Option<String> {
        let blob = self.ssh_blob()?;
        Some(STANDARD_NO_PAD.encode(&sha2::Sha256::digest(&blob)[..4]))
    }

    /// A name taken from the key's comment (`alice@laptop` -> `alice`).
    pub fn suggested_name(&self) -> Option<String> {
        let c = self.comment.as_deref()?;
        let name = c.split('@').next().unwrap_or(c);
        valid_name(name).then(|| name.to_owned())
    }

    fn to_age(&self) -> Option<Box<dyn age::Recipient + Send>> {
        // Both parse: `text` came from the crate's own Display.
        match self.kind {
            KeyKind::Age => age::x25519::Recipient::from_str(&self.text)
                .ok()
                .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>),
            _ => age::ssh::Recipient::from_str(&self.text)
                .ok()
                .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>),
        }
    }
}

/// Whether `text` holds a private key rather than a public one.
fn looks_private(text: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    upper.contains("PRIVATE KEY")
        || upper.contains("AGE-SECRET-KEY-")
        || upper.contains("-----BEGIN")
        || upper.contains("PUTTY-USER-KEY-FILE")
}

/// Whether `name` can be a member name: 1 to 64 letters, digits, `-`, `_`,
/// `.` or `@`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

/// A member: a name and a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The name, unique in its file.
    pub name: String,
    /// The public key.
    pub recipient: Recipient,
}

/// A recipients file: members in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipients {
    members: Vec<Member>,
}

impl Recipients {
    /// Parses `.env.recipients` text: `NAME RECIPIENT` lines, blank lines,
    /// `#` comment lines, CRLF and a byte order mark. Malformed lines,
    /// private keys and duplicates (a name or a key twice) are errors that
    /// name `path` and the line, never the line's text.
    pub fn parse(text: &str, path: &Path) -> Result<Recipients> {
        let err = |line: usize, reason: &str| Error::Team {
            path: path.to_path_buf(),
            kind: TeamErrorKind::Recipients,
            reason: format!("line {line}: {reason}").into(),
        };
        let mut out = Recipients::default();
        for (i, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("<<<<<<<") || line.starts_with(">>>>>>>") || line == "=======" {
                return Err(err(
                    n,
                    "unresolved merge conflict: keep the members of both sides, remove the \
                     markers, then run 'envcloak team sync'",
                ));
            }
            if looks_private(line) {
                return Err(err(
                    n,
                    "holds a private key (not shown): remove it, and replace that key if this \
                     file was shared",
                ));
            }
            let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            if !valid_name(name) {
                return Err(err(
                    n,
                    "expected NAME RECIPIENT, with a name of letters, digits, '-', '_', '.' or '@'",
                ));
            }
            let recipient = Recipient::parse(rest).map_err(|reason| err(n, &reason))?;
            out.add(Member {
                name: name.to_owned(),
                recipient,
            })
            .map_err(|reason| err(n, &reason))?;
        }
        Ok(out)
    }

    /// Reads a recipients file; a file that does not exist is empty.
    pub fn load(path: &Path) -> Result<Recipients> {
        match read_limited(path)? {
            Some(text) => Recipients::parse(&text, path),
            None => Ok(Recipients::default()),
        }
    }

    /// The members, in file order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member called `name`.
    pub fn get(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// Adds a member; a name or key already there is refused (the message
    /// names the member that has it).
    pub fn add(&mut self, member: Member) -> std::result::Result<(), String> {
        if let Some(m) = self.get(&member.name) {
            return Err(format!("the name '{}' is already a member", m.name));
        }
        if let Some(m) = self
            .members
            .iter()
            .find(|m| m.recipient == member.recipient)
        {
            return Err(format!("this key is already there, as '{}'", m.name));
        }
        self.members.push(member);
        Ok(())
    }

    /// Removes the member called `name`.
    pub fn remove(&mut self, name: &str) -> Option<Member> {
        let at = self.members.iter().position(|m| m.name == name)?;
        Some(self.members.remove(at))
    }

    /// The file text: a header comment and `NAME RECIPIENT [comment]` lines.
    pub fn to_text(&self) -> String {
        let mut out = String::from(
            "# Who can open the sealed keyring (envcloak team ls). NAME RECIPIENT per line:\n\
             # an ssh-ed25519 or ssh-rsa public key, or an age1… key. After editing by hand\n\
             # run 'envcloak team sync'; to remove someone, 'envcloak team rm NAME'.\n",
        );
        for m in &self.members {
            out.push_str(&m.name);
            out.push(' ');
            out.push_str(m.recipient.as_str());
            if let Some(c) = m.recipient.comment() {
                out.push(' ');
                out.push_str(c);
            }
            out.push('\n');
        }
        out
    }
}

/// Reads a text file of at most [`MAX_TEXT`] bytes; `None` if it does not
/// exist.
fn read_limited(path: &Path) -> Result<Option<String>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_TEXT as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() > MAX_TEXT {
        return Err(Error::io(path, std::io::Error::other("larger than 1 MiB")));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| Error::io(path, std::io::Error::other("not UTF-8 text")))
}

// ---------------------------------------------------------------------------
// Sealing
// ---------------------------------------------------------------------------

fn sealed_err(path: &Path, kind: TeamErrorKind, reason: impl Into<Box<str>>) -> Error {
    Error::Team {
        path: path.to_path_buf(),
        kind,
        reason: reason.into(),
    }
}

/// Encrypts `keyring` (as a `.env.key` holds it: comma-separated keys and a
/// newline) to every member with age, ASCII-armored. `path` is the sealed
/// file, for errors. No member is an error.
pub fn seal(keyring: &Keyring, members: &Recipients, path: &Path) -> Result<String> {
    if members.is_empty() {
        return Err(sealed_err(
            path,
            TeamErrorKind::Member,
            format!(
                "no member left in {} to seal the keyring to",
                recipients_for(path).display()
            ),
        ));
    }
    let fail = |what: &str| {
        sealed_err(
            path,
            TeamErrorKind::Sealed,
            format!("could not seal: {what}"),
        )
    };
    let recipients: Vec<Box<dyn age::Recipient + Send>> = members
        .members()
        .iter()
        .map(|m| m.recipient.to_age())
        .collect::<Option<_>>()
        .ok_or_else(|| fail("a recipient did not parse"))?;
    let encryptor = age::Encryptor::with_recipients(
        recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
    )
    .map_err(|_| fail("a recipient was refused"))?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|_| fail("armor"))?;
    let mut writer = encryptor.wrap_output(armor).map_err(|_| fail("header"))?;
    let mut plain = keyring.to_base64();
    plain.push('\n');
    writer
        .write_all(plain.as_bytes())
        .and_then(|()| writer.finish())
        .and_then(|armor| armor.finish())
        .map_err(|_| fail("write"))?;
    String::from_utf8(out).map_err(|_| fail("armor is not text"))
}

/// Seals `keyring` to `members` and writes it to `path` atomically (mode
/// 0644: it is committed). `lock` must cover `path`.
pub fn write_sealed(
    path: &Path,
    keyring: &Keyring,
    members: &Recipients,
    lock: &fsio::WriteLock,
) -> Result<()> {
    lock.check_covers(path)?;
    let text = seal(keyring, members, path)?;
    fsio::write_atomic(path, text.as_bytes(), None)
}

// ---------------------------------------------------------------------------
// Identities
// ---------------------------------------------------------------------------

/// One identity: where it came from and the key.
enum Id {
    Age(age::x25519::Identity),
    Ssh(age::ssh::Identity),
}

/// The identities found for the current user, in order, with where each
/// came from (`ENVCLOAK_IDENTITY`, `~/.ssh/id_ed25519`, …).
pub struct Identities {
    found: Vec<(String, Id)>,
    /// Identity sources that exist but could not be used (named, with why).
    unusable: Vec<String>,
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("sources", &self.sources())
            .finish_non_exhaustive()
    }
}

/// `~/...` for a path under `home`, for messages.
fn tilde(path: &Path, home: Option<&Path>) -> String {
    if let Some(home) = home
        && let Ok(rest) = path.strip_prefix(home)
    {
        return format!("~/{}", rest.display());
    }
    path.display().to_string()
}

/// Where envcloak's own age identity lives: `$XDG_CONFIG_HOME/envcloak/
/// identity.txt`, or `~/.config/envcloak/identity.txt`.
pub fn own_identity_file(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(x) = env("XDG_CONFIG_HOME").filter(|x| x.starts_with('/')) {
        return Some(Path::new(&x).join("envcloak").join("identity.txt"));
    }
    let home = env("HOME").filter(|h| !h.is_empty())?;
    Some(Path::new(&home).join(".config/envcloak/identity.txt"))
}

/// The identity files looked for, in order, with how to name each.
fn identity_files(env: &dyn Fn(&str) -> Option<String>) -> Vec<(PathBuf, String)> {
    let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let mut out = Vec::new();
    if let Some(f) = env(IDENTITY_FILE_VAR).filter(|f| !f.trim().is_empty()) {
        let p = PathBuf::from(f);
        let name = format!("{IDENTITY_FILE_VAR} ({})", p.display());
        out.push((p, name));
    }
    if let Some(h) = &home {
        for f in ["id_ed25519", "id_rsa"] {
            let p = h.join(".ssh").join(f);
            let name = tilde(&p, Some(h));
            out.push((p, name));
        }
    }
    if let Some(p) = own_identity_file(env) {
        let name = tilde(&p, home.as_deref());
        out.push((p, name));
    }
    out
}

/// Parses identity text: age secret key lines, or one OpenSSH/PEM private
/// key. Errors never quote the text.
fn parse_identity(text: &str, name: &str) -> std::result::Result<Vec<Id>, String> {
    let text = text.trim_start_matches('\u{feff}');
    if text.contains("AGE-SECRET-KEY-") {
        let mut out = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = age::x25519::Identity::from_str(line)
                .map_err(|_| format!("{name}: not a valid age identity (not shown)"))?;
            out.push(Id::Age(id));
        }
        return Ok(out);
    }
    if text.contains("-----BEGIN") {
        let id = age::ssh::Identity::from_buffer(text.as_bytes(), Some(name.to_owned()))
            .map_err(|_| format!("{name}: not a usable SSH private key (not shown)"))?;
        return match id {
            age::ssh::Identity::Unsupported(_) => Err(format!(
                "{name}: this kind of SSH key is not supported (use ssh-ed25519 or ssh-rsa)"
            )),
            id => Ok(vec![Id::Ssh(id)]),
        };
    }
    Err(format!(
        "{name}: not an identity: expected an AGE-SECRET-KEY-1… line or an OpenSSH private key"
    ))
}

impl Identities {
    /// Looks for the user's identities in the documented order, reading
    /// `ENVCLOAK_IDENTITY`, `ENVCLOAK_IDENTITY_FILE`, `HOME` and
    /// `XDG_CONFIG_HOME` through `env`. Files that do not exist are skipped
    /// (one stat each); an `ENVCLOAK_IDENTITY*` that cannot be used is an
    /// error; a default file that cannot be used is remembered for the
    /// message.
    pub fn find(env: &dyn Fn(&str) -> Option<String>) -> Result<Identities> {
        let mut found = Vec::new();
        let mut unusable = Vec::new();
        let id_err = |reason: String| Error::Team {
            path: PathBuf::from(IDENTITY_VAR),
            kind: TeamErrorKind::Identity,
            reason: reason.into(),
        };
        if let Some(text) = env(IDENTITY_VAR).map(Zeroizing::new)
            && !text.trim().is_empty()
        {
            for id in parse_identity(&text, IDENTITY_VAR).map_err(id_err)? {
                found.push((IDENTITY_VAR.to_owned(), id));
            }
        }
        let explicit = env(IDENTITY_FILE_VAR).is_some_and(|f| !f.trim().is_empty());
        for (i, (path, name)) in identity_files(env).into_iter().enumerate() {
            let text = match std::fs::metadata(&path) {
                Ok(m) if m.is_file() && m.len() <= MAX_TEXT as u64 => match std::fs::read(&path) {
                    Ok(b) => String::from_utf8(b).map(Zeroizing::new).ok(),
                    Err(_) => None,
                },
                Ok(_) => None,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !(explicit && i == 0) => {
                    continue;
                }
                Err(_) => None,
            };
            let parsed = match text {
                Some(t) => parse_identity(&t, &name),
                None => Err(format!("{name}: cannot be read")),
            };
            match parsed {
                Ok(ids) => found.extend(ids.into_iter().map(|id| (name.clone(), id))),
                Err(reason) if explicit && i == 0 => {
                    return Err(Error::Team {
                        path,
                        kind: TeamErrorKind::Identity,
                        reason: reason.into(),
                    });
                }
                Err(reason) => unusable.push(reason),
            }
        }
        Ok(Identities { found, unusable })
    }

    /// Where the identities came from, in order.
    pub fn sources(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (name, _) in &self.found {
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
        out
    }

    /// Whether one of these identities is `recipient`'s private key (a
    /// passphrase-protected SSH key counts: its public key is readable).
    pub fn holds(&self, recipient: &Recipient) -> bool {
        self.found.iter().any(|(_, id)| {
            let public = match id {
                Id::Age(a) => a.to_public().to_string(),
                Id::Ssh(s) => match age::ssh::Recipient::try_from(s.clone()) {
                    Ok(r) => r.to_string(),
                    Err(_) => return false,
                },
            };
            public == recipient.as_str()
        })
    }

    /// Whether none was found.
    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Opens sealed (armored or binary) age `contents` read from `path` to
    /// the keyring inside. A protected SSH key is unlocked only when it is a
    /// recipient of the file, with `prompt`.
    pub fn open(
        &self,
        contents: &[u8],
        path: &Path,
        prompt: Option<Prompt<'_>>,
    ) -> Result<Keyring> {
        let raw = dearmor(contents, path)?;
        let header = Header::parse(&raw);
        // Keys that need no passphrase first; a protected key is unlocked
        // only when it is a recipient and nothing else opened the file.
        let mut usable: Vec<Box<dyn age::Identity>> = Vec::new();
        let mut protected = Vec::new();
        for (name, id) in &self.found {
            match id {
                Id::Age(a) => usable.push(Box::new(a.clone())),
                Id::Ssh(age::ssh::Identity::Encrypted(enc)) => {
                    let full = age::ssh::Identity::Encrypted(enc.clone());
                    let is_recipient = age::ssh::Recipient::try_from(full)
                        .ok()
                        .and_then(|r| Recipient::parse(&r.to_string()).ok())
                        .and_then(|r| r.ssh_tag())
                        .is_some_and(|t| header.ssh_tags.contains(&t));
                    if is_recipient {
                        protected.push((name, enc));
                    }
                }
                Id::Ssh(s) => usable.push(Box::new(s.clone())),
            }
        }
        let mut plain = try_decrypt(&raw, &usable, path)?;
        let mut locked: Vec<String> = Vec::new();
        if plain.is_none() && !protected.is_empty() {
            usable.clear();
            for (name, enc) in protected {
                let Some(pass) = prompt.and_then(|p| p(name)) else {
                    locked.push(name.clone());
                    continue;
                };
                let pass = SecretString::from(pass.as_str().to_owned());
                match enc.decrypt(pass) {
                    Ok(key) => usable.push(Box::new(age::ssh::Identity::from(key))),
                    Err(_) => {
                        return Err(sealed_err(
                            path,
                            TeamErrorKind::WrongPassphrase,
                            format!("the passphrase for {name} is not right"),
                        ));
                    }
                }
            }
            if !usable.is_empty() {
                plain = try_decrypt(&raw, &usable, path)?;
            }
        }
        let Some(plain) = plain else {
            return Err(self.not_a_recipient(path, &locked));
        };
        let text = std::str::from_utf8(&plain).map_err(|_| {
            sealed_err(
                path,
                TeamErrorKind::Sealed,
                "does not hold a keyring (not UTF-8)",
            )
        })?;
        Keyring::parse(text).map_err(|e| {
            sealed_err(
                path,
                TeamErrorKind::Sealed,
                format!("does not hold a valid keyring: {e}"),
            )
        })
    }

    /// The error when no identity opens `path`.
    fn not_a_recipient(&self, path: &Path, locked: &[String]) -> Error {
        let recipients = recipients_for(path);
        if !locked.is_empty() {
            return sealed_err(
                path,
                TeamErrorKind::PassphraseNeeded,
                format!(
                    "{} is a recipient but protected by a passphrase, and there is no terminal \
                     to ask for it: run in a terminal, or set ENVCLOAK_IDENTITY_FILE to a key \
                     without a passphrase",
                    locked.join(" and ")
                ),
            );
        }
        if self.found.is_empty() {
            let mut reason = format!(
                "no identity found to open it (looked in {IDENTITY_VAR}, {IDENTITY_FILE_VAR}, \
                 ~/.ssh/id_ed25519, ~/.ssh/id_rsa and envcloak's age identity); a member adds \
                 you to {} with 'envcloak team add' and the line 'envcloak team whoami' prints",
                recipients.display()
            );
            for u in &self.unusable {
                reason.push_str("; ");
                reason.push_str(u);
            }
            return sealed_err(path, TeamErrorKind::NoIdentity, reason);
        }
        sealed_err(
            path,
            TeamErrorKind::NotARecipient,
            format!(
                "none of your identities ({}) is a recipient (see {}): ask a member to run \
                 'envcloak team add' with the line 'envcloak team whoami' prints",
                self.sources().join(", "),
                recipients.display()
            ),
        )
    }
}

/// Decrypts the age file `raw` with `identities`: `None` when none of them
/// is a recipient.
fn try_decrypt(
    raw: &[u8],
    identities: &[Box<dyn age::Identity>],
    path: &Path,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let damaged = || {
        sealed_err(
            path,
            TeamErrorKind::Sealed,
            "could not be decrypted (damaged or modified): restore it from git",
        )
    };
    let decryptor = age::Decryptor::new_buffered(raw).map_err(|_| {
        sealed_err(
            path,
            TeamErrorKind::Sealed,
            "not an age file, or damaged: restore it from git, or re-create it with 'envcloak team sync'",
        )
    })?;
    let mut reader = match decryptor.decrypt(identities.iter().map(|i| i.as_ref())) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys) => return Ok(None),
        Err(_) => return Err(damaged()),
    };
    let mut plain = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut plain).map_err(|_| damaged())?;
    Ok(Some(plain))
}

/// The binary age file inside `contents` (armored or not). Conflict
/// markers and other damage are errors that name the file.
fn dearmor(contents: &[u8], path: &Path) -> Result<Vec<u8>> {
    if has_conflict_markers(contents) {
        return Err(sealed_err(
            path,
            TeamErrorKind::Sealed,
            "holds git conflict markers: resolve the recipients file, then run 'envcloak team sync'",
        ));
    }
    let mut reader = age::armor::ArmoredReader::new(contents);
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw).map_err(|_| {
        sealed_err(
            path,
            TeamErrorKind::Sealed,
            "not a valid age file (bad armor): restore it from git, or re-create it with 'envcloak team sync'",
        )
    })?;
    Ok(raw)
}

fn has_conflict_markers(contents: &[u8]) -> bool {
    contents
        .split(|&b| b == b'\n')
        .any(|l| l.starts_with(b"<<<<<<<") || l.starts_with(b">>>>>>>") || l == b"=======")
}

/// What an age file's header says about its recipients (no key needed).
#[derive(Debug, Default)]
struct Header {
    /// The tags of the `ssh-ed25519` and `ssh-rsa` stanzas.
    ssh_tags: HashSet<String>,
    /// How many `X25519` stanzas (age recipients, which are anonymous).
    x25519: usize,
    /// Stanzas of other kinds.
    other: usize,
}

impl Header {
    fn parse(raw: &[u8]) -> Header {
        let mut h = Header::default();
        for line in raw.split(|&b| b == b'\n') {
            if line.starts_with(b"---") {
                break;
            }
            let Some(rest) = line.strip_prefix(b"-> ") else {
                continue;
            };
            let text = String::from_utf8_lossy(rest);
            let mut words = text.split(' ');
            match words.next() {
                // Stanzas that age adds to keep the format flexible.
                Some(t) if t.ends_with("-grease") => {}
                Some("ssh-ed25519" | "ssh-rsa") => {
                    h.ssh_tags.extend(words.next().map(str::to_owned));
                }
                Some("X25519") => h.x25519 += 1,
                _ => h.other += 1,
            }
        }
        h
    }

    /// Whether `r` has a stanza: known for SSH keys; for age keys, `None`
    /// (age stanzas do not say whom they are for).
    fn has(&self, r: &Recipient) -> Option<bool> {
        r.ssh_tag().map(|t| self.ssh_tags.contains(&t))
    }
}

/// A process-wide passphrase prompt that key lookup ([`crate::keys::find`])
/// uses for a protected SSH key: the CLI installs one that asks on the
/// terminal. Without it, such a key is an error naming it. Set once; later
/// calls are ignored.
pub fn set_passphrase_prompt(prompt: GlobalPrompt) {
    let _ = PROMPT.set(prompt);
}

/// The process-wide prompt of [`set_passphrase_prompt`]: a plain function,
/// as [`Prompt`] describes.
pub type GlobalPrompt = fn(&str) -> Option<Zeroizing<String>>;

static PROMPT: std::sync::OnceLock<GlobalPrompt> = std::sync::OnceLock::new();

/// The prompt given to [`set_passphrase_prompt`], if any.
pub fn passphrase_prompt() -> Option<GlobalPrompt> {
    PROMPT.get().copied()
}

/// Opens the sealed keyring at `path` with the user's identities (looked
/// for through `env`) and `prompt`.
pub fn open_sealed(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    prompt: Option<Prompt<'_>>,
) -> Result<Keyring> {
    let contents = read_sealed(path)?;
    Identities::find(env)?.open(&contents, path, prompt)
}

fn read_sealed(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() || meta.len() > MAX_TEXT as u64 {
        return Err(sealed_err(
            path,
            TeamErrorKind::Sealed,
            "not a regular file of at most 1 MiB",
        ));
    }
    Ok(Zeroizing::new(
        std::fs::read(path).map_err(|e| Error::io(path, e))?,
    ))
}

// ---------------------------------------------------------------------------
// Merges and conflicts
// ---------------------------------------------------------------------------

/// The two sides of a text with git conflict markers: (ours, theirs), each
/// with the lines outside the conflicts. `None` without markers.
pub fn conflict_sides(text: &str) -> Option<(String, String)> {
    if !has_conflict_markers(text.as_bytes()) {
        return None;
    }
    #[derive(PartialEq)]
    enum S {
        Out,
        Ours,
        Base,
        Theirs,
    }
    let mut s = S::Out;
    let (mut ours, mut theirs) = (String::new(), String::new());
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare.starts_with("<<<<<<<") {
            s = S::Ours;
        } else if bare.starts_with("|||||||") && s == S::Ours {
            s = S::Base;
        } else if bare == "=======" && s != S::Out {
            s = S::Theirs;
        } else if bare.starts_with(">>>>>>>") {
            s = S::Out;
        } else {
            match s {
                S::Out => {
                    ours.push_str(line);
                    theirs.push_str(line);
                }
                S::Ours => ours.push_str(line),
                S::Theirs => theirs.push_str(line),
                S::Base => {}
            }
        }
    }
    Some((ours, theirs))
}

/// Opens the first of several candidate contents of a sealed keyring that
/// the user's identities open: for a merge (ours, theirs) or a file git left
/// conflicted (the two sides of its markers, the index stages). Returns the
/// keyring of the first that opens, or the error of the first candidate.
pub fn open_any(
    candidates: &[Vec<u8>],
    path: &Path,
    identities: &Identities,
    prompt: Option<Prompt<'_>>,
) -> Result<Keyring> {
    let mut first_err = None;
    for c in candidates {
        match identities.open(c, path, prompt) {
            Ok(ring) => return Ok(ring),
            Err(e) => {
                if matches!(
                    e,
                    Error::Team {
                        kind: TeamErrorKind::WrongPassphrase,
                        ..
                    }
                ) {
                    return Err(e);
                }
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| sealed_err(path, TeamErrorKind::Sealed, "nothing to open")))
}

/// Every version of the sealed file at `path` worth trying after a merge:
/// the work tree's file, the two sides of its conflict markers, and git's
/// index stages `:2:` (ours) and `:3:` (theirs) when git has them.
pub fn candidates(path: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(c) = read_sealed(path) {
        if let Some((ours, theirs)) = std::str::from_utf8(&c).ok().and_then(conflict_sides) {
            out.push(ours.into_bytes());
            out.push(theirs.into_bytes());
        } else {
            out.push(c.to_vec());
        }
    }
    let dir = fsio::parent_dir(path);
    if let Some(name) = path.file_name() {
        for stage in [2, 3] {
            let spec = format!(":{stage}:./{}", name.to_string_lossy());
            if let Ok(o) = std::process::Command::new("git")
                .arg("-C")
                .arg(&dir)
                .args(["show", &spec])
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                && o.status.success()
                && !o.stdout.is_empty()
            {
                out.push(o.stdout);
            }
        }
    }
    out
}

/// For a git merge driver of `.env.key.age`: the sealed keyring re-made
/// from `ours` or `theirs` (whichever the user's identities open, ours
/// first) and sealed to `recipients` (the merged recipients file's
/// members). Returns the armored text to write as the result; an error when
/// neither side opens (the driver then leaves the conflict, and
/// `envcloak team sync` resolves it once `.env.recipients` is merged).
///
/// When both sides open, ours is used: if theirs holds another keyring
/// (one branch re-keyed to remove someone), its keys are not brought back.
pub fn reseal_merged(
    ours: &[u8],
    theirs: &[u8],
    recipients: &Recipients,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    prompt: Option<Prompt<'_>>,
) -> Result<String> {
    let ids = Identities::find(env)?;
    let ring = open_any(&[ours.to_vec(), theirs.to_vec()], path, &ids, prompt)?;
    seal(&ring, recipients, path)
}

/// The members of a three-way merge of recipients files: those of ours,
/// then those theirs added; a member either side removed (present in
/// `base`, missing on that side) stays out. A name both sides gave to
/// different keys is an error (resolve it by hand). For a merge driver,
/// with [`reseal_merged`].
pub fn merge_recipients(
    base: &Recipients,
    ours: &Recipients,
    theirs: &Recipients,
    path: &Path,
) -> Result<Recipients> {
    let mut out = Recipients::default();
    let removed = |m: &Member| {
        base.members().contains(m) && (!ours.members().contains(m) || !theirs.members().contains(m))
    };
    for m in ours.members().iter().chain(theirs.members()) {
        if removed(m) || out.members().contains(m) {
            continue;
        }
        out.add(m.clone()).map_err(|reason| Error::Team {
            path: path.to_path_buf(),
            kind: TeamErrorKind::Recipients,
            reason: format!("the merged members clash: {reason}").into(),
        })?;
    }
    Ok(out)
}

/// `a`'s keys, then those of `b` it lacks.
fn union(a: &Keyring, b: &Keyring) -> Result<Keyring> {
    let mut keys = a.keys().to_vec();
    keys.extend(b.keys().iter().filter(|k| !a.keys().contains(k)).cloned());
    Keyring::new(keys).map_err(|e| Error::Key {
        origin: "the merged keyring".into(),
        reason: e.to_string().into(),
    })
}

// ---------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------

/// One problem [`problems`] found: the file and what is wrong (names and
/// files, never a key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file the problem is about.
    pub path: PathBuf,
    /// What is wrong and how to fix it.
    pub message: String,
    /// `true` for an error (`check` fails), `false` for a warning.
    pub error: bool,
}

/// Team-access problems of the base keyring (`profile` `None`) or of a
/// profile's: a recipients file without a sealed keyring or the other way
/// round, members the sealed keyring is not sealed to (or sealed to more
/// people than listed), a sealed file left conflicted or damaged, and a
/// `.env.key` beside it that holds another keyring (checked only when the
/// user's identities open the sealed file without a passphrase; `env`
/// supplies `HOME` and the `ENVCLOAK_IDENTITY*` variables).
///
/// For `check`: print each as `path: message`; `error` ones fail it.
pub fn problems(
    root: &Path,
    profile: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<Problem> {
    let sealed = sealed_file(root, profile);
    let rfile = recipients_file(root, profile);
    let mut out = Vec::new();
    let mut add = |path: &Path, error: bool, message: String| {
        out.push(Problem {
            path: path.to_path_buf(),
            message,
            error,
        })
    };
    let has_sealed = sealed.exists();
    let recipients = match Recipients::load(&rfile) {
        Ok(r) => r,
        Err(e) => {
            add(&rfile, true, strip_path(&e, &rfile));
            return out;
        }
    };
    let has_recipients = rfile.exists();
    match (has_recipients, has_sealed) {
        (false, false) => return out,
        (true, false) if !recipients.is_empty() => {
            add(
                &sealed,
                true,
                format!(
                    "missing, but {} lists members: run 'envcloak team sync'",
                    rfile.display()
                ),
            );
            return out;
        }
        (true, false) => return out,
        (false, true) => {
            add(
                &rfile,
                true,
                format!(
                    "missing, but {} exists: restore it from git (it says who can open the keyring)",
                    sealed.display()
                ),
            );
            return out;
        }
        (true, true) => {}
    }
    let contents = match read_sealed(&sealed) {
        Ok(c) => c,
        Err(e) => {
            add(&sealed, true, strip_path(&e, &sealed));
            return out;
        }
    };
    let raw = match dearmor(&contents, &sealed) {
        Ok(r) => r,
        Err(e) => {
            add(&sealed, true, strip_path(&e, &sealed));
            return out;
        }
    };
    let header = Header::parse(&raw);
    for m in recipients.members() {
        if header.has(&m.recipient) == Some(false) {
            add(
                &sealed,
                true,
                format!(
                    "'{}' is in {} but cannot open it: run 'envcloak team sync'",
                    m.name,
                    rfile.display()
                ),
            );
        }
    }
    let listed_tags: HashSet<String> = recipients
        .members()
        .iter()
        .filter_map(|m| m.recipient.ssh_tag())
        .collect();
    let extra_ssh = header.ssh_tags.difference(&listed_tags).count();
    let listed_age = recipients
        .members()
        .iter()
        .filter(|m| m.recipient.kind() == KeyKind::Age)
        .count();
    if header.x25519 < listed_age {
        add(
            &sealed,
            true,
            format!(
                "sealed to {} age key(s) but {} lists {listed_age}: run 'envcloak team sync'",
                header.x25519,
                rfile.display()
            ),
        );
    }
    let extra = extra_ssh + header.x25519.saturating_sub(listed_age) + header.other;
    if extra > 0 {
        add(
            &sealed,
            true,
            format!(
                "sealed to {extra} key(s) that {} does not list: someone removed by hand can \
                 still open it; run 'envcloak team sync --rekey' (or 'envcloak team rm NAME')",
                rfile.display()
            ),
        );
    }
    // A bare key file beside it that holds another keyring.
    let bare = match profile {
        Some(p) => root.join(format!(".env.{p}.key")),
        None => root.join(".env.key"),
    };
    if bare.exists()
        && let Ok(local) = crate::keys::read_key_file(&bare)
        && let Ok(ids) = Identities::find(env)
        && let Ok(ring) = ids.open(&contents, &sealed, None)
        && local.first() != ring.first()
    {
        add(
            &bare,
            false,
            format!(
                "holds another key than {} (it wins over it): delete {} to use the team's \
                 keyring, or run 'envcloak team sync' to seal this one",
                sealed.display(),
                bare.display()
            ),
        );
    }
    out
}

/// An error's message without the leading `path: `.
fn strip_path(e: &Error, path: &Path) -> String {
    let s = e.to_string();
    let prefix = format!("{}: ", path.display());
    s.strip_prefix(&prefix).map(str::to_owned).unwrap_or(s)
}

/// Which members the sealed file at `path` is sealed to: for each member of
/// `recipients`, `Some(true)`/`Some(false)` for SSH keys (read from the
/// file's header, without a key), and for age keys `Some(true)` when the
/// header has as many age stanzas as the list has age keys, `None` when
/// that cannot be told.
pub fn sealed_to(path: &Path, recipients: &Recipients) -> Result<Vec<Option<bool>>> {
    let contents = read_sealed(path)?;
    let raw = dearmor(&contents, path)?;
    let header = Header::parse(&raw);
    let listed_age = recipients
        .members()
        .iter()
        .filter(|m| m.recipient.kind() == KeyKind::Age)
        .count();
    Ok(recipients
        .members()
        .iter()
        .map(|m| {
            header
                .has(&m.recipient)
                .or((header.x25519 == listed_age).then_some(true))
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Changes: add, remove, sync
// ---------------------------------------------------------------------------

/// The encrypted files a keyring covers: for the base keyring, `.env.enc`
/// and every `.env.<profile>.enc` in `root` whose profile has no sealed
/// keyring of its own; for a profile's, `.env.<profile>.enc`. Only files
/// that exist, sorted.
pub fn covered_files(root: &Path, profile: Option<&str>) -> Vec<PathBuf> {
    if let Some(p) = profile {
        let f = root.join(format!(".env.{p}.enc"));
        return if f.is_file() { vec![f] } else { Vec::new() };
    }
    let dir = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let profile = if name == ".env.enc" {
            None
        } else if let Some(p) = name
            .strip_prefix(".env.")
            .and_then(|n| n.strip_suffix(".enc"))
            && crate::valid_profile(p)
        {
            Some(p.to_owned())
        } else {
            continue;
        };
        if let Some(p) = &profile
            && sealed_file(root, Some(p)).exists()
        {
            continue;
        }
        if e.path().is_file() {
            out.push(root.join(&name));
        }
    }
    out.sort();
    out
}

/// What [`rekey`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Rekeyed {
    /// The encrypted files re-encrypted with the new key.
    pub files: Vec<PathBuf>,
    /// Keys (names only) of every re-encrypted file: their real secrets
    /// should change at their source.
    pub keys: Vec<String>,
    /// A bare key file that held the old keyring and now holds the new one.
    pub key_file: Option<PathBuf>,
}

/// A new keyring of one fresh Fernet key, every encrypted file the
/// keyring covers ([`covered_files`]) that `old` opens re-encrypted with it,
/// and the new keyring sealed to `members` into the sealed file — the
/// caller holds `lock`, the directory's write lock, from before it read
/// anything. A password-mode file, or one `old` does not open, is left
/// alone. With `rewrite_key_file`, a bare key file (`.env.key`) that held
/// `old` is rewritten with the new keyring, so that it keeps opening the
/// files (not when the person running it is the one removed).
///
/// The old keys are not kept: whoever still holds them (a removed member)
/// could otherwise forge files that the team's keyring accepts. Git history
/// stays readable with the old sealed keyring from that history.
///
/// Order, each step atomic: the sealed keyring holding the new and the old
/// keys (to `members` only), the files, then the sealed keyring with the new
/// key alone, then the key file. An interruption anywhere leaves a sealed
/// keyring that opens every file.
pub fn rekey(
    root: &Path,
    profile: Option<&str>,
    old: &Keyring,
    members: &Recipients,
    lock: &fsio::WriteLock,
    rewrite_key_file: bool,
) -> Result<Rekeyed> {
    let sealed = sealed_file(root, profile);
    lock.check_covers(&sealed)?;
    let ring = Keyring::from(crypto::Key::generate());
    let both = union(&ring, old)?;
    // Open every file first: nothing is written unless the keyring opens
    // each that it covers (or the file is not its).
    let mut opened = Vec::new();
    for f in covered_files(root, profile) {
        lock.check_covers(&f)?;
        let contents = crate::vault::read(&f)?;
        if crate::vault::password_header(&f, &contents)?.is_some() {
            continue;
        }
        let sealer = crate::vault::Sealer::Keys(old.clone());
        let Ok(text) = crate::vault::open(&f, &contents, &sealer, None) else {
            continue;
        };
        opened.push((f, text));
    }
    // Sealing fails (no member left) before anything is written.
    let both_text = seal(&both, members, &sealed)?;
    let new_text = seal(&ring, members, &sealed)?;
    fsio::write_atomic(&sealed, both_text.as_bytes(), None)?;
    let mut done = Rekeyed::default();
    for (f, text) in &opened {
        crate::vault::seal(f, text, &crate::vault::Sealer::Keys(ring.clone()), lock)?;
        if let Ok(entries) = crate::dotenv::parse(text) {
            for e in entries {
                let k = e.key.to_string();
                if !done.keys.contains(&k) {
                    done.keys.push(k);
                }
            }
        }
        done.files.push(f.clone());
    }
    fsio::write_atomic(&sealed, new_text.as_bytes(), None)?;
    let bare = match profile {
        Some(p) => root.join(format!(".env.{p}.key")),
        None => root.join(".env.key"),
    };
    if rewrite_key_file
        && let Ok(local) = crate::keys::read_key_file(&bare)
        && old.keys().contains(local.first())
    {
        lock.check_covers(&bare)?;
        let mut line = ring.to_base64();
        line.push('\n');
        fsio::write_atomic(&bare, line.as_bytes(), Some(0o600))?;
        done.key_file = Some(bare);
    }
    done.keys.sort();
    Ok(done)
}

// ---------------------------------------------------------------------------
// Your own recipient
// ---------------------------------------------------------------------------

/// The recipient line a person hands to a member ([`my_recipient`]).
#[derive(Debug, Clone)]
pub struct MyRecipient {
    /// The public key: an SSH public key line, or an `age1…` recipient.
    pub recipient: Recipient,
    /// Where it came from (`~/.ssh/id_ed25519.pub`, the age identity file).
    pub source: String,
    /// The age identity file created for it, when there was none.
    pub created: Option<PathBuf>,
}

/// The user's recipient: the public key beside `~/.ssh/id_ed25519` or
/// `~/.ssh/id_rsa` (the `.pub` file), else envcloak's own age identity
/// ([`own_identity_file`]), created with mode 0600 (in a 0700 directory)
/// when it does not exist yet. Only the public recipient is returned.
pub fn my_recipient(env: &dyn Fn(&str) -> Option<String>) -> Result<MyRecipient> {
    let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    if let Some(h) = &home {
        for f in ["id_ed25519.pub", "id_rsa.pub"] {
            let p = h.join(".ssh").join(f);
            if let Some(text) = read_limited(&p).ok().flatten()
                && let Ok(r) = Recipient::parse(text.lines().next().unwrap_or_default())
            {
                return Ok(MyRecipient {
                    recipient: r,
                    source: tilde(&p, Some(h)),
                    created: None,
                });
            }
        }
    }
    let Some(path) = own_identity_file(env) else {
        return Err(sealed_err(
            Path::new("HOME"),
            TeamErrorKind::NoIdentity,
            "neither HOME nor XDG_CONFIG_HOME is set: cannot find or create an identity",
        ));
    };
    let name = tilde(&path, home.as_deref());
    let mut created = None;
    if !path.exists() {
        let dir = fsio::parent_dir(&path);
        create_private_dir(&dir)?;
        let id = age::x25519::Identity::generate();
        let text = Zeroizing::new(format!(
            "# envcloak age identity (private: never share or commit it)\n# public key: {}\n{}\n",
            id.to_public(),
            id.to_string().expose_secret()
        ));
        if fsio::create_new_private(&path, text.as_bytes())? {
            created = Some(path.clone());
        }
    }
    let text = Zeroizing::new(read_limited(&path)?.unwrap_or_default());
    let ids = parse_identity(&text, &name).map_err(|reason| Error::Team {
        path: path.clone(),
        kind: TeamErrorKind::Identity,
        reason: reason.into(),
    })?;
    let Some(Id::Age(id)) = ids.into_iter().next() else {
        return Err(sealed_err(
            &path,
            TeamErrorKind::Identity,
            "holds no age identity",
        ));
    };
    let recipient =
        Recipient::parse(&id.to_public().to_string()).map_err(|reason| Error::Team {
            path: path.clone(),
            kind: TeamErrorKind::Identity,
            reason: reason.into(),
        })?;
    Ok(MyRecipient {
        recipient,
        source: name,
        created,
    })
}

fn create_private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io(dir, e))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_sides_split() {
        let t = "a\n<<<<<<< ours\nb\n||||||| base\nz\n=======\nc\n>>>>>>> theirs\nd\n";
        let (o, th) = conflict_sides(t).unwrap();
        assert_eq!(o, "a\nb\nd\n");
        assert_eq!(th, "a\nc\nd\n");
        assert!(conflict_sides("plain\n").is_none());
    }

    #[test]
    fn names() {
        assert!(valid_name("alice"));
        assert!(valid_name("ci@github"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"x".repeat(65)));
    }

    #[test]
    fn file_names() {
        assert_eq!(sealed_for(Path::new(".env.enc")), Path::new(".env.key.age"));
        assert_eq!(
            sealed_for(Path::new("d/.env.production.enc")),
            Path::new("d/.env.production.key.age")
        );
        assert_eq!(
            recipients_for(Path::new("d/.env.production.key.age")),
            Path::new("d/.env.production.recipients")
        );
    }
}
