//! Many writers at once, through the real binary: no update is ever lost,
//! and the encrypted file always opens with the stored key.
//!
//! Every read-modify-write (`set`, `unset`, `encrypt`, `rotate`, `edit`'s
//! save, `init`, `.gitignore` upkeep) holds the directory's write lock
//! (`.envcloak.lock`) from the read to the rename. Each test here races
//! real processes and checks the end state against every order the
//! writers could have run in one after the other.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Project, Run};

/// A git project with `.env.enc` (holding `BASE=1`) and its `.env.key`,
/// and no `.env` (so `decrypt`/`get` show the encrypted layer only).
fn project() -> Project {
    let p = Project::new();
    p.git_init();
    p.encrypted_only("BASE=1\n");
    p
}

/// The decrypted entries of `.env.enc`, opened with the stored `.env.key`
/// (no other key source is set in the harness).
#[track_caller]
fn entries(p: &Project) -> BTreeMap<String, String> {
    let out = p.envcloak(&["decrypt", "--format", "json"]).run().ok();
    serde_json::from_str(out.stdout()).unwrap()
}

#[track_caller]
fn wait_all(runs: Vec<common::Pending>) -> Vec<common::Out> {
    runs.into_iter().map(|r| r.wait()).collect()
}

fn set<'a>(p: &'a Project, key: &str, value: &str) -> Run<'a> {
    p.envcloak(&["set", key, value])
}

#[test]
fn a_hundred_parallel_sets_all_land() {
    let p = project();
    let mut runs = Vec::new();
    for i in 0..50 {
        runs.push(set(&p, &format!("A_{i}"), &format!("a{i}")).spawn());
        runs.push(set(&p, &format!("B_{i}"), &format!("b{i}")).spawn());
    }
    for out in wait_all(runs) {
        out.ok();
    }
    let e = entries(&p);
    for i in 0..50 {
        assert_eq!(e.get(&format!("A_{i}")), Some(&format!("a{i}")), "A_{i}");
        assert_eq!(e.get(&format!("B_{i}")), Some(&format!("b{i}")), "B_{i}");
    }
    assert_eq!(e.len(), 101);
    // The lock file is kept out of git.
    let status = p.command("git", &["status", "--porcelain"]).run().ok();
    assert!(
        !status.stdout().contains(".envcloak.lock"),
        "{}",
        status.stdout()
    );
}

#[test]
fn set_racing_rotate_loses_nothing_and_the_key_file_opens_the_file() {
    let p = project();
    for round in 0..12 {
        let key = format!("K_{round}");
        let a = set(&p, &key, "v").spawn();
        let b = p.envcloak(&["rotate", "--write"]).spawn();
        a.wait().ok();
        b.wait().ok();
        let e = entries(&p);
        assert_eq!(e.get(&key).map(String::as_str), Some("v"), "round {round}");
        assert_eq!(e.len(), round + 2, "round {round}");
    }
}

#[test]
fn concurrent_rotates_always_leave_a_key_file_that_opens_the_file() {
    let p = project();
    for round in 0..10 {
        // Two plain rotations, or one that also drops the old keys.
        let second: &[&str] = if round % 2 == 0 {
            &["rotate", "--write"]
        } else {
            &["rotate", "--write", "--drop-old"]
        };
        let a = p.envcloak(&["rotate", "--write"]).spawn();
        let b = p.envcloak(second).spawn();
        a.wait().ok();
        b.wait().ok();
        assert_eq!(entries(&p).get("BASE").map(String::as_str), Some("1"));
    }
}

#[test]
fn rotations_whose_key_files_cross_directories_never_wait_on_each_other() {
    // a/.env.enc is opened by b/k, and b/.env.enc by a/k: each rotation
    // writes in both directories. Taken in a fixed order, the locks never
    // leave one waiting out the other's timeout.
    let p = Project::new();
    p.git_init();
    p.mkdir("a");
    p.mkdir("b");
    for (dir, key_dir) in [("a", "b"), ("b", "a")] {
        p.write(&format!("{dir}/plain.env"), format!("FROM={dir}\n"));
        p.envcloak(&["--key-file", &format!("{key_dir}/k"), "keygen", "--write"])
            .run()
            .ok();
        p.envcloak(&[
            "-f",
            &format!("{dir}/.env.enc"),
            "--key-file",
            &format!("{key_dir}/k"),
            "encrypt",
            &format!("{dir}/plain.env"),
        ])
        .run()
        .ok();
    }
    for round in 0..5 {
        let runs: Vec<_> = [("a", "b"), ("b", "a")]
            .iter()
            .map(|(dir, key_dir)| {
                p.envcloak(&[
                    "-f",
                    &format!("{dir}/.env.enc"),
                    "--key-file",
                    &format!("{key_dir}/k"),
                    "rotate",
                    "--write",
                ])
                .env("ENVCLOAK_LOCK_TIMEOUT", "20")
                .spawn()
            })
            .collect();
        for out in wait_all(runs) {
            let out = out.ok();
            assert!(
                !out.stderr.contains("waiting for another"),
                "round {round}: {}",
                out.stderr
            );
        }
    }
    for (dir, key_dir) in [("a", "b"), ("b", "a")] {
        let out = p
            .envcloak(&[
                "--key-file",
                &format!("{key_dir}/k"),
                "decrypt",
                "-f",
                &format!("{dir}/.env.enc"),
            ])
            .run()
            .ok();
        assert_eq!(out.stdout(), format!("FROM={dir}\n"));
    }
}

