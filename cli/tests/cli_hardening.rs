//! Findings of the new-user and attacker trial (issue 11), each through the
//! real binary: files that must never be replaced by something the team
//! cannot open, symlinks written through, keys that never reach `run`'s
//! child, and outputs that all give the same values.

mod common;

use std::collections::BTreeMap;

use common::Project;

/// A secret value that must only ever be printed on request.
const CANARY: &str = "CANARY_b41e7";

/// `.env.enc` (key mode) holding `plain`, with `.env.key`; no `.env`.
fn key_project(plain: &str) -> Project {
    let p = Project::new();
    p.git_init();
    p.encrypted_only(plain);
    p
}

/// `.env.enc` in password mode (the password `pw-one-7c2d`), no `.env`.
fn password_project(plain: &str) -> Project {
    let p = Project::new();
    p.write(".env", plain);
    p.envcloak(&["encrypt", "--password"])
        .env("ENVCLOAK_PASSWORD", "pw-one-7c2d")
        .run()
        .ok();
    std::fs::remove_file(p.p(".env")).unwrap();
    p
}

fn json(out: &common::Out) -> BTreeMap<String, String> {
    serde_json::from_str(out.stdout()).unwrap()
}

// --- Replacing a file the team can no longer open ---------------------------

#[test]
fn encrypt_refuses_a_mistyped_password_for_an_existing_password_file() {
    let p = password_project(&format!("S={CANARY}\n"));
    let before = p.read(".env.enc");
    p.write(".env", "S=replaced\n");
    for args in [&["encrypt"][..], &["encrypt", "--password"][..]] {
        p.envcloak(args)
            .env("ENVCLOAK_PASSWORD", "pw-typo")
            .run()
            .fails(2)
            .hides(CANARY)
            .error_says(&[".env.enc", "password"])
            .stderr_says(&["nothing was written"]);
        assert_eq!(p.read(".env.enc"), before, "{args:?}");
    }
    // The right password replaces it.
    p.envcloak(&["encrypt"])
        .env("ENVCLOAK_PASSWORD", "pw-one-7c2d")
        .run()
        .ok();
    let out = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_PASSWORD", "pw-one-7c2d")
        .run()
        .ok();
    assert_eq!(out.stdout(), "S=replaced\n");
}

#[test]
fn encrypt_leaves_an_unchanged_password_file_alone() {
    let p = password_project("A=1\n");
    let before = p.read(".env.enc");
    p.write(".env", "A=1\n");
    let out = p
        .envcloak(&["encrypt"])
        .env("ENVCLOAK_PASSWORD", "pw-one-7c2d")
        .run()
        .ok();
    out.stderr_says(&["already up to date"]);
    assert_eq!(p.read(".env.enc"), before);
}

#[test]
fn rotate_in_password_mode_needs_a_different_new_password() {
    let p = password_project("A=1\n");
    let before = p.read(".env.enc");
    p.envcloak(&["rotate"])
        .env("ENVCLOAK_PASSWORD", "pw-one-7c2d")
        .run()
        .fails(2)
        .stderr_says(&["ENVCLOAK_NEW_PASSWORD"]);
    p.envcloak(&["rotate"])
        .env("ENVCLOAK_PASSWORD", "pw-one-7c2d")
        .env("ENVCLOAK_NEW_PASSWORD", "pw-one-7c2d")
        .run()
        .fails(2)
        .error_says(&["same as the current one"]);
    assert_eq!(p.read(".env.enc"), before);
    p.envcloak(&["rotate"])
        .env("ENVCLOAK_PASSWORD", "pw-one-7c2d")
        .env("ENVCLOAK_NEW_PASSWORD", "pw-two-91fe")
        .run()
        .ok();
    p.envcloak(&["decrypt"])
        .env("ENVCLOAK_PASSWORD", "pw-one-7c2d")
        .run()
        .fails(2);
    let out = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_PASSWORD", "pw-two-91fe")
        .run()
        .ok();
    assert_eq!(out.stdout(), "A=1\n");
}

