//! The library side of per-person access (`envcloak::team`, DESIGN §9):
//! recipients files, sealing and opening the keyring, key lookup's sealed
//! source, the reports `check` prints, and the merge helper. Identities are
//! age keys made here and given through an environment closure: the test
//! process's own environment and home are never read or changed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret as _;
use envcloak::crypto::{Key, Keyring};
use envcloak::keys::{self, KeySource};
use envcloak::team::{self, Identities, KeyKind, Recipient, Recipients, TeamErrorKind};
use envcloak::{Error, fsio};

/// A person with an age identity.
struct Person {
    identity: String,
    recipient: String,
}

fn person() -> Person {
    let id = age::x25519::Identity::generate();
    Person {
        identity: id.to_string().expose_secret().to_owned(),
        recipient: id.to_public().to_string(),
    }
}

/// An environment holding only these variables (HOME points nowhere
/// useful unless given).
fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn kind(e: &Error) -> Option<TeamErrorKind> {
    match e {
        Error::Team { kind, .. } => Some(*kind),
        _ => None,
    }
}

fn recipients(people: &[(&str, &Person)]) -> Recipients {
    let text: String = people
        .iter()
        .map(|(n, p)| format!("{n} {}\n", p.recipient))
        .collect();
    Recipients::parse(&text, Path::new(".env.recipients")).unwrap()
}

const ED25519_PUB: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFATbjoDL/t8SiuNhaMOyta8OLsInAA0PgANw9//56ki bob@host";

#[test]
fn recipients_files_parse_and_refuse_what_they_should() {
    let a = person();
    let text = format!(
        "\u{feff}# team\r\n\r\nalice {}\r\nbob {ED25519_PUB}\n  # indented comment\n",
        a.recipient
    );
    let r = Recipients::parse(&text, Path::new(".env.recipients")).unwrap();
    let names: Vec<&str> = r.members().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(r.members()[0].recipient.kind(), KeyKind::Age);
    assert_eq!(r.members()[1].recipient.kind(), KeyKind::SshEd25519);
    assert_eq!(r.members()[1].recipient.comment(), Some("bob@host"));
    assert!(
        r.members()[1]
            .recipient
            .fingerprint()
            .starts_with("SHA256:")
    );
    // The file written back parses to the same members.
    assert_eq!(Recipients::parse(&r.to_text(), Path::new("x")).unwrap(), r);

    let refused = |text: &str, needle: &str, secret: &str| {
        let e = Recipients::parse(text, Path::new(".env.recipients")).unwrap_err();
        assert_eq!(kind(&e), Some(TeamErrorKind::Recipients));
        let msg = format!("{e} {e:?}");
        assert!(msg.contains(needle), "{msg}");
        assert!(msg.starts_with(".env.recipients: line "), "{msg}");
        if !secret.is_empty() {
            assert!(!msg.contains(secret), "echoed: {msg}");
        }
    };
    refused(
        &format!("alice {}\nalice {ED25519_PUB}\n", a.recipient),
        "line 2: the name 'alice' is already a member",
        "",
    );
    refused(
        &format!("alice {}\nbob {}\n", a.recipient, a.recipient),
        "line 2: this key is already there, as 'alice'",
        "",
    );
    refused(
        &format!("x {}\n", a.identity),
        "line 1: holds a private key",
        &a.identity[20..],
    );
    refused(
        "x -----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n",
        "private key",
        "b3BlbnNzaC1rZXkt",
    );
    refused(
        "alice ssh-ed25519 AAAAnotbase64secretish\n",
        "line 1: not a valid SSH public key",
        "secretish",
    );
    refused("alice\n", "line 1: empty", "");
    refused("al ice age1x\n", "line 1:", "");
    refused(
        "alice hunter2-password\n",
        "line 1: not a recipient",
        "hunter2",
    );
    refused(
        "<<<<<<< HEAD\nalice x\n",
        "line 1: unresolved merge conflict",
        "",
    );
    refused(
        "alice ecdsa-sha2-nistp256 AAAA\n",
        "unsupported SSH key type",
        "",
    );
    // One recipient on its own.
    assert!(
        Recipient::parse("AGE-SECRET-KEY-1ABC")
            .unwrap_err()
            .contains("private key")
    );
    assert_eq!(
        Recipient::parse(&format!("  {}  ", a.recipient))
            .unwrap()
            .as_str(),
        a.recipient
    );
    assert_eq!(
        Recipient::parse(ED25519_PUB)
            .unwrap()
            .suggested_name()
            .as_deref(),
        Some("bob")
    );
}

