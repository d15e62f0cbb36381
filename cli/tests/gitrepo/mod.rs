//! Git set-ups for the driver tests (`git_merge.rs`, `git_textconv.rs`):
//! a bare "origin" repository and clones of it, one per person, each its
//! own temporary directory with its own copy of the key; and the scan that
//! ends every test: no canary value in any object of any clone's `.git`,
//! nor in any file of its work tree.

#![allow(dead_code)]

use std::path::Path;

use crate::common::{BIN, Out, Project};

/// A value no test prints on purpose: `canary-<label>-<random hex>`.
pub fn canary(label: &str) -> String {
    let out = std::process::Command::new(BIN)
        .args(["token", "6"])
        .output()
        .expect("envcloak token");
    let hex = String::from_utf8(out.stdout).unwrap();
    format!("canary-{label}-{}", hex.trim())
}

/// A bare repository that the clones push to and pull from.
pub struct Origin {
    pub bare: Project,
}

impl Origin {
    pub fn new() -> Origin {
        let bare = Project::new();
        bare.git(&["init", "-q", "--bare", "-b", "main"]);
        Origin { bare }
    }

    pub fn url(&self) -> String {
        self.bare.path().display().to_string()
    }

    /// A new clone (a person's), on `main`, with nothing configured.
    pub fn clone_repo(&self) -> Project {
        let p = Project::new();
        p.git(&["clone", "-q", &self.url(), "."]);
        p.git(&["symbolic-ref", "HEAD", "refs/heads/main"]);
        p
    }

    /// A clone with a copy of `key` in `.env.key` (0600).
    pub fn clone_with_key(&self, key: &str) -> Project {
        let p = self.clone_repo();
        p.write_mode(".env.key", format!("{key}\n"), 0o600);
        p
    }
}

/// The first person: a clone that starts the project with `plaintext` in
/// `.env.enc` (a new `.env.key`), enrolled, committed and pushed. Returns
/// the origin, the clone and the key.
pub fn start(plaintext: &str) -> (Origin, Project, String) {
    let origin = Origin::new();
    let alice = origin.clone_repo();
    alice.write(".env", plaintext);
    alice.envcloak(&["encrypt"]).run().ok();
    std::fs::remove_file(alice.p(".env")).unwrap();
    let key = alice.key();
    alice.envcloak(&["git", "enroll"]).run().ok();
    alice.git(&["add", "-A"]);
    alice.git(&["commit", "-q", "-m", "start"]);
    alice.git(&["push", "-q", "-u", "origin", "main"]);
    (origin, alice, key)
}

/// `envcloak set KEY VALUE` in `p`, which must succeed.
#[track_caller]
pub fn set(p: &Project, key: &str, value: &str) {
    p.envcloak(&["set", key, value]).run().ok().hides(value);
}

/// `envcloak unset KEY` in `p`, which must succeed.
#[track_caller]
pub fn unset(p: &Project, key: &str) {
    p.envcloak(&["unset", key]).run().ok();
}

/// Commits every change in `p`.
#[track_caller]
pub fn commit_all(p: &Project, message: &str) {
    p.git(&["add", "-A"]);
    let staged = p.git(&["diff", "--cached", "--name-only"]);
    for name in staged.stdout().lines() {
        let plaintext_env = name == ".env"
            || (name.starts_with(".env.") && !name.ends_with(".enc") && name != ".env.example");
        assert!(
            !name.ends_with(".key") && !plaintext_env,
            "about to commit {name}"
        );
    }
    p.git(&["commit", "-q", "-m", message]);
}

/// The plaintext of `.env.enc` in `p` (with `p`'s own key).
#[track_caller]
pub fn plaintext(p: &Project) -> String {
    p.envcloak(&["decrypt"]).run().ok().stdout().to_owned()
}

/// `git ARGS` in `p`, whatever its exit code.
pub fn git_any(p: &Project, args: &[&str]) -> Out {
    p.command("git", args).run()
}

/// The work-tree file `name` of `p` is a Fernet token (what `.env.enc`
/// must always be), with no conflict marker in sight.
#[track_caller]
pub fn assert_encrypted(p: &Project, name: &str) {
    let text = p.read_string(name);
    assert!(
        text.starts_with("gAAAAA") && text.trim_end().lines().count() == 1,
        "{name} is not a single Fernet token"
    );
    assert!(!text.contains("<<<<<<<") && !text.contains(">>>>>>>"));
}

/// Every object in `p`'s `.git` (`git cat-file --batch-all-objects
/// --batch`, so packed and loose, reachable or not) and every file under
/// `p` (the work tree, and `.git`'s other files as they are) must be free
/// of every canary.
#[track_caller]
pub fn assert_no_canaries(p: &Project, canaries: &[String]) {
    let out = p.git(&["cat-file", "--batch-all-objects", "--batch"]);
    assert!(!out.stdout.is_empty(), "no objects at all?");
    let objects = String::from_utf8_lossy(&out.stdout);
    for c in canaries {
        assert!(
            !objects.contains(c.as_str()),
            "a canary value is in a git object of {}",
            p.path().display()
        );
    }
    fn walk(dir: &Path, canaries: &[String]) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let ty = entry.file_type().unwrap();
            if ty.is_dir() {
                walk(&path, canaries);
            } else if ty.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                let text = String::from_utf8_lossy(&bytes);
                for c in canaries {
                    assert!(
                        !text.contains(c.as_str()),
                        "a canary value is in {}",
                        path.display()
                    );
                }
            }
        }
    }
    walk(p.path(), canaries);
}