#[test]
fn init_encrypt_force_never_replaces_the_team_file_with_a_key_that_does_not_open_it() {
    // A valid Fernet key (32 zero bytes) that is not the team's.
    let wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let p = Project::new();
    p.git_init();
    p.write(
        ".env.example",
        "# @generate hex:8\nSECRET_KEY=\nPORT=8000\n",
    );
    p.encrypted_only(&format!("SECRET_KEY={CANARY}\nPORT=1\n"));
    let team_key = p.key();
    let before = p.read(".env.enc");
    p.write("wrong.key", format!("{wrong}\n"));
    p.chmod("wrong.key", 0o600);
    let listing = p.listing();
    // (what, environment, flags before the command)
    type Scenario<'a> = (&'a str, Vec<(&'a str, String)>, Vec<&'a str>);
    let scenarios: Vec<Scenario> = vec![
        (
            "ENVCLOAK_KEY",
            vec![("ENVCLOAK_KEY", wrong.to_owned())],
            vec![],
        ),
        (
            "ENVCLOAK_KEY_FILE",
            vec![("ENVCLOAK_KEY_FILE", "wrong.key".to_owned())],
            vec![],
        ),
        (
            "ENVCLOAK_KEY_CMD",
            vec![("ENVCLOAK_KEY_CMD", format!("echo {wrong}"))],
            vec![],
        ),
        ("--key-file", vec![], vec!["--key-file", "wrong.key"]),
    ];
    for (what, env, flags) in scenarios {
        let mut args = flags.clone();
        args.extend(["init", "--encrypt", "--force"]);
        let mut run = p.envcloak(&args);
        for (k, v) in &env {
            run = run.env(k, v);
        }
        run.run()
            .fails(2)
            .hides(CANARY)
            .stderr_says(&["does not open", "nothing was written"]);
        assert_eq!(p.read(".env.enc"), before, "{what}");
        assert_eq!(p.listing(), listing, "{what}: no backup, no new file");
    }
    // A wrong .env.key; then no key at all (a password is no key either):
    // refused, and no new .env.key is made.
    p.write_mode(".env.key", format!("{wrong}\n"), 0o600);
    p.envcloak(&["init", "--encrypt", "--force"])
        .run()
        .fails(2)
        .stderr_says(&["does not open"]);
    std::fs::remove_file(p.p(".env.key")).unwrap();
    p.envcloak(&["init", "--encrypt", "--force"])
        .env("ENVCLOAK_PASSWORD", "pw")
        .run()
        .fails(2)
        .error_says(&["no key found"]);
    assert!(!p.exists(".env.key"));
    assert_eq!(p.read(".env.enc"), before);
    // With the team's key it goes through, sealed with that key.
    p.write_mode(".env.key", format!("{team_key}\n"), 0o600);
    p.envcloak(&["init", "--encrypt", "--force"]).run().ok();
    let out = p.envcloak(&["decrypt", "--format", "json"]).run().ok();
    assert_eq!(json(&out)["PORT"], "8000");
}

// --- Symlinks ---------------------------------------------------------------