#[test]
fn a_sealed_keyring_opens_for_members_only() {
    let (alice, bob, eve) = (person(), person(), person());
    let members = recipients(&[("alice", &alice), ("bob", &bob)]);
    let ring = Keyring::parse(&format!(
        "{},{}",
        Key::generate().to_base64().as_str(),
        Key::generate().to_base64().as_str()
    ))
    .unwrap();
    let path = Path::new(".env.key.age");
    let sealed = team::seal(&ring, &members, path).unwrap();
    assert!(sealed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
    assert!(!sealed.contains(ring.first().to_base64().as_str()));
    for who in [&alice, &bob] {
        let env = env_of(&[("ENVCLOAK_IDENTITY", &who.identity)]);
        let ids = Identities::find(&env).unwrap();
        assert_eq!(ids.sources(), ["ENVCLOAK_IDENTITY"]);
        assert_eq!(ids.open(sealed.as_bytes(), path, None).unwrap(), ring);
    }
    let env = env_of(&[("ENVCLOAK_IDENTITY", &eve.identity)]);
    let e = Identities::find(&env)
        .unwrap()
        .open(sealed.as_bytes(), path, None)
        .unwrap_err();
    assert_eq!(kind(&e), Some(TeamErrorKind::NotARecipient));
    let msg = e.to_string();
    assert!(
        msg.contains(
            "none of your identities (ENVCLOAK_IDENTITY) is a recipient (see .env.recipients)"
        ),
        "{msg}"
    );
    assert!(!msg.contains(&eve.identity[16..]));
    // No identity at all.
    let e = Identities::find(&env_of(&[]))
        .unwrap()
        .open(sealed.as_bytes(), path, None)
        .unwrap_err();
    assert_eq!(kind(&e), Some(TeamErrorKind::NoIdentity));
    // A bad identity variable is an error that does not quote it.
    let e = Identities::find(&env_of(&[(
        "ENVCLOAK_IDENTITY",
        "AGE-SECRET-KEY-1NOTVALIDsecretish",
    )]))
    .unwrap_err();
    assert_eq!(kind(&e), Some(TeamErrorKind::Identity));
    assert!(!e.to_string().contains("secretish"));
    // Damage is told apart from "not yours".
    let e = Identities::find(&env_of(&[("ENVCLOAK_IDENTITY", &alice.identity)]))
        .unwrap()
        .open(b"garbage", path, None)
        .unwrap_err();
    assert_eq!(kind(&e), Some(TeamErrorKind::Sealed));
    // Sealing to nobody is refused.
    let e = team::seal(&ring, &Recipients::default(), path).unwrap_err();
    assert_eq!(kind(&e), Some(TeamErrorKind::Member));
}

#[test]
fn identity_files_are_found_in_the_documented_places() {
    let home = tempfile::tempdir().unwrap();
    let alice = person();
    let xdg = home.path().join("xdg");
    std::fs::create_dir_all(xdg.join("envcloak")).unwrap();
    std::fs::write(
        xdg.join("envcloak/identity.txt"),
        format!("# mine\n{}\n", alice.identity),
    )
    .unwrap();
    let h = home.path().to_str().unwrap();
    let x = xdg.to_str().unwrap();
    let ids = Identities::find(&env_of(&[("HOME", h), ("XDG_CONFIG_HOME", x)])).unwrap();
    assert_eq!(ids.sources(), ["~/xdg/envcloak/identity.txt"]);
    // ENVCLOAK_IDENTITY_FILE comes before it; one that is missing is an error.
    let other = home.path().join("ci.txt");
    std::fs::write(&other, format!("{}\n", person().identity)).unwrap();
    let ids = Identities::find(&env_of(&[
        ("HOME", h),
        ("XDG_CONFIG_HOME", x),
        ("ENVCLOAK_IDENTITY_FILE", other.to_str().unwrap()),
    ]))
    .unwrap();
    assert_eq!(
        ids.sources()[0],
        format!("ENVCLOAK_IDENTITY_FILE ({})", other.display())
    );
    assert_eq!(ids.sources().len(), 2);
    let e =
        Identities::find(&env_of(&[("ENVCLOAK_IDENTITY_FILE", "/nonexistent/id")])).unwrap_err();
    assert_eq!(kind(&e), Some(TeamErrorKind::Identity));

    // my_recipient: no SSH key, so an age identity is created, 0600, once.
    let fresh = tempfile::tempdir().unwrap();
    let fh = fresh.path().to_str().unwrap();
    let me = team::my_recipient(&env_of(&[("HOME", fh)])).unwrap();
    let file = fresh.path().join(".config/envcloak/identity.txt");
    assert_eq!(me.created.as_deref(), Some(file.as_path()));
    assert_eq!(me.recipient.kind(), KeyKind::Age);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir = std::fs::metadata(file.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir, 0o700);
    }
    let again = team::my_recipient(&env_of(&[("HOME", fh)])).unwrap();
    assert_eq!(again.created, None);
    assert_eq!(again.recipient, me.recipient);
    // An SSH public key wins when there is one.
    std::fs::create_dir_all(fresh.path().join(".ssh")).unwrap();
    std::fs::write(
        fresh.path().join(".ssh/id_ed25519.pub"),
        format!("{ED25519_PUB}\n"),
    )
    .unwrap();
    let ssh = team::my_recipient(&env_of(&[("HOME", fh)])).unwrap();
    assert_eq!(ssh.recipient.kind(), KeyKind::SshEd25519);
    assert_eq!(ssh.source, "~/.ssh/id_ed25519.pub");
}

