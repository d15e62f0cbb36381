//! The textconv driver: `git diff` and `git log -p` of `.env.enc` show
//! key names and keyed fingerprints, never values (unless
//! `ENVCLOAK_DIFF_VALUES=1`), a placeholder without a key, and nothing is
//! cached. Every test ends by scanning every git object and every file of
//! every clone for the canary values.

mod common;
mod gitrepo;

use common::Project;
use gitrepo::{assert_no_canaries, canary, commit_all, git_any, set, start, unset};

/// `KEY=[fp:<10 hex>]`, the fingerprint of a line, or None.
fn fp_of<'a>(text: &'a str, prefix: &str, key: &str) -> Option<&'a str> {
    let head = format!("{prefix}{key}=[fp:");
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(&head)?;
        let fp = rest.strip_suffix(']')?;
        (fp.len() == 10 && fp.bytes().all(|b| b.is_ascii_hexdigit())).then_some(fp)
    })
}

/// The fingerprints of the `# [comment fp:<10 hex>]` lines after `prefix`.
fn comment_fps<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let head = format!("{prefix}# [comment fp:");
    text.lines()
        .filter_map(|l| {
            let fp = l.strip_prefix(&head)?.strip_suffix(']')?;
            (fp.len() == 10 && fp.bytes().all(|b| b.is_ascii_hexdigit())).then_some(fp)
        })
        .collect()
}

/// The first of [`comment_fps`].
fn comment_fp<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    comment_fps(text, prefix).into_iter().next()
}

#[test]
fn comments_show_as_fingerprints_in_diffs_and_logs() {
    // The user's report: an old secret left in a comment was printed by
    // `git log -p` (CI logs show it).
    let (old, live, note) = (canary("COMMENTED"), canary("LIVE"), canary("NOTE"));
    let (_origin, p, _key) = start(&format!(
        "# old: STRIPE_KEY={old}\nSTRIPE_KEY={live}\n\n# rotated by {note}\n"
    ));
    let log = p.git(&["log", "-p", "-1", "--", ".env.enc"]);
    let text = log.stdout();
    log.hides(&old).hides(&live).hides(&note);
    assert!(
        !text.contains("old:") && !text.contains("rotated"),
        "{text}"
    );
    let first = comment_fps(text, "+");
    assert_eq!(first.len(), 2, "{text}");
    assert_ne!(first[0], first[1]);
    assert!(fp_of(text, "+", "STRIPE_KEY").is_some(), "{text}");
    // The blank line stays.
    assert!(text.contains("\n+\n"), "{text}");

    // A changed comment is a changed line (the same text, the same
    // fingerprint: the other comment is context).
    let old2 = canary("COMMENTED2");
    let editor = p.script(
        "ed.sh",
        &format!("sed -i 's/^# old: .*/# old: STRIPE_KEY={old2}/' \"$1\""),
    );
    p.envcloak(&["edit"])
        .env("EDITOR", editor.as_os_str())
        .run()
        .ok();
    std::fs::remove_file(&editor).unwrap();
    let diff = p.git(&["diff"]);
    let text = diff.stdout();
    diff.hides(&old).hides(&old2).hides(&live).hides(&note);
    assert_eq!(comment_fps(text, "-"), vec![first[0]], "{text}");
    let changed = comment_fps(text, "+");
    assert_eq!(changed.len(), 1, "{text}");
    assert_ne!(changed[0], first[0]);
    assert_eq!(comment_fps(text, " "), vec![first[1]], "{text}");

    // ENVCLOAK_DIFF_VALUES=1 shows the comments as they are.
    let shown = p
        .command("git", &["diff"])
        .env("ENVCLOAK_DIFF_VALUES", "1")
        .run()
        .ok();
    assert!(
        shown
            .stdout()
            .contains(&format!("+# old: STRIPE_KEY={old2}\n"))
    );
    p.git(&["checkout", "--", ".env.enc"]);
    assert_no_canaries(&p, &[old, old2, live, note]);
}

