//! The README's "Working as a team" section, as a test: two people share a
//! project through a bare repository, from the first commit through clone,
//! `init`, `set`, branches, a clean merge, a conflict resolved with `edit`,
//! and review with `git log -p` and `envcloak diff`. At the end no canary
//! value is in any git object or work-tree file of either clone or the
//! origin (only in the gitignored `.env` files, which are removed first).

mod common;
mod gitrepo;

use common::Project;
use gitrepo::{Origin, assert_encrypted, assert_no_canaries, canary, git_any};

const EXAMPLE: &str = "\
# Signs sessions.
# @generate fernet
SECRET_KEY=
DATABASE_URL=postgres://localhost/app
STRIPE_KEY=
# @optional @type bool
DEBUG=false
# Personal: each developer picks their own.
# @optional
LOG_LEVEL=info
";

fn get(p: &Project, key: &str) -> String {
    p.envcloak(&["get", key])
        .run()
        .ok()
        .stdout()
        .trim_end()
        .to_owned()
}

#[test]
fn two_people_clone_init_branch_merge_conflict_and_review() {
    let stripe = canary("stripe");
    let db = canary("db");
    let stripe_b = canary("stripe-bob");
    let stripe_a = canary("stripe-alice");
    let feature_a = canary("feature-a");
    let feature_b = canary("feature-b");
    let all = [&stripe, &db, &stripe_b, &stripe_a, &feature_a, &feature_b]
        .map(|s| s.to_string())
        .to_vec();

    // Alice starts the project: the example, a key, the team values, the
    // drivers and the commit guard.
    let origin = Origin::new();
    let alice = origin.clone_repo();
    alice.write(".env.example", EXAMPLE);
    alice.envcloak(&["keygen", "--write"]).run().ok();
    alice.envcloak(&["init", "--encrypt"]).run().ok();
    alice.envcloak(&["unset", "LOG_LEVEL"]).run().ok();
    alice
        .envcloak(&["set", "STRIPE_KEY", &stripe])
        .run()
        .ok()
        .hides(&stripe);
    alice
        .envcloak(&["set", "DATABASE_URL", &db])
        .run()
        .ok()
        .hides(&db);
    let out = alice.envcloak(&["git", "enroll", "--hook"]).run().ok();
    assert!(out.stderr.contains(".gitattributes"), "{}", out.stderr);
    alice.git(&["add", "-A"]);
    let staged = alice.git(&["diff", "--cached", "--name-only"]);
    assert!(
        !staged.stdout().lines().any(|l| l == ".env.key"),
        "the key file is gitignored: {}",
        staged.stdout()
    );
    alice.git(&["commit", "-q", "-m", "start"]);
    alice.git(&["push", "-q", "-u", "origin", "main"]);
    let key = alice.key();

    // Bob clones and gets the key privately. `init` writes only what no
    // other layer supplies: the team's values stay visible.
    let bob = origin.clone_with_key(&key);
    let out = bob.envcloak(&["init"]).run().ok();
    out.hides(&stripe).hides(&db);
    // The fresh clone's drivers were configured by the first command.
    assert!(
        out.stderr.contains("configured") && out.stderr.contains("enroll --hook"),
        "init in a fresh enrolled clone sets up the drivers: {}",
        out.stderr
    );
    let env = bob.read_string(".env");
    assert!(
        env.contains("# STRIPE_KEY comes from .env.enc; uncomment to override"),
        "{env}"
    );
    assert!(!env.lines().any(|l| l.starts_with("STRIPE_KEY=")), "{env}");
    assert!(
        env.contains("# SECRET_KEY comes from .env.enc; uncomment to override"),
        "{env}"
    );
    let live: Vec<&str> = env
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(live, ["LOG_LEVEL=info"], "{env}");
    assert_eq!(get(&bob, "STRIPE_KEY"), stripe);
    assert_eq!(get(&bob, "DATABASE_URL"), db);
    let check = bob.envcloak(&["check", "--strict"]).run();
    assert_eq!(check.code, 0, "{}{}", check.stdout(), check.stderr);

    // An override in .env is visible: `set` warns that it hides the change.
    bob.write(".env", format!("{}DEBUG=true\n", bob.read_string(".env")));
    let out = bob.envcloak(&["set", "DEBUG", "false"]).run().ok();
    assert!(
        out.stderr.contains("DEBUG is also set at .env:"),
        "{}",
        out.stderr
    );
    let ls = bob.envcloak(&["ls", "--all"]).run().ok();
    assert!(ls.stdout().contains("(hidden by .env:"), "{}", ls.stdout());
    bob.envcloak(&["check"]).run().ok();
    bob.envcloak(&["check", "--strict"]).run().code(1);
    bob.git(&["checkout", "-q", "--", ".env.enc"]);

    // Each works on a branch; both change STRIPE_KEY differently.
    alice.git(&["checkout", "-q", "-b", "feature-a"]);
    alice.envcloak(&["set", "FEATURE_A", &feature_a]).run().ok();
    alice.envcloak(&["set", "STRIPE_KEY", &stripe_a]).run().ok();
    alice.git(&["commit", "-q", "-am", "feature a"]);
    alice.git(&["push", "-q", "-u", "origin", "feature-a"]);

    bob.git(&["checkout", "-q", "-b", "feature-b"]);
    bob.envcloak(&["set", "FEATURE_B", &feature_b]).run().ok();
    bob.envcloak(&["set", "STRIPE_KEY", &stripe_b]).run().ok();
    bob.git(&["commit", "-q", "-am", "feature b"]);

    // Review: names and fingerprints, never values.
    let log = bob.git(&["log", "-p", "-1"]);
    assert!(log.stdout().contains("+FEATURE_B=[fp:"), "{}", log.stdout());
    assert!(
        log.stdout().contains("+STRIPE_KEY=[fp:"),
        "{}",
        log.stdout()
    );
    log.hides(&feature_b).hides(&stripe_b).hides(&stripe);
    let diff = bob.envcloak(&["diff", "main", "feature-b"]).run().ok();
    diff.stdout_is(&["added    FEATURE_B", "changed  STRIPE_KEY"]);

    // Bob merges Alice's branch: FEATURE_A comes in cleanly, STRIPE_KEY
    // conflicts, and the file stays encrypted.
    bob.git(&["fetch", "-q"]);
    let merge = git_any(&bob, &["merge", "--no-edit", "origin/feature-a"]);
    assert_ne!(merge.code, 0, "a conflict");
    merge.hides(&stripe_a).hides(&stripe_b);
    assert!(
        merge.stderr.contains("STRIPE_KEY") || merge.stdout().contains("STRIPE_KEY"),
        "the driver names the key: {}{}",
        merge.stdout(),
        merge.stderr
    );
    assert_encrypted(&bob, ".env.enc");
    let out = bob.envcloak(&["get", "FEATURE_A"]).run().fails(2);
    assert!(
        out.error()
            .contains("unresolved merge conflict at .env.enc:"),
        "{}",
        out.error()
    );
    assert!(out.error().contains("STRIPE_KEY"), "{}", out.error());
    out.hides(&stripe_a).hides(&stripe_b);

    // Bob resolves it in `edit`, keeping Alice's value.
    let editor = bob.script(
        "keep-theirs.sh",
        "sed -i -e '/^<<<<<<< /,/^=======$/d' -e '/^>>>>>>> /d' \"$1\"",
    );
    bob.envcloak(&["edit"])
        .env("EDITOR", editor.as_os_str())
        .run()
        .ok();
    std::fs::remove_file(&editor).unwrap();
    assert_encrypted(&bob, ".env.enc");
    assert_eq!(get(&bob, "STRIPE_KEY"), stripe_a);
    assert_eq!(get(&bob, "FEATURE_A"), feature_a);
    assert_eq!(get(&bob, "FEATURE_B"), feature_b);
    bob.git(&["add", ".env.enc"]);
    bob.git(&["commit", "-q", "--no-edit"]);

    // The commit guard: .env and the key never get in, nor a pasted value.
    // Hooks are not cloned: Bob installs it in his clone.
    let out = bob.envcloak(&["git", "enroll", "--hook"]).run().ok();
    assert!(out.stderr.contains("commit guard"), "{}", out.stderr);
    bob.write("config.py", format!("STRIPE = '{stripe_a}'\n"));
    bob.git(&["add", "-f", ".env", "config.py"]);
    let refused = git_any(&bob, &["commit", "-q", "-m", "oops"]);
    assert_ne!(refused.code, 0, "the guard refuses");
    assert!(refused.stderr.contains(".env"), "{}", refused.stderr);
    assert!(refused.stderr.contains("config.py"), "{}", refused.stderr);
    assert!(refused.stderr.contains("STRIPE_KEY"), "{}", refused.stderr);
    refused.hides(&stripe_a);
    bob.git(&["reset", "-q"]);
    std::fs::remove_file(bob.p("config.py")).unwrap();

    bob.git(&["push", "-q", "-u", "origin", "feature-b"]);
    alice.git(&["fetch", "-q"]);
    alice.git(&["merge", "-q", "--ff-only", "origin/feature-b"]);
    assert_eq!(get(&alice, "FEATURE_B"), feature_b);
    assert_eq!(get(&alice, "STRIPE_KEY"), stripe_a);

    // Nothing in plaintext anywhere git keeps things. The refused `git add`
    // stored `.env` and config.py as loose objects in Bob's clone: git's own
    // garbage collection removes unreachable ones.
    bob.git(&["reflog", "expire", "--expire=now", "--all"]);
    bob.git(&["gc", "-q", "--prune=now"]);
    for p in [&alice, &bob] {
        std::fs::remove_file(p.p(".env")).ok();
        assert_no_canaries(p, &all);
    }
    assert_no_canaries(&origin.bare, &all);
}
