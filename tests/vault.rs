//! The vault API as a program uses it, without the command-line tool:
//! open, set, unset, save an edit (merging a concurrent change), rotate,
//! change a password, and replace — each under the write lock.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use envcloak::Error;
use envcloak::crypto::DecryptError;
use envcloak::crypto::{self, Key, Keyring};
use envcloak::fsio::LockOptions;
use envcloak::vault::{self, Access, Replaced, Rotated, Saved, Sealer};

/// `.env.enc` holding `text`, opened by `team.key` (0600) beside it.
fn project(text: &str) -> (tempfile::TempDir, PathBuf, Access) {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate();
    let file = dir.path().join(".env.enc");
    std::fs::write(
        &file,
        crypto::encrypt(&Keyring::from(key.clone()), text.as_bytes()),
    )
    .unwrap();
    let key_file = dir.path().join("team.key");
    std::fs::write(&key_file, format!("{}\n", key.to_base64().as_str())).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    (dir, file, Access::KeyFile(key_file))
}

fn lock() -> LockOptions<'static> {
    LockOptions {
        timeout: std::time::Duration::from_secs(30),
        on_wait: None,
    }
}

fn text(file: &Path, access: &Access) -> String {
    vault::open_with(file, access, None)
        .unwrap()
        .text
        .to_string()
}

#[test]
fn an_edit_is_merged_with_a_change_made_meanwhile() {
    let (_dir, file, access) = project("A=1\nB=1\n");
    let base = vault::open_with(&file, &access, None).unwrap();
    // Someone sets C while "the editor" is open.
    vault::set(&file, &access, &lock(), "C", "3").unwrap();
    let saved = vault::save_edit(&file, &access, &lock(), &base, "A=2\nB=1\n").unwrap();
    assert!(matches!(saved, Saved::Merged), "{saved:?}");
    assert_eq!(text(&file, &access), "A=2\nB=1\nC=3\n");

    // Both change B: nothing is written, both versions come back marked.
    let base = vault::open_with(&file, &access, None).unwrap();
    vault::set(&file, &access, &lock(), "B", "theirs").unwrap();
    let before = std::fs::read(&file).unwrap();
    match vault::save_edit(&file, &access, &lock(), &base, "A=2\nB=ours\nC=3\n").unwrap() {
        Saved::Conflict { text, keys, .. } => {
            assert_eq!(keys, ["B"]);
            assert!(text.contains("<<<<<<< yours\nB=ours\n=======\nB=theirs\n>>>>>>> theirs\n"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn rotate_writes_the_key_file_it_read_and_the_file_opens_with_it() {
    let (_dir, file, access) = project("A=1\n");
    let Access::KeyFile(key_file) = &access else {
        unreachable!()
    };
    let shown = |_: &Keyring| -> Result<(), Error> { panic!("a key file is written, not shown") };
    let done = vault::rotate(&file, &access, &lock(), false, true, shown).unwrap();
    assert_eq!(done, Rotated::KeyFile(key_file.clone()));
    assert_eq!(
        std::fs::read_to_string(key_file)
            .unwrap()
            .trim()
            .split(',')
            .count(),
        2
    );
    assert_eq!(text(&file, &access), "A=1\n");
    // Without `write`, a key read from a file is not rotated at all.
    let before = std::fs::read(&file).unwrap();
    let err = vault::rotate(
        &file,
        &access,
        &lock(),
        false,
        false,
        |_: &Keyring| -> Result<(), Error> { Ok(()) },
    )
    .unwrap_err();
    assert!(err.to_string().contains("would no longer open"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn replace_never_replaces_a_file_the_key_does_not_open() {
    let (dir, file, access) = project("A=1\n");
    let other = dir.path().join("other.key");
    std::fs::write(&other, Key::generate().to_base64().as_str()).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    let before = std::fs::read(&file).unwrap();
    let never = || -> Result<Sealer, Error> { panic!("the file exists") };
    let err = vault::replace(
        &file,
        "A=2\n",
        &Access::KeyFile(other),
        &lock(),
        None,
        never,
        || Ok::<(), Error>(()),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decrypt {
                kind: DecryptError::Authentication,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // The right key: unchanged text is left alone, new text written.
    let never = || -> Result<Sealer, Error> { panic!("the file exists") };
    assert_eq!(
        vault::replace(&file, "A=1\n", &access, &lock(), None, never, || Ok::<
            (),
            Error,
        >(
            ()
        ))
        .unwrap(),
        Replaced::Unchanged
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    let never = || -> Result<Sealer, Error> { panic!("the file exists") };
    assert_eq!(
        vault::replace(&file, "A=2\n", &access, &lock(), None, never, || Ok::<
            (),
            Error,
        >(
            ()
        ))
        .unwrap(),
        Replaced::Written
    );
    assert_eq!(text(&file, &access), "A=2\n");
}

#[test]
fn a_password_is_changed_only_to_another_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(".env.enc");
    std::fs::write(
        &file,
        crypto::encrypt_with_password(b"old-pw", b"A=1\n", crypto::MIN_ITERATIONS),
    )
    .unwrap();
    let old = Access::Password(zeroize::Zeroizing::new("old-pw".into()));
    let err = vault::change_password(
        &file,
        &old,
        &lock(),
        zeroize::Zeroizing::new("old-pw".into()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("same as the current one"), "{err}");
    vault::change_password(
        &file,
        &old,
        &lock(),
        zeroize::Zeroizing::new("new-pw".into()),
    )
    .unwrap();
    let err = vault::open_with(&file, &old, None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decrypt {
                kind: DecryptError::WrongPassword,
                ..
            }
        ),
        "{err}"
    );
    let new = Access::Password(zeroize::Zeroizing::new("new-pw".into()));
    assert_eq!(text(&file, &new), "A=1\n");
}