/// A project directory with `.env.enc` under `ring`, the base keyring
/// sealed to `members`.
fn project(ring: &Keyring, members: &Recipients) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let enc = envcloak::crypto::encrypt(ring, b"SECRET_KEY=abc123secret\nPORT=8000\n");
    std::fs::write(dir.path().join(".env.enc"), enc).unwrap();
    std::fs::write(dir.path().join(".env.recipients"), members.to_text()).unwrap();
    let lock = fsio::lock(&dir.path().join(".env.key.age")).unwrap();
    team::write_sealed(&dir.path().join(".env.key.age"), ring, members, &lock).unwrap();
    dir
}

#[test]
fn key_lookup_ends_with_the_sealed_keyring() {
    let alice = person();
    let ring = Keyring::from(Key::generate());
    let members = recipients(&[("alice", &alice)]);
    let dir = project(&ring, &members);
    let enc = dir.path().join(".env.enc");
    let env = env_of(&[("ENVCLOAK_IDENTITY", &alice.identity)]);
    let search = keys::Search {
        env: &env,
        profile: None,
        encrypted: &enc,
    };
    let found = keys::find(&search).unwrap().unwrap();
    assert_eq!(found.keyring, ring);
    assert_eq!(
        found.source,
        KeySource::Sealed(dir.path().join(".env.key.age"))
    );
    assert!(found.describe().starts_with("the sealed keyring "));
    // A higher source wins, and says it shadows the sealed keyring.
    let other = Key::generate().to_base64();
    let env2 = env_of(&[
        ("ENVCLOAK_IDENTITY", &alice.identity),
        ("ENVCLOAK_KEY", other.as_str()),
    ]);
    let s2 = keys::Search {
        env: &env2,
        profile: None,
        encrypted: &enc,
    };
    let f2 = keys::find(&s2).unwrap().unwrap();
    assert_eq!(f2.source, KeySource::Variable("ENVCLOAK_KEY".into()));
    assert!(
        f2.describe().contains("which wins over the sealed keyring"),
        "{}",
        f2.describe()
    );
    // Not a recipient: no key (the file is skipped), and the places say why.
    let eve = person();
    let env3 = env_of(&[("ENVCLOAK_IDENTITY", &eve.identity)]);
    let s3 = keys::Search {
        env: &env3,
        profile: None,
        encrypted: &enc,
    };
    assert!(keys::find(&s3).unwrap().is_none());
    let e = keys::require(&s3).unwrap_err();
    assert!(
        e.to_string()
            .contains("(sealed keyring: none of ENVCLOAK_IDENTITY is a recipient in "),
        "{e}"
    );
    // The loader opens .env.enc with it.
    let cfg = envcloak::Config::builder()
        .isolated()
        .dir(dir.path())
        .environment([("ENVCLOAK_IDENTITY", alice.identity.as_str())])
        .build()
        .unwrap();
    let v: String = cfg.get("SECRET_KEY").unwrap();
    assert_eq!(v, "abc123secret");
}

