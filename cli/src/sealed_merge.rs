//! The merge driver for sealed keyrings (`.env.key.age`,
//! `.env.<profile>.key.age`, DESIGN §9): two branches that each add a
//! member merge to a keyring that both new members can open.
//!
//! An age file cannot be merged as text, and its header does not say who
//! it is sealed to. So the driver merges the *recipients files* of the
//! three versions (`team::merge_recipients`: a member either side added
//! is kept, one either side removed stays out) and re-seals the keyring
//! that ours (or, failing that, theirs) opens to the merged members. It
//! finds those versions from the labels git passes (`%S %X %Y`, git 2.44
//! and later: the merge base, `HEAD`, the other branch or commit). When
//! it cannot (an older git, `stash pop`'s labels) or cannot open either
//! side, it leaves ours, exits 1 so that git reports a conflict, and says
//! to run `envcloak team sync` once `.env.recipients` is resolved.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use envcloak::team::{self, Recipients};
use envcloak::{fsio, keys};

use crate::ui::{self, CmdResult};

/// Whether `path` (as git names it, `%P`) is a recipients file
/// (`.env.recipients`, `.env.<profile>.recipients`).
pub fn is_recipients(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n == ".env.recipients" || (n.starts_with(".env.") && n.ends_with(".recipients"))
    })
}

/// `git merge-driver %O %A %B %P` for a recipients file: member by member
/// (`team::merge_recipients`). Ours' lines and comments stay, a member
/// either side removed goes, and the lines of members theirs added come
/// after ours'. Two sides that gave one name different keys are a
/// conflict: ours is left as it is, and the driver exits 1.
pub fn merge_recipients_file(base: &Path, ours: &Path, theirs: &Path, path: &Path) -> CmdResult {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let (b, o, t) = (read(base), read(ours), read(theirs));
    let parsed = (|| {
        let parse = |text: &str| Recipients::parse(text, path);
        team::merge_recipients(&parse(&b)?, &parse(&o)?, &parse(&t)?, path)
            .map(|m| (m, parse(&o), parse(&t)))
    })();
    let (merged, ours_members, theirs_members) = match parsed {
        Ok((m, Ok(o), Ok(t))) => (m, o, t),
        Ok((_, Err(e), _)) | Ok((_, _, Err(e))) | Err(e) => {
            ui::note(format!("{}: not merged: {e}", path.display()));
            ui::note(format!(
                "resolve {} by hand (one member a line), then 'envcloak team sync'",
                path.display()
            ));
            return Ok(ExitCode::from(1));
        }
    };
    // The member a single line defines, if any.
    let member_of = |line: &str| {
        Recipients::parse(line, path)
            .ok()
            .and_then(|r| r.members().first().cloned())
    };
    let mut text = String::with_capacity(o.len() + t.len());
    for line in o.split_inclusive('\n') {
        match member_of(line) {
            Some(m) if !merged.members().contains(&m) => {}
            _ => text.push_str(line),
        }
    }
    for line in t.split_inclusive('\n') {
        if let Some(m) = member_of(line)
            && merged.members().contains(&m)
            && !ours_members.members().contains(&m)
            && theirs_members.members().contains(&m)
        {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(line);
        }
    }
    fsio::write_atomic(ours, text.as_bytes(), None)?;
    Ok(ExitCode::SUCCESS)
}

/// Whether `path` (as git names it, `%P`) is a sealed keyring.
pub fn is_sealed_keyring(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == ".env.key.age" || (n.starts_with(".env.") && n.ends_with(".key.age")))
}

