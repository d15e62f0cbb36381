//! Per-person access through the real binary (DESIGN §9, issue 15): the
//! project's Fernet keyring sealed to each member's SSH or age key.
//!
//! Every person has their own `HOME` with keys made by the real
//! `ssh-keygen`; CI has an age identity given as `ENVCLOAK_IDENTITY`. The
//! reference `age` CLI checks that a removed member's own key no longer
//! opens the sealed keyring. Tools that are missing fail the test under
//! `CI`, and skip it with a note elsewhere.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;
use common::{Out, Project, Run};

const SECRETS: &str = "SECRET_KEY=s3cret-value-9f8e7d\nAPI_TOKEN=tok-123456789abc\n";

/// Whether `tool` runs here; under `CI` a missing tool is a failure.
fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is needed for the team access tests (install it in .ci/run)"
        );
        eprintln!("note: {tool} is not installed: test skipped");
    }
    found
}

/// `ssh-keygen` exists (it has no --version: `-?` exits 1 after usage).
fn have_ssh_keygen() -> bool {
    let found = Command::new("ssh-keygen")
        .arg("-?")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "ssh-keygen is needed for the team access tests (install openssh-client in .ci/run)"
        );
        eprintln!("note: ssh-keygen is not installed: test skipped");
    }
    found
}

/// A person with a home of their own and an SSH key in it.
struct Person {
    home: tempfile::TempDir,
    key: PathBuf,
}

impl Person {
    fn ssh(name: &str, kind: &str, passphrase: &str) -> Person {
        let home = tempfile::Builder::new()
            .prefix(&format!("envcloak-home-{name}-"))
            .tempdir()
            .unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        let file = if kind == "rsa" {
            "id_rsa"
        } else {
            "id_ed25519"
        };
        let key = home.path().join(".ssh").join(file);
        let mut args = vec!["-q", "-t", kind, "-N", passphrase, "-f"];
        let key_s = key.to_str().unwrap().to_owned();
        args.push(&key_s);
        let comment = format!("{name}@laptop");
        args.extend(["-C", &comment]);
        if kind == "rsa" {
            args.extend(["-b", "3072"]);
        }
        let st = Command::new("ssh-keygen")
            .args(&args)
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "ssh-keygen failed");
        Person { home, key }
    }

    /// A person with no key at all (for CI's age identity).
    fn bare(name: &str) -> Person {
        let home = tempfile::Builder::new()
            .prefix(&format!("envcloak-home-{name}-"))
            .tempdir()
            .unwrap();
        let key = home.path().join("none");
        Person { home, key }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn pub_file(&self) -> String {
        format!("{}.pub", self.key.display())
    }

    fn pub_line(&self) -> String {
        std::fs::read_to_string(self.pub_file())
            .unwrap()
            .trim()
            .to_owned()
    }

    fn private_text(&self) -> String {
        std::fs::read_to_string(&self.key).unwrap()
    }
}

/// `envcloak ARGS` as `who`.
fn as_<'a>(p: &'a Project, who: &Person, args: &[&str]) -> Run<'a> {
    p.envcloak(args).env("HOME", who.home())
}

/// The project: `.env.enc` made with a key in `.env.key` by `who`, no `.env`.
fn project_by(who: &Person) -> Project {
    let p = Project::new();
    p.write(".env", SECRETS);
    as_(&p, who, &["encrypt"]).run().ok();
    std::fs::remove_file(p.p(".env")).unwrap();
    p
}

/// `decrypt` as `who` gives the secrets.
#[track_caller]
fn can_decrypt(who: Run<'_>) {
    let out = who.run().ok();
    assert_eq!(out.stdout(), SECRETS);
}

/// A body line of a private key (what must never be echoed).
fn private_body_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.starts_with("-----") && l.len() > 20)
        .unwrap()
        .to_owned()
}

/// `run` as a member sees the secret.
#[track_caller]
fn run_sees_secret(r: Run<'_>) {
    let out = r.run().ok();
    assert_eq!(out.stdout(), "s3cret-value-9f8e7d");
}

fn run_args() -> [&'static str; 5] {
    ["run", "--", "sh", "-c", "printf %s \"$SECRET_KEY\""]
}