#[test]
fn encrypt_racing_set_keeps_the_encrypted_contents() {
    let p = project();
    for round in 0..10 {
        let plain = format!("BASE=1\nFROM_ENCRYPT={round}\n");
        p.write(".env", &plain);
        let key = format!("FROM_SET_{round}");
        let a = p.envcloak(&["encrypt", "--prune"]).spawn();
        let b = set(&p, &key, "s").spawn();
        a.wait().ok();
        b.wait().ok();
        std::fs::remove_file(p.p(".env")).unwrap();
        let e = entries(&p);
        // One after the other: encrypt then set (both kept), or set then
        // encrypt (encrypt replaces the whole file with .env, by design).
        // Never set's view of the old file written over encrypt's.
        assert_eq!(
            e.get("FROM_ENCRYPT").map(String::as_str),
            Some(round.to_string().as_str()),
            "round {round}: encrypt's contents vanished"
        );
        if !e.contains_key(&key) {
            assert_eq!(e.len(), 2, "round {round}: {:?}", e.keys());
        }
    }
}

#[test]
fn edit_racing_set_merges_by_key() {
    let p = project();
    // The "editor" changes BASE, then waits until the test has run `set`
    // while it was open.
    let editor = p.script(
        "editor.sh",
        r#"sed -i 's/^BASE=.*/BASE=edited/' "$1"; touch editor-open; while [ ! -e set-done ]; do sleep 0.05; done"#,
    );
    let edit = p
        .envcloak(&["edit"])
        .env("EDITOR", editor.as_os_str())
        .spawn();
    wait_for(&p, "editor-open");
    set(&p, "DURING_EDIT", "kept").run().ok();
    p.write("set-done", "");
    let out = edit.wait().ok();
    assert!(out.stderr.contains("merged"), "{}", out.stderr);
    let e = entries(&p);
    assert_eq!(e.get("BASE").map(String::as_str), Some("edited"));
    assert_eq!(e.get("DURING_EDIT").map(String::as_str), Some("kept"));
}

#[test]
fn edit_racing_rotate_saves_with_the_new_key() {
    let p = project();
    let editor = p.script(
        "editor.sh",
        r#"echo EDITED=yes >> "$1"; touch editor-open; while [ ! -e rotated ]; do sleep 0.05; done"#,
    );
    let edit = p
        .envcloak(&["edit"])
        .env("EDITOR", editor.as_os_str())
        .spawn();
    wait_for(&p, "editor-open");
    let old_key = p.key();
    p.envcloak(&["rotate", "--write"]).run().ok();
    p.envcloak(&["rotate", "--write", "--drop-old"]).run().ok();
    assert_ne!(p.key(), old_key);
    p.write("rotated", "");
    edit.wait().ok();
    // .env.key now holds only the newest key, and it opens the saved file.
    assert_eq!(p.key().split(',').count(), 1);
    let e = entries(&p);
    assert_eq!(e.get("EDITED").map(String::as_str), Some("yes"));
    assert_eq!(e.get("BASE").map(String::as_str), Some("1"));
}

#[test]
fn edit_and_set_of_the_same_key_reopen_the_editor_with_both_versions() {
    let p = project();
    // First round: change BASE while `set` changes it too. Second round
    // (the editor reopened with both versions marked): keep ours.
    let editor = p.script(
        "editor.sh",
        r#"if [ -e round1 ]; then
  cp "$1" conflict-seen
  sed -i -e '/^<<<<<<< /d' -e '/^=======/,/^>>>>>>> /d' "$1"
else
  touch round1
  sed -i 's/^BASE=.*/BASE=ours/' "$1"; touch editor-open
  while [ ! -e set-done ]; do sleep 0.05; done
fi"#,
    );
    let edit = p
        .envcloak(&["edit"])
        .env("EDITOR", editor.as_os_str())
        .spawn();
    wait_for(&p, "editor-open");
    set(&p, "BASE", "theirs").run().ok();
    set(&p, "OTHER", "also-theirs").run().ok();
    p.write("set-done", "");
    let out = edit.wait().ok();
    assert!(
        out.stderr.contains("BASE changed on both sides"),
        "{}",
        out.stderr
    );
    let seen = p.read_string("conflict-seen");
    assert!(seen.contains("<<<<<<< yours\nBASE=ours\n=======\nBASE=theirs\n>>>>>>> theirs\n"));
    let e = entries(&p);
    assert_eq!(e.get("BASE").map(String::as_str), Some("ours"));
    assert_eq!(e.get("OTHER").map(String::as_str), Some("also-theirs"));
}

