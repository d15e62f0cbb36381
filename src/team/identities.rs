//! Sealing the keyring to the members, and opening it with the user's own
//! identities (SSH keys, age identities, a passphrase prompt).

use super::*;

// ---------------------------------------------------------------------------
// Sealing
// ---------------------------------------------------------------------------

pub(super) fn sealed_err(path: &Path, kind: TeamErrorKind, reason: impl Into<Box<str>>) -> Error {
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
pub(super) enum Id {
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
pub(super) fn tilde(path: &Path, home: Option<&Path>) -> String {
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
pub(super) fn identity_files(env: &dyn Fn(&str) -> Option<String>) -> Vec<(PathBuf, String)> {
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
pub(super) fn parse_identity(text: &str, name: &str) -> std::result::Result<Vec<Id>, String> {
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
    pub(super) fn not_a_recipient(&self, path: &Path, locked: &[String]) -> Error {
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
pub(super) fn try_decrypt(
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
pub(super) fn dearmor(contents: &[u8], path: &Path) -> Result<Vec<u8>> {
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

pub(super) fn has_conflict_markers(contents: &[u8]) -> bool {
    contents
        .split(|&b| b == b'\n')
        .any(|l| l.starts_with(b"<<<<<<<") || l.starts_with(b">>>>>>>") || l == b"=======")
}

/// What an age file's header says about its recipients (no key needed).
#[derive(Debug, Default)]
pub(super) struct Header {
    /// The tags of the `ssh-ed25519` and `ssh-rsa` stanzas.
    pub(super) ssh_tags: HashSet<String>,
    /// How many `X25519` stanzas (age recipients, which are anonymous).
    pub(super) x25519: usize,
    /// Stanzas of other kinds.
    pub(super) other: usize,
}

impl Header {
    pub(super) fn parse(raw: &[u8]) -> Header {
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
    pub(super) fn has(&self, r: &Recipient) -> Option<bool> {
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

pub(super) static PROMPT: std::sync::OnceLock<GlobalPrompt> = std::sync::OnceLock::new();

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

pub(super) fn read_sealed(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
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

pub(super) fn create_private_dir(dir: &Path) -> Result<()> {
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