#[test]
fn a_profile_with_its_own_sealed_keyring_ignores_the_base_sources() {
    let (alice, bob) = (person(), person());
    let base = Keyring::from(Key::generate());
    let dir = project(&base, &recipients(&[("alice", &alice), ("bob", &bob)]));
    let prod = dir.path().join(".env.production.enc");
    std::fs::write(&prod, envcloak::crypto::encrypt(&base, b"DB=prod\n")).unwrap();
    let bob_env = env_of(&[("ENVCLOAK_IDENTITY", &bob.identity)]);
    let search = |env: &dyn Fn(&str) -> Option<String>| {
        let s = keys::Search {
            env,
            profile: Some("production"),
            encrypted: &prod,
        };
        keys::find(&s).map(|f| f.map(|f| (f.keyring, f.source)))
    };
    // Before production has its own keyring: the base one opens it.
    assert_eq!(search(&bob_env).unwrap().unwrap().0, base);
    // Production gets its own keyring, sealed to alice: re-keyed.
    std::fs::write(
        dir.path().join(".env.production.recipients"),
        recipients(&[("alice", &alice)]).to_text(),
    )
    .unwrap();
    let lock = fsio::lock(&prod).unwrap();
    let done = team::rekey(
        dir.path(),
        Some("production"),
        &base,
        &recipients(&[("alice", &alice)]),
        &lock,
        false,
    )
    .unwrap();
    drop(lock);
    assert_eq!(done.files, std::slice::from_ref(&prod));
    assert_eq!(done.keys, ["DB"]);
    // Bob: nothing, even with the base keyring in ENVCLOAK_KEY or .env.key.
    assert!(search(&bob_env).unwrap().is_none());
    let base_text = base.to_base64();
    let with_var = env_of(&[
        ("ENVCLOAK_IDENTITY", &bob.identity),
        ("ENVCLOAK_KEY", base_text.as_str()),
    ]);
    assert!(search(&with_var).unwrap().is_none());
    let alice_env = env_of(&[("ENVCLOAK_IDENTITY", &alice.identity)]);
    let (ring, source) = search(&alice_env).unwrap().unwrap();
    assert_ne!(ring, base);
    assert_eq!(
        source,
        KeySource::Sealed(dir.path().join(".env.production.key.age"))
    );
    let text = envcloak::crypto::decrypt(&ring, &std::fs::read(&prod).unwrap(), None).unwrap();
    assert_eq!(&text[..], b"DB=prod\n");
    assert!(envcloak::crypto::decrypt(&base, &std::fs::read(&prod).unwrap(), None).is_err());
    // The base keyring no longer covers the production file.
    assert_eq!(
        team::covered_files(dir.path(), None),
        [dir.path().join(".env.enc")]
    );
}

