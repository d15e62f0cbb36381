//! Changes and reports: merges, `check`'s problems, re-keying.

use super::*;

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
    pub(super) enum S {
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
pub(super) fn union(a: &Keyring, b: &Keyring) -> Result<Keyring> {
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
pub(super) fn strip_path(e: &Error, path: &Path) -> String {
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
