//! `envcloak::crypto::decrypt` / `decrypt_at` / `split_file` on arbitrary
//! bytes as the contents of a `.env.enc` file, with a fixed two-key keyring.
//!
//! - Nothing panics, with or without a TTL, at any clock (0, now, `u64::MAX`).
//! - Every error is one of the documented variants, and the right one: the
//!   target re-derives the token's structure (trim, `envcloak:` prefix,
//!   base64 with either alphabet and optional padding, version byte, length)
//!   and checks the HMAC-SHA256 itself with the `hmac` crate, independently
//!   of the `fernet` crate.
//! - `Ok` only for a token whose HMAC verifies under one of the keys (the
//!   seeds hold real tokens, so mutations that keep them authentic, such as
//!   whitespace, the `+/` alphabet or dropped padding, are exercised), and
//!   `Expired`/`ClockSkew` only for such a token and only with a TTL.
//! - `split_file` never panics; a header it returns formats back to itself.
//! - `decrypt_with_password_at` is run only where it fails before the
//!   (deliberately slow) key derivation; it must fail with the error the
//!   structure calls for.
//! - The input as text is also fed to `Keyring::parse`; a parsed keyring
//!   formats back to an equal one.
#![no_main]

use std::time::Duration;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use envcloak::crypto::{self, DecryptError, Keyring, PasswordHeader};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

/// The keyring of the target (and of the seed tokens in
/// `corpus/token_decrypt/`): bytes 0..32, then bytes 100..132.
const KEYRING: &str =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM=";
const KEY_BYTES: [[u8; 32]; 2] = [key_bytes(0), key_bytes(100)];

const fn key_bytes(start: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = start + i as u8;
        i += 1;
    }
    k
}

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The documented structural checks of a bare token (what `decrypt` reports
/// before trying any key), or the decoded token and its timestamp.
fn structure(token: &[u8]) -> Result<(Vec<u8>, u64), DecryptError> {
    let token = token.trim_ascii();
    if token.is_empty() {
        return Err(DecryptError::Empty);
    }
    if token.starts_with(b"envcloak:") {
        return Err(DecryptError::PasswordRequired);
    }
    let mapped: Vec<u8> = token
        .iter()
        .map(|&b| match b {
            b'+' => b'-',
            b'/' => b'_',
            b => b,
        })
        .collect();
    let raw = LENIENT.decode(&mapped).map_err(|_| DecryptError::NotBase64)?;
    match raw.first() {
        None => return Err(DecryptError::Truncated),
        Some(0x80) => {}
        Some(_) => return Err(DecryptError::BadVersion),
    }
    if raw.len() < 1 + 8 + 16 + 16 + 32 || (raw.len() - (1 + 8 + 16 + 32)) % 16 != 0 {
        return Err(DecryptError::Truncated);
    }
    let ts = u64::from_be_bytes(raw[1..9].try_into().unwrap());
    Ok((raw, ts))
}

/// Whether the token's HMAC verifies under one of the keyring's keys.
fn authentic(raw: &[u8]) -> bool {
    let (signed, tag) = raw.split_at(raw.len() - 32);
    KEY_BYTES.iter().any(|key| {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key[..16]).unwrap();
        mac.update(signed);
        mac.verify_slice(tag).is_ok()
    })
}

