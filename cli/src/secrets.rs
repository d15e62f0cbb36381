//! keygen, token, encrypt, decrypt, edit, set, unset, rotate.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use envcloak::crypto::{self, Key, Keyring};
use envcloak::vault::{self, Sealer};
use envcloak::{dotenv, fsio, keys, merge};
use zeroize::Zeroizing;

use crate::ui::{self, CmdResult, Failure};
use crate::{Format, Global, platform};

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
    /// Remove from the encrypted file the keys the plaintext no longer has
    /// (without it, encrypt refuses to drop them)
    #[arg(long)]
    prune: bool,
    /// Print what would change, by key, and write nothing
    #[arg(long)]
    dry_run: bool,
}

/// `decrypt`
#[derive(Args)]
pub struct DecryptArgs {
    /// Write to this file (mode 0600) instead of standard output
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Dotenv)]
    format: Format,
    /// The Secret's metadata.name, for --format k8s (required there)
    #[arg(long, value_name = "NAME", required_if_eq("format", "k8s"))]
    name: Option<String>,
    /// The Secret's metadata.namespace, for --format k8s
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,
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

fn key_file_exists(path: &Path) -> Failure {
    Failure::new(format!("{} already exists", path.display())).hint(
        "keep it, or replace its key with 'envcloak rotate --write' (which re-encrypts the file)",
    )
}

