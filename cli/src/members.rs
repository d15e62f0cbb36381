//! `team add|rm|ls|sync|whoami`: the keyring sealed to each member's SSH or
//! age key (DESIGN §9). The work is `envcloak::team`'s; this prints.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use envcloak::crypto::Keyring;
use envcloak::team::{self, Identities, Member, Recipient, Recipients};
use zeroize::Zeroizing;

use crate::Global;
use crate::out;
use crate::ui::{self, CmdResult, Failure};

/// `team`
#[derive(Args)]
pub struct TeamArgs {
    #[command(subcommand)]
    command: TeamCommand,
}

#[derive(Subcommand)]
enum TeamCommand {
    /// Give a person access: seal the keyring to their SSH or age key too
    #[command(after_help = "\
Examples:
  envcloak team add ~/.ssh/id_ed25519.pub              yourself, first (creates .env.key.age)
  envcloak team add --name bob bob.pub                 a teammate's public key file
  envcloak team add --name ci age1qyqszqgpqyqszqgp...  CI, with its own age identity
  envcloak --profile production team add --name alice alice.pub

Needs the current keyring: the first time, from ENVCLOAK_KEY or .env.key
(which is left alone); then from .env.key.age, opened with your identity.
Commit .env.recipients and .env.key.age.")]
    Add(AddArgs),
    /// Remove a person: new key, files re-encrypted, keyring re-sealed to the rest
    #[command(after_help = "\
Examples:
  envcloak team rm bob
  envcloak --profile production team rm bob

The removed person can still read what git history holds: change the
secrets it lists at their source (names only are printed).")]
    Rm(RmArgs),
    /// List members: key type, fingerprint, the files each can open
    #[command(after_help = "\
Examples:
  envcloak team ls
  envcloak --profile production team ls")]
    Ls,
    /// Re-seal the keyring to .env.recipients (after a merge or a hand edit)
    #[command(after_help = "\
Examples:
  envcloak team sync                 after merging branches that added members
  envcloak team sync --rekey         after removing someone from .env.recipients by hand

Works even when git left .env.key.age conflicted: the side you can open is
used (the conflict's two sides, or git's index stages).")]
    Sync(SyncArgs),
    /// Print the recipient line to hand to a member (your SSH or age public key)
    #[command(after_help = "\
Examples:
  envcloak team whoami               print your public key line (creates an age identity if you have no SSH key)

A member then runs: envcloak team add --name YOU 'LINE'")]
    Whoami,
}

/// `team add`
#[derive(Args)]
pub struct AddArgs {
    /// The member's name in .env.recipients [default: from the key's comment]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// A public key (ssh-ed25519/ssh-rsa line or age1...) or a .pub file
    #[arg(value_name = "RECIPIENT|FILE.pub", allow_hyphen_values = true)]
    recipient: String,
}

/// `team rm`
#[derive(Args)]
pub struct RmArgs {
    /// The member's name
    #[arg(value_name = "NAME")]
    name: String,
}

/// `team sync`
#[derive(Args)]
pub struct SyncArgs {
    /// Also make a new key and re-encrypt the files (someone was removed by hand)
    #[arg(long)]
    rekey: bool,
}

/// Asks for an SSH key's passphrase on the terminal; `None` when standard
/// input is not a terminal (never waits on a pipe).
pub fn ask_passphrase(name: &str) -> Option<Zeroizing<String>> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    rpassword::prompt_password(format!("passphrase for {name}: "))
        .ok()
        .map(Zeroizing::new)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn prompt() -> Option<team::Prompt<'static>> {
    Some(&ask_passphrase)
}

pub fn team(g: &Global, a: TeamArgs) -> CmdResult {
    match a.command {
        TeamCommand::Add(a) => add(g, a),
        TeamCommand::Rm(a) => rm(g, a),
        TeamCommand::Ls => ls(g),
        TeamCommand::Sync(a) => sync(g, a),
        TeamCommand::Whoami => whoami(),
    }
}

struct Paths {
    root: PathBuf,
    profile: Option<String>,
    sealed: PathBuf,
    recipients: PathBuf,
}

