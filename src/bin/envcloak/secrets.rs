//! keygen, token, encrypt, decrypt, edit, set, unset, rotate.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use envcloak::crypto::{self, Key, Keyring};
use envcloak::vault::{self, Sealer};
use envcloak::{dotenv, fsio, keys};
use zeroize::Zeroizing;

use crate::ui::{self, CmdResult, Failure};
use crate::{Format, Global};

/// `keygen`
#[derive(Args)]
pub struct KeygenArgs {
    /// Store the key in .env.key (or --key-file) with mode 0600 and make sure
    /// git ignores it, instead of printing it
    #[arg(long)]
    write: bool,
}

/// `token`
#[derive(Args)]
pub struct TokenArgs {
    /// Number of random bytes
    #[arg(default_value_t = 32)]
    bytes: usize,
    /// Hexadecimal (the default), like secrets.token_hex
    #[arg(long, group = "enc")]
    hex: bool,
    /// URL-safe base64 without padding, like secrets.token_urlsafe
    #[arg(long, group = "enc")]
    urlsafe: bool,
    /// Standard base64 with padding
    #[arg(long, group = "enc")]
    base64: bool,
}

/// `encrypt`
#[derive(Args)]
pub struct EncryptArgs {
    /// The plaintext dotenv file [default: .env, or .env.<profile>]
    input: Option<PathBuf>,
    /// Derive the key from a password (ENVCLOAK_PASSWORD, or asked twice)
    #[arg(long)]
    password: bool,
    /// PBKDF2 iterations for --password (at least 600000)
    #[arg(long, default_value_t = crypto::DEFAULT_ITERATIONS, requires = "password")]
    iterations: u32,
}

/// `decrypt`
#[derive(Args)]
pub struct DecryptArgs {
    /// The encrypted file [default: .env.enc]
    input: Option<PathBuf>,
    /// Write to this file (mode 0600) instead of standard output
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Dotenv)]
    format: Format,
    /// Overwrite the -o file if it exists
    #[arg(long)]
    force: bool,
    /// Refuse a file encrypted more than this many seconds ago
    #[arg(long, value_name = "SECONDS")]
    ttl: Option<u64>,
}

/// `edit`
#[derive(Args)]
pub struct EditArgs {
    /// The encrypted file [default: .env.enc]
    input: Option<PathBuf>,
}

/// `set`
#[derive(Args)]
pub struct SetArgs {
    /// The key
    key: String,
    /// The value; when left out, read from standard input, or asked for
    /// without echo on a terminal
    value: Option<String>,
}

/// `unset`
#[derive(Args)]
pub struct UnsetArgs {
    /// The key
    key: String,
}

/// `rotate`
#[derive(Args)]
pub struct RotateArgs {
    /// Write the new keyring to the key file (.env.key or --key-file)
    /// instead of printing it
    #[arg(long)]
    write: bool,
    /// Keep only the first key: re-encrypt with it and forget the others
    #[arg(long)]
    drop_old: bool,
}

fn ok() -> CmdResult {
    Ok(ExitCode::SUCCESS)
}

fn default_key_file(g: &Global) -> CmdResult<PathBuf> {
    match &g.key_file {
        Some(f) => Ok(f.clone()),
        None => Ok(keys::key_file_for(&ui::encrypted_path(g, None)?)),
    }
}

pub fn keygen(g: &Global, a: KeygenArgs) -> CmdResult {
    let key = Key::generate();
    if !a.write {
        println!("{}", key.to_base64().as_str());
        return ok();
    }
    let path = default_key_file(g)?;
    let mut text = key.to_base64();
    text.push('\n');
    if path.exists() {
        return Err(Failure::new(format!("{} already exists", path.display())).hint(
            "keep it, or replace its key with 'envcloak rotate --write' (which re-encrypts the file)",
        ));
    }
    ensure_ignored(&path)?;
    if !fsio::create_new_private(&path, text.as_bytes())? {
        return Err(Failure::new(format!("{} already exists", path.display())).hint(
            "keep it, or replace its key with 'envcloak rotate --write' (which re-encrypts the file)",
        ));
    }
    ui::note(format!("wrote a new key to {} (mode 0600)", path.display()));
    ok()
}