#[test]
fn problems_report_disagreements() {
    let (alice, bob) = (person(), person());
    let ring = Keyring::from(Key::generate());
    let both = recipients(&[("alice", &alice), ("bob", &bob)]);
    let dir = project(&ring, &recipients(&[("alice", &alice)]));
    let root = dir.path();
    let env = env_of(&[("ENVCLOAK_IDENTITY", &alice.identity)]);
    assert_eq!(team::problems(root, None, &env), []);
    // bob listed but not sealed to.
    std::fs::write(root.join(".env.recipients"), both.to_text()).unwrap();
    let p = team::problems(root, None, &env);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].error && p[0].message.contains("sealed to 1 age key(s) but"),
        "{p:?}"
    );
    // Sealed to more than listed (someone removed by hand).
    let lock = fsio::lock(&root.join(".env.key.age")).unwrap();
    team::write_sealed(&root.join(".env.key.age"), &ring, &both, &lock).unwrap();
    drop(lock);
    std::fs::write(
        root.join(".env.recipients"),
        recipients(&[("alice", &alice)]).to_text(),
    )
    .unwrap();
    let p = team::problems(root, None, &env);
    assert!(
        p.iter().any(|p| p.message.contains("does not list")),
        "{p:?}"
    );
    // A bare .env.key that holds another key.
    std::fs::write(root.join(".env.recipients"), both.to_text()).unwrap();
    let key_file = root.join(".env.key");
    fsio::write_atomic(
        &key_file,
        format!("{}\n", Key::generate().to_base64().as_str()).as_bytes(),
        Some(0o600),
    )
    .unwrap();
    let p = team::problems(root, None, &env);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].path, key_file);
    assert!(
        !p[0].error && p[0].message.contains("holds another key"),
        "{p:?}"
    );
    fsio::write_atomic(
        &key_file,
        format!("{}\n", ring.to_base64().as_str()).as_bytes(),
        Some(0o600),
    )
    .unwrap();
    assert_eq!(team::problems(root, None, &env), []);
    // Conflict markers, a missing sealed file, a missing recipients file.
    let sealed = std::fs::read_to_string(root.join(".env.key.age")).unwrap();
    std::fs::write(
        root.join(".env.key.age"),
        format!("<<<<<<< HEAD\n{sealed}=======\n{sealed}>>>>>>> other\n"),
    )
    .unwrap();
    let p = team::problems(root, None, &env);
    assert!(p[0].message.contains("conflict"), "{p:?}");
    std::fs::remove_file(root.join(".env.key.age")).unwrap();
    let p = team::problems(root, None, &env);
    assert!(p[0].message.contains("run 'envcloak team sync'"), "{p:?}");
    std::fs::write(root.join(".env.key.age"), sealed).unwrap();
    std::fs::remove_file(root.join(".env.recipients")).unwrap();
    let p = team::problems(root, None, &env);
    assert!(p[0].path.ends_with(".env.recipients"), "{p:?}");
    // Nothing at all: nothing to say.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(team::problems(empty.path(), None, &env), []);
}

#[test]
fn merges_reseal_from_whichever_side_opens() {
    let (alice, bob, carol) = (person(), person(), person());
    let ring = Keyring::from(Key::generate());
    let path = PathBuf::from(".env.key.age");
    let ours = team::seal(
        &ring,
        &recipients(&[("alice", &alice), ("bob", &bob)]),
        &path,
    )
    .unwrap();
    let theirs = team::seal(
        &ring,
        &recipients(&[("alice", &alice), ("carol", &carol)]),
        &path,
    )
    .unwrap();
    let merged = recipients(&[("alice", &alice), ("bob", &bob), ("carol", &carol)]);
    // Carol opens only theirs.
    let carol_env = env_of(&[("ENVCLOAK_IDENTITY", &carol.identity)]);
    let text = team::reseal_merged(
        ours.as_bytes(),
        theirs.as_bytes(),
        &merged,
        &path,
        &carol_env,
        None,
    )
    .unwrap();
    for who in [&alice, &bob, &carol] {
        let env = env_of(&[("ENVCLOAK_IDENTITY", &who.identity)]);
        assert_eq!(
            Identities::find(&env)
                .unwrap()
                .open(text.as_bytes(), &path, None)
                .unwrap(),
            ring
        );
    }
    // Neither side: an error.
    let eve = env_of(&[("ENVCLOAK_IDENTITY", &person().identity)]);
    assert!(
        team::reseal_merged(
            ours.as_bytes(),
            theirs.as_bytes(),
            &merged,
            &path,
            &eve,
            None
        )
        .is_err()
    );
    // When both sides open, ours wins: a re-keyed side keeps its new key
    // and the old keys of the other side are not brought back.
    let rekeyed = Keyring::from(Key::generate());
    let ours2 = team::seal(&rekeyed, &recipients(&[("alice", &alice)]), &path).unwrap();
    let alice_env = env_of(&[("ENVCLOAK_IDENTITY", &alice.identity)]);
    let text = team::reseal_merged(
        ours2.as_bytes(),
        theirs.as_bytes(),
        &merged,
        &path,
        &alice_env,
        None,
    )
    .unwrap();
    let got = Identities::find(&alice_env)
        .unwrap()
        .open(text.as_bytes(), &path, None)
        .unwrap();
    assert_eq!(got, rekeyed);
    // Three-way merge of the members: additions on both sides kept, a
    // removal on one side kept out.
    let base = recipients(&[("alice", &alice), ("eve", &carol)]);
    let o = recipients(&[("alice", &alice), ("bob", &bob)]);
    let t = recipients(&[("alice", &alice), ("eve", &carol), ("dan", &person())]);
    let m = team::merge_recipients(&base, &o, &t, Path::new(".env.recipients")).unwrap();
    let names: Vec<&str> = m.members().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "dan"]);
    let clash = recipients(&[("alice", &alice), ("bob", &carol)]);
    assert!(team::merge_recipients(&base, &o, &clash, Path::new(".env.recipients")).is_err());
    // A conflicted work-tree file: both sides are candidates.
    let conflicted = format!("<<<<<<< ours\n{ours}=======\n{theirs}>>>>>>> theirs\n");
    let (o, t) = team::conflict_sides(&conflicted).unwrap();
    assert_eq!((o.as_str(), t.as_str()), (ours.as_str(), theirs.as_str()));
    let ids = Identities::find(&carol_env).unwrap();
    let got = team::open_any(&[o.into_bytes(), t.into_bytes()], &path, &ids, None).unwrap();
    assert_eq!(got, ring);
}