fn paths(g: &Global) -> CmdResult<Paths> {
    let root = ui::root()?;
    let profile = ui::profile(g)?;
    Ok(Paths {
        sealed: team::sealed_file(&root, profile.as_deref()),
        recipients: team::recipients_file(&root, profile.as_deref()),
        root,
        profile,
    })
}

/// The recipient argument: a key, or a file holding one (a `.pub`).
fn read_recipient(arg: &str) -> CmdResult<Recipient> {
    let path = Path::new(arg);
    let from_file = !arg.starts_with("ssh-") && !arg.starts_with("age1") && path.is_file();
    if !from_file && arg.ends_with(".pub") && !arg.contains(char::is_whitespace) {
        return Err(Failure::new(format!("{arg}: no such file"))
            .hint("give the path of a public key file, or the key line itself"));
    }
    let text = if from_file {
        let meta = std::fs::metadata(path).map_err(|e| Failure::new(format!("{arg}: {e}")))?;
        if meta.len() > 64 * 1024 {
            return Err(Failure::new(format!("{arg}: too large for a public key")));
        }
        let t = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| Failure::new(format!("{arg}: {e}")))?,
        );
        let line = t
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or_default();
        // A private key file: the whole text shows it.
        if line.starts_with("-----BEGIN") || t.contains("PRIVATE KEY") {
            t.to_string()
        } else {
            line.to_owned()
        }
    } else {
        arg.to_owned()
    };
    let text = Zeroizing::new(text);
    let what = if from_file {
        arg.to_owned()
    } else {
        "the recipient given".to_owned()
    };
    Recipient::parse(&text).map_err(|reason| {
        Failure::new(format!("{what}: {reason}"))
            .hint("give a public key: the line in ~/.ssh/id_ed25519.pub, a .pub file, or an age1... recipient ('envcloak team whoami' prints yours)")
    })
}

/// The current keyring: from the sealed file when it exists (opened with
/// the user's identity), else from the key search (`ENVCLOAK_KEY`,
/// `.env.key`, …), for a first `team add`. The bool: it came from the search.
fn current_keyring(g: &Global, p: &Paths) -> CmdResult<(Keyring, Option<String>)> {
    if p.sealed.exists() {
        let ids = Identities::find(&env)?;
        let ring = team::open_any(&team::candidates(&p.sealed), &p.sealed, &ids, prompt())
            .map_err(|e| {
                Failure::from(e).hint("only a member can change the team: ask one to run this")
            })?;
        return Ok((ring, None));
    }
    let encrypted = ui::encrypted_path(g, None)?;
    match ui::find_keyring(g, &encrypted)? {
        Some(found) => {
            if let Some(prof) = &p.profile
                && !own_profile_source(&found.source, prof)
            {
                // A profile's first sealed keyring must not be the base
                // keyring: the caller re-keys.
                let from = format!("base:{}", found.describe());
                return Ok((found.keyring, Some(from)));
            }
            let from = found.describe();
            Ok((found.keyring, Some(from)))
        }
        None => Err(Failure::new(format!(
            "no keyring to seal: {} does not exist and no key was found",
            p.sealed.display()
        ))
        .hint("create a key first ('envcloak keygen --write' or 'envcloak encrypt'), or ask a member to add you")),
    }
}

fn own_profile_source(source: &envcloak::keys::KeySource, profile: &str) -> bool {
    use envcloak::keys::KeySource;
    match source {
        KeySource::Variable(v) => *v == envcloak::keys::profile_key_var(profile),
        KeySource::KeyFile(p) | KeySource::Sealed(p) => p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(&format!(".env.{profile}."))),
        _ => false,
    }
}

fn describe_member(m: &Member) -> String {
    format!(
        "{} ({} {})",
        m.name,
        m.recipient.kind(),
        m.recipient.fingerprint()
    )
}

fn write_recipients(p: &Paths, r: &Recipients, lock: &envcloak::fsio::WriteLock) -> CmdResult<()> {
    lock.check_covers(&p.recipients)?;
    envcloak::fsio::write_atomic(&p.recipients, r.to_text().as_bytes(), None)?;
    Ok(())
}