/// Makes sure git ignores `path`: asks git, and appends the file name to the
/// `.gitignore` beside it when git does not ignore it yet.
pub(crate) fn ensure_ignored(path: &Path) -> CmdResult<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    ensure_ignored_as(path, &name)?;
    // A write killed before its rename leaves a private temporary file
    // (which may hold a key or plaintext): never let git pick it up.
    let temp = fsio::parent_dir(path).join(format!("{}x", fsio::TEMP_PREFIX));
    ensure_ignored_as(&temp, &format!("{}*", fsio::TEMP_PREFIX))
}

/// Like [`ensure_ignored`], adding `pattern` to `.gitignore` when needed.
pub(crate) fn ensure_ignored_as(path: &Path, pattern: &str) -> CmdResult<()> {
    let dir = fsio::parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ignored = std::process::Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(["check-ignore", "-q", "--"])
        .arg(&name)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ignored {
        return Ok(());
    }
    let gitignore = dir.join(".gitignore");
    let mut text = match std::fs::read_to_string(&gitignore) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(envcloak::Error::from_io(&gitignore, e).into()),
    };
    if text
        .lines()
        .any(|l| l.trim() == pattern || l.trim() == format!("/{pattern}"))
    {
        return Ok(());
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(pattern);
    text.push('\n');
    fsio::write_atomic(&gitignore, text.as_bytes(), None)?;
    ui::note(format!("added {pattern} to {}", gitignore.display()));
    Ok(())
}

pub fn token(a: TokenArgs) -> CmdResult {
    if a.bytes == 0 || a.bytes > 1 << 20 {
        return Err(Failure::new(
            "the number of bytes must be between 1 and 1048576",
        ));
    }
    let t = if a.urlsafe {
        crypto::token_urlsafe(a.bytes)
    } else if a.base64 {
        crypto::token_base64(a.bytes)
    } else {
        crypto::token_hex(a.bytes)
    };
    println!("{}", t.as_str());
    ok()
}

/// Reads a plaintext file. Only a file the user named may be something else
/// than a regular file (`envcloak encrypt /dev/stdin`): a default `.env`
/// that is a FIFO or a directory is refused rather than waited on.
fn read_plaintext(path: &Path) -> CmdResult<Zeroizing<String>> {
    read_plaintext_from(path, false)
}

fn read_plaintext_from(path: &Path, named: bool) -> CmdResult<Zeroizing<String>> {
    if !named && std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(Failure::new(format!(
            "{}: not a regular file",
            path.display()
        )));
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
        let f: Failure = envcloak::Error::from_io(path, e).into();
        f.hint("name the plaintext file: 'envcloak encrypt FILE'")
    })?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Failure::new(format!("{}: not UTF-8 text", path.display())))?;
    Ok(Zeroizing::new(text.to_owned()))
}

pub fn encrypt(g: &Global, a: EncryptArgs) -> CmdResult {
    let output = ui::encrypted_path(g, None)?;
    let named = a.input.is_some();
    let input = match a.input {
        Some(i) => i,
        None => {
            let name = output.file_name().map(|n| n.to_string_lossy().into_owned());
            match name.as_deref().and_then(|n| n.strip_suffix(".enc")) {
                Some(stem) => output.with_file_name(stem),
                None => ui::root()?.join(".env"),
            }
        }
    };
    let text = read_plaintext_from(&input, named)?;
    vault::validate(&input, &text)?;
    let sealer = if a.password {
        // Switching the team's key-mode file to a password would lock out
        // everyone who has the key: only a new file, or one already in
        // password mode, may be written with a password.
        if output.exists() && vault::password_header(&output, &vault::read(&output)?)?.is_none() {
            return Err(Failure::new(format!(
                "{} is encrypted with a key, not a password; nothing was written",
                output.display()
            ))
            .hint(
                "to switch it to a password, decrypt it, move it away, then encrypt --password",
            ));
        }
        if a.iterations < crypto::MIN_ITERATIONS {
            return Err(Failure::new(format!(
                "--iterations must be at least {}",
                crypto::MIN_ITERATIONS
            )));
        }
        Sealer::Password {
            password: ui::password(&format!("new password for {}: ", output.display()), true)?,
            iterations: a.iterations,
        }
    } else {
        let existing = if output.exists() {
            let bytes = vault::read(&output)?;
            Some((vault::password_header(&output, &bytes)?, bytes))
        } else {
            None
        };
        match (existing, ui::find_keyring(g, &output)?) {
            // An existing password-mode file stays in password mode.
            (Some((Some(header), _)), _) => Sealer::Password {
                password: ui::password(&format!("password for {}: ", output.display()), false)?,
                iterations: header.iterations,
            },
            // Never replace the team's file with one its key cannot open.
            (Some((None, bytes)), Some((ring, origin))) => {
                let sealer = Sealer::Keys(ring);
                match vault::open(&output, &bytes, &sealer, None) {
                    Err(e) => {
                        return Err(Failure::from(e).hint(format!(
                            "the key from {origin} does not open the existing {}: use the team's key \
                             (or 'envcloak rotate' to change keys); nothing was written",
                            output.display()
                        )));
                    }
                    // Same plaintext: leave the file (and `git diff`) alone.
                    Ok(old) if *old == *text => {
                        ensure_plaintext_ignored(&input, named)?;
                        ui::note(format!("{} is already up to date", output.display()));
                        return ok();
                    }
                    Ok(_) => {}
                }
                sealer
            }
            (None, Some((ring, _))) => Sealer::Keys(ring),
            (None, None) => Sealer::Keys(new_key_file(g)?),
            // Never replace a file that no key we have opens: it is the team's.
            (Some((None, _)), None) => {
                return Err(ui::no_key(g, &output).hint(format!(
                    "{} exists and was encrypted with a key you do not have: get the key \
                     from a teammate (or delete the file to start over with a new key)",
                    output.display()
                )));
            }
        }
    };
    ensure_plaintext_ignored(&input, named)?;
    vault::seal(&output, &text, &sealer)?;
    ui::note(format!(
        "encrypted {} -> {} (commit it; never commit {})",
        input.display(),
        output.display(),
        input.display()
    ));
    ok()
}