#[test]
fn parallel_profile_encrypts_keep_every_gitignore_line() {
    let p = Project::new();
    p.git_init();
    let profiles: Vec<String> = (0..8).map(|i| format!("p{i}")).collect();
    for name in &profiles {
        p.write(&format!(".env.{name}"), format!("SECRET={name}\n"));
    }
    let runs = profiles
        .iter()
        .map(|name| p.envcloak(&["--profile", name, "encrypt"]).spawn())
        .collect();
    for out in wait_all(runs) {
        out.ok();
    }
    for name in &profiles {
        for file in [format!(".env.{name}"), format!(".env.{name}.key")] {
            let ignored = p.command("git", &["check-ignore", "-q", &file]).run();
            assert_eq!(
                ignored.code,
                0,
                "{file} is not ignored:\n{}",
                p.read_string(".gitignore")
            );
        }
    }
    let status = p.command("git", &["status", "--porcelain"]).run().ok();
    let listed: Vec<&str> = status.stdout().lines().collect();
    let mut expected = vec!["?? .gitignore".to_owned()];
    expected.extend(profiles.iter().map(|n| format!("?? .env.{n}.enc")));
    expected.sort();
    let mut listed: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(listed, expected);
}

#[test]
fn a_waiting_writer_says_so_and_gives_up_after_the_timeout() {
    let p = project();
    let holder = hold_lock(&p);
    let start = Instant::now();
    let out = set(&p, "LATE", "v")
        .env("ENVCLOAK_LOCK_TIMEOUT", "2")
        .run()
        .fails(2);
    assert!(start.elapsed() >= Duration::from_secs(2));
    out.stderr_says(&["waiting for another envcloak writing .env.enc"]);
    out.error_says(&[".env.enc", "gave up after 2 s", "ENVCLOAK_LOCK_TIMEOUT"]);
    assert!(!entries(&p).contains_key("LATE"));
    // A killed holder never leaves the lock stuck.
    kill(holder);
    set(&p, "LATE", "v")
        .env("ENVCLOAK_LOCK_TIMEOUT", "5")
        .run()
        .ok();
    assert_eq!(entries(&p).get("LATE").map(String::as_str), Some("v"));
}

#[test]
fn a_bad_lock_timeout_is_named() {
    let p = project();
    set(&p, "K", "v")
        .env("ENVCLOAK_LOCK_TIMEOUT", "soon")
        .run()
        .fails(2)
        .error_says(&["ENVCLOAK_LOCK_TIMEOUT", "seconds"]);
}

/// Another process (util-linux `flock`) holding the project's lock.
fn hold_lock(p: &Project) -> std::process::Child {
    // `-o`: the lock is held by `flock` itself, not inherited by the command.
    let child = Command::new("flock")
        .arg("-o")
        .arg(p.p(".envcloak.lock"))
        .args(["sh", "-c", "touch held; sleep 60"])
        .current_dir(p.path())
        .stdin(Stdio::null())
        .spawn()
        .expect("flock (util-linux) runs");
    wait_for(p, "held");
    child
}

fn kill(mut child: std::process::Child) {
    // SIGKILL to `flock` itself: the kernel drops its lock; the `sleep`
    // it started may live on, holding nothing.
    child.kill().unwrap();
    child.wait().unwrap();
}

#[track_caller]
fn wait_for(p: &Project, name: &str) {
    let start = Instant::now();
    while !p.exists(name) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{name} never appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn parallel_sets_in_password_mode_all_land() {
    // The key is derived from the password before the lock is taken, and
    // the file is re-sealed with its own salt: under the lock each `set`
    // only decrypts and encrypts.
    let p = Project::new();
    p.git_init();
    p.write(".env", "BASE=1\n");
    p.envcloak(&["encrypt", "--password", "--iterations", "600000"])
        .env("ENVCLOAK_PASSWORD", "pw-parallel")
        .run()
        .ok();
    std::fs::remove_file(p.p(".env")).unwrap();
    let runs = (0..12)
        .map(|i| {
            set(&p, &format!("P_{i}"), "v")
                .env("ENVCLOAK_PASSWORD", "pw-parallel")
                .spawn()
        })
        .collect();
    for out in wait_all(runs) {
        out.ok();
    }
    let out = p
        .envcloak(&["decrypt", "--format", "json"])
        .env("ENVCLOAK_PASSWORD", "pw-parallel")
        .run()
        .ok();
    let e: BTreeMap<String, String> = serde_json::from_str(out.stdout()).unwrap();
    assert_eq!(e.len(), 13, "{:?}", e.keys());
}