fn add(g: &Global, a: AddArgs) -> CmdResult {
    let p = paths(g)?;
    let recipient = read_recipient(&a.recipient)?;
    let name = match a.name.or_else(|| recipient.suggested_name()) {
        Some(n) if team::valid_name(&n) => n,
        Some(_) => {
            return Err(Failure::new(
                "--name: use letters, digits, '-', '_', '.' or '@' (at most 64)",
            ));
        }
        None => {
            return Err(Failure::new("the key has no comment to take a name from")
                .hint("give one: envcloak team add --name NAME ..."));
        }
    };
    let locks = ui::lock_all(&[&p.sealed, &p.recipients])?;
    let lock = &locks[0];
    let mut members = Recipients::load(&p.recipients)?;
    let member = Member {
        name: name.clone(),
        recipient,
    };
    let shown = describe_member(&member);
    members
        .add(member)
        .map_err(|reason| Failure::new(format!("{}: {reason}", p.recipients.display())))?;
    let (ring, from) = current_keyring(g, &p)?;
    match from.as_deref() {
        Some(base) if base.starts_with("base:") => {
            // The profile's own keyring starts with a new key: the base
            // keyring's holders must not open it.
            let done = team::rekey(&p.root, p.profile.as_deref(), &ring, &members, lock, true)?;
            write_recipients(&p, &members, lock)?;
            ui::note(format!(
                "created {} with a new key of its own (re-encrypted {}): the base keyring no longer opens it",
                p.sealed.display(),
                list(&done.files)
            ));
        }
        Some(source) => {
            team::write_sealed(&p.sealed, &ring, &members, lock)?;
            write_recipients(&p, &members, lock)?;
            ui::note(format!(
                "created {} from the key in {source}; that key is left as it is (members no longer need it)",
                p.sealed.display()
            ));
        }
        None => {
            team::write_sealed(&p.sealed, &ring, &members, lock)?;
            write_recipients(&p, &members, lock)?;
        }
    }
    unignore(&[&p.recipients, &p.sealed])?;
    out::line(format!(
        "added {shown}; {} is sealed to {} member(s)",
        p.sealed.display(),
        members.members().len()
    ));
    ui::note(format!(
        "commit {} and {}",
        p.recipients.display(),
        p.sealed.display()
    ));
    Ok(std::process::ExitCode::SUCCESS)
}

/// The team's files are committed: a `.env.*` rule in `.gitignore` must not
/// hide them (a `!NAME` rule is added, and said).
fn unignore(paths: &[&Path]) -> CmdResult<()> {
    for path in paths {
        let dir = envcloak::fsio::parent_dir(path);
        if envcloak::gitignore::in_work_tree(&dir) && envcloak::gitignore::is_ignored(path) {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let pattern = format!(
                "!{}",
                envcloak::gitignore::escape(&name)
                    .map_err(|e| Failure::new(format!("{}: {e}", path.display())))?
            );
            let added = envcloak::gitignore::add_patterns(&dir, &[pattern])?;
            for a in added {
                ui::note(format!(
                    "added {a} to {} (the file is committed)",
                    dir.join(".gitignore").display()
                ));
            }
        }
    }
    Ok(())
}