pub fn keygen(g: &Global, a: KeygenArgs) -> CmdResult {
    let key = Key::generate();
    if !a.write {
        crate::out::line(key.to_base64().as_str());
        return ok();
    }
    let path = default_key_file(g)?;
    let _lock = ui::lock(&path)?;
    if path.exists() {
        return Err(key_file_exists(&path));
    }
    ui::ensure_ignored(&path)?;
    let mut text = key.to_base64();
    text.push('\n');
    if !fsio::create_new_private(&path, text.as_bytes())? {
        return Err(key_file_exists(&path));
    }
    ui::note(format!("wrote a new key to {} (mode 0600)", path.display()));
    ok()
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
    crate::out::line(t.as_str());
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

/// The hint for a refused replacement of an existing encrypted file.
pub(crate) fn not_replaced(f: Failure, path: &Path) -> Failure {
    f.hint(format!(
        "{} exists, and the key or password in hand does not open it: it is the team's file \
         (use the team's key, or 'envcloak rotate' to change keys); nothing was written",
        path.display()
    ))
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
    if a.password && a.iterations < crypto::MIN_ITERATIONS {
        return Err(Failure::new(format!(
            "--iterations must be at least {}",
            crypto::MIN_ITERATIONS
        )));
    }
    if a.password && named && std::fs::symlink_metadata(&input).is_err() {
        // `encrypt --password hunter2`: the "file" is most likely the
        // password. Never repeat it.
        return Err(Failure::new(
            "the input file named on the command line does not exist (not shown, in case it is a password)",
        )
        .hint("--password takes no value: the password comes from ENVCLOAK_PASSWORD or the prompt"));
    }
    let text = read_plaintext_from(&input, named)?;
    vault::validate(&input, &text)?;
    if a.dry_run {
        return encrypt_dry_run(g, &input, &output, &text, a.prune);
    }
    // Every directory this may write in (the encrypted file, a new key
    // file, the .gitignore beside the plaintext), locked in a fixed order.
    let key_file = default_key_file(g)?;
    let mut targets = vec![output.as_path(), key_file.as_path()];
    let resolved_input = fsio::resolve(&input)?;
    let input_gitignore = fsio::parent_dir(&input).join(".gitignore");
    if std::fs::metadata(&input).is_ok_and(|m| m.is_file()) {
        targets.extend([input.as_path(), &resolved_input, &input_gitignore]);
    }
    let exists = std::fs::symlink_metadata(&output).is_ok();
    // Switching the team's key-mode file to a password would lock out
    // everyone who has the key.
    if exists && a.password && !vault::is_password_file(&output)? {
        return Err(Failure::new(format!(
            "{} is encrypted with a key, not a password; nothing was written",
            output.display()
        ))
        .hint("to switch it to a password, decrypt it, move it away, then encrypt --password"));
    }
    // Passwords are asked for (and keys derived) before the locks are
    // taken: a prompt never holds up other writers.
    let access = if exists {
        let password = ui::prepare_password(&output)?;
        ui::access(g, &output, password)?
    } else {
        ui::access(g, &output, None)?
    };
    let mut new_password = if !exists && a.password {
        Some(ui::password(
            &format!("new password for {}: ", output.display()),
            true,
        )?)
    } else {
        None
    };
    let _locks = ui::lock_all(&targets)?;
    let new_sealer = || -> CmdResult<Sealer> {
        Ok(if a.password {
            Sealer::Password {
                password: match new_password.take() {
                    Some(p) => p,
                    None => {
                        ui::password(&format!("new password for {}: ", output.display()), true)?
                    }
                },
                iterations: a.iterations,
                salt: None,
            }
        } else {
            match ui::find_keyring(g, &output)? {
                Some(found) => Sealer::Keys(found.keyring),
                None => Sealer::Keys(new_key_file(g)?),
            }
        })
    };
    // Under the lock, between reading the file and writing it: what
    // changes, and whether keys only the file holds would go.
    let reviewed = std::cell::Cell::new(false);
    let review = |change: Result<&merge::Summary, &envcloak::Error>| -> CmdResult<()> {
        reviewed.set(true);
        let summary = match change {
            Ok(s) => s,
            Err(e) if a.prune => {
                ui::note(format!(
                    "{e}: its keys cannot be compared; replacing it (--prune)"
                ));
                return Ok(());
            }
            Err(e) => {
                return Err(Failure::new(format!(
                    "{} cannot be compared by key with {} ({e}); nothing was written",
                    output.display(),
                    input.display()
                ))
                .hint("resolve it with 'envcloak edit', or add --prune to replace it as it is"));
            }
        };
        print_summary(&output, summary, &mut |l| ui::note(l));
        if !summary.removed.is_empty() && !a.prune {
            return Err(refuse_removal(&input, &output, &summary.removed));
        }
        Ok(())
    };
    let done = vault::replace_reviewed(
        &output,
        &text,
        &access,
        &ui::lock_options()?,
        a.password.then_some(a.iterations),
        new_sealer,
        review,
        || ensure_plaintext_ignored(&input, named),
    )
    .map_err(|f| {
        // Once the file opened, a failure is not about the key.
        if exists && !reviewed.get() {
            not_replaced(f, &output)
        } else {
            f
        }
    })?;
    ui::ensure_key_file_ignored(&output, &access)?;
    if done == vault::Replaced::Unchanged {
        ui::note(format!("{} is already up to date", output.display()));
        return ok();
    }
    ui::note(format!(
        "encrypted {} -> {} (commit it; never commit {})",
        input.display(),
        output.display(),
        input.display()
    ));
    ok()
}

/// The key-level change `encrypt` makes to `output` (names only), one
/// line each: `changes to .env.enc:` then `  added    KEY` lines, as
/// `envcloak diff` prints them.
fn print_summary(output: &Path, s: &merge::Summary, print: &mut dyn FnMut(String)) {
    if s.is_empty() {
        print(format!(
            "changes to {}: no key added, changed or removed (comments, blank lines or order only)",
            output.display()
        ));
        return;
    }
    print(format!("changes to {}:", output.display()));
    for (verb, keys) in [
        ("added", &s.added),
        ("changed", &s.changed),
        ("removed", &s.removed),
    ] {
        for k in keys {
            print(format!("  {verb:<8} {k}"));
        }
    }
}

/// `encrypt` without `--prune` would drop keys only the encrypted file has.
fn refuse_removal(input: &Path, output: &Path, removed: &[String]) -> Failure {
    let (it, them) = if removed.len() == 1 {
        ("it", "it")
    } else {
        ("they", "them")
    };
    Failure::new(format!(
        "{} would be removed from {}: {it} {} not in {}; nothing was written",
        removed.join(", "),
        output.display(),
        if removed.len() == 1 { "is" } else { "are" },
        input.display(),
    ))
    .hint(format!(
        "to keep {them}, bring {them} into {} first ('envcloak decrypt' shows {them}), or change \
         {} with 'envcloak set' instead of encrypting; to remove {them}, add --prune",
        input.display(),
        output.display()
    ))
}

/// `encrypt --dry-run`: what would change, by key, with nothing written —
/// no lock file, no key file, no `.gitignore` change.
fn encrypt_dry_run(g: &Global, input: &Path, output: &Path, text: &str, prune: bool) -> CmdResult {
    let print = &mut |l: String| crate::out::line(l);
    if std::fs::symlink_metadata(output).is_err() {
        // `text` was validated: it parses.
        let s = merge::summary("", text)
            .map_err(|e| Failure::new(format!("{}:{}: {}", input.display(), e.line, e.kind)))?;
        print(format!(
            "{} does not exist yet: encrypt would create it",
            output.display()
        ));
        print_summary(output, &s, print);
    } else {
        let password = ui::prepare_password(output)?;
        let opened = ui::open_vault(g, output, None, password)?;
        if *opened.text == *text {
            print(format!("{} is already up to date", output.display()));
        } else {
            match merge::summary(&opened.text, text) {
                Ok(s) => {
                    print_summary(output, &s, print);
                    if !s.removed.is_empty() && !prune {
                        print(format!(
                            "without --prune, encrypt would refuse: {} only in {}",
                            s.removed.join(", "),
                            output.display()
                        ));
                    }
                }
                Err(e) => print(format!(
                    "{}:{}: {}: its keys cannot be compared (encrypt would refuse without --prune)",
                    output.display(),
                    e.line,
                    e.kind
                )),
            }
        }
    }
    ui::note("dry run: nothing was written");
    ok()
}

/// The plaintext that was encrypted must never be committed: keep it out
/// of git (a regular file only; `/dev/stdin` and the like are left alone).
fn ensure_plaintext_ignored(input: &Path, named: bool) -> CmdResult<()> {
    // A regular file, or a link to one: both the link and the file it
    // points to hold the plaintext as far as git is concerned.
    let regular = std::fs::metadata(input).is_ok_and(|m| m.is_file());
    if regular && (!named || input.is_relative()) {
        ui::ensure_ignored(input)?;
        let target = fsio::resolve(input)?;
        if target != input && envcloak::gitignore::in_work_tree(&fsio::parent_dir(&target)) {
            ui::ensure_ignored(&target)?;
        }
    }
    Ok(())
}

/// Creates the key file with a new key when no key exists anywhere.
pub(crate) fn new_key_file(g: &Global) -> CmdResult<Keyring> {
    let path = default_key_file(g)?;
    let _lock = ui::lock(&path)?;
    let key = Key::generate();
    let mut text = key.to_base64();
    text.push('\n');
    ui::ensure_ignored(&path)?;
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
    if a.format != Format::K8s && (a.name.is_some() || a.namespace.is_some()) {
        return Err(Failure::new("--name and --namespace are for --format k8s"));
    }
    if a.format == Format::K8s {
        let name = a.name.as_deref().unwrap_or_default();
        if !platform::dns1123_subdomain(name) {
            return Err(Failure::new(
                "--name: not a valid Kubernetes object name (lowercase letters, digits, '-' \
                 and '.', starting and ending with a letter or digit, at most 253 characters)",
            ));
        }
        if a.namespace
            .as_deref()
            .is_some_and(|n| !platform::dns1123_label(n))
        {
            return Err(Failure::new(
                "--namespace: not a valid Kubernetes namespace (lowercase letters, digits and \
                 '-', starting and ending with a letter or digit, at most 63 characters)",
            ));
        }
    }
    // Where `--format github` appends, checked before anything is decrypted.
    let github_env = if a.format == Format::Github {
        if a.output.is_some() {
            return Err(Failure::new(
                "--format github appends to the file GITHUB_ENV names; -o does not apply",
            )
            .hint("leave out -o (use --format dotenv or docker to write a file)"));
        }
        Some(platform::github_env_file()?)
    } else {
        None
    };
    let path = ui::encrypted_path(g, None)?;
    let ttl = a.ttl.map(std::time::Duration::from_secs);
    let (text, _) = ui::open_existing_ttl(g, &path, ttl)?;
    if let Err(e) = vault::validate(&path, &text) {
        if a.format != Format::Dotenv {
            return Err(e.into());
        }
        // Shown as it is, so a damaged file can still be read and repaired.
        ui::note(format!("warning: {e} (the text is shown as it is)"));
    }
    if let Some(env_file) = github_env {
        let entries = values(&text)?;
        return platform::github(&entries, &env_file);
    }
    let rendered = render(&text, &a)?;
    match a.output.filter(|o| o.as_os_str() != "-") {
        None => write_stdout(rendered.as_bytes()),
        Some(o) => write_output(g, &path, &o, rendered.as_bytes(), a.force),
    }
}

fn write_stdout(bytes: &[u8]) -> CmdResult {
    crate::out::write(bytes);
    ok()
}

/// Writes decrypted output to the file the user named: a device or FIFO
/// (`/dev/stdout`) is written into, never renamed over; a regular file is
/// written atomically with mode 0600, only over an existing file with
/// `--force`, and inside a git work tree only once git ignores it.
fn write_output(g: &Global, input: &Path, o: &Path, bytes: &[u8], force: bool) -> CmdResult {
    // `metadata` follows links as the kernel does (`/dev/stdout` is a link
    // to `/proc/self/fd/1`, whose own target is no path).
    if let Ok(meta) = std::fs::metadata(o)
        && !meta.is_file()
    {
        if meta.is_dir() {
            return Err(Failure::new(format!("{}: is a directory", o.display())));
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(o)
            .map_err(|e| envcloak::Error::from_io(o, e))?;
        f.write_all(bytes)
            .and_then(|_| f.flush())
            .map_err(|e| envcloak::Error::from_io(o, e))?;
        return ok();
    }
    let target = fsio::resolve(o)?;
    refuse_output(g, input, &target)?;
    if target.exists() && !force {
        return Err(Failure::new(format!("{} already exists", o.display()))
            .hint("add --force to overwrite it"));
    }
    // The plaintext lands in the link's target: that is what git must ignore.
    if envcloak::gitignore::in_work_tree(&fsio::parent_dir(&target)) {
        ui::ensure_ignored(&target)?;
    }
    fsio::write_atomic(o, bytes, Some(0o600))?;
    ui::note(format!(
        "wrote {} (mode 0600; do not commit it)",
        o.display()
    ));
    ok()
}

/// Files decrypted plaintext must never be written over, `--force` or not:
/// the encrypted file itself, a key file, an encrypted or committed file
/// (its plaintext would be committed), and git's own files.
fn refuse_output(g: &Global, input: &Path, target: &Path) -> CmdResult<()> {
    let refuse = |what: &str| {
        Err(Failure::new(format!(
            "refusing to write decrypted plaintext over {} ({what}); nothing was written",
            target.display()
        ))
        .hint("choose another output file (one git ignores), or leave out -o to print it"))
    };
    let same = |other: &Path| {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(target), std::fs::metadata(other)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    };
    if same(input) {
        return refuse("the encrypted file being decrypted");
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut key_files = vec![keys::key_file_for(input), input.with_file_name(".env.key")];
    key_files.extend(g.key_file.clone());
    key_files.extend(std::env::var_os("ENVCLOAK_KEY_FILE").map(PathBuf::from));
    if name.ends_with(".key") || key_files.iter().any(|k| same(k)) {
        return refuse("a key file");
    }
    if name.ends_with(".enc") {
        return refuse("an encrypted file's name: it would be committed");
    }
    if matches!(
        name.as_str(),
        ".gitignore" | ".gitattributes" | ".env.example" | ".env.recipients"
    ) {
        return refuse("a file that is committed");
    }
    if target.exists() && envcloak::gitignore::is_tracked(target) {
        return refuse("git tracks it: the plaintext would be committed");
    }
    Ok(())
}

/// The entries of the decrypted text as `run` and `get` read them: `$VAR`
/// expands from the process environment first; for a key defined twice,
/// the last value wins at the first one's position.
fn values(text: &str) -> CmdResult<platform::Entries> {
    let env = |name: &str| std::env::var(name).ok();
    let entries = dotenv::parse_with_env(text, &env).map_err(|e| Failure::new(e.to_string()))?;
    let mut out: platform::Entries = Vec::new();
    let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for e in &entries {
        let value = Zeroizing::new(e.value.to_string());
        match at.get(e.key) {
            Some(&i) => out[i].1 = value,
            None => {
                at.insert(e.key, out.len());
                out.push((e.key.to_owned(), value));
            }
        }
    }
    Ok(out)
}

/// The plaintext in the asked format (every format but `github`, which
/// does not print values).
fn render(text: &str, a: &DecryptArgs) -> CmdResult<Zeroizing<String>> {
    if a.format == Format::Dotenv {
        return Ok(Zeroizing::new(text.to_owned()));
    }
    let entries = values(text)?;
    let mut out = Zeroizing::new(String::new());
    match a.format {
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> = entries
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
                .collect();
            let json = Zeroizing::new(
                serde_json::to_string_pretty(&map).map_err(|e| Failure::new(e.to_string()))?,
            );
            out.push_str(&json);
            out.push('\n');
        }
        Format::Shell => {
            for (k, v) in &entries {
                if k.contains('.') {
                    ui::note(format!("skipped {k}: not a valid shell variable name"));
                    continue;
                }
                out.push_str("export ");
                out.push_str(k);
                out.push_str("='");
                out.push_str(&v.replace('\'', r"'\''"));
                out.push_str("'\n");
            }
        }
        Format::Docker => out = platform::docker(&entries)?,
        Format::K8s => {
            out = platform::k8s(
                &entries,
                a.name.as_deref().unwrap_or_default(),
                a.namespace.as_deref(),
            )?
        }
        Format::Dotenv | Format::Github => unreachable!("handled by the caller"),
    }
    Ok(out)
}

pub fn edit(g: &Global, a: EditArgs) -> CmdResult {
    let path = ui::encrypted_path(g, a.input.as_deref())?;
    // The file is not locked while the editor is open (that may take
    // minutes); what others write meanwhile is merged by key on saving.
    ui::require_exists(&path)?;
    let password = ui::prepare_password(&path)?;
    let access = ui::access(g, &path, password)?;
    let mut base = ui::open_vault(
        g,
        &path,
        None,
        match &access {
            vault::Access::Password(p) => Some(p.clone()),
            _ => None,
        },
    )?;
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
    let mut tmp = PrivateFile::create(dir.path().join(".env"), base.text.as_bytes())?;
    let mut merging = false;
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
        if !tmp.path.exists() {
            return Err(Failure::new(format!(
                "the editor removed the temporary file instead of saving it; {} is unchanged",
                path.display()
            ))
            .hint("run 'envcloak edit' again, and save the file before quitting the editor"));
        }
        let edited = read_plaintext(&tmp.path)?;
        // Unchanged from the file as opened (an invalid edit abandoned by
        // saving it again as it was is not "no changes": it fails below).
        if *edited == *base.text && !merging {
            ui::note(format!("no changes; {} is unchanged", path.display()));
            return ok();
        }
        if let Err(e) = vault::validate(&path, &edited) {
            let mut f: Failure = e.into();
            if envcloak::merge::first_marker(&edited).is_some() {
                f = f.hint("resolve each <<<<<<< / ======= / >>>>>>> block: keep one entry, delete the marker lines");
            }
            ui::report(&f);
            if !std::io::stdin().is_terminal() || !ask("edit again? [Y/n] ")? {
                return Err(Failure::new(format!(
                    "not saved; {} is unchanged",
                    path.display()
                )));
            }
            continue;
        }
        // Someone may hold the lock for long: at a terminal, the edit is
        // not thrown away for that.
        ui::ensure_lock_ignored(&[&path])?;
        let saved = loop {
            match vault::save_edit(&path, &access, &ui::lock_options()?, &base, &edited) {
                Err(envcloak::Error::LockTimeout { .. }) if std::io::stdin().is_terminal() => {
                    ui::note("another envcloak still holds the file");
                    if !ask("keep waiting to save? [Y/n] ")? {
                        return Err(Failure::new(format!(
                            "not saved; {} is unchanged",
                            path.display()
                        )));
                    }
                }
                other => break other?,
            }
        };
        match saved {
            vault::Saved::Merged => {
                ui::note(format!(
                    "saved {}, merged with changes another writer made meanwhile",
                    path.display()
                ));
                return ok();
            }
            vault::Saved::Conflict {
                text,
                keys,
                base: now,
            } => {
                ui::note(format!(
                    "{} changed while you were editing, and {} changed on both sides: both versions are marked; keep one of each and save",
                    path.display(),
                    keys.join(", ")
                ));
                drop(tmp);
                tmp = PrivateFile::create(dir.path().join(".env"), text.as_bytes())?;
                base = *now;
                merging = true;
            }
            _ => {
                ui::note(format!("saved {}", path.display()));
                return ok();
            }
        }
    }
}

fn ask(prompt: &str) -> CmdResult<bool> {
    crate::out::err_prompt(prompt);
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

/// The value for `set`: the argument, else a no-echo prompt on a
/// terminal, else standard input (one trailing newline removed). Only an
/// argument may be empty (`set KEY ''`): an empty prompt or an empty
/// standard input (`failing-command | envcloak set KEY`) sets nothing.
fn read_value(key: &str, given: Option<String>) -> CmdResult<Zeroizing<String>> {
    if let Some(v) = given {
        return Ok(Zeroizing::new(v));
    }
    let empty = |from: &str| {
        Failure::new(format!("{from} was empty: {key} was not changed")).hint(format!(
            "to set an empty value, say so: envcloak set {key} ''"
        ))
    };
    if std::io::stdin().is_terminal() {
        let v = Zeroizing::new(
            rpassword::prompt_password(format!("value for {key}: "))
                .map_err(|e| Failure::new(format!("prompt: {e}")))?,
        );
        if v.is_empty() {
            return Err(empty("the answer"));
        }
        return Ok(v);
    }
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
    if v.is_empty() {
        return Err(empty("standard input"));
    }
    Ok(v)
}

pub fn set(g: &Global, a: SetArgs) -> CmdResult {
    ui::check_key_arg(
        &a.key,
        "envcloak set KEY VALUE, or envcloak set KEY to be asked",
    )?;
    let path = ui::encrypted_path(g, None)?;
    // Asked for before the lock is taken: a prompt, or deriving a key from
    // a password (slow on purpose), never holds up other writers.
    let value = read_value(&a.key, a.value)?;
    ui::require_exists(&path)?;
    let password = ui::prepare_password(&path)?;
    let access = ui::access(g, &path, password)?;
    ui::ensure_lock_ignored(&[&path])?;
    vault::set(&path, &access, &ui::lock_options()?, &a.key, &value)?;
    ui::note(format!("set {} in {}", a.key, path.display()));
    ui::ensure_key_file_ignored(&path, &access)?;
    warn_hidden(g, &path, &a.key, Changed::Set);
    ok()
}

/// What `set` or `unset` did to a key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Changed {
    Set,
    Unset,
}

/// After `set` or `unset` changed `key` in the encrypted file `path`: a
/// warning for each higher layer that defines it too (the environment,
/// `NAME_FILE`, `.env.<profile>`, `.env`, and for `.env.enc` with a profile
/// `.env.<profile>.enc`), with where and how to stop the override — the
/// change is made either way. Looking never fails the command.
fn warn_hidden(g: &Global, path: &Path, key: &str, changed: Changed) {
    // The CLI's own steps (profile, root) already succeeded for the change.
    let built = layers_above(g, path).map(|b| b.build().map_err(|e| e.to_string()));
    let above = match built {
        Ok(Ok(cfg)) => cfg,
        Ok(Err(why)) => {
            ui::note(format!(
                "could not check whether another layer hides {key}: {why}"
            ));
            return;
        }
        Err(_) => {
            ui::note(format!("could not check whether another layer hides {key}"));
            return;
        }
    };
    for skipped in above.skipped_encrypted() {
        ui::note(format!(
            "could not check whether {} hides {key}: no key for it",
            skipped.display()
        ));
    }
    let file = path.display();
    for def in above.definitions(key) {
        let (at, stop) = match &def.origin {
            envcloak::Origin::Environment => (
                "in the process environment".to_owned(),
                format!("unset {key}"),
            ),
            envcloak::Origin::FileIndirection { var, path } => (
                format!("through {var} (the file {})", path.display()),
                format!("unset {var}"),
            ),
            other => (format!("at {other}"), "remove it there".to_owned()),
        };
        ui::note(match changed {
            Changed::Set => format!(
                "warning: {key} is also set {at}, which wins over {file}; {stop} to use this value"
            ),
            Changed::Unset => format!(
                "warning: {key} is still set {at}, which wins over {file}; {stop} too to unset it"
            ),
        });
    }
}

/// The layers above the encrypted file `path`, as `get` and `run` load
/// them: the environment (with `NAME_FILE`), `.env.<profile>` and `.env`;
/// and when `path` is `.env.enc` and a profile is active, the profile's
/// own `.env.<profile>.enc` (opened with the key it would be loaded with,
/// or left out for want of one).
fn layers_above(g: &Global, path: &Path) -> CmdResult<envcloak::ConfigBuilder> {
    let mut b = ui::builder(g, false)?;
    if let Some(p) = ui::profile(g)? {
        let root = ui::root()?;
        let base = root.join(".env.enc");
        let own = root.join(format!(".env.{p}.enc"));
        let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        if same(path, &base) && std::fs::metadata(&own).is_ok_and(|m| m.is_file()) {
            // Only for a warning: a file no key opens is noted, not fatal.
            b = b
                .read_encrypted(true)
                .require_key(false)
                .encrypted_file(own);
            if let Some(k) = &g.key_file {
                b = b.key_file(k);
            }
        }
    }
    Ok(b)
}

pub fn unset(g: &Global, a: UnsetArgs) -> CmdResult {
    ui::check_key_arg(&a.key, "envcloak unset KEY")?;
    let path = ui::encrypted_path(g, None)?;
    ui::require_exists(&path)?;
    let password = ui::prepare_password(&path)?;
    let access = ui::access(g, &path, password)?;
    ui::ensure_lock_ignored(&[&path])?;
    if !vault::unset(&path, &access, &ui::lock_options()?, &a.key)? {
        return Err(Failure::new(format!("{}: not in {}", a.key, path.display())).code(1));
    }
    ui::note(format!("removed {} from {}", a.key, path.display()));
    warn_hidden(g, &path, &a.key, Changed::Unset);
    ok()
}

pub fn rotate(g: &Global, a: RotateArgs) -> CmdResult {
    let path = ui::encrypted_path(g, None)?;
    ui::require_exists(&path)?;
    let lock = ui::lock_options()?;
    if vault::is_password_file(&path)? {
        let current = ui::access(g, &path, None)?;
        let new = new_password(&path)?;
        ui::ensure_lock_ignored(&[&path])?;
        vault::change_password(&path, &current, &lock, new).map_err(|e| {
            let same = matches!(e, envcloak::Error::Setting { .. });
            let f = Failure::from(e);
            if same {
                f.hint("set ENVCLOAK_NEW_PASSWORD (or answer the prompt) with a different password")
            } else {
                f
            }
        })?;
        ui::note(format!(
            "re-encrypted {} with the new password",
            path.display()
        ));
        return ok();
    }
    let access = ui::access(g, &path, None)?;
    // The key file (when the key is read from one) is kept out of git, and
    // so are the lock files of both directories.
    let source = vault::key_source(&path, &access).ok().flatten();
    let key_file = source
        .as_ref()
        .and_then(|s| s.file())
        .map(Path::to_path_buf);
    let origin = source.map_or_else(|| "the key's source".to_owned(), |s| s.to_string());
    let mut targets = vec![path.as_path()];
    targets.extend(key_file.as_deref());
    ui::ensure_lock_ignored(&targets)?;
    if let Some(file) = &key_file
        && a.write
    {
        ui::ensure_ignored(file)?;
    }
    let show = |ring: &Keyring| -> CmdResult<()> {
        let mut line = ring.to_base64();
        line.push('\n');
        // The only copy of the new key: never seal the file with a key
        // nobody saw.
        crate::out::write_required(line.as_bytes()).map_err(|f| {
            f.hint("the new keyring could not be shown; nothing was changed (or use --write)")
        })?;
        ui::note(format!(
            "the keyring above is shown once: store it where {origin} comes from, now"
        ));
        Ok(())
    };
    let rotated = vault::rotate(&path, &access, &lock, a.drop_old, a.write, show).map_err(|f| {
        match (&key_file, a.write) {
            (Some(_), false) => {
                f.hint("run 'envcloak rotate --write' to store the new keyring there")
            }
            (None, true) => f.hint(
                "run 'envcloak rotate' without --write and store the printed keyring where \
                 the key comes from (or name a key file with --key-file)",
            ),
            _ => f,
        }
    })?;
    if let vault::Rotated::KeyFile(file) = &rotated {
        ui::note(format!(
            "wrote the keyring to {} (mode 0600)",
            file.display()
        ));
    }
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

/// The new password for `rotate`: `ENVCLOAK_NEW_PASSWORD`, else asked
/// twice on the terminal.
fn new_password(path: &Path) -> CmdResult<Zeroizing<String>> {
    if let Some(p) = std::env::var("ENVCLOAK_NEW_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            Failure::new("a new password is needed and there is no terminal to ask on")
                .hint("set ENVCLOAK_NEW_PASSWORD (ENVCLOAK_PASSWORD holds the current one)"),
        );
    }
    ui::password_prompt(&format!("new password for {}: ", path.display()), true)
}