/// Creates the key file with a new key when no key exists anywhere.
/// The plaintext that was encrypted must never be committed: keep it out
/// of git (a regular file only; `/dev/stdin` and the like are left alone).
fn ensure_plaintext_ignored(input: &Path, named: bool) -> CmdResult<()> {
    let regular = std::fs::symlink_metadata(input).is_ok_and(|m| m.is_file());
    if regular && (!named || input.is_relative()) {
        ensure_ignored(input)?;
    }
    Ok(())
}

pub(crate) fn new_key_file(g: &Global) -> CmdResult<Keyring> {
    let path = default_key_file(g)?;
    let key = Key::generate();
    let mut text = key.to_base64();
    text.push('\n');
    ensure_ignored(&path)?;
    if !fsio::create_new_private(&path, text.as_bytes())? {
        return Err(Failure::new(format!(
            "{} appeared while creating it",
            path.display()
        )));
    }
    ui::note(format!(
        "no key found: created {} (mode 0600); keep it safe and share it with your team privately",
        path.display()
    ));
    Keyring::new(vec![key]).map_err(|e| Failure::new(e.to_string()))
}

pub fn decrypt(g: &Global, a: DecryptArgs) -> CmdResult {
    let path = ui::encrypted_path(g, a.input.as_deref())?;
    let ttl = a.ttl.map(std::time::Duration::from_secs);
    let (text, _) = ui::open_existing_ttl(g, &path, ttl)?;
    if let Err(e) = vault::validate(&path, &text) {
        if a.format != Format::Dotenv {
            return Err(e.into());
        }
        // Shown as it is, so a damaged file can still be read and repaired.
        ui::note(format!("warning: {e} (the text is shown as it is)"));
    }
    let rendered = render(&text, a.format)?;
    match a.output {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(rendered.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| Failure::new(format!("writing to standard output: {e}")))?;
        }
        Some(o) => {
            if o.exists() && !a.force {
                return Err(Failure::new(format!("{} already exists", o.display()))
                    .hint("add --force to overwrite it"));
            }
            fsio::write_atomic(&o, rendered.as_bytes(), Some(0o600))?;
            ui::note(format!(
                "wrote {} (mode 0600; do not commit it)",
                o.display()
            ));
        }
    }
    ok()
}