#[test]
fn diff_and_log_show_names_and_fingerprints_never_values() {
    let (a, b, c, d) = (canary("a"), canary("b"), canary("c"), canary("d"));
    let (_origin, p, _key) = start(&format!(
        "# api\nAPI_TOKEN={a}\nSAME_ONE={b}\nSAME_TWO={b}\n# OLD_TOKEN={c}\n"
    ));
    set(&p, "API_TOKEN", &d);
    set(&p, "ADDED", &c);
    unset(&p, "SAME_TWO");

    let diff = p.git(&["diff"]);
    let text = diff.stdout();
    diff.hides(&a).hides(&b).hides(&c).hides(&d);
    // A changed value is a changed line; an unchanged one is context.
    let old = fp_of(text, "-", "API_TOKEN").expect(text);
    let new = fp_of(text, "+", "API_TOKEN").expect(text);
    assert_ne!(old, new);
    assert!(fp_of(text, " ", "SAME_ONE").is_some(), "{text}");
    assert!(fp_of(text, "-", "SAME_TWO").is_some(), "{text}");
    assert!(fp_of(text, "+", "ADDED").is_some(), "{text}");
    // A comment is shown as a fingerprint; a commented-out entry is
    // fingerprinted as an entry.
    assert!(comment_fp(text, " ").is_some(), "{text}");
    assert!(!text.contains("# api"), "{text}");
    assert!(fp_of(text, " # ", "OLD_TOKEN").is_some(), "{text}");
    // Identical values give identical fingerprints, whatever the name
    // (ADDED holds OLD_TOKEN's value); different values different ones.
    assert_eq!(fp_of(text, " ", "SAME_ONE"), fp_of(text, "-", "SAME_TWO"));
    assert_eq!(fp_of(text, "+", "ADDED"), fp_of(text, " # ", "OLD_TOKEN"));
    assert_ne!(fp_of(text, " ", "SAME_ONE"), fp_of(text, "+", "ADDED"));

    commit_all(&p, "change");
    // log -p: both commits, the first as additions.
    let log = p.git(&["log", "-p", "--", ".env.enc"]);
    let text = log.stdout();
    log.hides(&a).hides(&b).hides(&c).hides(&d);
    assert_eq!(fp_of(text, "-", "API_TOKEN"), Some(old), "{text}");
    assert_eq!(fp_of(text, "+", "API_TOKEN"), Some(new), "{text}");
    assert!(comment_fp(text, "+").is_some(), "{text}");
    // Identical values give identical fingerprints, from one run to the
    // next: `git show` of the first commit agrees with the diff.
    let first = p.git(&["show", "HEAD~1", "--", ".env.enc"]);
    assert_eq!(fp_of(first.stdout(), "+", "API_TOKEN"), Some(old));
    // Setting the old value back gives the old fingerprint back.
    set(&p, "API_TOKEN", &a);
    let again = p.git(&["diff"]);
    assert_eq!(fp_of(again.stdout(), "+", "API_TOKEN"), Some(old));
    p.git(&["checkout", "--", ".env.enc"]);

    // A renamed key shows as a rename: the same fingerprint, another name.
    let editor = p.script("ed.sh", "sed -i 's/^SAME_ONE=/RENAMED=/' \"$1\"");
    p.envcloak(&["edit"])
        .env("EDITOR", editor.as_os_str())
        .run()
        .ok();
    std::fs::remove_file(&editor).unwrap();
    let renamed = p.git(&["diff"]);
    let text = renamed.stdout();
    assert!(fp_of(text, "-", "SAME_ONE").is_some(), "{text}");
    assert_eq!(
        fp_of(text, "-", "SAME_ONE"),
        fp_of(text, "+", "RENAMED"),
        "{text}"
    );
    renamed.hides(&a).hides(&b).hides(&c).hides(&d);
    p.git(&["checkout", "--", ".env.enc"]);

    // Nothing cached: no notes ref for the textconv.
    let refs = p.git(&["for-each-ref"]);
    assert!(!refs.stdout().contains("notes"), "{}", refs.stdout());
    assert_no_canaries(&p, &[a, b, c, d]);
}

#[test]
fn diff_values_shows_real_values_for_one_command() {
    let (a, d) = (canary("a"), canary("d"));
    let (_origin, p, _key) = start(&format!("API_TOKEN={a}\n"));
    set(&p, "API_TOKEN", &d);
    let out = p
        .command("git", &["diff"])
        .env("ENVCLOAK_DIFF_VALUES", "1")
        .run()
        .ok();
    assert!(out.stdout().contains(&format!("-API_TOKEN={a}\n")));
    assert!(out.stdout().contains(&format!("+API_TOKEN={d}\n")));
    // Only for that command.
    p.git(&["diff"]).hides(&a).hides(&d);
    commit_all(&p, "change");
    // Still nothing cached.
    assert!(!p.git(&["for-each-ref"]).stdout().contains("notes"));
    assert_no_canaries(&p, &[a, d]);
}