#[test]
fn set_writes_through_a_symlinked_encrypted_file() {
    let p = key_project("A=1\n");
    p.mkdir("store");
    std::fs::rename(p.p(".env.enc"), p.p("store/team.enc")).unwrap();
    std::os::unix::fs::symlink("store/team.enc", p.p(".env.enc")).unwrap();
    p.envcloak(&["set", "B", "2"]).run().ok();
    assert!(
        std::fs::symlink_metadata(p.p(".env.enc"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is still a link"
    );
    let out = p
        .envcloak(&["decrypt", "-f", "store/team.enc", "--format", "json"])
        .env("ENVCLOAK_KEY", p.key())
        .run()
        .ok();
    assert_eq!(json(&out)["B"], "2", "the target was updated");
}

#[test]
fn rotate_writes_through_a_symlinked_key_file() {
    let p = key_project("A=1\n");
    p.mkdir("keys");
    std::fs::rename(p.p(".env.key"), p.p("keys/app.key")).unwrap();
    std::os::unix::fs::symlink("keys/app.key", p.p(".env.key")).unwrap();
    p.envcloak(&["rotate", "--write"]).run().ok();
    assert!(
        std::fs::symlink_metadata(p.p(".env.key"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(p.read_string("keys/app.key").trim().split(',').count(), 2);
    assert_eq!(p.mode("keys/app.key"), 0o600);
    p.assert_plaintext("A=1\n");
}

// --- run --------------------------------------------------------------------

#[test]
fn run_strips_key_variables_from_every_layer() {
    let p = Project::new();
    let key = p.encrypted_only(&format!("ENVCLOAK_KEY_OTHER={CANARY}\nA=1\n"));
    p.write(
        ".env",
        format!("ENVCLOAK_PASSWORD={CANARY}x\nENVCLOAK_IDENTITY={CANARY}y\nB=2\n"),
    );
    let out = p
        .envcloak(&["run", "--", "sh", "-c", "env"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok();
    out.hides(CANARY).hides(&key);
    assert!(out.stdout().contains("A=1\n") && out.stdout().contains("B=2\n"));
    let out = p
        .envcloak(&["run", "--pass-key", "--", "sh", "-c", "env"])
        .env("ENVCLOAK_KEY", &key)
        .run()
        .ok();
    assert!(
        out.stdout()
            .contains(&format!("ENVCLOAK_KEY_OTHER={CANARY}"))
    );
    assert!(out.stdout().contains(&format!("ENVCLOAK_KEY={key}")));
}

#[test]
fn run_takes_a_second_separator_and_refuses_unknown_flags() {
    let p = Project::new();
    p.write(".env", "A=1\n");
    let out = p
        .envcloak(&["run", "--", "--", "sh", "-c", "echo $A"])
        .run()
        .ok();
    assert_eq!(out.stdout(), "1\n");
    // A mistyped flag before the command is a usage error, never a command.
    let out = p.envcloak(&["run", "--passkey", "true"]).run().fails(2);
    assert!(!out.stderr.contains("command not found"), "{}", out.stderr);
    // Flags after the command are the command's.
    let out = p.envcloak(&["run", "sh", "-c", "echo $0", "-x"]).run().ok();
    assert_eq!(out.stdout(), "-x\n");
}

#[test]
fn a_nul_byte_in_a_value_names_the_key() {
    let p = Project::new();
    p.write(".env", b"GOOD=1\nBAD_VALUE=x\x00y\n".as_slice());
    p.envcloak(&["run", "--", "true"])
        .run()
        .fails(2)
        .error_says(&["BAD_VALUE", "NUL", ".env:2"]);
}

// --- decrypt ----------------------------------------------------------------

#[test]
fn every_output_format_gives_runs_values() {
    let p = Project::new();
    p.encrypted_only(
        "BASE=b\nURL=\"http://${HOST}/$BASE\"\nQ=\"it's \\\"q\\\" \\\\ #1\"\nMULTI=\"one\\ntwo\"\nU=ünï €\n",
    );
    fn env(r: common::Run<'_>) -> common::Run<'_> {
        r.env("HOST", "h.example")
    }
    let run = env(p.envcloak(&[
        "run",
        "--",
        "sh",
        "-c",
        "printf '%s|%s|%s|%s' \"$URL\" \"$Q\" \"$MULTI\" \"$U\"",
    ]))
    .run()
    .ok();
    let from_run = run.stdout().to_owned();
    assert_eq!(
        from_run,
        "http://h.example/b|it's \"q\" \\ #1|one\ntwo|ünï €"
    );

    let out = env(p.envcloak(&["decrypt", "--format", "json"])).run().ok();
    let j = json(&out);
    assert_eq!(
        format!("{}|{}|{}|{}", j["URL"], j["Q"], j["MULTI"], j["U"]),
        from_run
    );

    let out = env(p.envcloak(&["decrypt", "--format", "shell"]))
        .run()
        .ok();
    p.write("exports.sh", out.stdout());
    let shell = p
        .sh(". ./exports.sh; printf '%s|%s|%s|%s' \"$URL\" \"$Q\" \"$MULTI\" \"$U\"")
        .run()
        .ok();
    assert_eq!(shell.stdout(), from_run);
}

#[test]
fn decrypt_to_a_file_in_a_work_tree_keeps_it_out_of_git() {
    let p = key_project(&format!("S={CANARY}\n"));
    p.envcloak(&["decrypt", "-o", "plain.env"]).run().ok();
    assert_eq!(p.mode("plain.env"), 0o600);
    p.command("git", &["check-ignore", "-q", "plain.env"])
        .run()
        .ok();
    // `-` is standard output, and so is /dev/stdout (written into, never
    // renamed over).
    let out = p.envcloak(&["decrypt", "-o", "-"]).run().ok();
    assert_eq!(out.stdout(), format!("S={CANARY}\n"));
    let out = p.envcloak(&["decrypt", "-o", "/dev/stdout"]).run().ok();
    assert_eq!(out.stdout(), format!("S={CANARY}\n"));
    assert!(!p.exists("-"));
}

// --- Profiles ---------------------------------------------------------------

#[test]
fn profile_names_are_checked_and_the_error_names_their_source() {
    let p = Project::new();
    p.write(".env", "A=1\n");
    p.envcloak(&["--profile", "../x", "ls"])
        .run()
        .fails(2)
        .error_says(&["--profile", "letters, digits"]);
    p.envcloak(&["ls"])
        .env("ENVCLOAK_PROFILE", "a/b")
        .run()
        .fails(2)
        .error_says(&["ENVCLOAK_PROFILE"]);
    // A dash is fine, and its key variable uses `_`.
    p.write(".env.my-app", "B=2\n");
    p.envcloak(&["--profile", "my-app", "encrypt"]).run().ok();
    let key = p.read_string(".env.my-app.key").trim().to_owned();
    std::fs::remove_file(p.p(".env.my-app.key")).unwrap();
    std::fs::remove_file(p.p(".env.my-app")).unwrap();
    let out = p
        .envcloak(&["--profile", "my-app", "get", "B"])
        .env("ENVCLOAK_KEY_MY_APP", &key)
        .run()
        .ok();
    assert_eq!(out.stdout(), "2\n");
}

#[test]
fn set_takes_a_value_starting_with_a_dash_after_the_separator() {
    let p = key_project("A=1\n");
    p.envcloak(&["set", "T", "--", "-dash-value"]).run().ok();
    let out = p.envcloak(&["get", "T"]).run().ok();
    assert_eq!(out.stdout(), "-dash-value\n");
}

// --- Key handling -------------------------------------------------------------

/// A valid Fernet key (32 bytes of 0xff) that opens nothing here.
const WRONG_KEY: &str = "__________________________________________8=";

#[test]
fn a_wrong_key_names_where_it_came_from_and_what_it_shadows() {
    let p = key_project(&format!("A={CANARY}\n"));
    for args in [&["decrypt"][..], &["get", "A"][..], &["set", "B", "1"][..]] {
        p.envcloak(args)
            .env("ENVCLOAK_KEY", WRONG_KEY)
            .run()
            .fails(2)
            .hides(CANARY)
            .hides(WRONG_KEY)
            .error_says(&[
                "authentication failed",
                "ENVCLOAK_KEY in the environment, which wins over .env.key",
            ]);
    }
    p.write_mode("other.key", format!("{WRONG_KEY}\n"), 0o600);
    p.envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY_FILE", "other.key")
        .run()
        .fails(2)
        .error_says(&["ENVCLOAK_KEY_FILE (other.key), which wins over .env.key"]);
    p.envcloak(&["--key-file", "other.key", "decrypt"])
        .run()
        .fails(2)
        .error_says(&["--key-file other.key"]);
    p.envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY_CMD", format!("echo {WRONG_KEY}"))
        .run()
        .fails(2)
        .error_says(&["ENVCLOAK_KEY_CMD, which wins over .env.key"]);
}

#[test]
fn a_wrong_password_says_password() {
    let p = password_project(&format!("A={CANARY}\n"));
    for args in [&["decrypt"][..], &["get", "A"][..]] {
        p.envcloak(args)
            .env("ENVCLOAK_PASSWORD", "pw-typo")
            .run()
            .fails(2)
            .hides(CANARY)
            .error_says(&["wrong password", "ENVCLOAK_PASSWORD"]);
    }
}

#[test]
fn a_key_variable_that_is_not_utf8_is_an_error_not_unset() {
    use std::os::unix::ffi::OsStrExt;
    let p = key_project("A=1\n");
    let bad = std::ffi::OsStr::from_bytes(b"\xffnot-utf8");
    for var in ["ENVCLOAK_KEY", "ENVCLOAK_KEY_FILE", "ENVCLOAK_KEY_CMD"] {
        for args in [&["decrypt"][..], &["get", "A"][..]] {
            p.envcloak(args)
                .env(var, bad)
                .run()
                .fails(2)
                .error_says(&[var, "UTF-8"]);
        }
    }
}

#[test]
fn arguments_in_the_wrong_order_are_not_echoed() {
    let p = key_project("A=1\n");
    let value = format!("p@ss w0rd {CANARY}");
    for args in [
        vec!["set", value.as_str(), "KEY"],
        vec!["unset", value.as_str()],
        vec!["get", value.as_str()],
    ] {
        p.envcloak(&args)
            .run()
            .fails(2)
            .hides(CANARY)
            .hides("w0rd")
            .error_says(&["not a valid key"]);
    }
}

#[test]
fn an_editor_that_deletes_its_file_is_told_so() {
    let p = key_project("A=1\n");
    let before = p.read(".env.enc");
    let editor = p.script("rm-editor.sh", r#"rm -f "$1""#);
    p.envcloak(&["edit"])
        .env("EDITOR", editor.as_os_str())
        .run()
        .fails(2)
        .error_says(&["removed the temporary file", ".env.enc is unchanged"]);
    assert_eq!(p.read(".env.enc"), before);
}

#[test]
fn a_weak_password_file_gets_its_own_hint() {
    // A password file recorded with 1,000 iterations (below the 600,000
    // floor): made by another tool, or tampered with — not "damaged".
    let p = Project::new();
    p.write(
        ".env.enc",
        "envcloak:pbkdf2-sha256:1000:AAECAwQFBgcICQoLDA0ODw==\ngAAAAABpAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",
    );
    let out = p
        .envcloak(&["decrypt"])
        .env("ENVCLOAK_PASSWORD", "pw")
        .run()
        .fails(2);
    out.error_says(&["600000"])
        .stderr_says(&["hint: envcloak refuses weak password files"]);
    assert!(!out.stderr.contains("damaged"), "{}", out.stderr);
}

// --- Second trial -------------------------------------------------------------

#[test]
fn decrypt_never_writes_plaintext_over_the_encrypted_file_a_key_or_a_tracked_file() {
    let p = key_project(&format!("S={CANARY}\n"));
    p.write(".env.example", "S=\n");
    p.write("notes.txt", "tracked\n");
    p.command("git", &["add", ".env.enc", ".env.example", "notes.txt"])
        .run()
        .ok();
    p.write_mode("other.key", "k\n", 0o600);
    for target in [
        ".env.enc",
        ".env.key",
        "other.key",
        ".env.example",
        ".gitignore",
        "notes.txt",
        "copy.enc",
    ] {
        let before = std::fs::read(p.p(target)).ok();
        p.envcloak(&["decrypt", "-o", target, "--force"])
            .run()
            .fails(2)
            .hides(CANARY)
            .error_says(&[
                "refusing to write decrypted plaintext",
                "nothing was written",
            ]);
        assert_eq!(std::fs::read(p.p(target)).ok(), before, "{target}");
    }
    p.assert_plaintext(&format!("S={CANARY}\n"));
}

#[test]
fn decrypt_through_a_symlink_ignores_the_file_the_plaintext_lands_in() {
    let p = key_project("S=1\n");
    std::os::unix::fs::symlink("real.env", p.p("link.env")).unwrap();
    p.envcloak(&["decrypt", "-o", "link.env"]).run().ok();
    assert_eq!(p.read_string("real.env"), "S=1\n");
    p.command("git", &["check-ignore", "-q", "real.env"])
        .run()
        .ok();
    // Names that are patterns to git are escaped, so exactly they are ignored.
    for name in ["#x.env", "!y.env", "a[1].env", "*"] {
        p.envcloak(&["decrypt", "-o", name]).run().ok();
        p.command("git", &["check-ignore", "-q", name]).run().ok();
    }
    p.command("git", &["check-ignore", "-q", "unrelated.txt"])
        .run()
        .code(1);
}

#[test]
fn a_symlinked_gitignore_is_refused_not_written_through() {
    let p = Project::new();
    p.git_init();
    let elsewhere = tempfile::NamedTempFile::new().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), p.p(".gitignore")).unwrap();
    p.write(".env", "A=1\n");
    p.envcloak(&["encrypt"])
        .run()
        .fails(2)
        .error_says(&[".gitignore", "symbolic link"]);
    assert_eq!(std::fs::read_to_string(elsewhere.path()).unwrap(), "");
    assert!(!p.exists(".env.enc"));
}

#[test]
fn set_values_that_look_like_short_flags_are_values() {
    let p = key_project("A=1\n");
    for value in [
        format!("-h{CANARY}"),
        format!("-f{CANARY}"),
        format!("-x{CANARY}"),
    ] {
        p.envcloak(&["set", "TOKEN", &value])
            .run()
            .ok()
            .hides(CANARY);
        let out = p.envcloak(&["get", "TOKEN"]).run().ok();
        assert_eq!(out.stdout(), format!("{value}\n"));
    }
    // A bare -h is still help.
    let out = p.envcloak(&["set", "TOKEN", "-h"]).run().ok();
    assert!(out.stdout().contains("Usage"), "{}", out.stdout());
}

#[test]
fn encrypt_password_followed_by_a_word_does_not_echo_it() {
    let p = Project::new();
    p.write(".env", "A=1\n");
    p.envcloak(&["encrypt", "--password", CANARY])
        .run()
        .fails(2)
        .hides(CANARY)
        .error_says(&["does not exist", "not shown"])
        .stderr_says(&["--password takes no value"]);
    assert!(!p.exists(".env.enc"));
}

#[test]
fn a_key_file_variable_naming_a_missing_file_is_named() {
    let p = key_project("A=1\n");
    p.envcloak(&["decrypt"])
        .env("ENVCLOAK_KEY_FILE", "/nonexistent/team.key")
        .run()
        .fails(2)
        .error_says(&["ENVCLOAK_KEY_FILE (/nonexistent/team.key)", "cannot read"]);
}

// --- Review findings ----------------------------------------------------------

#[test]
fn init_force_on_a_symlinked_env_keeps_the_old_contents() {
    let p = Project::new();
    p.git_init();
    p.write(".env.example", "# @generate hex:8\nTOKEN=\n");
    p.mkdir("real");
    p.write("real/dev.env", format!("OLD={CANARY}\n"));
    std::os::unix::fs::symlink("real/dev.env", p.p(".env")).unwrap();
    let out = p.envcloak(&["init", "--force"]).run().ok();
    out.hides(CANARY);
    let backup = p
        .names()
        .into_iter()
        .find(|n| n.starts_with(".env.backup-"))
        .expect("a backup");
    assert_eq!(p.read_string(&backup), format!("OLD={CANARY}\n"));
    assert!(
        p.read_string(".env")
            .starts_with("# @generate hex:8\nTOKEN=")
    );
}

#[test]
fn encrypt_of_a_symlinked_env_keeps_the_link_and_its_target_out_of_git() {
    let p = Project::new();
    p.git_init();
    p.mkdir("real");
    p.write("real/dev.env", "A=1\n");
    std::os::unix::fs::symlink("real/dev.env", p.p(".env")).unwrap();
    p.envcloak(&["encrypt"]).run().ok();
    for name in [".env", "real/dev.env"] {
        p.command("git", &["check-ignore", "-q", name]).run().ok();
    }
}