fuzz_target!(|data: &[u8]| {
    let keyring = Keyring::parse(KEYRING).unwrap();
    let expected = structure(data);
    let is_authentic = expected.as_ref().is_ok_and(|(raw, _)| authentic(raw));

    // At fixed clocks: the exact outcome is known.
    let cases: [(Option<Duration>, u64); 6] = [
        (None, 0),
        (None, u64::MAX),
        (Some(Duration::from_secs(60)), 1_700_000_000),
        (Some(Duration::ZERO), 0),
        (Some(Duration::new(u64::MAX, 999_999_999)), u64::MAX),
        (Some(Duration::from_secs(u64::MAX - 30)), 100),
    ];
    for (ttl, now) in cases {
        let result = crypto::decrypt_at(&keyring, data, ttl, now);
        let want: Result<(), DecryptError> = match &expected {
            Err(e) => Err(e.clone()),
            Ok(_) if !is_authentic => Err(DecryptError::Authentication),
            Ok((_, ts)) => match ttl {
                None => Ok(()),
                Some(ttl) => {
                    let ttl = ttl.as_secs();
                    if ts.checked_add(ttl).is_some_and(|deadline| deadline < now) {
                        Err(DecryptError::Expired {
                            age_secs: now.saturating_sub(*ts),
                            ttl_secs: ttl,
                        })
                    } else if now.checked_add(60).is_some_and(|limit| limit < *ts) {
                        Err(DecryptError::ClockSkew {
                            ahead_secs: ts - now,
                        })
                    } else {
                        Ok(())
                    }
                }
            },
        };
        match (&result, &want) {
            (Ok(_), Ok(())) => {}
            (Err(got), Err(want)) if got == want => {}
            _ => panic!(
                "decrypt_at(ttl {ttl:?}, now {now}): got {:?}, expected {want:?}",
                result.as_ref().map(|_| "Ok(<plaintext>)")
            ),
        }
    }

    // With the system clock: the documented variants only.
    for ttl in [None, Some(Duration::from_secs(60)), Some(Duration::MAX)] {
        match crypto::decrypt(&keyring, data, ttl) {
            Ok(_) => assert!(is_authentic, "Ok for a token no key authenticates"),
            Err(DecryptError::Expired { .. } | DecryptError::ClockSkew { .. }) => {
                assert!(ttl.is_some() && is_authentic, "expiry reported for {ttl:?}")
            }
            Err(e) => {
                let want = match &expected {
                    Err(structural) => structural.clone(),
                    Ok(_) => {
                        assert!(!is_authentic, "decrypt(ttl {ttl:?}): {e:?} for an authentic token");
                        DecryptError::Authentication
                    }
                };
                assert_eq!(e, want, "decrypt(ttl {ttl:?})");
            }
        }
    }

    // split_file, and the password route where it fails before the KDF.
    let split = crypto::split_file(data);
    match &split {
        Ok((None, rest)) => {
            assert_eq!(*rest, data);
            assert!(!data.trim_ascii_start().starts_with(b"envcloak:"));
        }
        Ok((Some(header), rest)) => {
            assert!(!rest.trim_ascii().is_empty(), "a header without a token");
            assert!(data.ends_with(rest));
            assert_eq!(
                PasswordHeader::parse(&header.format()).as_ref(),
                Ok(header),
                "header does not survive format(): {header:?}"
            );
        }
        Err(DecryptError::BadHeader(_)) => {}
        Err(e) => panic!("split_file: undocumented error {e:?}"),
    }
    let password_want = if data.trim_ascii().is_empty() {
        Some(DecryptError::Empty)
    } else {
        match &split {
            Err(e) => Some(e.clone()),
            Ok((None, _)) => Some(DecryptError::BadHeader("")),
            Ok((Some(_), token)) => structure(token).err(),
        }
    };
    if let Some(want) = password_want {
        let got = crypto::decrypt_with_password_at(b"password", data, None, 0)
            .err()
            .expect("decrypt_with_password_at: Ok without a key derivation");
        match (&got, &want) {
            (DecryptError::BadHeader(_), DecryptError::BadHeader(_)) => {}
            _ => assert_eq!(got, want, "decrypt_with_password_at"),
        }
    }

    // The input as a key or keyring.
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(parsed) = Keyring::parse(text)
    {
        let again = Keyring::parse(&parsed.to_base64()).expect("a keyring formats to a keyring");
        assert!(again == parsed, "keyring does not survive to_base64()");
        assert!(!parsed.is_empty());
    }
});