#[test]
fn without_a_key_the_diff_is_a_placeholder_and_exits_zero() {
    let (a, d) = (canary("a"), canary("d"));
    let (origin, alice, _key) = start(&format!("API_TOKEN={a}\n"));
    set(&alice, "API_TOKEN", &d);
    commit_all(&alice, "change");
    alice.git(&["push", "-q"]);
    // A clone with no key at all, drivers configured.
    let carol = origin.clone_repo();
    carol.envcloak(&["git", "enroll"]).run().ok();
    let log = carol.command("git", &["log", "-p"]).run().ok();
    log.hides(&a).hides(&d);
    assert!(
        log.stdout()
            .contains("+# envcloak: encrypted; no key here opens it"),
        "{}",
        log.stdout()
    );
    assert!(!log.stderr.contains("error"), "{}", log.stderr);
    // A wrong key: the same.
    let wrong = carol.keygen();
    carol.write_mode(".env.key", format!("{wrong}\n"), 0o600);
    let show = carol.command("git", &["show", "HEAD"]).run().ok();
    // A change still shows as a changed line (a digest of the ciphertext).
    assert!(
        show.stdout()
            .contains("\n-# envcloak: encrypted; no key here opens it (sha256 "),
        "{}",
        show.stdout()
    );
    assert!(
        show.stdout()
            .contains("\n+# envcloak: encrypted; no key here opens it (sha256 ")
    );
    show.hides(&a).hides(&d);
    std::fs::remove_file(carol.p(".env.key")).unwrap();
    for p in [&alice, &carol, &origin.bare] {
        assert_no_canaries(p, &[a.clone(), d.clone()]);
    }
}

#[test]
fn textconv_finds_the_key_from_the_repository_root() {
    let a = canary("a");
    let (_origin, p, key) = start(&format!("API_TOKEN={a}\n"));
    // Git hands a copy elsewhere: the key beside it does not matter.
    let elsewhere = Project::new();
    std::fs::copy(p.p(".env.enc"), elsewhere.p("blob")).unwrap();
    let blob = elsewhere.p("blob");
    let out = p
        .envcloak(&["git", "textconv", blob.to_str().unwrap()])
        .run()
        .ok();
    assert!(
        fp_of(out.stdout(), "", "API_TOKEN").is_some(),
        "{}",
        out.stdout()
    );
    out.hides(&a);
    // From a subdirectory of the work tree too (git runs it at the top).
    p.mkdir("deep/er");
    let out = p
        .sh(&format!(
            "cd deep/er && \"$EC\" git textconv '{}'",
            blob.display()
        ))
        .run()
        .ok();
    assert!(fp_of(out.stdout(), "", "API_TOKEN").is_some());
    // ENVCLOAK_KEY works without a key file.
    std::fs::rename(p.p(".env.key"), elsewhere.p("saved.key")).unwrap();
    let out = p
        .envcloak(&["git", "textconv", blob.to_str().unwrap()])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok();
    assert!(fp_of(out.stdout(), "", "API_TOKEN").is_some());
    // No key: the placeholder, exit 0.
    let out = p
        .envcloak(&["git", "textconv", blob.to_str().unwrap()])
        .run()
        .ok();
    assert!(
        out.stdout()
            .starts_with("# envcloak: encrypted; no key here opens it (sha256 ")
    );
    assert_eq!(out.stdout().lines().count(), 1);
    // Not a token (plaintext where a token should be): the placeholder,
    // never the content.
    elsewhere.write("plain", format!("API_TOKEN={a}\n"));
    let out = p
        .envcloak(&["git", "textconv", elsewhere.p("plain").to_str().unwrap()])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok();
    out.hides(&a);
    assert!(
        out.stdout()
            .starts_with("# envcloak: encrypted; no key here opens it (sha256 ")
    );
    assert_eq!(out.stdout().lines().count(), 1);
    std::fs::rename(elsewhere.p("saved.key"), p.p(".env.key")).unwrap();
    assert_no_canaries(&p, &[a]);
}

#[test]
fn profile_files_are_shown_with_their_own_keys() {
    let (a, s1, s2) = (canary("a"), canary("s1"), canary("s2"));
    let (_origin, p, _key) = start(&format!("API_TOKEN={a}\n"));
    let staging_key = p.keygen();
    p.write_mode(".env.staging.key", format!("{staging_key}\n"), 0o600);
    p.write(
        ".gitignore",
        format!("{}*.key\n", p.read_string(".gitignore")),
    );
    p.write(".env.staging", format!("STAGE={s1}\n"));
    p.envcloak(&[
        "encrypt",
        ".env.staging",
        "-f",
        ".env.staging.enc",
        "--profile",
        "staging",
    ])
    .run()
    .ok();
    std::fs::remove_file(p.p(".env.staging")).unwrap();
    commit_all(&p, "staging");
    p.envcloak(&["set", "STAGE", &s2, "--profile", "staging"])
        .run()
        .ok();
    // The staging key in its own file.
    let diff = p.git(&["diff"]);
    assert!(
        fp_of(diff.stdout(), "-", "STAGE").is_some(),
        "{}",
        diff.stdout()
    );
    assert!(fp_of(diff.stdout(), "+", "STAGE").is_some());
    diff.hides(&s1).hides(&s2);
    // Or in ENVCLOAK_KEY_STAGING, with no key file.
    std::fs::remove_file(p.p(".env.staging.key")).unwrap();
    let diff = p
        .command("git", &["diff"])
        .env("ENVCLOAK_KEY_STAGING", &staging_key)
        .run()
        .ok();
    assert!(
        fp_of(diff.stdout(), "+", "STAGE").is_some(),
        "{}",
        diff.stdout()
    );
    diff.hides(&s1).hides(&s2);
    // Without it: the placeholder.
    let diff = p.git(&["diff"]);
    assert!(diff.stdout().contains("no key here opens it"));
    p.git(&["checkout", "--", ".env.staging.enc"]);
    assert_no_canaries(&p, &[a, s1, s2]);
}