fn list(files: &[PathBuf]) -> String {
    if files.is_empty() {
        return "no file".to_owned();
    }
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn rm(g: &Global, a: RmArgs) -> CmdResult {
    let p = paths(g)?;
    let mut targets: Vec<PathBuf> = vec![p.sealed.clone(), p.recipients.clone()];
    targets.extend(team::covered_files(&p.root, p.profile.as_deref()));
    let refs: Vec<&Path> = targets.iter().map(PathBuf::as_path).collect();
    let locks = ui::lock_all(&refs)?;
    let lock = &locks[0];
    let mut members = Recipients::load(&p.recipients)?;
    let Some(gone) = members.remove(&a.name) else {
        return Err(Failure::new(format!(
            "{}: no member is called '{}'",
            p.recipients.display(),
            a.name
        ))
        .hint("'envcloak team ls' lists them"));
    };
    if members.is_empty() {
        return Err(Failure::new(format!(
            "'{}' is the last member of {}: nobody would be left to open the keyring",
            a.name,
            p.recipients.display()
        ))
        .hint("add someone else first"));
    }
    if !p.sealed.exists() {
        return Err(Failure::new(format!(
            "{} does not exist: nothing is sealed to '{}'",
            p.sealed.display(),
            a.name
        )));
    }
    let ids = Identities::find(&env)?;
    let old = team::open_any(&team::candidates(&p.sealed), &p.sealed, &ids, prompt())
        .map_err(|e| Failure::from(e).hint("only a member can remove one: ask one to run this"))?;
    let myself = ids.holds(&gone.recipient);
    let done = team::rekey(&p.root, p.profile.as_deref(), &old, &members, lock, !myself)?;
    write_recipients(&p, &members, lock)?;
    out::line(format!(
        "removed {}; new key: re-encrypted {}; {} is sealed to {} member(s)",
        describe_member(&gone),
        list(&done.files),
        p.sealed.display(),
        members.members().len()
    ));
    if let Some(f) = &done.key_file {
        ui::note(format!("{} now holds the new keyring", f.display()));
    }
    if myself {
        ui::note("you removed yourself: you can no longer open the new files");
    }
    // Other keyrings the person is still in.
    for prof in keyrings(&Paths {
        profile: None,
        ..paths(g)?
    }) {
        if prof == p.profile {
            continue;
        }
        let rfile = team::recipients_file(&p.root, prof.as_deref());
        if let Ok(r) = Recipients::load(&rfile)
            && let Some(m) = r.members().iter().find(|m| m.recipient == gone.recipient)
        {
            ui::note(format!(
                "'{}' is still a member in {}: remove them there too ('envcloak{} team rm {}')",
                m.name,
                rfile.display(),
                prof.map(|x| format!(" --profile {x}")).unwrap_or_default(),
                m.name
            ));
        }
    }
    ui::note(format!(
        "{} can no longer open the new files, but can still read everything in git history \
         (old .env.enc and .env.key.age versions) and whatever they copied",
        a.name
    ));
    if done.keys.is_empty() {
        ui::note("no secret to change at its source");
    } else {
        ui::note(format!(
            "change these secrets at their source (then 'envcloak set' them): {}",
            done.keys.join(", ")
        ));
    }
    let var = p
        .profile
        .as_deref()
        .map(envcloak::keys::profile_key_var)
        .into_iter()
        .chain(["ENVCLOAK_KEY".to_owned()])
        .find(|v| env(v).is_some_and(|k| !k.trim().is_empty()));
    if let Some(var) = var {
        ui::note(format!(
            "{var} holds the old key: update it wherever it is set (a CI secret); CI that uses \
             ENVCLOAK_IDENTITY needs no change"
        ));
    }
    ui::note(format!(
        "commit {}, {} and the re-encrypted files",
        p.recipients.display(),
        p.sealed.display()
    ));
    Ok(std::process::ExitCode::SUCCESS)
}

/// Every keyring in the project: the base one and each profile's own.
fn keyrings(p: &Paths) -> Vec<Option<String>> {
    if p.profile.is_some() {
        return vec![p.profile.clone()];
    }
    let mut out = vec![None];
    let dir = if p.root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &p.root
    };
    let mut profiles: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let prof = n
                .strip_prefix(".env.")?
                .strip_suffix(".recipients")?
                .to_owned();
            envcloak::valid_profile(&prof).then_some(prof)
        })
        .collect();
    profiles.sort();
    out.extend(profiles.into_iter().map(Some));
    out
}