/// The plaintext in the asked format.
fn render(text: &str, format: Format) -> CmdResult<Zeroizing<String>> {
    if format == Format::Dotenv {
        return Ok(Zeroizing::new(text.to_owned()));
    }
    let entries = dotenv::parse(text).map_err(|e| Failure::new(e.to_string()))?;
    // Last duplicate wins, first position kept.
    let mut order: Vec<&str> = Vec::new();
    let mut values: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for e in &entries {
        if values.insert(e.key, &e.value).is_none() {
            order.push(e.key);
        }
    }
    let mut out = Zeroizing::new(String::new());
    match format {
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> = order
                .iter()
                .map(|k| ((*k).to_owned(), serde_json::Value::from(values[k])))
                .collect();
            let json = Zeroizing::new(
                serde_json::to_string_pretty(&map).map_err(|e| Failure::new(e.to_string()))?,
            );
            out.push_str(&json);
            out.push('\n');
        }
        Format::Shell => {
            for k in order {
                if k.contains('.') {
                    ui::note(format!("skipped {k}: not a valid shell variable name"));
                    continue;
                }
                out.push_str("export ");
                out.push_str(k);
                out.push_str("='");
                out.push_str(&values[k].replace('\'', r"'\''"));
                out.push_str("'\n");
            }
        }
        Format::Dotenv => unreachable!("handled above"),
    }
    Ok(out)
}

pub fn edit(g: &Global, a: EditArgs) -> CmdResult {
    let path = ui::encrypted_path(g, a.input.as_deref())?;
    let (text, sealer) = ui::open_existing(g, &path)?;
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned());
    // A private directory (0700) and file (0600); removed on every path
    // when `dir` drops, after the plaintext is overwritten.
    let mut builder = tempfile::Builder::new();
    builder.prefix("envcloak-edit-");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
    let dir = builder
        .tempdir()
        .map_err(|e| Failure::new(format!("creating a private temporary directory: {e}")))?;
    let tmp = PrivateFile::create(dir.path().join(".env"), text.as_bytes())?;
    // Ctrl-C (or a hang-up) while the editor runs must not kill envcloak
    // before it wipes the plaintext: catch them, let the editor react, clean up.
    let interrupted = SignalGuard::new();
    loop {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("envcloak-editor")
            .arg(&tmp.path)
            .status()
            .map_err(|e| Failure::new(format!("could not start the editor: {e}")))?;
        if interrupted.fired() {
            return Err(
                Failure::new(format!("interrupted; {} is unchanged", path.display())).code(130),
            );
        }
        if !status.success() {
            return Err(Failure::new(format!(
                "the editor exited with {status}; {} is unchanged",
                path.display()
            )));
        }
        let edited = read_plaintext(&tmp.path)?;
        if *edited == *text {
            ui::note(format!("no changes; {} is unchanged", path.display()));
            return ok();
        }
        match vault::validate(&path, &edited) {
            Ok(()) => {
                vault::seal(&path, &edited, &sealer)?;
                ui::note(format!("saved {}", path.display()));
                return ok();
            }
            Err(e) => {
                let f: Failure = e.into();
                ui::report(&f);
                if !std::io::stdin().is_terminal() || !ask("edit again? [Y/n] ")? {
                    return Err(Failure::new(format!(
                        "not saved; {} is unchanged",
                        path.display()
                    )));
                }
            }
        }
    }
}

fn ask(prompt: &str) -> CmdResult<bool> {
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::new(format!("reading the answer: {e}")))?;
    Ok(!line.trim().eq_ignore_ascii_case("n"))
}

/// Catches SIGINT, SIGTERM, SIGHUP and SIGQUIT while alive (so cleanup
/// runs), and restores their default behaviour on drop.
struct SignalGuard {
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl SignalGuard {
    fn new() -> Self {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut ids = Vec::new();
        #[cfg(unix)]
        for sig in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
            signal_hook::consts::SIGQUIT,
        ] {
            if let Ok(id) = signal_hook::flag::register(sig, flag.clone()) {
                ids.push(id);
            }
        }
        SignalGuard { flag, ids }
    }