/// `git merge-driver %O %A %B %P %S %X %Y` for a sealed keyring. The base
/// version is not needed: the members are merged from the recipients files.
pub fn merge(
    _base: &Path,
    ours: &Path,
    theirs: &Path,
    path: &Path,
    labels: &[String],
) -> CmdResult {
    let recipients_path = team::recipients_for(path);
    let sync = format!(
        "resolve {} if git reports it, then run 'envcloak team sync' (it re-seals from whichever \
         side you can open) and 'git add {}'",
        recipients_path.display(),
        path.display()
    );
    let give_up = |why: String| -> CmdResult {
        ui::note(format!("{}: not merged: {why}", path.display()));
        ui::note(sync.clone());
        Ok(ExitCode::from(1))
    };
    let Some(merged) = merged_recipients(&recipients_path, labels) else {
        return give_up(
            "git did not say which commits are merged (an older git, or stash), so the merged \
             members are not known"
                .to_owned(),
        );
    };
    let (merged, removed) = match merged {
        Ok(m) => m,
        Err(e) => return give_up(e.to_string()),
    };
    let read = |p: &Path| std::fs::read(p).unwrap_or_default();
    let (ours_bytes, theirs_bytes) = (read(ours), read(theirs));
    let env = |n: &str| keys::process_env_var(n).ok().flatten();
    let prompt: team::Prompt<'_> = &crate::members::ask_passphrase;
    // One side re-keyed (`team rm`, `team sync --rekey`) while the other
    // changed the members: neither keyring is right for the merge (the old
    // one is what a removed member holds; the new one may not open files
    // the other side encrypted). A person decides, with `team sync`.
    if let Ok(ids) = team::Identities::find(&env) {
        let open = |bytes: &[u8]| {
            team::open_any(&[bytes.to_vec()], path, &ids, Some(prompt))
                .ok()
                .map(|ring| ring.to_base64())
        };
        let (a, b) = (open(&ours_bytes), open(&theirs_bytes));
        let rekeyed = match (&a, &b) {
            (Some(a), Some(b)) => **a != **b,
            // Only one side opens here: if a member was removed, the side
            // we cannot open may hold the new key; sealing ours' would give
            // the removed member's key back to the team.
            _ => removed,
        };
        if rekeyed {
            return give_up(
                "one side changed the key itself (team rm or team sync --rekey) while the \
                 other changed the members"
                    .to_owned(),
            );
        }
    }
    match team::reseal_merged(
        &ours_bytes,
        &theirs_bytes,
        &merged,
        path,
        &env,
        Some(prompt),
    ) {
        Ok(text) => {
            // `ours` is git's private temporary copy: no lock, and no
            // lock file dropped into the work tree.
            fsio::write_atomic(ours, text.as_bytes(), None)?;
            ui::note(format!(
                "{}: re-sealed to the merged members of {} ({})",
                path.display(),
                recipients_path.display(),
                merged.members().len()
            ));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => give_up(e.to_string()),
    }
}

/// The members of the three versions of `recipients` merged, from the
/// commits git's labels name; `None` when a label names no commit. Also
/// says whether a member of the base is gone (a removal, which comes with
/// a new key).
fn merged_recipients(
    recipients: &Path,
    labels: &[String],
) -> Option<envcloak::Result<(Recipients, bool)>> {
    let [base, ours, theirs] = labels else {
        return None;
    };
    let parse = |label: &str| -> Option<envcloak::Result<Recipients>> {
        let rev = commit_of(label)?;
        let text = show(&rev, recipients);
        Some(Recipients::parse(&text, recipients))
    };
    let (b, o, t) = (parse(base)?, parse(ours)?, parse(theirs)?);
    Some((|| {
        let b = b?;
        let merged = team::merge_recipients(&b, &o?, &t?, recipients)?;
        let removed = b.members().iter().any(|m| !merged.members().contains(m));
        Ok((merged, removed))
    })())
}

/// The commit a conflict label names: `HEAD`, a branch, `6f45d62`, or
/// `698f0d8 (subject)` and `parent of 698f0d8 (subject)` in a rebase or
/// cherry-pick. Labels git did not substitute (`%S` from an older git)
/// and stash's own labels name none.
fn commit_of(label: &str) -> Option<String> {
    let (label, parent) = match label.strip_prefix("parent of ") {
        Some(rest) => (rest, true),
        None => (label, false),
    };
    let word = label.split_whitespace().next()?;
    if word.starts_with('%') || word.starts_with('-') {
        return None;
    }
    let rev = if parent {
        format!("{word}^")
    } else {
        word.to_owned()
    };
    let out = git()
        .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{rev}^{{commit}}"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `path` as of commit `rev` (empty when it does not exist there).
fn show(rev: &str, path: &Path) -> String {
    git()
        .arg("cat-file")
        .arg("blob")
        .arg(format!("{rev}:{}", path.display()))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn git() -> Command {
    let mut cmd = Command::new("git");
    cmd.stdin(Stdio::null()).stderr(Stdio::null());
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keyrings_are_recognised_by_name() {
        assert!(is_sealed_keyring(Path::new(".env.key.age")));
        assert!(is_sealed_keyring(Path::new("svc/.env.production.key.age")));
        assert!(!is_sealed_keyring(Path::new(".env.enc")));
        assert!(!is_sealed_keyring(Path::new("notes.key.age")));
        assert!(is_recipients(Path::new(".env.recipients")));
        assert!(is_recipients(Path::new(".env.production.recipients")));
        assert!(!is_recipients(Path::new(".env.enc")));
    }

    #[test]
    fn labels_that_name_no_commit() {
        assert_eq!(commit_of("%S"), None);
        assert_eq!(commit_of(""), None);
        assert_eq!(commit_of("-x"), None);
    }
}
