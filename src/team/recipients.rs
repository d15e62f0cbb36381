//! `.env.recipients`: members, their public keys, and what is refused.

use super::*;

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
    pub(super) fn ssh_blob(&self) -> Option<Vec<u8>> {
        if self.kind == KeyKind::Age {
            return None;
        }
        let b64 = self.text.split_whitespace().nth(1)?;
        STANDARD.decode(b64).ok()
    }

    /// The tag age writes in this recipient's stanza of a file header (the
    /// first four bytes of the key's SHA-256, base64), for SSH keys.
    pub(super) fn ssh_tag(&self) -> Option<String> {
        let blob = self.ssh_blob()?;
        Some(STANDARD_NO_PAD.encode(&sha2::Sha256::digest(&blob)[..4]))
    }

    /// A name taken from the key's comment (`alice@laptop` -> `alice`).
    pub fn suggested_name(&self) -> Option<String> {
        let c = self.comment.as_deref()?;
        let name = c.split('@').next().unwrap_or(c);
        valid_name(name).then(|| name.to_owned())
    }

    pub(super) fn to_age(&self) -> Option<Box<dyn age::Recipient + Send>> {
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
pub(super) fn looks_private(text: &str) -> bool {
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
pub(super) fn read_limited(path: &Path) -> Result<Option<String>> {
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
