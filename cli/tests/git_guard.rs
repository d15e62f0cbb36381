//! The commit guard (`envcloak git enroll --hook`, DESIGN §8), driven
//! through real `git commit`s in real repositories: the hook git runs is
//! the one `enroll --hook` installed, and it runs the binary under test.
//!
//! Each test checks what the user sees (the commit refused or made, the
//! file and key named), that no canary value is ever printed, and ends
//! with a scan of every object in `.git` and of the work tree: a canary
//! may only be in the plaintext files the test wrote on purpose and the
//! guard refused, and then never in anything a commit reaches.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;

mod common;

use common::{Out, Project};

/// A random canary value (hex, 32 characters).
fn canary() -> String {
    let mut buf = [0u8; 16];
    getrandom::getrandom(&mut buf).unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A repository with the guard installed, a key in `.env.key`, and a
/// first commit holding `.gitignore` and a `.env.enc` with `entries`
/// (a `.env` is written, encrypted and removed).
fn guarded(entries: &str) -> Project {
    let p = Project::new();
    p.git_init();
    p.write(".env", entries);
    p.envcloak(&["encrypt"]).run().ok();
    std::fs::remove_file(p.p(".env")).unwrap();
    p.commit(&[".env.enc", ".gitignore"]);
    enroll(&p);
    p
}

/// `envcloak git enroll --hook`, which must install the hook.
fn enroll(p: &Project) -> Out {
    // The exit code of `git enroll` is the git helper's: checked once merged.
    let out = p.envcloak(&["git", "enroll", "--hook"]).run().ok();
    out.stderr_says(&["commit guard"]);
    out
}

/// `git add -f FILES` then `git commit`: the hook runs.
fn try_commit(p: &Project, files: &[&str]) -> Out {
    let mut args = vec!["add", "-f", "--"];
    args.extend_from_slice(files);
    p.git(&args);
    p.command("git", &["commit", "-q", "-m", "guarded"]).run()
}

/// Number of commits on HEAD (0 without one).
fn commits(p: &Project) -> usize {
    let out = p.command("git", &["rev-list", "--count", "HEAD"]).run();
    if out.code != 0 {
        return 0;
    }
    out.stdout().trim().parse().unwrap()
}

/// Paths in HEAD's tree.
fn committed(p: &Project) -> BTreeSet<String> {
    p.git(&["ls-tree", "-r", "--name-only", "HEAD"])
        .stdout()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Object ids and contents of every object in `.git`.
fn all_objects(p: &Project) -> Vec<(String, Vec<u8>)> {
    let out = p.git(&["cat-file", "--batch-all-objects", "--batch"]);
    let mut objects = Vec::new();
    let mut rest: &[u8] = &out.stdout;
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
        let parts: Vec<&str> = header.split(' ').collect();
        let size: usize = parts[2].parse().unwrap();
        let body = rest[nl + 1..nl + 1 + size].to_vec();
        objects.push((parts[0].to_owned(), body));
        rest = &rest[nl + 1 + size + 1..];
    }
    objects
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The staged blobs of `files` (`git rev-parse :FILE`): a refused file's
/// content, which `git add` stored in `.git` but no commit may reach.
fn staged_blobs(p: &Project, files: &[&str]) -> Vec<String> {
    files
        .iter()
        .map(|f| {
            p.git(&["rev-parse", &format!(":{f}")])
                .stdout()
                .trim()
                .to_owned()
        })
        .collect()
}

/// No canary in any git object or work-tree file, except in `plaintext`
/// (work-tree files the test wrote on purpose) and `refused` (blobs of
/// files the guard refused, see [`staged_blobs`]); no commit reaches any
/// of those.
#[track_caller]
fn assert_no_leak(p: &Project, canaries: &[&str], plaintext: &[&str], refused: &[String]) {
    let mut allowed: BTreeSet<String> = refused.iter().cloned().collect();
    for f in plaintext {
        allowed.insert(p.git(&["hash-object", "--", f]).stdout().trim().to_owned());
    }
    for (oid, body) in all_objects(p) {
        for c in canaries {
            assert!(
                !contains(&body, c) || allowed.contains(&oid),
                "a canary is in git object {oid}"
            );
        }
    }
    let reachable = p.command("git", &["rev-list", "--all", "--objects"]).run();
    for line in reachable.stdout().lines() {
        let oid = line.split(' ').next().unwrap();
        assert!(
            !allowed.contains(oid),
            "a refused file's blob was committed ({line})"
        );
    }
    for path in p.listing() {
        if path.starts_with(".git") || !p.p(path.to_str().unwrap()).is_file() {
            continue;
        }
        let name = path.to_str().unwrap();
        let body = p.read(name);
        for c in canaries {
            assert!(
                !contains(&body, c) || plaintext.contains(&name),
                "a canary is in the work-tree file {name}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Refused
// ---------------------------------------------------------------------------

#[test]
fn plaintext_env_files_are_refused_in_any_directory() {
    let secret = canary();
    let p = guarded(&format!("API_TOKEN={secret}\n"));
    let mut refused = Vec::new();
    for name in [".env", ".env.production", "config/.env", ".env.local"] {
        p.write(name, format!("API_TOKEN={secret}\n"));
        let out = try_commit(&p, &[name]).fails(1);
        out.hides(&secret)
            .error_says(&["commit refused"])
            .stderr_says(&[
                &format!("{name}: a plaintext env file"),
                "git rm --cached",
                "--no-verify",
            ]);
        assert_eq!(commits(&p), 1, "{name} was committed");
        refused.extend(staged_blobs(&p, &[name]));
        p.git(&["rm", "-q", "--cached", "--", name]);
    }
    assert!(!committed(&p).iter().any(|f| f.ends_with(".env")));
    assert_no_leak(
        &p,
        &[&secret],
        &[".env", ".env.production", "config/.env", ".env.local"],
        &refused,
    );
}

#[test]
fn key_files_are_refused() {
    let secret = canary();
    let p = guarded(&format!("API_TOKEN={secret}\n"));
    let key = p.key();
    for name in [".env.key", ".env.staging.key", "deploy/.env.key"] {
        if name != ".env.key" {
            p.write(name, format!("{key}\n"));
        }
        let out = try_commit(&p, &[name]).fails(1);
        out.hides(&key)
            .hides(&secret)
            .stderr_says(&[&format!("{name}: a key file"), "never be committed"]);
        assert_eq!(commits(&p), 1, "{name} was committed");
        p.git(&["rm", "-q", "--cached", "--", name]);
    }
    assert_no_leak(&p, &[&secret], &[], &[]);
}

/// A Fernet token of `plaintext` under `key`, as `.env.enc` holds one.
fn seal(key: &str, plaintext: &str) -> String {
    let f = fernet::Fernet::new(key).unwrap();
    format!("{}\n", f.encrypt(plaintext.as_bytes()))
}

#[test]
fn a_conflicted_env_enc_is_refused_naming_the_line_and_key() {
    let (ours, theirs) = (canary(), canary());
    let p = guarded("DEBUG=false\n");
    let key = p.key();
    p.write(
        ".env.enc",
        seal(
            &key,
            &format!(
                "DEBUG=false\n<<<<<<< yours\nSTRIPE_KEY={ours}\n=======\nSTRIPE_KEY={theirs}\n>>>>>>> theirs\n"
            ),
        ),
    );
    let out = try_commit(&p, &[".env.enc"]).fails(1);
    out.hides(&ours).hides(&theirs).stderr_says(&[
        ".env.enc: unresolved merge conflict at line 2 (key STRIPE_KEY)",
        "envcloak edit",
    ]);
    assert_eq!(commits(&p), 1);
    assert_no_leak(&p, &[&ours, &theirs], &[], &[]);
}

#[test]
fn an_env_enc_the_local_key_cannot_open_is_refused() {
    let secret = canary();
    let p = guarded("DEBUG=false\n");
    let other = fernet::Fernet::generate_key();
    p.write(".env.enc", seal(&other, &format!("TOKEN={secret}\n")));
    let out = try_commit(&p, &[".env.enc"]).fails(1);
    out.hides(&secret).hides(&other).stderr_says(&[
        ".env.enc",
        "tried the key from ",
        ".env.key",
        "the local key does not open it",
    ]);
    assert_eq!(commits(&p), 1);

    // Without any key, the guard cannot check it either.
    std::fs::remove_file(p.p(".env.key")).unwrap();
    let out = p
        .command("git", &["commit", "-q", "-m", "no key"])
        .run()
        .fails(1);
    out.hides(&secret)
        .stderr_says(&[".env.enc: no key here opens it"]);
    assert_eq!(commits(&p), 1);
    assert_no_leak(&p, &[&secret], &[], &[]);
}

#[test]
fn a_source_file_holding_a_secret_is_refused_naming_file_line_and_key() {
    let (stripe, db) = (canary(), canary());
    // 8 characters: searched for.
    let pin = &canary()[..8];
    let p = guarded(&format!(
        "STRIPE_KEY=sk_live_{stripe}\nDEBUG=false\nPIN={pin}\n"
    ));
    // A value only the plaintext .env holds is searched for too.
    p.write(".env", format!("DB_PASSWORD={db}\n"));
    p.write(
        "src/app.py",
        format!("import os\n\n# debug\nKEY = \"sk_live_{stripe}\"\n"),
    );
    p.write("src/db.py", format!("PASSWORD = '{db}'\n"));
    p.write("src/ok.py", "DEBUG = False\n");
    p.write("test/pin.txt", pin);
    let out = try_commit(
        &p,
        &["src/app.py", "src/db.py", "src/ok.py", "test/pin.txt"],
    )
    .fails(1);
    out.hides(&stripe).hides(&db).hides(pin).stderr_says(&[
        "src/app.py:4: holds the value of STRIPE_KEY (from .env.enc)",
        "src/db.py:1: holds the value of DB_PASSWORD (from .env)",
        "test/pin.txt:1: holds the value of PIN (from .env.enc)",
    ]);
    assert!(!out.stderr.contains("src/ok.py"), "{}", out.stderr);
    assert_eq!(commits(&p), 1);
    let refused = staged_blobs(&p, &["src/app.py", "src/db.py", "test/pin.txt"]);
    p.git(&["rm", "-q", "--cached", "--", "test/pin.txt"]);
    std::fs::remove_file(p.p("test/pin.txt")).unwrap();

    // The staged content counts, not the work tree's: fixing the file
    // without staging it is still refused; staging the fix lets it through.
    p.write("src/app.py", "import os\nKEY = os.environ['STRIPE_KEY']\n");
    p.write("src/db.py", "PASSWORD = None\n");
    p.command("git", &["commit", "-q", "-m", "x"])
        .run()
        .fails(1)
        .hides(&stripe);
    let out = try_commit(&p, &["src/app.py", "src/db.py"]).ok();
    out.hides(&stripe).hides(&db);
    assert_eq!(commits(&p), 2);
    assert_no_leak(&p, &[&stripe, &db, pin], &[".env"], &refused);
}

#[test]
fn a_secret_only_the_staged_env_enc_holds_is_searched_for() {
    let new = canary();
    let p = guarded("DEBUG=false\n");
    p.envcloak(&["set", "NEW_TOKEN"])
        .stdin(new.clone())
        .run()
        .ok();
    p.git(&["add", ".env.enc"]);
    // The work tree's .env.enc goes back; the staged one keeps NEW_TOKEN.
    let old = p.git(&["show", "HEAD:.env.enc"]).stdout().to_owned();
    p.write(".env.enc", old);
    p.write("notes.txt", format!("token: {new}\n"));
    let out = try_commit(&p, &["notes.txt"]).fails(1);
    out.hides(&new)
        .stderr_says(&["notes.txt:1: holds the value of NEW_TOKEN (from .env.enc)"]);
    assert_eq!(commits(&p), 1);
    let refused = staged_blobs(&p, &["notes.txt"]);
    assert_no_leak(&p, &[&new], &["notes.txt"], &refused);
}

// ---------------------------------------------------------------------------
// Allowed
// ---------------------------------------------------------------------------

#[test]
fn a_clean_commit_goes_through() {
    let secret = canary();
    // Values under 8 characters are not searched for (REGION: 7).
    let p = guarded(&format!(
        "SECRET_KEY={secret}\nDEBUG=false\nPORT=8080\nREGION=eu-west\n"
    ));
    // .env as `init` writes it: the example's values, public.
    p.write(
        ".env.example",
        "DATABASE_URL=postgres://localhost/app\nSECRET_KEY=\nDEBUG=false\n",
    );
    p.write(".env", "DATABASE_URL=postgres://localhost/app\n");
    p.write(
        "src/settings.py",
        "DATABASE_URL = 'postgres://localhost/app'\nDEBUG = 'false'\nPORT = 8080\n\
         REGION = 'eu-west'\n",
    );
    p.write(
        ".gitignore",
        format!("{}target/\n", p.read_string(".gitignore")),
    );
    p.write(".env.production.example", "PORT=80\n");
    p.envcloak(&["set", "PORT", "9090"]).run().ok();
    let out = try_commit(
        &p,
        &[
            ".env.example",
            ".env.production.example",
            ".env.enc",
            ".gitignore",
            "src/settings.py",
        ],
    )
    .ok();
    out.hides(&secret);
    assert_eq!(commits(&p), 2);
    assert!(committed(&p).contains("src/settings.py"));

    // A value the committed example gives the same key is public, even in
    // .env.enc.
    p.envcloak(&["set", "DATABASE_URL", "postgres://localhost/app"])
        .run()
        .ok();
    p.write("src/db.py", "URL = 'postgres://localhost/app'\n");
    try_commit(&p, &[".env.enc", "src/db.py"]).ok();
    assert_eq!(commits(&p), 3);
    assert_no_leak(&p, &[&secret], &[], &[]);
}

#[test]
fn a_secret_pasted_into_the_example_is_refused() {
    let secret = canary();
    let p = guarded(&format!("SECRET_KEY={secret}\n"));
    p.write(".env.example", "# generate one\nSECRET_KEY=\n");
    try_commit(&p, &[".env.example"]).ok();
    p.write(
        ".env.example",
        format!("# generate one\nSECRET_KEY={secret}\n"),
    );
    try_commit(&p, &[".env.example"])
        .fails(1)
        .hides(&secret)
        .stderr_says(&[".env.example:2: holds the value of SECRET_KEY (from .env.enc)"]);
    assert_eq!(commits(&p), 2);
    let refused = staged_blobs(&p, &[".env.example"]);
    p.write(".env.example", "# generate one\nSECRET_KEY=\n");
    p.git(&["add", ".env.example"]);
    assert_no_leak(&p, &[&secret], &[], &refused);
}

#[test]
fn an_example_default_that_env_enc_copied_is_public_at_its_first_commit() {
    // `init --encrypt` copies the example's defaults into .env.enc: the
    // first commit of that example must not be refused for them.
    let p = guarded("DATABASE_URL=postgres://localhost/app\nAPI_TOKEN=\n");
    p.write(
        ".env.example",
        "DATABASE_URL=postgres://localhost/app\nAPI_TOKEN=\n",
    );
    try_commit(&p, &[".env.example"]).ok();
    assert_eq!(commits(&p), 2);
}

#[test]
fn the_first_commit_of_a_repository_is_checked_too() {
    let secret = canary();
    let p = Project::new();
    p.git_init();
    enroll(&p);
    p.write(".env", format!("TOKEN={secret}\n"));
    p.envcloak(&["encrypt"]).run().ok();
    p.write("README", format!("the token is {secret}\n"));
    let out = try_commit(&p, &["README", ".env.enc", ".gitignore"]).fails(1);
    out.hides(&secret)
        .stderr_says(&["README:1: holds the value of TOKEN"]);
    assert_eq!(commits(&p), 0);
    let refused = staged_blobs(&p, &["README"]);
    p.write("README", "read the docs\n");
    try_commit(&p, &["README"]).ok();
    assert_eq!(commits(&p), 1);
    assert_no_leak(&p, &[&secret], &[".env"], &refused);
}

// ---------------------------------------------------------------------------
// Installing, chaining, removing
// ---------------------------------------------------------------------------

#[test]
fn an_existing_hook_is_chained_still_runs_still_blocks_and_comes_back() {
    let secret = canary();
    let p = Project::new();
    p.git_init();
    p.write(".env", format!("TOKEN={secret}\n"));
    p.envcloak(&["encrypt"]).run().ok();
    std::fs::remove_file(p.p(".env")).unwrap();
    let original = "#!/bin/sh\n# the team's lint\necho ran >> hook-ran.log\n[ ! -e block ]\n";
    p.write_mode(".git/hooks/pre-commit", original, 0o750);
    enroll(&p).stderr_says(&["runs first"]);
    // Twice: still one guard, the user's hook chained once.
    enroll(&p).stderr_says(&["already installed"]);
    assert_eq!(
        p.read_string(".git/hooks/pre-commit.envcloak-chained"),
        original
    );

    // Both run: the user's hook, then the guard.
    p.write("src/a.txt", format!("leak {secret}\n"));
    try_commit(&p, &["src/a.txt"])
        .fails(1)
        .hides(&secret)
        .stderr_says(&["src/a.txt:1: holds the value of TOKEN"]);
    assert_eq!(p.read_string("hook-ran.log"), "ran\n");
    p.git(&["rm", "-q", "--cached", "--", "src/a.txt"]);
    std::fs::remove_file(p.p("src/a.txt")).unwrap();

    // The user's hook failing refuses a clean commit.
    p.write("block", "");
    p.write("src/b.txt", "fine\n");
    try_commit(&p, &["src/b.txt", ".env.enc", ".gitignore"]).code(1);
    assert_eq!(commits(&p), 0);
    std::fs::remove_file(p.p("block")).unwrap();
    p.command("git", &["commit", "-q", "-m", "ok"]).run().ok();
    assert_eq!(commits(&p), 1);
    assert_eq!(p.read_string("hook-ran.log"), "ran\nran\nran\n");

    // disenroll puts the user's hook back exactly.
    p.envcloak(&["git", "disenroll"])
        .run()
        .stderr_says(&["removed the commit guard", "back in its place"]);
    assert_eq!(p.read_string(".git/hooks/pre-commit"), original);
    assert_eq!(p.mode(".git/hooks/pre-commit"), 0o750);
    assert!(!p.exists(".git/hooks/pre-commit.envcloak-chained"));
    // And the guard no longer runs.
    p.write("src/c.txt", format!("leak {secret}\n"));
    try_commit(&p, &["src/c.txt"]).ok();
    assert_no_leak_except_commit(&p, &secret);
}

/// After disenroll the test commits a canary on purpose: only that
/// committed file may hold it.
fn assert_no_leak_except_commit(p: &Project, secret: &str) {
    let leaked = p
        .git(&["hash-object", "--", "src/c.txt"])
        .stdout()
        .trim()
        .to_owned();
    for (oid, body) in all_objects(p) {
        assert!(!contains(&body, secret) || oid == leaked, "canary in {oid}");
    }
}

#[test]
fn without_a_previous_hook_disenroll_removes_the_guard() {
    let p = guarded("DEBUG=false\n");
    assert!(p.exists(".git/hooks/pre-commit"));
    let mode = std::fs::metadata(p.p(".git/hooks/pre-commit"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "the hook is executable");
    assert!(!p.exists(".git/hooks/pre-commit.envcloak-chained"));
    assert!(!p.exists(".git/hooks/.gitignore"));
    p.envcloak(&["git", "disenroll"])
        .run()
        .stderr_says(&["removed the commit guard"]);
    assert!(!p.exists(".git/hooks/pre-commit"));
    p.write(".env", "A=1\n");
    try_commit(&p, &[".env"]).ok();
}

#[test]
fn core_hooks_path_is_respected() {
    let secret = canary();
    let p = Project::new();
    p.git_init();
    p.git(&["config", "core.hooksPath", ".githooks"]);
    p.write_mode(
        ".githooks/pre-commit",
        "#!/bin/sh\necho theirs >> ran.log\n",
        0o755,
    );
    p.write(".env", format!("TOKEN={secret}\n"));
    p.envcloak(&["encrypt"]).run().ok();
    enroll(&p).stderr_says(&[".githooks/pre-commit"]);
    assert!(!p.exists(".git/hooks/pre-commit"));
    assert!(p.exists(".githooks/pre-commit.envcloak-chained"));
    try_commit(&p, &[".env", ".env.enc"])
        .fails(1)
        .hides(&secret)
        .stderr_says(&[".env: a plaintext env file"]);
    assert_eq!(p.read_string("ran.log"), "theirs\n");
    assert_eq!(commits(&p), 0);
    let refused = staged_blobs(&p, &[".env"]);
    p.git(&["rm", "-q", "--cached", "--", ".env"]);
    try_commit(&p, &[".env.enc", ".gitignore"]).ok();
    assert_eq!(commits(&p), 1);
    assert_no_leak(&p, &[&secret], &[".env"], &refused);
}

#[test]
fn a_guard_whose_binary_moved_falls_back_to_path_or_refuses_clearly() {
    let p = guarded("DEBUG=false\n");
    let hook = p.read_string(".git/hooks/pre-commit");
    let moved = hook.replace(common::BIN, "/nonexistent/envcloak");
    assert_ne!(
        moved, hook,
        "the hook names the binary by its absolute path"
    );
    p.write(".git/hooks/pre-commit", moved);
    // A PATH with git and dirname only: no envcloak to fall back on.
    let bin = p.mkdir("bin");
    for tool in ["git", "dirname"] {
        let found = p.sh(&format!("command -v {tool}")).run().ok();
        std::os::unix::fs::symlink(found.stdout().trim(), bin.join(tool)).unwrap();
    }
    p.write("a.txt", "a\n");
    p.git(&["add", "a.txt"]);
    p.command("git", &["commit", "-q", "-m", "moved"])
        .env("PATH", &bin)
        .run()
        .code(1)
        .stderr_says(&["envcloak is not installed", "--no-verify"]);
    assert_eq!(commits(&p), 1);
    // An envcloak on PATH is used instead.
    p.script("bin/envcloak", "echo \"fallback: $*\" >&2");
    p.command("git", &["commit", "-q", "-m", "moved"])
        .env("PATH", &bin)
        .run()
        .ok()
        .stderr_says(&["fallback: git pre-commit"]);
    assert_eq!(commits(&p), 2);
}

#[test]
fn profile_files_are_opened_with_their_own_key_and_searched() {
    let (team, staging) = (canary(), canary());
    let p = guarded(&format!("TEAM_TOKEN={team}\n"));
    let staging_key = p.keygen();
    p.write(
        ".env.staging.enc",
        seal(&staging_key, &format!("STAGING_TOKEN={staging}\n")),
    );
    p.write("deploy/staging.yml", format!("token: {staging}\n"));
    // Without its own key, the key search falls back to .env.key, which
    // does not open it.
    try_commit(&p, &[".env.staging.enc"])
        .fails(1)
        .hides(&staging)
        .stderr_says(&[
            ".env.staging.enc: authentication failed",
            "tried the key from .env.key",
        ]);
    // With ENVCLOAK_KEY_STAGING it opens, and its values are searched for.
    p.git(&["add", "deploy/staging.yml"]);
    p.command("git", &["commit", "-q", "-m", "staging"])
        .env("ENVCLOAK_KEY_STAGING", &staging_key)
        .run()
        .fails(1)
        .hides(&staging)
        .hides(&staging_key)
        .stderr_says(&[
            "deploy/staging.yml:1: holds the value of STAGING_TOKEN (from .env.staging.enc)",
        ]);
    let refused = staged_blobs(&p, &["deploy/staging.yml"]);
    p.git(&["rm", "-q", "--cached", "--", "deploy/staging.yml"]);
    std::fs::remove_file(p.p("deploy/staging.yml")).unwrap();
    p.command("git", &["commit", "-q", "-m", "staging"])
        .env("ENVCLOAK_KEY_STAGING", &staging_key)
        .run()
        .ok();
    assert_eq!(commits(&p), 2);
    assert_no_leak(&p, &[&team, &staging], &[], &refused);
}

#[test]
fn enroll_outside_a_repository_is_a_clear_error() {
    let p = Project::new();
    p.envcloak(&["git", "enroll", "--hook"])
        .run()
        .fails(2)
        .error_says(&["not in a git repository"])
        .stderr_says(&["git init"]);
    assert!(p.names().is_empty(), "nothing written: {:?}", p.names());
}

// ---------------------------------------------------------------------------
// Monorepos, parts of values, the parser's idea of a conflict
// ---------------------------------------------------------------------------

/// `envcloak encrypt` run in `dir` (its `.env` becomes `.env.enc`, with a
/// new `.env.key` beside it), `.env` kept.
fn encrypt_in(p: &Project, dir: &str) {
    p.sh(&format!("cd {dir} && \"$EC\" encrypt")).run().ok();
}

#[test]
fn values_of_env_files_in_subdirectories_are_searched_each_with_its_own_key() {
    let (api, web, plain) = (canary(), canary(), canary());
    let p = Project::new();
    p.git_init();
    // Each service has its own .env.enc and its own key; no root file.
    p.write(
        "svc/api/.env",
        format!("API_TOKEN={api}\nDATABASE_URL=postgres://localhost/api\n"),
    );
    encrypt_in(&p, "svc/api");
    p.write("svc/web/.env", format!("WEB_TOKEN={web}\n"));
    encrypt_in(&p, "svc/web");
    assert_ne!(p.read("svc/api/.env.key"), p.read("svc/web/.env.key"));
    // The example next to svc/api's file makes its DATABASE_URL public.
    p.write(
        "svc/api/.env.example",
        "DATABASE_URL=postgres://localhost/api\n",
    );
    enroll(&p);
    let mut args = vec!["add", "-f", "--"];
    let files = [
        "svc/api/.env.enc",
        "svc/api/.env.example",
        "svc/api/.gitignore",
        "svc/web/.env.enc",
        "svc/web/.gitignore",
    ];
    args.extend_from_slice(&files);
    p.git(&args);
    p.command("git", &["commit", "-q", "-m", "services"])
        .run()
        .ok()
        .hides(&api)
        .hides(&web);
    assert_eq!(commits(&p), 1);
    // A value only the (ignored) plaintext .env of a service holds.
    p.write(
        "svc/api/.env",
        format!("API_TOKEN={api}\nDATABASE_URL=postgres://localhost/api\nLOCAL_ONLY={plain}\n"),
    );

    p.write("leak.txt", format!("v={api}\n"));
    p.write("docs/web.md", format!("# web\n\ntoken {web}\n"));
    p.write("src/local.txt", format!("{plain}\n"));
    p.write("src/db.txt", "url = postgres://localhost/api\n");
    let out = try_commit(
        &p,
        &["leak.txt", "docs/web.md", "src/local.txt", "src/db.txt"],
    )
    .fails(1);
    out.hides(&api).hides(&web).hides(&plain).stderr_says(&[
        "leak.txt:1: holds the value of API_TOKEN (from svc/api/.env.enc)",
        "docs/web.md:3: holds the value of WEB_TOKEN (from svc/web/.env.enc)",
        "src/local.txt:1: holds the value of LOCAL_ONLY (from svc/api/.env)",
    ]);
    assert!(!out.stderr.contains("src/db.txt"), "{}", out.stderr);
    // The same value in .env and .env.enc is reported once.
    assert!(
        !out.stderr.contains("API_TOKEN (from svc/api/.env):"),
        "{}",
        out.stderr
    );
    assert_eq!(commits(&p), 1);
    let refused = staged_blobs(&p, &["leak.txt", "docs/web.md", "src/local.txt"]);
    for f in ["leak.txt", "docs/web.md", "src/local.txt"] {
        p.git(&["rm", "-q", "--cached", "--", f]);
        std::fs::remove_file(p.p(f)).unwrap();
    }
    try_commit(&p, &["src/db.txt"]).ok();
    assert_eq!(commits(&p), 2);
    assert_no_leak(
        &p,
        &[&api, &web, &plain],
        &["svc/api/.env", "svc/web/.env"],
        &refused,
    );
}

#[test]
fn lines_of_a_multi_line_value_and_a_url_password_are_searched() {
    let (l1, l2, pw) = (canary(), canary(), canary());
    let p = guarded(&format!(
        "PRIVATE_KEY=\"-----BEGIN PRIVATE KEY-----\n{l1}\n{l2}\n-----END PRIVATE KEY-----\"\n\
         DATABASE_URL=postgres://app:{pw}@db.internal:5432/app\n\
         LOCAL_URL=postgres://postgres:postgres@localhost/app\n"
    ));
    // The key pasted with CRLF endings, half of it, the password alone.
    p.write(
        "deploy/key.pem",
        format!("-----BEGIN PRIVATE KEY-----\r\n{l1}\r\n{l2}\r\n-----END PRIVATE KEY-----\r\n"),
    );
    p.write("deploy/half.txt", format!("first\n  {l2}\n"));
    p.write("scripts/db.sh", format!("export PGPASSWORD='{pw}'\n"));
    // The whole value still counts as the value.
    p.write(
        "deploy/whole.txt",
        format!("-----BEGIN PRIVATE KEY-----\n{l1}\n{l2}\n-----END PRIVATE KEY-----"),
    );
    // The PEM armour and a local-development password are no secrets.
    p.write(
        "docs/keys.md",
        "Paste a key (-----BEGIN PRIVATE KEY-----) into postgres, as postgres.\n",
    );
    let staged = [
        "deploy/key.pem",
        "deploy/half.txt",
        "scripts/db.sh",
        "deploy/whole.txt",
        "docs/keys.md",
    ];
    let out = try_commit(&p, &staged).fails(1);
    out.hides(&l1).hides(&l2).hides(&pw).stderr_says(&[
        "deploy/key.pem:2: holds part of the value of PRIVATE_KEY (from .env.enc)",
        "deploy/half.txt:2: holds part of the value of PRIVATE_KEY (from .env.enc)",
        "scripts/db.sh:1: holds part of the value of DATABASE_URL (from .env.enc)",
        "deploy/whole.txt:1: holds the value of PRIVATE_KEY (from .env.enc)",
    ]);
    assert!(!out.stderr.contains("docs/keys.md"), "{}", out.stderr);
    assert!(!out.stderr.contains("LOCAL_URL"), "{}", out.stderr);
    assert_eq!(commits(&p), 1);
    let refused = staged_blobs(&p, &staged[..4]);
    for f in &staged[..4] {
        p.git(&["rm", "-q", "--cached", "--", f]);
        std::fs::remove_file(p.p(f)).unwrap();
    }
    try_commit(&p, &["docs/keys.md"]).ok();
    assert_eq!(commits(&p), 2);
    assert_no_leak(&p, &[&l1, &l2, &pw], &[], &refused);
}

#[test]
fn a_marker_inside_a_quoted_value_is_not_a_conflict() {
    let p = Project::new();
    p.git_init();
    p.write(".env", "B2=\"a\n<<<<<<< ours\nb\"\n");
    p.envcloak(&["encrypt"]).run().ok();
    // Loading accepts the file...
    p.envcloak(&["get", "B2"]).run().ok();
    enroll(&p);
    // ...and so does the guard.
    try_commit(&p, &[".env.enc", ".gitignore"])
        .ok()
        .hides("<<<<<<<");
    assert_eq!(commits(&p), 1);
}

#[test]
fn a_refusal_says_the_staged_blob_stays_until_unstaged_and_pruned() {
    let secret = canary();
    let p = guarded(&format!("API_TOKEN={secret}\n"));
    p.write("notes.txt", format!("token {secret}\n"));
    try_commit(&p, &["notes.txt"])
        .fails(1)
        .hides(&secret)
        .stderr_says(&[
            "still in .git/objects",
            "git restore --staged FILE",
            "git rm --cached FILE",
            "git gc --prune=now",
        ]);
    assert!(
        all_objects(&p).iter().any(|(_, b)| contains(b, &secret)),
        "git add stored the staged file in .git/objects"
    );
    // Doing what the hint says removes it.
    p.git(&["restore", "--staged", "notes.txt"]);
    p.git(&["gc", "-q", "--prune=now"]);
    assert!(
        !all_objects(&p).iter().any(|(_, b)| contains(b, &secret)),
        "the refused blob is still in .git/objects"
    );
    assert_eq!(commits(&p), 1);
    assert_no_leak(&p, &[&secret], &["notes.txt"], &[]);
}
