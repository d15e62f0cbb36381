//! `envcloak diff [REV [REV]]` (DESIGN §4, §8): which keys were added,
//! changed and removed, names only, between revisions of `.env.enc`, a
//! revision and the work tree, or `.env` and `.env.enc`.
//!
//! Every test works in a real git repository through the real binary, with
//! canary values that must appear in no output, and ends with a scan of
//! every object in `.git` and of the work tree: no canary in plaintext
//! anywhere but the `.env` files a test wrote on purpose (never committed).

use std::collections::BTreeSet;

mod common;

use common::{Out, Project};

/// A random canary value (hex, 32 characters).
fn canary() -> String {
    let mut buf = [0u8; 16];
    getrandom::getrandom(&mut buf).unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A repository whose first commit holds `.gitignore` and a `.env.enc`
/// sealing `entries`, with the key in `.env.key` (never committed).
fn repo(entries: &str) -> Project {
    let p = Project::new();
    p.git_init();
    p.encrypted_only(entries);
    p.commit(&[".env.enc", ".gitignore"]);
    p
}

/// `envcloak set KEY` with the value on standard input.
fn set(p: &Project, key: &str, value: &str) {
    p.envcloak(&["set", key]).stdin(value).run().ok();
}

fn unset(p: &Project, key: &str) {
    p.envcloak(&["unset", key]).run().ok();
}

fn commit_all(p: &Project) {
    p.commit(&[".env.enc"]);
}

/// `git tag NAME` on HEAD.
fn tag(p: &Project, name: &str) {
    p.git(&["tag", name]);
}

/// Runs `envcloak diff ARGS`, checks that no canary is printed.
#[track_caller]
fn diff(p: &Project, args: &[&str], canaries: &[&str]) -> Out {
    let mut all = vec!["diff"];
    all.extend_from_slice(args);
    let out = p.envcloak(&all).run();
    for c in canaries {
        out.hides(c);
    }
    out
}

/// The three lists of a `--format json` answer, which has exactly them.
fn lists(out: &Out) -> (Vec<String>, Vec<String>, Vec<String>) {
    let doc = out.json();
    let obj = doc.as_object().expect("an object");
    let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["added", "changed", "removed"]));
    let list = |name: &str| -> Vec<String> {
        obj[name]
            .as_array()
            .expect("an array")
            .iter()
            .map(|v| v.as_str().expect("a key name").to_owned())
            .collect()
    };
    (list("added"), list("changed"), list("removed"))
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// No canary in any object in `.git`, nor in any work-tree file but
/// `plaintext` (deliberate `.env` files, which git ignores).
#[track_caller]
fn assert_no_leak(p: &Project, canaries: &[&str], plaintext: &[&str]) {
    let all = p.git(&["cat-file", "--batch-all-objects", "--batch"]);
    for c in canaries {
        assert!(!contains(&all.stdout, c), "a canary is in .git's objects");
    }
    for path in p.listing() {
        let name = path.to_str().unwrap();
        if path.starts_with(".git") || !p.p(name).is_file() {
            continue;
        }
        if plaintext.contains(&name) {
            assert!(p.ignored(name), "{name} is not gitignored");
            continue;
        }
        let body = p.read(name);
        for c in canaries {
            assert!(
                !contains(&body, c),
                "a canary is in the work-tree file {name}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Revisions
// ---------------------------------------------------------------------------

#[test]
fn between_two_revisions_names_only() {
    let (a, b, c, d) = (canary(), canary(), canary(), canary());
    let p = repo(&format!("DEBUG=false\nOLD_TOKEN={a}\nAPI_KEY={b}\n"));
    tag(&p, "v1");
    set(&p, "STRIPE_KEY", &c);
    set(&p, "API_KEY", &d);
    unset(&p, "OLD_TOKEN");
    commit_all(&p);
    tag(&p, "v2");
    let all = [a.as_str(), &b, &c, &d];
    diff(&p, &["v1", "v2"], &all).ok().stdout_is(&[
        "added    STRIPE_KEY",
        "changed  API_KEY",
        "removed  OLD_TOKEN",
    ]);
    // Backwards, the other way round.
    diff(&p, &["v2", "v1"], &all).ok().stdout_is(&[
        "added    OLD_TOKEN",
        "changed  API_KEY",
        "removed  STRIPE_KEY",
    ]);
    diff(&p, &["v2", "HEAD"], &all)
        .ok()
        .stdout_is(&["no changes"]);
    let out = diff(&p, &["v1", "v2", "--format", "json"], &all).ok();
    assert_eq!(
        lists(&out),
        (
            vec!["STRIPE_KEY".to_owned()],
            vec!["API_KEY".to_owned()],
            vec!["OLD_TOKEN".to_owned()]
        )
    );
    assert_no_leak(&p, &all, &[]);
}

#[test]
fn head_or_a_revision_against_the_work_tree() {
    let (a, b) = (canary(), canary());
    let p = repo(&format!("DEBUG=false\nTOKEN={a}\n"));
    diff(&p, &[], &[&a]).ok().stdout_is(&["no changes"]);
    set(&p, "DEBUG", "true");
    set(&p, "NEW_SECRET", &b);
    // Nothing committed: HEAD against the work tree.
    diff(&p, &[], &[&a, &b])
        .ok()
        .stdout_is(&["added    NEW_SECRET", "changed  DEBUG"]);
    commit_all(&p);
    unset(&p, "TOKEN");
    diff(&p, &[], &[&a, &b]).ok().stdout_is(&["removed  TOKEN"]);
    // One revision: that revision against the work tree.
    diff(&p, &["HEAD~1"], &[&a, &b]).ok().stdout_is(&[
        "added    NEW_SECRET",
        "changed  DEBUG",
        "removed  TOKEN",
    ]);
    // --exit-code, as git's: 1 with differences, 0 without.
    diff(&p, &["--exit-code"], &[&a, &b]).code(1);
    diff(&p, &["HEAD", "HEAD", "--exit-code"], &[&a, &b]).ok();
    // diff writes nothing.
    let before = p.listing();
    let enc = p.read(".env.enc");
    diff(&p, &["HEAD~1", "HEAD"], &[&a, &b]).ok();
    assert_eq!(p.listing(), before);
    assert_eq!(p.read(".env.enc"), enc);
    assert_no_leak(&p, &[&a, &b], &[]);
}

#[test]
fn a_file_absent_at_a_revision_counts_as_empty_and_says_so() {
    let (a, b) = (canary(), canary());
    let p = Project::new();
    p.git_init();
    p.write("README", "hello\n");
    p.commit(&["README"]);
    tag(&p, "before");
    p.encrypted_only(&format!("TOKEN={a}\nDEBUG=false\n"));
    p.commit(&[".env.enc", ".gitignore"]);
    let out = diff(&p, &["before", "HEAD"], &[&a]).ok();
    out.stdout_is(&["added    TOKEN", "added    DEBUG"])
        .stderr_says(&[".env.enc does not exist at before", "counted as empty"]);
    diff(&p, &["HEAD", "before"], &[&a])
        .ok()
        .stdout_is(&["removed  TOKEN", "removed  DEBUG"]);
    // Deleted from the work tree: every key removed.
    set(&p, "OTHER", &b);
    std::fs::remove_file(p.p(".env.enc")).unwrap();
    diff(&p, &[], &[&a, &b])
        .ok()
        .stdout_is(&["removed  TOKEN", "removed  DEBUG"])
        .stderr_says(&["does not exist in the work tree"]);
    assert_no_leak(&p, &[&a, &b], &[]);
}

#[test]
fn profiles_diff_their_own_file() {
    let (a, b, c) = (canary(), canary(), canary());
    let p = repo(&format!("TOKEN={a}\n"));
    p.write(".env.production", format!("PROD_TOKEN={b}\nREPLICAS=3\n"));
    p.envcloak(&["--profile", "production", "encrypt"])
        .run()
        .ok();
    std::fs::remove_file(p.p(".env.production")).unwrap();
    p.commit(&[".env.production.enc", ".gitignore"]);
    p.envcloak(&["--profile", "production", "set", "REPLICAS", "5"])
        .run()
        .ok();
    p.envcloak(&["--profile", "production", "set", "CDN_KEY"])
        .stdin(c.clone())
        .run()
        .ok();
    let all = [a.as_str(), &b, &c];
    diff(&p, &["--profile", "production"], &all)
        .ok()
        .stdout_is(&["added    CDN_KEY", "changed  REPLICAS"]);
    // -f names the file the same way.
    diff(&p, &["-f", ".env.production.enc"], &all)
        .ok()
        .stdout_is(&["added    CDN_KEY", "changed  REPLICAS"]);
    // The default file did not change.
    diff(&p, &[], &all).ok().stdout_is(&["no changes"]);
    // ENVCLOAK_PROFILE too.
    let out = p
        .envcloak(&["diff", "HEAD~1"])
        .env("ENVCLOAK_PROFILE", "production")
        .run()
        .ok();
    out.hides(&b).hides(&c);
    out.stdout_is(&[
        "added    PROD_TOKEN",
        "added    REPLICAS",
        "added    CDN_KEY",
    ])
    .stderr_says(&[".env.production.enc does not exist at HEAD~1"]);
    assert_no_leak(&p, &all, &[]);
}

#[test]
fn a_revision_sealed_with_an_older_key_opens_while_the_keyring_holds_it() {
    let (a, b) = (canary(), canary());
    let p = repo(&format!("TOKEN={a}\nDEBUG=false\n"));
    tag(&p, "old-key");
    let old_key = p.key();
    p.envcloak(&["rotate", "--write"]).run().ok();
    assert!(
        p.key().contains(','),
        "rotate keeps the old key after the new"
    );
    set(&p, "TOKEN", &b);
    commit_all(&p);
    diff(&p, &["old-key", "HEAD"], &[&a, &b])
        .ok()
        .stdout_is(&["changed  TOKEN"]);

    // Once the old key is dropped, the old revision cannot be opened: the
    // error names the revision and says what to do.
    p.envcloak(&["rotate", "--drop-old", "--write"]).run().ok();
    let out = diff(&p, &["old-key"], &[&a, &b, &old_key]).fails(2);
    out.error_says(&["old-key:.env.enc", "does not open", "as of old-key"])
        .stderr_says(&["hint:", "old key after the current one"]);
    // The revisions sealed with the current key still open.
    diff(&p, &["HEAD"], &[&a, &b, &old_key])
        .ok()
        .stdout_is(&["no changes"]);
    assert_no_leak(&p, &[&a, &b], &[]);
}

#[test]
fn a_bad_revision_or_no_repository_is_a_clear_error() {
    let a = canary();
    let p = repo(&format!("TOKEN={a}\n"));
    diff(&p, &["no-such-branch"], &[&a])
        .fails(2)
        .error_says(&["unknown revision 'no-such-branch'"])
        .stderr_says(&["hint:"]);
    diff(&p, &["HEAD", "HEAD~5"], &[&a])
        .fails(2)
        .error_says(&["unknown revision 'HEAD~5'"]);
    diff(&p, &["--", "-x"], &[&a])
        .fails(2)
        .error_says(&["unknown revision '-x'"]);
    // Three revisions is a usage error.
    diff(&p, &["a", "b", "c"], &[&a]).fails(2);

    // Outside git: --plain still works, revisions cannot.
    let q = Project::new();
    q.encrypt_env(&format!("TOKEN={a}\n"));
    diff(&q, &[], &[&a])
        .fails(2)
        .error_says(&["not in a git work tree"])
        .stderr_says(&["--plain"]);
    diff(&q, &["--plain"], &[&a])
        .ok()
        .stdout_is(&["no changes"]);
    // No commit yet.
    q.git_init();
    diff(&q, &[], &[&a])
        .fails(2)
        .error_says(&["unknown revision 'HEAD'"])
        .stderr_says(&["no commit yet"]);
    assert_no_leak(&p, &[&a], &[]);
}

#[test]
fn no_key_is_a_clear_error() {
    let a = canary();
    let p = repo(&format!("TOKEN={a}\n"));
    std::fs::remove_file(p.p(".env.key")).unwrap();
    diff(&p, &[], &[&a])
        .fails(2)
        .error_says(&["no key found"])
        .stderr_says(&["hint:"]);
    assert_no_leak(&p, &[&a], &[]);
}

// ---------------------------------------------------------------------------
// .env against .env.enc
// ---------------------------------------------------------------------------

#[test]
fn plain_shows_what_encrypt_would_change() {
    let (a, b, c) = (canary(), canary(), canary());
    let p = repo(&format!("DEBUG=false\nTOKEN={a}\nTEAM_ONLY={b}\n"));
    p.write(".env", format!("DEBUG=true\nTOKEN={a}\nMINE={c}\n"));
    let all = [a.as_str(), &b, &c];
    let before = p.listing();
    let enc = p.read(".env.enc");
    diff(&p, &["--plain"], &all).ok().stdout_is(&[
        "added    MINE",
        "changed  DEBUG",
        "removed  TEAM_ONLY",
    ]);
    let out = diff(&p, &["--plain", "--format", "json"], &all).ok();
    assert_eq!(
        lists(&out),
        (
            vec!["MINE".to_owned()],
            vec!["DEBUG".to_owned()],
            vec!["TEAM_ONLY".to_owned()]
        )
    );
    assert_eq!(p.listing(), before, "diff --plain writes nothing");
    assert_eq!(p.read(".env.enc"), enc);
    // Revisions and --plain do not mix.
    diff(&p, &["--plain", "HEAD"], &all).fails(2);
    // No .env: nothing to compare.
    std::fs::remove_file(p.p(".env")).unwrap();
    diff(&p, &["--plain"], &all)
        .fails(2)
        .error_says(&[".env does not exist"]);
    // A syntax error in .env names the line, never the text.
    p.write(".env", format!("GOOD=1\nBAD LINE {c}\n"));
    diff(&p, &["--plain"], &all)
        .fails(2)
        .error_says(&[".env:2"]);
    assert_no_leak(&p, &all, &[".env"]);
}

// ---------------------------------------------------------------------------
// Conflicts
// ---------------------------------------------------------------------------

/// A Fernet token of `plaintext` under `key`, as `.env.enc` holds one.
fn seal(key: &str, plaintext: &str) -> String {
    let f = fernet::Fernet::new(key).unwrap();
    format!("{}\n", f.encrypt(plaintext.as_bytes()))
}

#[test]
fn a_conflicted_env_enc_is_an_error_pointing_to_edit() {
    let (ours, theirs) = (canary(), canary());
    let p = repo("DEBUG=false\n");
    let key = p.key();
    p.write(
        ".env.enc",
        seal(
            &key,
            &format!(
                "DEBUG=false\n<<<<<<< yours\nTOKEN={ours}\n=======\nTOKEN={theirs}\n>>>>>>> theirs\n"
            ),
        ),
    );
    diff(&p, &[], &[&ours, &theirs])
        .fails(2)
        .error_says(&["unresolved merge conflict at .env.enc:2"])
        .stderr_says(&["envcloak edit"]);
    assert_no_leak(&p, &[&ours, &theirs], &[]);
}