#[test]
fn password_files_are_shown_with_the_password() {
    let a = canary("a");
    let p = Project::new();
    p.git_init();
    p.envcloak(&["git", "enroll"]).run().ok();
    p.write(".env", format!("API_TOKEN={a}\n"));
    p.envcloak(&["encrypt", "--password"])
        .env("ENVCLOAK_PASSWORD", "correct horse battery staple")
        .run()
        .ok();
    std::fs::remove_file(p.p(".env")).unwrap();
    p.git(&["add", ".env.enc", ".gitattributes", ".gitignore"]);
    p.git(&["commit", "-q", "-m", "pw"]);
    let show = p
        .command("git", &["show", "HEAD"])
        .env("ENVCLOAK_PASSWORD", "correct horse battery staple")
        .run()
        .ok();
    assert!(
        fp_of(show.stdout(), "+", "API_TOKEN").is_some(),
        "{}",
        show.stdout()
    );
    show.hides(&a);
    let show = git_any(&p, &["show", "HEAD"]);
    assert_eq!(show.code, 0);
    // One line, with the blob's digest; not "no key ... to show".
    let shown: Vec<&str> = show
        .stdout()
        .lines()
        .filter(|l| l.contains("# envcloak: encrypted"))
        .collect();
    assert_eq!(shown.len(), 1, "{}", show.stdout());
    assert!(
        shown[0].starts_with("+# envcloak: encrypted; no key here opens it (sha256 "),
        "{}",
        show.stdout()
    );
    assert_no_canaries(&p, &[a]);
}

#[test]
fn a_nested_project_is_shown_with_the_key_beside_it() {
    let a = canary("a");
    let b = canary("b");
    let p = Project::new();
    p.git_init();
    p.envcloak(&["git", "enroll"]).run().ok();
    p.mkdir("services/api");
    p.write("services/api/.env", format!("API_TOKEN={a}\n"));
    p.sh("cd services/api && \"$EC\" encrypt && rm .env")
        .run()
        .ok();
    assert!(p.exists("services/api/.env.key"));
    p.git(&["add", "-A"]);
    let staged = p.git(&["diff", "--cached", "--name-only"]);
    assert!(!staged.stdout().contains(".env.key"), "{}", staged.stdout());
    p.git(&["commit", "-q", "-m", "api"]);
    p.sh(&format!("cd services/api && \"$EC\" set API_TOKEN '{b}'"))
        .run()
        .ok();
    let diff = p.git(&["diff"]);
    assert!(
        fp_of(diff.stdout(), "-", "API_TOKEN").is_some(),
        "{}",
        diff.stdout()
    );
    assert!(fp_of(diff.stdout(), "+", "API_TOKEN").is_some());
    diff.hides(&a).hides(&b);
    // And the merge driver finds it by path.
    p.git(&["commit", "-q", "-am", "b"]);
    p.git(&["checkout", "-q", "-b", "side"]);
    p.sh("cd services/api && \"$EC\" set SIDE side-value-1")
        .run()
        .ok();
    p.git(&["commit", "-q", "-am", "side"]);
    p.git(&["checkout", "-q", "-"]);
    p.sh("cd services/api && \"$EC\" set MAIN main-value-1")
        .run()
        .ok();
    p.git(&["commit", "-q", "-am", "main"]);
    let out = p.git(&["merge", "-q", "--no-edit", "side"]);
    assert!(!out.stderr.contains("CONFLICT"), "{}", out.stderr);
    let out = p.sh("cd services/api && \"$EC\" decrypt").run().ok();
    assert_eq!(
        out.stdout(),
        format!("API_TOKEN={b}\nSIDE=side-value-1\nMAIN=main-value-1\n")
    );
    assert_no_canaries(&p, &[a, b]);
}