#[test]
fn rekey_replaces_the_key_everywhere_it_is_used() {
    let (alice, bob) = (person(), person());
    let old = Keyring::from(Key::generate());
    let dir = project(&old, &recipients(&[("alice", &alice), ("bob", &bob)]));
    let root = dir.path();
    std::fs::write(
        root.join(".env.staging.enc"),
        envcloak::crypto::encrypt(&old, b"STAGING_TOKEN=x1\n"),
    )
    .unwrap();
    // A file another key made is left alone; so is a local .env.key
    // holding the old key rewritten.
    let other = Keyring::from(Key::generate());
    std::fs::write(
        root.join(".env.other.enc"),
        envcloak::crypto::encrypt(&other, b"O=1\n"),
    )
    .unwrap();
    fsio::write_atomic(
        &root.join(".env.key"),
        format!("{}\n", old.to_base64().as_str()).as_bytes(),
        Some(0o600),
    )
    .unwrap();
    let remaining = recipients(&[("alice", &alice)]);
    let lock = fsio::lock(&root.join(".env.key.age")).unwrap();
    let done = team::rekey(root, None, &old, &remaining, &lock, true).unwrap();
    drop(lock);
    assert_eq!(
        done.files,
        [root.join(".env.enc"), root.join(".env.staging.enc")]
    );
    assert_eq!(done.keys, ["PORT", "SECRET_KEY", "STAGING_TOKEN"]);
    assert_eq!(
        done.key_file.as_deref(),
        Some(root.join(".env.key").as_path())
    );
    let alice_env = env_of(&[("ENVCLOAK_IDENTITY", &alice.identity)]);
    let new = team::open_sealed(&root.join(".env.key.age"), &alice_env, None).unwrap();
    assert_eq!(new.len(), 1, "old keys are not kept");
    assert!(!new.keys().contains(old.first()));
    for f in [".env.enc", ".env.staging.enc"] {
        let c = std::fs::read(root.join(f)).unwrap();
        assert!(envcloak::crypto::decrypt(&new, &c, None).is_ok());
        assert!(envcloak::crypto::decrypt(&old, &c, None).is_err(), "{f}");
    }
    assert!(
        envcloak::crypto::decrypt(
            &other,
            &std::fs::read(root.join(".env.other.enc")).unwrap(),
            None
        )
        .is_ok()
    );
    assert_eq!(keys::read_key_file(&root.join(".env.key")).unwrap(), new);
    let bob_env = env_of(&[("ENVCLOAK_IDENTITY", &bob.identity)]);
    let e = team::open_sealed(&root.join(".env.key.age"), &bob_env, None).unwrap_err();
    assert_eq!(kind(&e), Some(TeamErrorKind::NotARecipient));
}