    fn fired(&self) -> bool {
        self.flag.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// A 0600 file whose contents are overwritten with zeros, then removed, on drop.
struct PrivateFile {
    path: PathBuf,
}

impl PrivateFile {
    fn create(path: PathBuf, contents: &[u8]) -> CmdResult<Self> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts
            .open(&path)
            .map_err(|e| envcloak::Error::from_io(&path, e))?;
        let file = PrivateFile { path };
        f.write_all(contents)
            .map_err(|e| envcloak::Error::from_io(&file.path, e))?;
        Ok(file)
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::metadata(&self.path)
            && let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&self.path)
        {
            let zeros = vec![0u8; meta.len() as usize];
            let _ = f.write_all(&zeros).and_then(|_| f.sync_all());
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn set(g: &Global, a: SetArgs) -> CmdResult {
    ui::check_key_arg(
        &a.key,
        "envcloak set KEY VALUE, or envcloak set KEY to be asked",
    )?;
    let path = ui::encrypted_path(g, None)?;
    let (text, sealer) = ui::open_existing(g, &path)?;
    let value = match a.value {
        Some(v) => Zeroizing::new(v),
        None if std::io::stdin().is_terminal() => Zeroizing::new(
            rpassword::prompt_password(format!("value for {}: ", a.key))
                .map_err(|e| Failure::new(format!("prompt: {e}")))?,
        ),
        None => {
            let mut v = Zeroizing::new(String::new());
            std::io::stdin()
                .read_to_string(&mut v)
                .map_err(|e| Failure::new(format!("reading standard input: {e}")))?;
            if v.ends_with('\n') {
                v.pop();
                if v.ends_with('\r') {
                    v.pop();
                }
            }
            v
        }
    };
    let new = Zeroizing::new(
        dotenv::set_entry(&text, &a.key, &value).map_err(|e| Failure::new(e.to_string()))?,
    );
    vault::seal(&path, &new, &sealer)?;
    ui::note(format!("set {} in {}", a.key, path.display()));
    ok()
}

pub fn unset(g: &Global, a: UnsetArgs) -> CmdResult {
    ui::check_key_arg(&a.key, "envcloak unset KEY")?;
    let path = ui::encrypted_path(g, None)?;
    let (text, sealer) = ui::open_existing(g, &path)?;
    let (new, removed) =
        dotenv::remove_entry(&text, &a.key).map_err(|e| Failure::new(e.to_string()))?;
    let new = Zeroizing::new(new);
    if removed == 0 {
        return Err(Failure::new(format!("{}: not in {}", a.key, path.display())).code(1));
    }
    vault::seal(&path, &new, &sealer)?;
    ui::note(format!("removed {} from {}", a.key, path.display()));
    ok()
}

pub fn rotate(g: &Global, a: RotateArgs) -> CmdResult {
    let path = ui::encrypted_path(g, None)?;
    let (text, sealer) = ui::open_existing(g, &path)?;
    if a.write && matches!(sealer, Sealer::Keys(_)) {
        // The key file --write updates must be the one the key came from:
        // otherwise ENVCLOAK_KEY (or another file) would still win over it
        // and no longer open the re-encrypted file.
        let target = default_key_file(g)?;
        if let Some((_, origin)) = ui::find_keyring(g, &path)?
            && origin != target.display().to_string()
        {
            return Err(Failure::new(format!(
                "the key comes from {origin}, which would still take precedence over {}",
                target.display()
            ))
            .hint(format!(
                "run 'envcloak rotate' without --write and store the printed keyring where \
                 {origin} comes from (or name that file with --key-file)"
            )));
        }
    }
    let old = match sealer {
        Sealer::Keys(old) => old,
        Sealer::Password { iterations, .. } => {
            let sealer = Sealer::Password {
                password: ui::password(&format!("new password for {}: ", path.display()), true)?,
                // The count recorded in the file may be higher than ours: keep it.
                iterations: iterations.max(crypto::DEFAULT_ITERATIONS),
            };
            vault::seal(&path, &text, &sealer)?;
            ui::note(format!(
                "re-encrypted {} with the new password",
                path.display()
            ));
            return ok();
        }
    };
    let ring = if a.drop_old {
        Keyring::new(vec![old.first().clone()])
    } else {
        let mut keys = vec![Key::generate()];
        keys.extend(old.keys().iter().cloned());
        Keyring::new(keys)
    }
    .map_err(|e| Failure::new(e.to_string()))?;
    let mut line = ring.to_base64();
    line.push('\n');
    // The key is stored (or shown) before the file is re-encrypted, so an
    // interruption never leaves a file that no saved key opens.
    if a.write {
        let key_file = default_key_file(g)?;
        ensure_ignored(&key_file)?;
        fsio::write_atomic(&key_file, line.as_bytes(), Some(0o600))?;
        ui::note(format!(
            "wrote the keyring to {} (mode 0600)",
            key_file.display()
        ));
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(line.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| Failure::new(format!("writing to standard output: {e}")))?;
        ui::note("the keyring above is shown once: store it (e.g. as ENVCLOAK_KEY) now");
    }
    vault::seal(&path, &text, &Sealer::Keys(ring))?;
    if a.drop_old {
        ui::note(format!(
            "re-encrypted {} with the first key only",
            path.display()
        ));
    } else {
        ui::note(format!(
            "re-encrypted {} with a new key; the old key still opens old copies until you run 'envcloak rotate --drop-old'",
            path.display()
        ));
    }
    ok()
}
