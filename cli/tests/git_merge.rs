//! `envcloak git enroll` / `disenroll`, the drivers' set-up in a fresh
//! clone, and the merge driver: two people (two clones of one bare
//! repository, each with its own copy of the key) merging, rebasing,
//! cherry-picking, popping stashes and pulling `.env.enc` by key, and
//! conflicts that stay encrypted. Every test ends by scanning every git
//! object and every file of every clone for the canary values.

mod common;
mod gitrepo;

use common::Project;
use gitrepo::{
    assert_encrypted, assert_no_canaries, canary, commit_all, git_any, plaintext, set, start, unset,
};

const ATTRS: &str = "# envcloak: readable diffs and key-level merges of encrypted env files (envcloak git enroll)\n\
.env.enc diff=envcloak merge=envcloak\n\
.env.*.enc diff=envcloak merge=envcloak\n\
.env.recipients merge=envcloak\n\
.env.*.recipients merge=envcloak\n\
.env.key.age merge=envcloak\n\
.env.*.key.age merge=envcloak\n";

/// The driver command enrollment records for the binary at `bin`: that
/// binary while it exists, else `envcloak` on `PATH`.
fn recorded(bin: &str, args: &str) -> String {
    let q = format!("'{}'", bin.replace('\'', r"'\''"));
    format!(r#"f() {{ if [ -x {q} ]; then {q} "$@"; else envcloak "$@"; fi; }}; f {args}"#)
}

fn config(p: &Project, name: &str) -> Option<String> {
    let out = git_any(p, &["config", "--local", "--get", name]);
    (out.code == 0).then(|| out.stdout().trim_end().to_owned())
}

// ---------------------------------------------------------------------------
// enroll / disenroll
// ---------------------------------------------------------------------------

#[test]
fn enroll_adds_attributes_once_configures_the_clone_and_disenroll_undoes_it() {
    let p = Project::new();
    p.git_init();
    p.write(".gitattributes", "*.png binary\n# mine\n");
    let out = p.envcloak(&["git", "enroll"]).run().ok();
    assert!(out.stderr.contains("commit it"), "{}", out.stderr);
    assert_eq!(
        p.read_string(".gitattributes"),
        format!("*.png binary\n# mine\n{ATTRS}")
    );
    let bin = common::BIN;
    assert_eq!(
        config(&p, "diff.envcloak.textconv").unwrap(),
        recorded(bin, "git textconv")
    );
    assert_eq!(config(&p, "diff.envcloak.cachetextconv").unwrap(), "false");
    assert_eq!(
        config(&p, "merge.envcloak.driver").unwrap(),
        recorded(bin, "git merge-driver %O %A %B %P %S %X %Y")
    );
    assert!(config(&p, "merge.envcloak.name").is_some());
    // git itself sees the attributes.
    let attr = p.git(&[
        "check-attr",
        "diff",
        "merge",
        "--",
        ".env.enc",
        ".env.staging.enc",
    ]);
    assert_eq!(
        attr.stdout(),
        ".env.enc: diff: envcloak\n.env.enc: merge: envcloak\n\
         .env.staging.enc: diff: envcloak\n.env.staging.enc: merge: envcloak\n"
    );

    // Again, from a subdirectory: nothing doubled, nothing in the subdirectory.
    p.mkdir("app/src");
    let out = p.sh("cd app/src && \"$EC\" git enroll").run().ok();
    assert!(out.stderr.contains("already enrolled"), "{}", out.stderr);
    assert_eq!(
        p.read_string(".gitattributes"),
        format!("*.png binary\n# mine\n{ATTRS}")
    );
    assert!(!p.exists("app/src/.gitattributes"));
    let all = p.git(&["config", "--local", "--list"]);
    assert_eq!(all.stdout().matches("merge.envcloak.driver=").count(), 1);

    // Disenroll, from the subdirectory too: the user's lines stay.
    p.sh("cd app && \"$EC\" git disenroll").run().ok();
    assert_eq!(p.read_string(".gitattributes"), "*.png binary\n# mine\n");
    for name in [
        "diff.envcloak.textconv",
        "diff.envcloak.cachetextconv",
        "merge.envcloak.driver",
        "merge.envcloak.name",
    ] {
        assert_eq!(config(&p, name), None, "{name} left behind");
    }
    // A second disenroll has nothing to do and succeeds.
    p.envcloak(&["git", "disenroll"]).run().ok();
    assert_eq!(p.read_string(".gitattributes"), "*.png binary\n# mine\n");
}

#[test]
fn enroll_creates_gitattributes_and_disenroll_removes_what_only_it_wrote() {
    let p = Project::new();
    p.git_init();
    p.envcloak(&["git", "enroll"]).run().ok();
    assert_eq!(p.read_string(".gitattributes"), ATTRS);
    p.envcloak(&["git", "disenroll"]).run().ok();
    assert!(!p.exists(".gitattributes"));
}

#[test]
fn enroll_outside_a_repository_fails_clearly() {
    let p = Project::new();
    let out = p.envcloak(&["git", "enroll"]).run().fails(2);
    assert!(
        out.error().contains("not in a git repository"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint: "), "{}", out.stderr);
    assert!(!p.exists(".gitattributes"));
    p.envcloak(&["git", "disenroll"]).run().fails(2);
}

#[test]
fn enroll_hook_asks_the_commit_guard() {
    // The guard is another module's; enroll --hook must reach it, after the
    // attributes and drivers are in place.
    let p = Project::new();
    p.git_init();
    let out = p.envcloak(&["git", "enroll", "--hook"]).run();
    assert_eq!(p.read_string(".gitattributes"), ATTRS);
    assert!(config(&p, "merge.envcloak.driver").is_some());
    if out.code == 0 {
        assert!(p.exists(".git/hooks/pre-commit"));
    }
}

// ---------------------------------------------------------------------------
// Auto-configuration in a fresh clone
// ---------------------------------------------------------------------------

#[test]
fn a_fresh_clone_configures_its_drivers_once_then_stays_quiet() {
    let v = canary("auto");
    let (origin, alice, key) = start(&format!("A={v}\n"));
    let bob = origin.clone_with_key(&key);
    assert_eq!(config(&bob, "merge.envcloak.driver"), None);
    let out = bob.envcloak(&["set", "B", "b-value-1"]).run().ok();
    assert!(
        out.stderr.contains("configured this clone's git drivers"),
        "{}",
        out.stderr
    );
    assert_eq!(
        config(&bob, "merge.envcloak.driver").unwrap(),
        recorded(common::BIN, "git merge-driver %O %A %B %P %S %X %Y")
    );
    assert_eq!(
        config(&bob, "diff.envcloak.cachetextconv").unwrap(),
        "false"
    );
    let out = bob.envcloak(&["set", "C", "c-value-1"]).run().ok();
    assert!(!out.stderr.contains("configured"), "{}", out.stderr);

    // A recorded binary that is gone (an old build, a moved install) is
    // replaced.
    bob.git(&[
        "config",
        "--local",
        "merge.envcloak.driver",
        "'/no/such/dir/envcloak' git merge-driver %O %A %B %P",
    ]);
    let out = bob.envcloak(&["unset", "C"]).run().ok();
    assert!(out.stderr.contains("configured this clone's git drivers"));
    assert_eq!(
        config(&bob, "merge.envcloak.driver").unwrap(),
        recorded(common::BIN, "git merge-driver %O %A %B %P %S %X %Y")
    );
    // So is one in the fallback form whose binary is gone; and reading
    // commands (get, ls, decrypt, diff, rotate, redact) configure too.
    bob.git(&[
        "config",
        "--local",
        "diff.envcloak.textconv",
        &recorded("/no/such/dir/envcloak", "git textconv"),
    ]);
    let out = bob.envcloak(&["get", "B"]).run().ok();
    assert!(out.stderr.contains("configured this clone's git drivers"));
    assert_eq!(
        config(&bob, "diff.envcloak.textconv").unwrap(),
        recorded(common::BIN, "git textconv")
    );
    for args in [
        &["ls"][..],
        &["decrypt"],
        &["diff", "HEAD"],
        &["redact"],
        &["rotate"],
    ] {
        bob.git(&["config", "--local", "--remove-section", "merge.envcloak"]);
        let out = bob.envcloak(args).stdin("").run();
        assert!(
            out.stderr.contains("configured this clone's git drivers"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(config(&bob, "merge.envcloak.driver").is_some(), "{args:?}");
    }
    // An older form (an absolute path, no fallback) is rewritten once.
    bob.git(&[
        "config",
        "--local",
        "merge.envcloak.driver",
        &format!("'{}' git merge-driver %O %A %B %P", common::BIN),
    ]);
    let out = bob.envcloak(&["ls"]).run().ok();
    assert!(out.stderr.contains("configured this clone's git drivers"));
    let out = bob.envcloak(&["ls"]).run().ok();
    assert!(!out.stderr.contains("configured"), "{}", out.stderr);
    assert_eq!(
        config(&bob, "merge.envcloak.driver").unwrap(),
        recorded(common::BIN, "git merge-driver %O %A %B %P %S %X %Y")
    );
    // `run` stays fast: it configures nothing.
    bob.git(&["config", "--local", "--remove-section", "merge.envcloak"]);
    let out = bob.envcloak(&["run", "--", "true"]).run().ok();
    assert!(!out.stderr.contains("configured"), "{}", out.stderr);
    assert_eq!(config(&bob, "merge.envcloak.driver"), None);

    // Not enrolled: nothing is configured, nothing said.
    let plain = Project::new();
    plain.git_init();
    plain.write(".env", "X=x-value-1\n");
    let out = plain.envcloak(&["encrypt"]).run().ok();
    assert!(!out.stderr.contains("configured"), "{}", out.stderr);
    assert_eq!(config(&plain, "merge.envcloak.driver"), None);
    // Enrolled attributes but no git repository at all: silent.
    let loose = Project::new();
    loose.write(".gitattributes", ATTRS);
    loose.write(".env", "X=x-value-1\n");
    let out = loose.envcloak(&["encrypt"]).run().ok();
    assert!(!out.stderr.contains("configured"), "{}", out.stderr);
    assert_no_canaries(&alice, std::slice::from_ref(&v));
    assert_no_canaries(&bob, std::slice::from_ref(&v));
    assert_no_canaries(&origin.bare, &[v]);
}

// ---------------------------------------------------------------------------
// Clean merges
// ---------------------------------------------------------------------------

/// Five keys, each with a canary value.
fn five() -> (String, Vec<String>) {
    let c: Vec<String> = (1..=5).map(|i| canary(&format!("v{i}"))).collect();
    let text = format!(
        "# team settings\nAPI_URL={}\nAPI_TOKEN={}\n\n# database\nDB_URL={}\nDB_PASSWORD={}\nSENTRY_DSN={}\n",
        c[0], c[1], c[2], c[3], c[4]
    );
    (text, c)
}

#[test]
fn two_people_pull_each_others_changes_additions_and_removals() {
    let (text, mut cs) = five();
    let (origin, alice, key) = start(&text);
    let bob = origin.clone_with_key(&key);
    let (a1, a2, b1, b2) = (
        canary("alice-token"),
        canary("alice-new"),
        canary("bob-db"),
        canary("bob-new"),
    );
    cs.extend([a1.clone(), a2.clone(), b1.clone(), b2.clone()]);

    // Alice changes API_TOKEN, adds STRIPE_KEY after it, removes SENTRY_DSN.
    set(&alice, "API_TOKEN", &a1);
    set(&alice, "STRIPE_KEY", &a2);
    unset(&alice, "SENTRY_DSN");
    commit_all(&alice, "alice");
    alice.git(&["push", "-q"]);

    // Bob changes DB_URL, adds REDIS_URL at the end, removes API_URL.
    set(&bob, "DB_URL", &b1);
    set(&bob, "REDIS_URL", &b2);
    unset(&bob, "API_URL");
    commit_all(&bob, "bob");
    let out = bob.git(&["pull", "-q", "--no-rebase", "--no-edit"]);
    assert!(!out.stderr.contains("CONFLICT"), "{}", out.stderr);
    assert_encrypted(&bob, ".env.enc");
    let want = format!(
        "# team settings\nAPI_TOKEN={a1}\n\n# database\nDB_URL={b1}\nDB_PASSWORD={}\nSTRIPE_KEY={a2}\nREDIS_URL={b2}\n",
        cs[3]
    );
    assert_eq!(plaintext(&bob), want);
    // Every value through the loader too.
    for (k, v) in [
        ("API_TOKEN", &a1),
        ("STRIPE_KEY", &a2),
        ("DB_URL", &b1),
        ("REDIS_URL", &b2),
    ] {
        let out = bob.envcloak(&["get", k]).run().ok();
        assert_eq!(out.stdout().trim_end(), v.as_str());
    }
    bob.envcloak(&["get", "SENTRY_DSN"]).run().code(1);
    bob.envcloak(&["get", "API_URL"]).run().code(1);
    // The merge commit is clean, and alice gets it as it is.
    bob.git(&["push", "-q"]);
    alice.git(&["pull", "-q", "--no-rebase"]);
    assert_eq!(plaintext(&alice), want);
    assert!(
        git_any(&bob, &["status", "--porcelain"])
            .stdout()
            .is_empty()
    );
    for p in [&alice, &bob, &origin.bare] {
        assert_no_canaries(p, &cs);
    }
}

#[test]
fn a_key_added_by_theirs_goes_after_its_predecessor() {
    let (text, mut cs) = five();
    let (origin, alice, key) = start(&text);
    let bob = origin.clone_with_key(&key);
    let (n1, n2, o1) = (canary("n1"), canary("n2"), canary("o1"));
    cs.extend([n1.clone(), n2.clone(), o1.clone()]);
    // Alice writes two new keys after API_TOKEN (with edit, as a person
    // would place them) and pushes.
    let editor = alice.script(
        "ed.sh",
        &format!("sed -i 's/^API_TOKEN=.*$/&\\nNEW_ONE={n1}\\nNEW_TWO={n2}/' \"$1\""),
    );
    alice
        .envcloak(&["edit"])
        .env("EDITOR", editor.as_os_str())
        .run()
        .ok();
    std::fs::remove_file(&editor).unwrap();
    commit_all(&alice, "alice");
    alice.git(&["push", "-q"]);
    // Bob adds his own at the end and pulls.
    set(&bob, "OWN", &o1);
    commit_all(&bob, "bob");
    bob.git(&["pull", "-q", "--no-rebase", "--no-edit"]);
    assert_eq!(
        plaintext(&bob),
        format!(
            "# team settings\nAPI_URL={}\nAPI_TOKEN={}\nNEW_ONE={n1}\nNEW_TWO={n2}\n\n# database\nDB_URL={}\nDB_PASSWORD={}\nSENTRY_DSN={}\nOWN={o1}\n",
            cs[0], cs[1], cs[2], cs[3], cs[4]
        )
    );
    for p in [&alice, &bob, &origin.bare] {
        assert_no_canaries(p, &cs);
    }
}

#[test]
fn three_branches_merge_cleanly() {
    let (text, mut cs) = five();
    let (_origin, p, _key) = start(&text);
    let (x, y, z, w) = (canary("x"), canary("y"), canary("z"), canary("w"));
    cs.extend([x.clone(), y.clone(), z.clone(), w.clone()]);
    p.git(&["checkout", "-q", "-b", "one"]);
    set(&p, "API_URL", &x);
    unset(&p, "DB_PASSWORD");
    commit_all(&p, "one");
    p.git(&["checkout", "-q", "-b", "two", "main"]);
    set(&p, "SENTRY_DSN", &y);
    set(&p, "TWO_NEW", &z);
    commit_all(&p, "two");
    p.git(&["checkout", "-q", "-b", "three", "main"]);
    unset(&p, "API_TOKEN");
    set(&p, "THREE_NEW", &w);
    commit_all(&p, "three");
    p.git(&["checkout", "-q", "main"]);
    for b in ["one", "two", "three"] {
        let out = p.git(&["merge", "-q", "--no-edit", b]);
        assert!(!out.stderr.contains("CONFLICT"), "{b}: {}", out.stderr);
        assert_encrypted(&p, ".env.enc");
    }
    assert_eq!(
        plaintext(&p),
        format!(
            // THREE_NEW follows SENTRY_DSN, its predecessor on branch three.
            "# team settings\nAPI_URL={x}\n\n# database\nDB_URL={}\nSENTRY_DSN={y}\nTHREE_NEW={w}\nTWO_NEW={z}\n",
            cs[2]
        )
    );
    assert!(git_any(&p, &["status", "--porcelain"]).stdout().is_empty());
    assert_no_canaries(&p, &cs);
}

#[test]
fn rebase_and_cherry_pick_replay_changes_by_key() {
    let (text, mut cs) = five();
    let (_origin, p, _key) = start(&text);
    let (m, f1, f2, c) = (canary("m"), canary("f1"), canary("f2"), canary("c"));
    cs.extend([m.clone(), f1.clone(), f2.clone(), c.clone()]);
    // feature: two commits.
    p.git(&["checkout", "-q", "-b", "feature"]);
    set(&p, "DB_URL", &f1);
    commit_all(&p, "f1");
    set(&p, "FEATURE_FLAG", &f2);
    unset(&p, "SENTRY_DSN");
    commit_all(&p, "f2");
    // main moves on.
    p.git(&["checkout", "-q", "main"]);
    set(&p, "API_TOKEN", &m);
    commit_all(&p, "m");
    // A hotfix branch whose one commit is cherry-picked.
    p.git(&["checkout", "-q", "-b", "hotfix", "main~1"]);
    set(&p, "DB_PASSWORD", &c);
    commit_all(&p, "hotfix");
    let hotfix = p.git(&["rev-parse", "HEAD"]).stdout().trim().to_owned();

    // Rebase feature onto main.
    p.git(&["checkout", "-q", "feature"]);
    let out = p.git(&["rebase", "-q", "main"]);
    assert!(!out.stderr.contains("CONFLICT"), "{}", out.stderr);
    let after_rebase = format!(
        "# team settings\nAPI_URL={}\nAPI_TOKEN={m}\n\n# database\nDB_URL={f1}\nDB_PASSWORD={}\nFEATURE_FLAG={f2}\n",
        cs[0], cs[3]
    );
    assert_eq!(plaintext(&p), after_rebase);
    // Each rebased commit is itself a clean, encrypted file.
    let first = p.git(&["show", "HEAD~1:.env.enc"]);
    assert!(first.stdout().starts_with("gAAAAA"));

    // Cherry-pick the hotfix onto the rebased feature.
    let out = p.git(&["cherry-pick", &hotfix]);
    assert!(!out.stderr.contains("CONFLICT"), "{}", out.stderr);
    assert_eq!(
        plaintext(&p),
        after_rebase.replace(
            &format!("DB_PASSWORD={}", cs[3]),
            &format!("DB_PASSWORD={c}")
        )
    );
    assert_encrypted(&p, ".env.enc");
    assert!(git_any(&p, &["status", "--porcelain"]).stdout().is_empty());
    assert_no_canaries(&p, &cs);
}

#[test]
fn stash_pop_and_pull_with_rebase_merge_by_key() {
    let (text, mut cs) = five();
    let (origin, alice, key) = start(&text);
    let bob = origin.clone_with_key(&key);
    let (a, b, s) = (canary("a"), canary("b"), canary("s"));
    cs.extend([a.clone(), b.clone(), s.clone()]);
    set(&alice, "API_URL", &a);
    commit_all(&alice, "alice");
    alice.git(&["push", "-q"]);

    // Bob has an uncommitted change, stashes it, pulls, pops.
    set(&bob, "DB_URL", &s);
    bob.git(&["stash", "-q"]);
    bob.git(&["pull", "-q", "--no-rebase"]);
    let out = bob.git(&["stash", "pop", "-q"]);
    assert!(!out.stderr.contains("CONFLICT"), "{}", out.stderr);
    assert_encrypted(&bob, ".env.enc");
    let want = |url: &str| {
        format!(
            "# team settings\nAPI_URL={a}\nAPI_TOKEN={}\n\n# database\nDB_URL={url}\nDB_PASSWORD={}\nSENTRY_DSN={}\n",
            cs[1], cs[3], cs[4]
        )
    };
    assert_eq!(plaintext(&bob), want(&s));

    // Then commits, while alice pushed again: pull --rebase.
    commit_all(&bob, "bob");
    set(&alice, "NEW_KEY", &b);
    commit_all(&alice, "alice 2");
    alice.git(&["push", "-q"]);
    let out = bob.git(&["pull", "-q", "--rebase"]);
    assert!(!out.stderr.contains("CONFLICT"), "{}", out.stderr);
    assert_eq!(plaintext(&bob), format!("{}NEW_KEY={b}\n", want(&s)));
    for p in [&alice, &bob, &origin.bare] {
        assert_no_canaries(p, &cs);
    }
}

// ---------------------------------------------------------------------------
// Conflicts
// ---------------------------------------------------------------------------

#[test]
fn the_same_key_changed_on_both_sides_is_an_encrypted_conflict_that_edit_resolves() {
    let (text, mut cs) = five();
    let (origin, alice, key) = start(&text);
    let bob = origin.clone_with_key(&key);
    let (ours, theirs, other) = (canary("ours"), canary("theirs"), canary("other"));
    cs.extend([ours.clone(), theirs.clone(), other.clone()]);
    set(&alice, "DB_PASSWORD", &theirs);
    commit_all(&alice, "alice");
    alice.git(&["push", "-q"]);
    set(&bob, "DB_PASSWORD", &ours);
    set(&bob, "API_URL", &other);
    commit_all(&bob, "bob");
    let out = git_any(&bob, &["pull", "--no-rebase", "--no-edit"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let said = format!("{}{}", out.stdout(), out.stderr);
    assert!(
        said.contains("CONFLICT (content): Merge conflict in .env.enc"),
        "{said}"
    );
    assert!(said.contains("conflict in .env.enc: DB_PASSWORD"), "{said}");
    out.hides(&ours).hides(&theirs).hides(&other);
    // Still one Fernet token on disk, and git knows it is unmerged.
    assert_encrypted(&bob, ".env.enc");
    assert!(
        git_any(&bob, &["status", "--porcelain"])
            .stdout()
            .contains("UU .env.enc")
    );

    // git diff of the conflict: markers around fingerprints, no values.
    let diff = bob.git(&["diff"]);
    assert!(
        diff.stdout().contains("++<<<<<<< ours\n"),
        "{}",
        diff.stdout()
    );
    assert!(
        diff.stdout().contains("DB_PASSWORD=[fp:"),
        "{}",
        diff.stdout()
    );
    diff.hides(&ours).hides(&theirs).hides(&other);

    // Loading fails with the line and the key, no value.
    let out = bob.envcloak(&["get", "API_URL"]).run().fails(2);
    out.hides(&ours).hides(&theirs).hides(&other);
    assert_eq!(
        out.error(),
        "error: unresolved merge conflict at .env.enc:7 (key DB_PASSWORD)"
    );
    assert!(
        out.stderr.contains("hint: resolve it with 'envcloak edit"),
        "{}",
        out.stderr
    );
    let out = bob.envcloak(&["run", "--", "true"]).run();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("unresolved merge conflict at .env.enc:7")
    );
    // set and unset refuse, the same way.
    let out = bob.envcloak(&["set", "X", "xxxxxxxxxx"]).run().fails(2);
    assert!(
        out.error()
            .contains("unresolved merge conflict at .env.enc:7 (key DB_PASSWORD)")
    );
    assert!(out.stderr.contains("envcloak edit"));
    out.hides(&ours).hides(&theirs);
    let out = bob.envcloak(&["unset", "API_URL"]).run().fails(2);
    assert!(out.error().contains("unresolved merge conflict"));
    // check reports it.
    bob.write(
        ".env.example",
        "API_URL=\nAPI_TOKEN=\nDB_URL=\nDB_PASSWORD=\nSENTRY_DSN=\n",
    );
    let out = bob.envcloak(&["check"]).run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let said = format!("{}{}", out.stdout(), out.stderr);
    assert!(said.contains(".env.enc:7"), "{said}");
    assert!(said.contains("unresolved merge conflict"), "{said}");
    assert!(said.contains("DB_PASSWORD"), "{said}");
    out.hides(&ours).hides(&theirs);
    std::fs::remove_file(bob.p(".env.example")).unwrap();

    // edit shows the markers; a scripted editor keeps theirs.
    let seen = bob.p("seen");
    let editor = bob.script(
        "ed.sh",
        &format!(
            "grep -c '^<<<<<<< ours$' \"$1\" > '{}'\n\
             sed -i -e '/^<<<<<<< ours$/,/^=======$/d' -e '/^>>>>>>> theirs$/d' \"$1\"",
            seen.display()
        ),
    );
    bob.envcloak(&["edit"])
        .env("EDITOR", editor.as_os_str())
        .run()
        .ok();
    assert_eq!(bob.read_string("seen").trim(), "1");
    std::fs::remove_file(&editor).unwrap();
    std::fs::remove_file(&seen).unwrap();
    assert_encrypted(&bob, ".env.enc");
    let out = bob.envcloak(&["get", "DB_PASSWORD"]).run().ok();
    assert_eq!(out.stdout().trim_end(), theirs);
    let out = bob.envcloak(&["get", "API_URL"]).run().ok();
    assert_eq!(out.stdout().trim_end(), other);
    bob.git(&["add", ".env.enc"]);
    bob.git(&["commit", "-q", "--no-edit"]);
    assert!(
        git_any(&bob, &["status", "--porcelain"])
            .stdout()
            .is_empty()
    );
    for p in [&alice, &bob, &origin.bare] {
        assert_no_canaries(p, &cs);
    }
}

#[test]
fn changed_on_one_side_and_removed_on_the_other_is_a_conflict() {
    let (text, mut cs) = five();
    let (_origin, p, _key) = start(&text);
    let t = canary("t");
    cs.push(t.clone());
    p.git(&["checkout", "-q", "-b", "theirs"]);
    set(&p, "API_TOKEN", &t);
    commit_all(&p, "change");
    p.git(&["checkout", "-q", "main"]);
    unset(&p, "API_TOKEN");
    commit_all(&p, "remove");
    let out = git_any(&p, &["merge", "--no-edit", "theirs"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("API_TOKEN"), "{}", out.stderr);
    out.hides(&t);
    assert_encrypted(&p, ".env.enc");
    let plain = plaintext(&p);
    assert!(
        plain.contains(&format!(
            "<<<<<<< ours\n=======\nAPI_TOKEN={t}\n>>>>>>> theirs\n"
        )),
        "the conflict block"
    );
    let out = p.envcloak(&["get", "DB_URL"]).run().fails(2);
    assert_eq!(
        out.error(),
        "error: unresolved merge conflict at .env.enc:3 (key API_TOKEN)"
    );
    // Keep the removal: drop the whole block.
    let editor = p.script(
        "ed.sh",
        "sed -i '/^<<<<<<< ours$/,/^>>>>>>> theirs$/d' \"$1\"",
    );
    p.envcloak(&["edit"])
        .env("EDITOR", editor.as_os_str())
        .run()
        .ok();
    std::fs::remove_file(&editor).unwrap();
    p.envcloak(&["get", "API_TOKEN"]).run().code(1);
    p.git(&["add", ".env.enc"]);
    p.git(&["commit", "-q", "--no-edit"]);
    assert_no_canaries(&p, &cs);
}

// ---------------------------------------------------------------------------
// Rotation
// ---------------------------------------------------------------------------

#[test]
fn a_merge_across_a_key_rotation() {
    let (text, mut cs) = five();
    let (origin, alice, old_key) = start(&text);
    let bob = origin.clone_with_key(&old_key);
    let (a, b) = (canary("a"), canary("b"));
    cs.extend([a.clone(), b.clone()]);
    // Alice rotates (.env.key becomes new,old) and changes a value.
    alice.envcloak(&["rotate", "--write"]).run().ok();
    let ring = alice.key();
    assert!(ring.contains(',') && ring.ends_with(&old_key));
    set(&alice, "API_URL", &a);
    commit_all(&alice, "rotate");
    alice.git(&["push", "-q"]);

    // Bob, with only the old key, changes another value and pulls: the
    // driver cannot open theirs, says what to do, and leaves ours.
    set(&bob, "DB_URL", &b);
    commit_all(&bob, "bob");
    let ours_before = bob.read(".env.enc");
    let out = git_any(&bob, &["pull", "--no-rebase", "--no-edit"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("cannot merge .env.enc"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("git merge --abort"), "{}", out.stderr);
    assert!(out.stderr.contains(".env.key"), "{}", out.stderr);
    out.hides(&a).hides(&b);
    assert_eq!(bob.read(".env.enc"), ours_before, "ours is left as it was");
    assert_eq!(
        plaintext(&bob),
        text.replace(&cs[2], &b),
        "ours still opens with bob's key"
    );
    bob.git(&["merge", "--abort"]);

    // With the new keyring (new,old) the same pull is clean.
    bob.write_mode(".env.key", format!("{ring}\n"), 0o600);
    let out = bob.git(&["pull", "-q", "--no-rebase", "--no-edit"]);
    assert!(!out.stderr.contains("CONFLICT"), "{}", out.stderr);
    let want = text.replace(&cs[0], &a).replace(&cs[2], &b);
    assert_eq!(plaintext(&bob), want);
    // Sealed with ours' keyring's first key: the new key alone opens it.
    let new_key = ring.split(',').next().unwrap().to_owned();
    let out = bob
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY", &new_key)
        .run()
        .ok();
    assert_eq!(out.stdout(), want);
    for p in [&alice, &bob, &origin.bare] {
        assert_no_canaries(p, &cs);
    }
}

// ---------------------------------------------------------------------------
// Profiles
// ---------------------------------------------------------------------------

#[test]
fn profile_files_merge_with_their_own_key() {
    let (text, mut cs) = five();
    let (origin, alice, key) = start(&text);
    let (s1, s2, s3) = (canary("s1"), canary("s2"), canary("s3"));
    cs.extend([s1.clone(), s2.clone(), s3.clone()]);
    // A staging file under its own key, in .env.staging.key.
    let staging_key = alice.keygen();
    alice.write_mode(".env.staging.key", format!("{staging_key}\n"), 0o600);
    alice.write(
        ".gitignore",
        format!("{}*.key\n", alice.read_string(".gitignore")),
    );
    alice.write(".env.staging", format!("STAGE_A={s1}\nSTAGE_B={s2}\n"));
    alice
        .envcloak(&[
            "encrypt",
            ".env.staging",
            "-f",
            ".env.staging.enc",
            "--profile",
            "staging",
        ])
        .run()
        .ok();
    std::fs::remove_file(alice.p(".env.staging")).unwrap();
    // Not under .env.key.
    alice
        .envcloak(&["decrypt", "-f", ".env.staging.enc"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .fails(2);
    commit_all(&alice, "staging");
    alice.git(&["push", "-q"]);

    let bob = origin.clone_with_key(&key);
    bob.write_mode(".env.staging.key", format!("{staging_key}\n"), 0o600);
    bob.envcloak(&["set", "STAGE_C", &s3, "--profile", "staging"])
        .run()
        .ok();
    commit_all(&bob, "bob");
    bob.git(&["push", "-q"]);

    alice
        .envcloak(&["unset", "STAGE_A", "--profile", "staging"])
        .run()
        .ok();
    commit_all(&alice, "alice");
    let out = alice.git(&["pull", "-q", "--no-rebase", "--no-edit"]);
    assert!(!out.stderr.contains("CONFLICT"), "{}", out.stderr);
    assert_encrypted(&alice, ".env.staging.enc");
    let out = alice
        .envcloak(&["decrypt", "--profile", "staging"])
        .run()
        .ok();
    assert_eq!(out.stdout(), format!("STAGE_B={s2}\nSTAGE_C={s3}\n"));
    for p in [&alice, &bob, &origin.bare] {
        assert_no_canaries(p, &cs);
    }
}

// ---------------------------------------------------------------------------
// Password mode
// ---------------------------------------------------------------------------

#[test]
fn password_files_merge_with_the_password() {
    let pw = "correct horse battery staple";
    let (a, b, x, y) = (canary("a"), canary("b"), canary("x"), canary("y"));
    let cs = [a.clone(), b.clone(), x.clone(), y.clone()];
    let p = Project::new();
    p.git_init();
    p.git(&["symbolic-ref", "HEAD", "refs/heads/main"]);
    p.envcloak(&["git", "enroll"]).run().ok();
    p.write(".env", format!("A={a}\nB={b}\n"));
    p.envcloak(&["encrypt", "--password"])
        .env("ENVCLOAK_PASSWORD", pw)
        .run()
        .ok();
    std::fs::remove_file(p.p(".env")).unwrap();
    commit_all(&p, "start");
    p.git(&["checkout", "-q", "-b", "side"]);
    p.envcloak(&["set", "A", &x])
        .env("ENVCLOAK_PASSWORD", pw)
        .run()
        .ok();
    commit_all(&p, "side");
    p.git(&["checkout", "-q", "main"]);
    p.envcloak(&["set", "B", &y])
        .env("ENVCLOAK_PASSWORD", pw)
        .run()
        .ok();
    commit_all(&p, "main");
    // Without the password the driver refuses and leaves ours.
    let ours = p.read(".env.enc");
    let out = git_any(&p, &["merge", "--no-edit", "side"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("cannot merge .env.enc"),
        "{}",
        out.stderr
    );
    // The hint names the password, not a key.
    assert!(
        out.stderr
            .contains("hint: .env.enc is encrypted with a password: set ENVCLOAK_PASSWORD"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(".env.key"), "{}", out.stderr);
    assert_eq!(p.read(".env.enc"), ours);
    p.git(&["merge", "--abort"]);
    // With a wrong one: the same hint.
    let out = p
        .command("git", &["merge", "--no-edit", "side"])
        .env("ENVCLOAK_PASSWORD", "not the password")
        .run();
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("wrong password")
            && out.stderr.contains("set ENVCLOAK_PASSWORD to the password"),
        "{}",
        out.stderr
    );
    assert_eq!(p.read(".env.enc"), ours);
    p.git(&["merge", "--abort"]);
    // With it: clean, still a password file.
    let out = p
        .command("git", &["merge", "-q", "--no-edit", "side"])
        .env("ENVCLOAK_PASSWORD", pw)
        .run()
        .ok();
    out.hides(&x).hides(&y);
    assert!(p.read_string(".env.enc").starts_with("envcloak:"));
    let out = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_PASSWORD", pw)
        .run()
        .ok();
    assert_eq!(out.stdout(), format!("A={x}\nB={y}\n"));
    assert_no_canaries(&p, &cs);
}

#[test]
fn a_criss_cross_merge_is_clean() {
    let (text, mut cs) = five();
    let (_origin, p, _key) = start(&text);
    let (x, y, z) = (canary("x"), canary("y"), canary("z"));
    cs.extend([x.clone(), y.clone(), z.clone()]);
    p.git(&["checkout", "-q", "-b", "left"]);
    set(&p, "API_URL", &x);
    commit_all(&p, "left");
    p.git(&["checkout", "-q", "-b", "right", "main"]);
    set(&p, "DB_URL", &y);
    commit_all(&p, "right");
    // Each merges the other: two merge bases from here on.
    p.git(&["merge", "-q", "--no-edit", "left"]);
    p.git(&["checkout", "-q", "left"]);
    p.git(&["merge", "-q", "--no-edit", "right~1"]);
    set(&p, "SENTRY_DSN", &z);
    commit_all(&p, "left again");
    let bases = p.git(&["merge-base", "--all", "left", "right"]);
    assert_eq!(bases.stdout().lines().count(), 2, "a criss-cross");
    let out = p.git(&["merge", "-q", "--no-edit", "right"]);
    assert!(!out.stderr.contains("CONFLICT"), "{}", out.stderr);
    assert_eq!(
        plaintext(&p),
        text.replace(&cs[0], &x)
            .replace(&cs[2], &y)
            .replace(&cs[4], &z)
    );
    assert_encrypted(&p, ".env.enc");
    assert_no_canaries(&p, &cs);
}

// ---------------------------------------------------------------------------
// The scan itself
// ---------------------------------------------------------------------------

#[test]
#[should_panic(expected = "a canary value is in a git object")]
fn the_scan_finds_a_committed_canary() {
    let c = canary("committed");
    let p = Project::new();
    p.git_init();
    p.write("notes.txt", format!("token: {c}\n"));
    p.git(&["add", "notes.txt"]);
    p.git(&["commit", "-q", "-m", "oops"]);
    std::fs::remove_file(p.p("notes.txt")).unwrap();
    assert_no_canaries(&p, &[c]);
}

#[test]
#[should_panic(expected = "a canary value is in")]
fn the_scan_finds_a_canary_in_the_work_tree() {
    let c = canary("loose");
    let p = Project::new();
    p.git_init();
    p.write("keep.txt", "nothing\n");
    p.commit(&["keep.txt"]);
    p.write("deep/dir/leak.txt", format!("{c}\n"));
    assert_no_canaries(&p, &[c]);
}

// ---------------------------------------------------------------------------
// A binary that moved
// ---------------------------------------------------------------------------

/// `PATH` without any directory that holds an `envcloak`.
fn path_without_envcloak() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<_> = std::env::split_paths(&path)
        .filter(|d| !d.join("envcloak").exists())
        .collect();
    std::env::join_paths(dirs)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn drivers_fall_back_to_envcloak_on_path_when_the_binary_is_gone() {
    let (text, mut cs) = five();
    let (_origin, p, _key) = start(&text);
    // Enrolled by a binary in a directory whose name needs quoting (a
    // space, both quotes, a dollar sign), which then goes away (cargo
    // clean, cargo install elsewhere).
    let tools = Project::new();
    let dir = tools.p("it's a \"tool\" $HOME dir");
    std::fs::create_dir_all(&dir).unwrap();
    let moved = dir.join("envcloak");
    // Copied by `cp`, not by this process: a file this process holds open
    // for writing can be inherited by a child another test thread forks at
    // that moment, and exec then fails with "Text file busy".
    let copied = std::process::Command::new("cp")
        .arg(common::BIN)
        .arg(&moved)
        .status()
        .unwrap();
    assert!(copied.success());
    let bare_path = path_without_envcloak();
    let out = p
        .command(moved.to_str().unwrap(), &["git", "enroll"])
        .env("PATH", &bare_path)
        .run()
        .ok();
    assert!(out.stderr.contains("configured"), "{}", out.stderr);
    assert_eq!(
        config(&p, "diff.envcloak.textconv").unwrap(),
        recorded(moved.to_str().unwrap(), "git textconv")
    );
    let (x, y) = (canary("x"), canary("y"));
    cs.extend([x.clone(), y.clone()]);
    // (envcloak commands run now would record themselves: all of them
    // run while the moved binary is still there.)
    p.git(&["checkout", "-q", "-b", "topic"]);
    set(&p, "SENTRY_DSN", &y);
    commit_all(&p, "y");
    p.git(&["checkout", "-q", "main"]);
    unset(&p, "DB_PASSWORD");
    set(&p, "API_URL", &x);
    commit_all(&p, "x");
    assert_eq!(
        config(&p, "merge.envcloak.driver").unwrap(),
        recorded(
            moved.to_str().unwrap(),
            "git merge-driver %O %A %B %P %S %X %Y"
        )
    );
    // While it is there, git runs it (nothing named envcloak on PATH).
    let log = p
        .command("git", &["log", "-p", "-1", "--", ".env.enc"])
        .env("PATH", &bare_path)
        .run()
        .ok();
    assert!(log.stdout().contains("+API_URL=[fp:"), "{}", log.stdout());
    log.hides(&x);

    std::fs::remove_file(&moved).unwrap();
    // Gone and nothing on PATH: git cannot run the textconv.
    let log = p
        .command("git", &["log", "-p", "-1", "--", ".env.enc"])
        .env("PATH", &bare_path)
        .run();
    assert_ne!(log.code, 0, "{}", log.stdout());
    // Gone, and envcloak on PATH: git runs that one.
    let shim = tools.p("bin");
    std::fs::create_dir_all(&shim).unwrap();
    std::os::unix::fs::symlink(common::BIN, shim.join("envcloak")).unwrap();
    let with_shim = format!("{}:{bare_path}", shim.display());
    let log = p
        .command("git", &["log", "-p", "-1", "--", ".env.enc"])
        .env("PATH", &with_shim)
        .run()
        .ok();
    assert!(log.stdout().contains("-API_URL=[fp:"), "{}", log.stdout());
    assert!(log.stdout().contains("+API_URL=[fp:"), "{}", log.stdout());
    log.hides(&x);
    // The merge driver too: a key-level merge of the two branches.
    let merge = p
        .command("git", &["merge", "-q", "--no-edit", "topic"])
        .env("PATH", &with_shim)
        .run()
        .ok();
    assert!(!merge.stderr.contains("CONFLICT"), "{}", merge.stderr);
    assert_encrypted(&p, ".env.enc");
    // The next envcloak command records itself.
    let out = p.envcloak(&["ls"]).run().ok();
    assert!(out.stderr.contains("configured"), "{}", out.stderr);
    assert_eq!(
        config(&p, "diff.envcloak.textconv").unwrap(),
        recorded(common::BIN, "git textconv")
    );
    let now = plaintext(&p);
    assert!(now.contains(&format!("SENTRY_DSN={y}\n")) && !now.contains("DB_PASSWORD"));
    assert_no_canaries(&p, &cs);
}

// ---------------------------------------------------------------------------
// git's own text conflict (a clone without the driver merged)
// ---------------------------------------------------------------------------

#[test]
fn a_text_conflict_made_without_the_driver_is_named_and_redone_with_it() {
    let (text, mut cs) = five();
    let (origin, alice, key) = start(&text);
    let bob = origin.clone_with_key(&key);
    let (ours, theirs) = (canary("ours"), canary("theirs"));
    cs.extend([ours.clone(), theirs.clone()]);
    set(&alice, "DB_PASSWORD", &theirs);
    commit_all(&alice, "alice");
    alice.git(&["push", "-q"]);
    set(&bob, "DB_PASSWORD", &ours);
    commit_all(&bob, "bob");
    // Bob's clone lost its merge driver (as a clone that never ran
    // envcloak before merging): git merges the token as text.
    bob.git(&["config", "--local", "--remove-section", "merge.envcloak"]);
    let out = git_any(&bob, &["pull", "--no-rebase", "--no-edit"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let on_disk = bob.read_string(".env.enc");
    assert!(on_disk.starts_with("<<<<<<< "), "not git's text conflict");
    bob.write(".env.example", "DB_PASSWORD=\n");
    for args in [&["get", "DB_PASSWORD"][..], &["check"], &["edit"]] {
        let out = bob.envcloak(args).env("EDITOR", "true").run().fails(2);
        out.error_says(&[
            ".env.enc",
            "git merged this file as text",
            "merge driver was not configured",
        ]);
        assert!(
            out.stderr.contains("envcloak git enroll")
                && out.stderr.contains("git checkout -m .env.enc"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("not base64"), "{}", out.stderr);
        out.hides(&ours).hides(&theirs);
    }
    // What the hint says: enroll, then redo the merge with the driver.
    bob.envcloak(&["git", "enroll"]).run().ok();
    let redo = git_any(&bob, &["checkout", "-m", ".env.enc"]);
    redo.hides(&ours).hides(&theirs);
    assert_encrypted(&bob, ".env.enc");
    let now = plaintext(&bob);
    assert!(
        now.contains(&format!(
            "<<<<<<< ours\nDB_PASSWORD={ours}\n=======\nDB_PASSWORD={theirs}\n>>>>>>> theirs\n"
        )),
        "not the driver's encrypted conflict"
    );
    assert_no_canaries(&bob, &cs);
    assert_no_canaries(&alice, &cs);
}

#[test]
fn enroll_help_says_what_merge_drivers_do_not_cover() {
    let p = Project::new();
    let help = p.envcloak(&["git", "enroll", "--help"]).run().ok();
    let text = help
        .stdout()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for needle in [
        "octopus strategy (git merge a b c)",
        "-X ours / -X theirs do not use merge drivers",
        "merge one branch at a time",
        "git checkout --theirs .env.enc",
        "Hooks are per clone",
        "git checkout -m .env.enc",
        "'envcloak' on PATH",
        "# [comment fp:...]",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}