/// The CI identity: made by `team whoami` in a home without SSH keys.
fn ci_identity(p: &Project) -> (Person, String, String) {
    let ci = Person::bare("ci");
    let out = as_(p, &ci, &["team", "whoami"]).run().ok();
    let recipient = out.stdout().trim().to_owned();
    assert!(recipient.starts_with("age1"), "{recipient}");
    let file = ci.home().join(".config/envcloak/identity.txt");
    let mode = std::fs::metadata(&file).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    assert!(
        out.stderr.contains("created a new age identity"),
        "{}",
        out.stderr
    );
    let identity = std::fs::read_to_string(&file).unwrap();
    assert!(identity.contains("AGE-SECRET-KEY-1"));
    // Only the public part is printed.
    out.hides(&private_body_line(&format!(
        "x\n{}",
        identity.lines().last().unwrap()
    )));
    // Asked again: the same recipient, nothing created.
    let again = as_(p, &ci, &["team", "whoami"]).run().ok();
    assert_eq!(again.stdout().trim(), recipient);
    assert!(!again.stderr.contains("created"));
    (ci, recipient, identity)
}

/// A team of alice (creator, ed25519), bob (ed25519) and carol (rsa).
fn team_of_three() -> Option<(Project, Person, Person, Person)> {
    if !have_ssh_keygen() {
        return None;
    }
    let alice = Person::ssh("alice", "ed25519", "");
    let bob = Person::ssh("bob", "ed25519", "");
    let carol = Person::ssh("carol", "rsa", "");
    let p = project_by(&alice);
    // Alice seals the keyring to herself (name from the key's comment).
    let out = as_(&p, &alice, &["team", "add", &alice.pub_file()])
        .run()
        .ok();
    assert!(
        out.stdout().starts_with("added alice (ssh-ed25519 SHA256:"),
        "{}",
        out.stdout()
    );
    assert!(
        out.stderr
            .contains("created .env.key.age from the key in .env.key")
    );
    // A .pub file, and a pasted line with a chosen name.
    as_(&p, &alice, &["team", "add", &bob.pub_file()])
        .run()
        .ok();
    as_(
        &p,
        &alice,
        &["team", "add", "--name", "carol", &carol.pub_line()],
    )
    .run()
    .ok();
    assert!(p.exists(".env.key"), "team add leaves .env.key alone");
    std::fs::remove_file(p.p(".env.key")).unwrap();
    let sealed = p.read_string(".env.key.age");
    assert!(sealed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
    assert!(
        sealed
            .trim_end()
            .ends_with("-----END AGE ENCRYPTED FILE-----")
    );
    Some((p, alice, bob, carol))
}

#[test]
fn each_member_opens_with_only_their_own_ssh_key() {
    let Some((p, alice, bob, carol)) = team_of_three() else {
        return;
    };
    for who in [&alice, &bob, &carol] {
        can_decrypt(as_(&p, who, &["decrypt"]));
        run_sees_secret(as_(&p, who, &run_args()));
    }
    // The recipients file is plain text: names and public keys.
    let recipients = p.read_string(".env.recipients");
    for (name, who) in [("alice", &alice), ("bob", &bob), ("carol", &carol)] {
        let key = who.pub_line();
        let key2: Vec<&str> = key.split_whitespace().take(2).collect();
        assert!(
            recipients.contains(&format!("{name} {}", key2.join(" "))),
            "{recipients}"
        );
    }
    // ls: names, types, fingerprints, what each opens.
    let ls = as_(&p, &bob, &["team", "ls"]).run().ok();
    let text = ls.stdout();
    assert!(
        text.contains(".env.recipients (.env.key.age opens .env.enc):"),
        "{text}"
    );
    for (name, kind) in [
        ("alice", "ssh-ed25519"),
        ("bob", "ssh-ed25519"),
        ("carol", "ssh-rsa"),
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap();
        assert!(
            line.contains(kind) && line.contains("SHA256:") && line.contains("opens .env.enc"),
            "{line}"
        );
    }
    // The fingerprint is ssh-keygen's.
    let fp = Command::new("ssh-keygen")
        .args(["-l", "-f", &bob.pub_file()])
        .output()
        .unwrap();
    let fp = String::from_utf8(fp.stdout).unwrap();
    let fp = fp.split_whitespace().nth(1).unwrap().to_owned();
    assert!(text.contains(&fp), "{fp} in {text}");
    assert!(ls.stderr.is_empty(), "no problem reported: {}", ls.stderr);

    // Someone else: a clear error naming what was tried, never a key.
    let dave = Person::ssh("dave", "ed25519", "");
    let out = as_(&p, &dave, &["decrypt"]).run().fails(2);
    out.error_says(&[
        ".env.key.age",
        "~/.ssh/id_ed25519",
        "is a recipient in .env.recipients",
    ])
    .hides("s3cret");
    out.hides(&private_body_line(&dave.private_text()));
    // No identity at all.
    let nobody = Person::bare("nobody");
    as_(&p, &nobody, &["decrypt"])
        .run()
        .fails(2)
        .error_says(&[".env.key.age", "no SSH or age identity found"]);
}

#[test]
fn reference_age_cli_and_fernet_open_what_members_hold() {
    let Some((p, _alice, bob, _carol)) = team_of_three() else {
        return;
    };
    if !have("age") {
        return;
    }
    let out = p
        .command(
            "age",
            &["-d", "-i", bob.key.to_str().unwrap(), ".env.key.age"],
        )
        .run()
        .ok();
    let ring = out.stdout().trim().to_owned();
    // An ordinary keyring: a Fernet key opens .env.enc as any Fernet
    // implementation would (the file is one plain token).
    let token = p.read_string(".env.enc");
    let f = fernet::Fernet::new(ring.split(',').next().unwrap()).unwrap();
    let plain = f.decrypt(token.trim()).unwrap();
    assert_eq!(String::from_utf8(plain).unwrap(), SECRETS);
    // Python's cryptography too, when the interoperability interpreter is
    // there (tests/python_interop.rs insists on it under CI).
    let python = std::env::var("ENVCLOAK_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = "import os,sys\nfrom cryptography.fernet import Fernet, MultiFernet\n\
                  ring = MultiFernet([Fernet(k) for k in os.environ['RING'].split(',')])\n\
                  sys.stdout.write(ring.decrypt(open('.env.enc','rb').read().strip()).decode())\n";
    let py = p.command(&python, &["-c", script]).env("RING", &ring).run();
    if py.code == 0 {
        assert_eq!(py.stdout(), SECRETS);
    } else {
        eprintln!("note: {python} with cryptography is not available: Python check skipped");
    }
    // And envcloak takes it as ENVCLOAK_KEY like any key.
    can_decrypt(p.envcloak(&["decrypt"]).env("ENVCLOAK_KEY", &ring));
}

#[test]
fn ci_opens_with_envcloak_identity_and_removal_cuts_a_member_off() {
    let Some((p, alice, bob, carol)) = team_of_three() else {
        return;
    };
    let (_ci_home, ci_recipient, ci_identity) = ci_identity(&p);
    as_(&p, &alice, &["team", "add", "--name", "ci", &ci_recipient])
        .run()
        .ok();
    // CI: no HOME keys, only the identity in a variable.
    let runner = Person::bare("runner");
    let ci = |args: &[&str]| {
        as_(&p, &runner, args)
            .env("CI", "true")
            .env("ENVCLOAK_IDENTITY", &ci_identity)
    };
    can_decrypt(ci(&["decrypt"]));
    run_sees_secret(ci(&run_args()));
    // The child never sees the identity.
    let out = ci(&[
        "run",
        "--",
        "sh",
        "-c",
        "printf %s \"${ENVCLOAK_IDENTITY:-unset}\"",
    ])
    .run()
    .ok();
    assert_eq!(out.stdout(), "unset");

    // What carol holds before she goes: her copy of the keyring.
    let carol_ring = if have("age") {
        let o = p
            .command(
                "age",
                &["-d", "-i", carol.key.to_str().unwrap(), ".env.key.age"],
            )
            .run()
            .ok();
        Some(o.stdout().trim().to_owned())
    } else {
        None
    };
    let before = p.read_string(".env.enc");

    let out = as_(&p, &bob, &["team", "rm", "carol"]).run().ok();
    out.hides("s3cret").hides("tok-123");
    assert!(
        out.stdout().starts_with("removed carol (ssh-rsa SHA256:"),
        "{}",
        out.stdout()
    );
    assert!(out.stdout().contains("re-encrypted .env.enc"));
    assert!(
        out.stderr
            .contains("can still read everything in git history"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "change these secrets at their source (then 'envcloak set' them): API_TOKEN, SECRET_KEY"
        ),
        "{}",
        out.stderr
    );
    assert_ne!(p.read_string(".env.enc"), before, "re-encrypted");
    assert!(!p.read_string(".env.recipients").contains("carol"));

    // Carol: not with envcloak, not with age and her key, not with the
    // keyring she copied.
    as_(&p, &carol, &["decrypt"])
        .run()
        .fails(2)
        .error_says(&["~/.ssh/id_rsa", "is a recipient in .env.recipients"])
        .hides("s3cret");
    if let Some(ring) = carol_ring {
        let age = p
            .command(
                "age",
                &["-d", "-i", carol.key.to_str().unwrap(), ".env.key.age"],
            )
            .run();
        assert_ne!(age.code, 0, "carol's own age run must fail");
        assert!(age.stdout.is_empty());
        as_(&p, &carol, &["decrypt"])
            .env("ENVCLOAK_KEY", &ring)
            .run()
            .fails(2)
            .hides("s3cret");
        // The others' age runs still work.
        p.command(
            "age",
            &["-d", "-i", alice.key.to_str().unwrap(), ".env.key.age"],
        )
        .run()
        .ok();
    }
    // Everyone else, CI included, with no change to CI's secret.
    for who in [&alice, &bob] {
        can_decrypt(as_(&p, who, &["decrypt"]));
    }
    can_decrypt(ci(&["decrypt"]));
    run_sees_secret(ci(&run_args()));

    // Removing an unknown name, or the last member, changes nothing.
    as_(&p, &bob, &["team", "rm", "zed"])
        .run()
        .fails(2)
        .error_says(&["no member is called 'zed'"]);
    as_(&p, &bob, &["team", "rm", "alice"]).run().ok();
    as_(&p, &bob, &["team", "rm", "ci"]).run().ok();
    let sealed = p.read_string(".env.key.age");
    as_(&p, &bob, &["team", "rm", "bob"])
        .run()
        .fails(2)
        .error_says(&["last member"]);
    assert_eq!(p.read_string(".env.key.age"), sealed);
    can_decrypt(as_(&p, &bob, &["decrypt"]));
    as_(&p, &alice, &["decrypt"]).run().fails(2);
}

#[test]
fn a_passphrase_key_is_asked_on_a_terminal_and_fails_cleanly_without() {
    if !have_ssh_keygen() || !have("script") {
        return;
    }
    let dana = Person::ssh("dana", "ed25519", "correct horse battery");
    let p = project_by(&dana);
    as_(&p, &dana, &["team", "add", &dana.pub_file()])
        .run()
        .ok();
    std::fs::remove_file(p.p(".env.key")).unwrap();

    // No terminal (stdin is not one): an error at once, never a wait.
    let out = as_(&p, &dana, &["decrypt"]).run().fails(2);
    out.error_says(&[
        "~/.ssh/id_ed25519 is a recipient but protected by a passphrase",
        "no terminal",
    ]);
    // Also with input waiting on a pipe: it is not read as a passphrase.
    as_(&p, &dana, &["decrypt"])
        .stdin("correct horse battery\n")
        .run()
        .fails(2)
        .hides("correct horse");

    // Through a pseudo-terminal (util-linux script).
    let bin = common::BIN;
    let pty = |pass: &str| {
        p.sh(&format!(
            "(sleep 1; printf '%s\\n' '{pass}') | script -qec '{bin} decrypt' /dev/null"
        ))
        .env("HOME", dana.home())
        .run()
    };
    let out = pty("correct horse battery");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(text.contains("passphrase for ~/.ssh/id_ed25519:"), "{text}");
    assert!(text.contains("SECRET_KEY=s3cret-value-9f8e7d"), "{text}");
    assert!(
        !text.contains("correct horse"),
        "the passphrase is not echoed: {text}"
    );
    // Another identity that opens it: no passphrase is needed or asked.
    let (_ci, ci_recipient, ci_identity) = ci_identity(&p);
    let out = p
        .sh(&format!(
            "(sleep 1; printf '%s\\n' 'correct horse battery') | script -qec '{bin} team add --name ci {ci_recipient}' /dev/null"
        ))
        .env("HOME", dana.home())
        .run();
    assert_eq!(out.code, 0, "{}", String::from_utf8_lossy(&out.stdout));
    can_decrypt(as_(&p, &dana, &["decrypt"]).env("ENVCLOAK_IDENTITY", &ci_identity));
    let out = pty("wrong one");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(
        text.contains("the passphrase for ~/.ssh/id_ed25519 is not right"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
}

/// Removes git's conflict markers, keeping both sides (a union merge).
fn keep_both(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("<<<<<<<") && !l.starts_with(">>>>>>>") && *l != "=======")
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn two_branches_adding_members_merge_to_a_keyring_both_open() {
    if !have_ssh_keygen() {
        return;
    }
    let alice = Person::ssh("alice", "ed25519", "");
    let bob = Person::ssh("bob", "ed25519", "");
    let carol = Person::ssh("carol", "rsa", "");
    let p = project_by(&alice);
    p.git_init();
    as_(&p, &alice, &["team", "add", &alice.pub_file()])
        .run()
        .ok();
    std::fs::remove_file(p.p(".env.key")).unwrap();
    p.commit(&[".env.enc", ".env.recipients", ".env.key.age", ".gitignore"]);
    p.git(&["branch", "-M", "main"]);
    p.git(&["checkout", "-q", "-b", "add-bob"]);
    as_(&p, &alice, &["team", "add", &bob.pub_file()])
        .run()
        .ok();
    p.commit(&[".env.recipients", ".env.key.age"]);
    p.git(&["checkout", "-q", "main"]);
    p.git(&["checkout", "-q", "-b", "add-carol"]);
    as_(&p, &alice, &["team", "add", &carol.pub_file()])
        .run()
        .ok();
    p.commit(&[".env.recipients", ".env.key.age"]);
    // Carol's branch merges bob's: both files conflict.
    let merge = p.command("git", &["merge", "-q", "add-bob"]).run();
    assert_ne!(merge.code, 0, "a conflict is expected");
    // Loading refuses the conflicted sealed file, naming it.
    as_(&p, &carol, &["decrypt"])
        .run()
        .fails(2)
        .error_says(&[".env.key.age", "conflict"]);
    // check (through the library's report) and ls say so too.
    let ls = as_(&p, &alice, &["team", "ls"]).run();
    assert_ne!(
        ls.code, 0,
        "the recipients file is conflicted: {}",
        ls.stderr
    );
    // .env.recipients merges as text.
    let resolved = keep_both(&p.read_string(".env.recipients"));
    p.write(".env.recipients", &resolved);
    // Bob was not a recipient on this branch: he opens "theirs" only.
    let out = as_(&p, &bob, &["team", "sync"]).run().ok();
    assert!(
        out.stdout()
            .contains(".env.key.age is sealed to 3 member(s)"),
        "{}",
        out.stdout()
    );
    p.commit(&[".env.recipients", ".env.key.age"]);
    for who in [&alice, &bob, &carol] {
        can_decrypt(as_(&p, who, &["decrypt"]));
    }
    let ls = as_(&p, &carol, &["team", "ls"]).run().ok();
    assert!(ls.stderr.is_empty(), "{}", ls.stderr);
}

#[test]
fn malformed_private_and_duplicate_recipients_are_refused() {
    if !have_ssh_keygen() {
        return;
    }
    let alice = Person::ssh("alice", "ed25519", "");
    let bob = Person::ssh("bob", "ed25519", "");
    let p = project_by(&alice);
    as_(&p, &alice, &["team", "add", &alice.pub_file()])
        .run()
        .ok();
    let listing = (
        p.read_string(".env.recipients"),
        p.read_string(".env.key.age"),
    );
    let unchanged = |p: &Project| {
        assert_eq!(
            (
                p.read_string(".env.recipients"),
                p.read_string(".env.key.age")
            ),
            listing
        );
    };
    // Malformed.
    for bad in [
        "ssh-ed25519 AAAAnot-base64!!",
        "ssh-ed25519",
        "age1notavalidrecipient",
        "hello world",
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBE=",
    ] {
        let out = as_(&p, &alice, &["team", "add", "--name", "x", bad])
            .run()
            .fails(2);
        out.error_says(&["the recipient given"]);
        assert!(!out.error().contains(bad), "echoed: {}", out.error());
        unchanged(&p);
    }
    // A private key, as a file or pasted: refused and never echoed.
    let private = bob.private_text();
    let body = private_body_line(&private);
    let out = as_(
        &p,
        &alice,
        &["team", "add", "--name", "bob", bob.key.to_str().unwrap()],
    )
    .run()
    .fails(2);
    out.error_says(&["private key"]).hides(&body);
    let out = as_(&p, &alice, &["team", "add", "--name", "bob", &private])
        .run()
        .fails(2);
    out.error_says(&["private key"]).hides(&body);
    let age_secret = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSYQ8RRUK";
    as_(&p, &alice, &["team", "add", "--name", "bob", age_secret])
        .run()
        .fails(2)
        .error_says(&["private key"])
        .hides("QYQSZQGP");
    unchanged(&p);
    // Duplicates: the same key under another name, a name taken.
    as_(
        &p,
        &alice,
        &["team", "add", "--name", "alice2", &alice.pub_file()],
    )
    .run()
    .fails(2)
    .error_says(&["this key is already there, as 'alice'"]);
    as_(
        &p,
        &alice,
        &["team", "add", "--name", "alice", &bob.pub_file()],
    )
    .run()
    .fails(2)
    .error_says(&["the name 'alice' is already a member"]);
    unchanged(&p);
    // A hand-edited recipients file with a pasted private key: refused by
    // line, never echoed.
    p.write(
        ".env.recipients",
        format!(
            "alice {}\nbob {}\n",
            alice.pub_line(),
            private.replace('\n', " ")
        ),
    );
    as_(&p, &alice, &["team", "sync"])
        .run()
        .fails(2)
        .error_says(&[".env.recipients", "line 2", "private key"])
        .hides(&body);
    p.write(
        ".env.recipients",
        format!("alice {}\nbob {}\n", alice.pub_line(), alice.pub_line()),
    );
    as_(&p, &alice, &["team", "sync"])
        .run()
        .fails(2)
        .error_says(&[".env.recipients", "line 2", "already there, as 'alice'"]);
}

#[test]
fn a_profile_with_its_own_smaller_recipient_set() {
    if !have_ssh_keygen() {
        return;
    }
    let alice = Person::ssh("alice", "ed25519", "");
    let bob = Person::ssh("bob", "ed25519", "");
    let eve = Person::ssh("eve", "ed25519", "");
    let p = project_by(&alice);
    as_(&p, &alice, &["team", "add", &alice.pub_file()])
        .run()
        .ok();
    as_(&p, &alice, &["team", "add", &bob.pub_file()])
        .run()
        .ok();
    std::fs::remove_file(p.p(".env.key")).unwrap();
    // Production, encrypted with the base keyring at first.
    p.write(".env.production.plain", "DB_PASSWORD=prod-only-7c6b5a\n");
    as_(
        &p,
        &alice,
        &[
            "--profile",
            "production",
            "encrypt",
            ".env.production.plain",
        ],
    )
    .run()
    .ok();
    std::fs::remove_file(p.p(".env.production.plain")).unwrap();
    assert!(p.exists(".env.production.enc"));
    let base_ring = p.read_string(".env.key.age");
    // Alice gives production a keyring of its own, sealed to her only.
    let out = as_(
        &p,
        &alice,
        &["--profile", "production", "team", "add", &alice.pub_file()],
    )
    .run()
    .ok();
    assert!(
        out.stderr.contains("with a new key of its own"),
        "{}",
        out.stderr
    );
    assert_eq!(p.read_string(".env.key.age"), base_ring);
    let prod = |who: &Person, args: &[&str]| {
        let mut a = vec!["--profile", "production"];
        a.extend_from_slice(args);
        as_(&p, who, &a)
    };
    let out = prod(&alice, &["decrypt"]).run().ok();
    assert_eq!(out.stdout(), "DB_PASSWORD=prod-only-7c6b5a\n");
    // Bob, a development member, opens development only.
    can_decrypt(as_(&p, &bob, &["decrypt"]));
    prod(&bob, &["decrypt"])
        .run()
        .fails(2)
        .error_says(&[".env.production.key.age", ".env.production.recipients"])
        .hides("prod-only");
    // Not with the development keyring in hand either (ENVCLOAK_KEY and
    // .env.key no longer count for production).
    if have("age") {
        let o = p
            .command(
                "age",
                &["-d", "-i", bob.key.to_str().unwrap(), ".env.key.age"],
            )
            .run()
            .ok();
        let dev_ring = o.stdout().trim().to_owned();
        prod(&bob, &["decrypt"])
            .env("ENVCLOAK_KEY", &dev_ring)
            .run()
            .fails(2)
            .hides("prod-only");
        p.write_mode(".env.key", format!("{dev_ring}\n"), 0o600);
        prod(&bob, &["decrypt"]).run().fails(2).hides("prod-only");
        std::fs::remove_file(p.p(".env.key")).unwrap();
        prod(&bob, &["decrypt"])
            .env("ENVCLOAK_KEY_PRODUCTION", &dev_ring)
            .run()
            .fails(2)
            .hides("prod-only");
    }
    // Nor re-seal it, add to it or remove from it.
    let sealed = p.read_string(".env.production.key.age");
    prod(&bob, &["team", "add", "--name", "eve", &eve.pub_file()])
        .run()
        .fails(2)
        .error_says(&[".env.production.key.age"]);
    prod(&bob, &["team", "sync"]).run().fails(2);
    prod(&bob, &["team", "rm", "alice"]).run().fails(2);
    assert_eq!(p.read_string(".env.production.key.age"), sealed);
    // `run` with the profile: bob gets development values, production is
    // skipped rather than opened.
    let out = prod(
        &bob,
        &[
            "run",
            "--",
            "sh",
            "-c",
            "printf %s \"${DB_PASSWORD:-none}/$SECRET_KEY\"",
        ],
    )
    .run()
    .ok();
    assert_eq!(out.stdout(), "none/s3cret-value-9f8e7d");
    // ls shows both keyrings.
    let ls: Out = as_(&p, &alice, &["team", "ls"]).run().ok();
    assert!(
        ls.stdout().contains(
            ".env.production.recipients (.env.production.key.age opens .env.production.enc):"
        ),
        "{}",
        ls.stdout()
    );
    assert!(
        ls.stdout()
            .contains(".env.recipients (.env.key.age opens .env.enc):"),
        "{}",
        ls.stdout()
    );
    // Removing bob from development leaves production alone.
    let prod_before = p.read_string(".env.production.enc");
    as_(&p, &alice, &["team", "rm", "bob"]).run().ok();
    assert_eq!(p.read_string(".env.production.enc"), prod_before);
    as_(&p, &bob, &["decrypt"]).run().fails(2);
    let out = prod(&alice, &["decrypt"]).run().ok();
    assert_eq!(out.stdout(), "DB_PASSWORD=prod-only-7c6b5a\n");
}

#[test]
fn whoami_prints_the_ssh_public_key_line() {
    if !have_ssh_keygen() {
        return;
    }
    let alice = Person::ssh("alice", "ed25519", "");
    let p = Project::new();
    let out = as_(&p, &alice, &["team", "whoami"]).run().ok();
    assert_eq!(out.stdout().trim(), alice.pub_line());
    assert!(!alice.home().join(".config/envcloak/identity.txt").exists());
    for sub in ["add", "rm", "ls", "sync", "whoami"] {
        let out = p.envcloak(&["team", sub, "--help"]).run().ok();
        assert!(out.stdout().contains("Examples:"), "team {sub} --help");
    }
}

#[test]
fn removing_yourself_and_members_of_other_keyrings() {
    if !have_ssh_keygen() {
        return;
    }
    let alice = Person::ssh("alice", "ed25519", "");
    let bob = Person::ssh("bob", "rsa", "");
    let p = project_by(&alice);
    as_(&p, &alice, &["team", "add", &alice.pub_file()])
        .run()
        .ok();
    as_(&p, &alice, &["team", "add", &bob.pub_file()])
        .run()
        .ok();
    p.write(".env.staging.plain", "STAGING_TOKEN=stage-2f2f2f\n");
    as_(
        &p,
        &alice,
        &["--profile", "staging", "encrypt", ".env.staging.plain"],
    )
    .run()
    .ok();
    std::fs::remove_file(p.p(".env.staging.plain")).unwrap();
    for who in [&alice, &bob] {
        as_(
            &p,
            &alice,
            &["--profile", "staging", "team", "add", &who.pub_file()],
        )
        .run()
        .ok();
    }
    // Bob leaves the base keyring himself, with the old key in his .env.key.
    let old_key = p.read_string(".env.key");
    let out = as_(&p, &bob, &["team", "rm", "bob"]).run().ok();
    assert!(
        out.stderr.contains("you removed yourself"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("'bob' is still a member in .env.staging.recipients: remove them there too ('envcloak --profile staging team rm bob')"),
        "{}",
        out.stderr
    );
    assert_eq!(p.read_string(".env.key"), old_key, "not given the new key");
    std::fs::remove_file(p.p(".env.key")).unwrap();
    as_(&p, &bob, &["decrypt"]).run().fails(2).hides("s3cret");
    can_decrypt(as_(&p, &alice, &["decrypt"]));
    // Staging is untouched: both still open it.
    for who in [&alice, &bob] {
        let out = as_(&p, who, &["--profile", "staging", "decrypt"])
            .run()
            .ok();
        assert_eq!(out.stdout(), "STAGING_TOKEN=stage-2f2f2f\n");
    }
}

#[test]
fn check_reports_recipients_and_keyrings_that_disagree() {
    let Some((p, alice, _bob, _carol)) = team_of_three() else {
        return;
    };
    p.write(".env.example", "SECRET_KEY=\n");
    let clean = as_(&p, &alice, &["check"]).run();
    assert!(
        !clean.stdout().contains(" team"),
        "a consistent team: {}",
        clean.stdout()
    );
    // A member listed by hand, never sealed to (no `team add`, no `sync`).
    let dave = Person::ssh("dave", "ed25519", "");
    let listed = format!(
        "{}dave {}\n",
        p.read_string(".env.recipients"),
        dave.pub_line()
    );
    p.write(".env.recipients", listed);
    let out = as_(&p, &alice, &["check", "--format", "json"]).run();
    assert_eq!(out.code, 1, "{}{}", out.stdout(), out.stderr);
    let doc = out.json();
    let team: Vec<&serde_json::Value> = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "team")
        .collect();
    assert!(!team.is_empty(), "{doc}");
    assert!(
        team.iter()
            .any(|p| p["message"].as_str().unwrap().contains("dave")),
        "{doc}"
    );
    // `team sync` re-seals to the listed members: check is clean again.
    as_(&p, &alice, &["team", "sync"]).run().ok();
    let out = as_(&p, &alice, &["check", "--format", "json"]).run();
    let doc = out.json();
    assert!(
        !doc["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "team"),
        "{doc}"
    );
}

#[test]
fn with_git_enroll_two_branches_adding_members_merge_by_themselves() {
    if !have_ssh_keygen() {
        return;
    }
    let alice = Person::ssh("alice", "ed25519", "");
    let bob = Person::ssh("bob", "ed25519", "");
    let carol = Person::ssh("carol", "rsa", "");
    let p = project_by(&alice);
    p.git_init();
    as_(&p, &alice, &["team", "add", &alice.pub_file()])
        .run()
        .ok();
    std::fs::remove_file(p.p(".env.key")).unwrap();
    as_(&p, &alice, &["git", "enroll"]).run().ok();
    p.commit(&[
        ".env.enc",
        ".env.recipients",
        ".env.key.age",
        ".gitignore",
        ".gitattributes",
    ]);
    p.git(&["branch", "-M", "main"]);
    p.git(&["checkout", "-q", "-b", "add-bob"]);
    as_(&p, &alice, &["team", "add", &bob.pub_file()])
        .run()
        .ok();
    p.commit(&[".env.recipients", ".env.key.age"]);
    p.git(&["checkout", "-q", "main"]);
    p.git(&["checkout", "-q", "-b", "add-carol"]);
    as_(&p, &alice, &["team", "add", &carol.pub_file()])
        .run()
        .ok();
    p.commit(&[".env.recipients", ".env.key.age"]);
    // The merge needs no hand: the members merge, the keyring is re-sealed.
    let merge = p
        .command("git", &["merge", "-q", "--no-edit", "add-bob"])
        .env("HOME", alice.home())
        .run();
    assert_eq!(merge.code, 0, "{}{}", merge.stdout(), merge.stderr);
    let recipients = p.read_string(".env.recipients");
    for name in ["alice", "bob", "carol"] {
        assert!(
            recipients
                .lines()
                .any(|l| l.starts_with(&format!("{name} "))),
            "{recipients}"
        );
    }
    assert!(!recipients.contains("<<<<<<<"), "{recipients}");
    for who in [&alice, &bob, &carol] {
        can_decrypt(as_(&p, who, &["decrypt"]));
    }
    p.write(".env.example", "SECRET_KEY=\n");
    let doc = as_(&p, &carol, &["check", "--format", "json"]).run().json();
    assert!(
        !doc["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "team"),
        "{doc}"
    );
    // A removal merged in afterwards (here a fast-forward) leaves bob out.
    p.git(&["checkout", "-q", "-b", "drop-bob"]);
    as_(&p, &alice, &["team", "rm", "bob"]).run().ok();
    p.commit(&[".env.recipients", ".env.key.age", ".env.enc"]);
    p.git(&["checkout", "-q", "main"]);
    let merge = p
        .command("git", &["merge", "-q", "--no-edit", "add-carol"])
        .env("HOME", alice.home())
        .run();
    assert_eq!(merge.code, 0, "{}{}", merge.stdout(), merge.stderr);
    let merge = p
        .command("git", &["merge", "-q", "--no-edit", "drop-bob"])
        .env("HOME", alice.home())
        .run();
    assert_eq!(merge.code, 0, "{}{}", merge.stdout(), merge.stderr);
    assert!(
        !p.read_string(".env.recipients").contains("bob "),
        "{}",
        p.read_string(".env.recipients")
    );
    as_(&p, &bob, &["decrypt"]).run().fails(2);
    can_decrypt(as_(&p, &carol, &["decrypt"]));
}