fn ls(g: &Global) -> CmdResult {
    let p = paths(g)?;
    let mut any = false;
    for prof in keyrings(&p) {
        let rfile = team::recipients_file(&p.root, prof.as_deref());
        let sealed = team::sealed_file(&p.root, prof.as_deref());
        if !rfile.exists() && !sealed.exists() {
            continue;
        }
        any = true;
        let members = Recipients::load(&rfile)?;
        let files = team::covered_files(&p.root, prof.as_deref());
        let opens = if files.is_empty() {
            "no encrypted file yet".to_owned()
        } else {
            list(&files)
        };
        out::line(format!(
            "{} ({} opens {opens}):",
            rfile.display(),
            sealed.display()
        ));
        let sealed_to = if sealed.exists() {
            team::sealed_to(&sealed, &members).ok()
        } else {
            None
        };
        let width = members
            .members()
            .iter()
            .map(|m| m.name.len())
            .max()
            .unwrap_or(0);
        for (i, m) in members.members().iter().enumerate() {
            let can = match sealed_to.as_ref().map(|s| s[i]) {
                Some(Some(true)) => format!("opens {opens}"),
                Some(Some(false)) | None if sealed.exists() => {
                    "not sealed to yet: run 'envcloak team sync'".to_owned()
                }
                Some(None) => "unknown: run 'envcloak team sync'".to_owned(),
                _ => format!("{} is missing: run 'envcloak team sync'", sealed.display()),
            };
            out::line(format!(
                "  {:width$}  {:11}  {}  {can}",
                m.name,
                m.recipient.kind().to_string(),
                m.recipient.fingerprint(),
            ));
        }
        for problem in team::problems(&p.root, prof.as_deref(), &env) {
            ui::note(format!("{}: {}", problem.path.display(), problem.message));
        }
    }
    if !any {
        out::line(
            "no team yet: 'envcloak team add ~/.ssh/id_ed25519.pub' seals the keyring to you",
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn sync(g: &Global, a: SyncArgs) -> CmdResult {
    let p = paths(g)?;
    let mut targets: Vec<PathBuf> = vec![p.sealed.clone(), p.recipients.clone()];
    targets.extend(team::covered_files(&p.root, p.profile.as_deref()));
    let refs: Vec<&Path> = targets.iter().map(PathBuf::as_path).collect();
    let locks = ui::lock_all(&refs)?;
    let lock = &locks[0];
    let members = Recipients::load(&p.recipients)?;
    if members.is_empty() {
        return Err(Failure::new(format!(
            "{} lists no member: nobody to seal the keyring to",
            p.recipients.display()
        ))
        .hint("add one with 'envcloak team add'"));
    }
    let (ring, from) = current_keyring(g, &p)?;
    let base = from.as_deref().is_some_and(|f| f.starts_with("base:"));
    unignore(&[&p.recipients, &p.sealed])?;
    let extra = team::problems(&p.root, p.profile.as_deref(), &env)
        .iter()
        .any(|pr| pr.message.contains("does not list"));
    if a.rekey || base {
        let done = team::rekey(&p.root, p.profile.as_deref(), &ring, &members, lock, true)?;
        out::line(format!(
            "new key: re-encrypted {}; {} is sealed to {} member(s)",
            list(&done.files),
            p.sealed.display(),
            members.members().len()
        ));
        if !done.keys.is_empty() {
            ui::note(format!(
                "if someone was removed, change these secrets at their source: {}",
                done.keys.join(", ")
            ));
        }
        if let Some(f) = &done.key_file {
            ui::note(format!("{} now holds the new keyring", f.display()));
        }
    } else {
        team::write_sealed(&p.sealed, &ring, &members, lock)?;
        out::line(format!(
            "{} is sealed to {} member(s)",
            p.sealed.display(),
            members.members().len()
        ));
        if extra {
            ui::note(
                "it was sealed to keys .env.recipients no longer lists: they still hold the key; \
                 run 'envcloak team sync --rekey' to cut them off",
            );
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn whoami() -> CmdResult {
    let me = team::my_recipient(&env)?;
    if let Some(created) = &me.created {
        ui::note(format!(
            "created a new age identity in {} (mode 0600; keep it, never commit it)",
            created.display()
        ));
    }
    let mut line = me.recipient.as_str().to_owned();
    if let Some(c) = me.recipient.comment() {
        line.push(' ');
        line.push_str(c);
    }
    out::line(&line);
    ui::note(format!(
        "from {}: hand this line to a member, who runs: envcloak team add --name YOUR_NAME '<line>'",
        me.source
    ));
    Ok(std::process::ExitCode::SUCCESS)
}
