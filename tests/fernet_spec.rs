//! envcloak's Fernet layer against the Fernet specification's test vectors
//! (github.com/fernet/spec: generate.json, verify.json, invalid.json, copied
//! into tests/fixtures/fernet-spec), an independent AES-128-CBC + HMAC-SHA256
//! reference, and mutation tests (every byte flipped, every truncation).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE};
use envcloak::crypto::{self, DecryptError, Key, KeyError, Keyring};
use hmac::Mac as _;
use serde::Deserialize;

#[derive(Deserialize)]
struct GenerateVector {
    token: String,
    now: String,
    iv: Vec<u8>,
    src: String,
    secret: String,
}

#[derive(Deserialize)]
struct VerifyVector {
    token: String,
    now: String,
    ttl_sec: u64,
    src: String,
    secret: String,
}

#[derive(Deserialize)]
struct InvalidVector {
    desc: String,
    token: String,
    now: String,
    ttl_sec: u64,
    secret: String,
}

fn load<T: serde::de::DeserializeOwned>(name: &str) -> Vec<T> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "fernet-spec",
        name,
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let vectors: Vec<T> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()));
    assert!(!vectors.is_empty(), "{} has no vectors", path.display());
    vectors
}

// --- a small RFC 3339 parser (no chrono) -------------------------------------

/// Days from 1970-01-01 to the given civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into Unix seconds
/// (fractions dropped).
fn parse_rfc3339(s: &str) -> u64 {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> i64 {
        s.get(range.clone())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("bad RFC 3339 time {s:?} at {range:?}"))
    };
    assert!(b.len() >= 20, "bad RFC 3339 time {s:?}");
    assert_eq!(
        (b[4], b[7], b[13], b[16]),
        (b'-', b'-', b':', b':'),
        "bad RFC 3339 time {s:?}"
    );
    assert!(
        matches!(b[10], b'T' | b't' | b' '),
        "bad RFC 3339 time {s:?}"
    );
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    let (hour, minute, second) = (num(11..13), num(14..16), num(17..19));
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let minutes = num(i + 1..i + 3) * 60 + num(i + 4..i + 6);
            if sign == b'-' { -minutes } else { minutes }
        }
        _ => panic!("bad RFC 3339 offset in {s:?}"),
    };
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(local - offset * 60).expect("time before 1970")
}

#[test]
fn rfc3339_parser() {
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
    assert_eq!(parse_rfc3339("1985-10-26T01:20:00-07:00"), 499_162_800);
    assert_eq!(parse_rfc3339("1985-10-26T08:20:01+00:00"), 499_162_801);
    assert_eq!(parse_rfc3339("2000-03-01T00:00:00.999Z"), 951_868_800);
    assert_eq!(parse_rfc3339("2024-02-29T12:00:00+05:30"), 1_709_188_200);
}

// --- an independent Fernet reference --------------------------------------------

/// 0x80 || ts || iv || AES-128-CBC-PKCS7(plaintext) || HMAC-SHA256, as
/// URL-safe base64 with padding — the spec's definition of a token.
fn reference_token(secret: &[u8], ts: u64, iv: &[u8], plaintext: &[u8]) -> String {
    assert_eq!(secret.len(), 32);
    assert_eq!(iv.len(), 16);
    let (signing_key, encryption_key) = secret.split_at(16);
    let ciphertext = cbc::Encryptor::<aes::Aes128>::new_from_slices(encryption_key, iv)
        .expect("key and iv lengths")
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let mut token = vec![0x80];
    token.extend_from_slice(&ts.to_be_bytes());
    token.extend_from_slice(iv);
    token.extend_from_slice(&ciphertext);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(signing_key).expect("hmac key");
    mac.update(&token);
    token.extend_from_slice(&mac.finalize().into_bytes());
    URL_SAFE.encode(token)
}

fn decode_secret(secret: &str) -> Vec<u8> {
    URL_SAFE.decode(secret).expect("vector secret is base64")
}

// --- the spec's vectors ------------------------------------------------------------

#[test]
fn verify_vectors_decrypt() {
    for v in load::<VerifyVector>("verify.json") {
        let ring = Keyring::parse(&v.secret).expect("vector secret");
        let now = parse_rfc3339(&v.now);
        let ttl = Some(Duration::from_secs(v.ttl_sec));
        let plaintext = crypto::decrypt_at(&ring, v.token.as_bytes(), ttl, now)
            .unwrap_or_else(|e| panic!("verify vector: {e}"));
        assert_eq!(&plaintext[..], v.src.as_bytes());
        // Also without a TTL, and with a trailing newline.
        let with_newline = format!("{}\n", v.token);
        let plaintext = crypto::decrypt(&ring, with_newline.as_bytes(), None).unwrap();
        assert_eq!(&plaintext[..], v.src.as_bytes());
    }
}

#[test]
fn generate_vectors_decrypt_and_match_the_reference() {
    for v in load::<GenerateVector>("generate.json") {
        let ring = Keyring::parse(&v.secret).expect("vector secret");
        let now = parse_rfc3339(&v.now);
        // (a) the vector's token opens at `now`, with or without a TTL.
        for ttl in [None, Some(Duration::from_secs(60))] {
            let plaintext = crypto::decrypt_at(&ring, v.token.as_bytes(), ttl, now).unwrap();
            assert_eq!(&plaintext[..], v.src.as_bytes());
        }
        // (b) the independent reference reproduces the vector exactly...
        let secret = decode_secret(&v.secret);
        assert_eq!(
            reference_token(&secret, now, &v.iv, v.src.as_bytes()),
            v.token
        );
        // ...and a token from our `encrypt` satisfies the same equation for
        // its own timestamp and IV.
        let before = unix_now();
        let ours = crypto::encrypt(&ring, v.src.as_bytes());
        let after = unix_now();
        let raw = URL_SAFE
            .decode(&ours)
            .expect("our token is url-safe base64 with padding");
        let ts = u64::from_be_bytes(raw[1..9].try_into().unwrap());
        assert!(
            (before..=after).contains(&ts),
            "timestamp {ts} not in {before}..={after}"
        );
        let iv = &raw[9..25];
        assert_eq!(reference_token(&secret, ts, iv, v.src.as_bytes()), ours);
    }
}

#[test]
fn our_tokens_match_the_reference_for_many_plaintexts() {
    let key = Key::generate();
    let secret = decode_secret(&key.to_base64());
    let ring = Keyring::from(key);
    for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 1000] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let token = crypto::encrypt(&ring, &plaintext);
        let raw = URL_SAFE.decode(&token).unwrap();
        assert_eq!(raw.len(), 57 + (len / 16 + 1) * 16);
        let ts = u64::from_be_bytes(raw[1..9].try_into().unwrap());
        assert_eq!(reference_token(&secret, ts, &raw[9..25], &plaintext), token);
    }
}

fn expected_for(desc: &str) -> fn(&DecryptError) -> bool {
    match desc {
        "incorrect mac" => |e| *e == DecryptError::Authentication,
        "too short" => |e| *e == DecryptError::Truncated,
        "invalid base64" => |e| *e == DecryptError::NotBase64,
        "payload size not multiple of block size" => |e| *e == DecryptError::Truncated,
        // Authentic tokens whose padding is wrong: only a key holder could
        // make one; to the user it is a file that does not open.
        "payload padding error" => |e| *e == DecryptError::Authentication,
        "incorrect IV (causes padding error)" => |e| *e == DecryptError::Authentication,
        "far-future TS (unacceptable clock skew)" => {
            |e| matches!(e, DecryptError::ClockSkew { .. })
        }
        "expired TTL" => |e| {
            matches!(
                e,
                DecryptError::Expired {
                    age_secs: 90,
                    ttl_secs: 60
                }
            )
        },
        other => panic!("invalid.json has a case this test does not know: {other:?}"),
    }
}

#[test]
fn invalid_vectors_are_rejected_with_the_right_error() {
    for v in load::<InvalidVector>("invalid.json") {
        let ring = Keyring::parse(&v.secret).expect("vector secret");
        let now = parse_rfc3339(&v.now);
        let ttl = Some(Duration::from_secs(v.ttl_sec));
        let err = match crypto::decrypt_at(&ring, v.token.as_bytes(), ttl, now) {
            Ok(_) => panic!("{}: accepted", v.desc),
            Err(e) => e,
        };
        assert!(expected_for(&v.desc)(&err), "{}: got {err:?}", v.desc);

        // The time-based cases are authentic tokens: without a TTL they open
        // (a future date is accepted, as Python does); every other case is
        // rejected the same way without a TTL.
        let untimed = crypto::decrypt_at(&ring, v.token.as_bytes(), None, now);
        match v.desc.as_str() {
            "far-future TS (unacceptable clock skew)" | "expired TTL" => {
                assert!(untimed.is_ok(), "{}: {untimed:?}", v.desc);
            }
            _ => assert_eq!(untimed.unwrap_err(), err, "{}", v.desc),
        }
    }
}

// --- mutations -------------------------------------------------------------------

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A real token and its keyring; the plaintext spans a few blocks.
fn sample() -> (Keyring, String, Vec<u8>) {
    let ring = Keyring::from(Key::generate());
    let token = crypto::encrypt(&ring, b"DATABASE_URL=postgres://u:p@h/db\nDEBUG=false\n");
    let raw = URL_SAFE.decode(&token).unwrap();
    (ring, token, raw)
}

/// What envcloak must say about decoded bytes that are not the original
/// token (the oracle for the mutation tests).
fn expected_for_bytes(bytes: &[u8]) -> DecryptError {
    if bytes.is_empty() {
        DecryptError::Empty
    } else if bytes[0] != 0x80 {
        DecryptError::BadVersion
    } else if bytes.len() < 73 || !(bytes.len() - 57).is_multiple_of(16) {
        DecryptError::Truncated
    } else {
        DecryptError::Authentication
    }
}

/// The same for base64 text: URL-safe alphabet, padding optional but never
/// misplaced, canonical trailing bits (so no two texts open as the same
/// token). The base64 crate's decoder in that configuration is the oracle.
fn expected_for_text(text: &[u8]) -> DecryptError {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    if text.trim_ascii().is_empty() {
        return DecryptError::Empty;
    }
    match LENIENT.decode(text) {
        // A non-empty text that decodes to nothing cannot be a token.
        Ok(bytes) if bytes.is_empty() => DecryptError::Truncated,
        Ok(bytes) => expected_for_bytes(&bytes),
        Err(_) => DecryptError::NotBase64,
    }
}

#[test]
fn every_flipped_base64_character_is_rejected() {
    let (ring, token, _) = sample();
    let text = token.as_bytes();
    let mut seen_auth = 0;
    for i in 0..text.len() {
        let mut bad = text.to_vec();
        bad[i] ^= 0x01;
        let err = crypto::decrypt(&ring, &bad, None)
            .err()
            .unwrap_or_else(|| panic!("flipping character {i} was accepted"));
        let want = expected_for_text(&bad);
        assert_eq!(
            err, want,
            "character {i}: {:?} -> {:?}",
            text[i] as char, bad[i] as char
        );
        if err == DecryptError::Authentication {
            seen_auth += 1;
        }
    }
    // Most flips land in the body and must be caught by the HMAC.
    assert!(
        seen_auth > text.len() / 3,
        "only {seen_auth} authentication failures"
    );
}

#[test]
fn every_flipped_byte_is_rejected() {
    let (ring, _, raw) = sample();
    for i in 0..raw.len() {
        for mask in [0x01u8, 0x80] {
            let mut bad = raw.clone();
            bad[i] ^= mask;
            let text = URL_SAFE.encode(&bad);
            let err = crypto::decrypt(&ring, text.as_bytes(), None).unwrap_err();
            let want = if i == 0 {
                DecryptError::BadVersion
            } else {
                DecryptError::Authentication
            };
            assert_eq!(err, want, "byte {i} ^ {mask:#04x}");
            // Same verdict with a TTL: the timestamp bytes are authenticated
            // before any expiry check.
            let err =
                crypto::decrypt(&ring, text.as_bytes(), Some(Duration::from_secs(1))).unwrap_err();
            assert_eq!(err, want, "byte {i} ^ {mask:#04x} with ttl");
        }
    }
}

#[test]
fn every_truncation_is_rejected() {
    let (ring, token, raw) = sample();
    for len in 0..token.len() {
        let cut = &token.as_bytes()[..len];
        let err = crypto::decrypt(&ring, cut, None).unwrap_err();
        assert_eq!(err, expected_for_text(cut), "text cut to {len}");
        assert!(
            matches!(
                err,
                DecryptError::Empty
                    | DecryptError::NotBase64
                    | DecryptError::Truncated
                    | DecryptError::Authentication
            ),
            "text cut to {len}: {err:?}"
        );
    }
    for len in 0..raw.len() {
        let text = URL_SAFE.encode(&raw[..len]);
        let err = crypto::decrypt(&ring, text.as_bytes(), None).unwrap_err();
        assert_eq!(err, expected_for_bytes(&raw[..len]), "bytes cut to {len}");
    }
    // Cut short at a block boundary is still structurally a token; the HMAC
    // catches it.
    let text = URL_SAFE.encode(&raw[..raw.len() - 16]);
    assert_eq!(
        crypto::decrypt(&ring, text.as_bytes(), None).unwrap_err(),
        DecryptError::Authentication
    );
}

#[test]
fn appended_bytes_are_rejected() {
    let (ring, token, raw) = sample();
    let mut longer = raw.clone();
    longer.extend_from_slice(&[0u8; 16]);
    assert_eq!(
        crypto::decrypt(&ring, URL_SAFE.encode(&longer).as_bytes(), None).unwrap_err(),
        DecryptError::Authentication
    );
    // Whitespace inside a token is skipped (a wrapped token opens, as in
    // Python), so two tokens on two lines are no longer "not base64": they
    // are refused as a whole token followed by more text.
    let two = format!("{token}\n{token}\n");
    assert_eq!(
        crypto::decrypt(&ring, two.as_bytes(), None).unwrap_err(),
        DecryptError::TrailingData
    );
}

#[test]
fn wrong_key_is_an_authentication_failure() {
    let (_, token, _) = sample();
    let other = Keyring::from(Key::generate());
    assert_eq!(
        crypto::decrypt(&other, token.as_bytes(), None).unwrap_err(),
        DecryptError::Authentication
    );
    let several = Keyring::new(vec![Key::generate(), Key::generate(), Key::generate()]).unwrap();
    assert_eq!(
        crypto::decrypt(&several, token.as_bytes(), None).unwrap_err(),
        DecryptError::Authentication
    );
}

#[test]
fn empty_input_is_empty() {
    let ring = Keyring::from(Key::generate());
    for input in [&b""[..], b"\n", b"\r\n", b"  \t \r\n"] {
        assert_eq!(
            crypto::decrypt(&ring, input, None).unwrap_err(),
            DecryptError::Empty
        );
    }
}

#[test]
fn random_bytes_are_not_a_token() {
    let ring = Keyring::from(Key::generate());
    for _ in 0..20 {
        let junk = crypto::random_bytes(1024);
        // Raw: not base64 (the chance that 1 KiB of random bytes is all
        // base64 alphabet is nil).
        assert_eq!(
            crypto::decrypt(&ring, &junk, None).unwrap_err(),
            DecryptError::NotBase64
        );
        // Encoded: base64, but not a token.
        let text = URL_SAFE.encode(&junk[..]);
        let err = crypto::decrypt(&ring, text.as_bytes(), None).unwrap_err();
        assert_eq!(
            err,
            expected_for_bytes(&junk),
            "first byte {:#04x}",
            junk[0]
        );
        // Body of a real token shape with random contents: authentication.
        let mut shaped = vec![0x80];
        shaped.extend_from_slice(&junk[..56 + 32]);
        let err = crypto::decrypt(&ring, URL_SAFE.encode(&shaped).as_bytes(), None).unwrap_err();
        assert_eq!(err, DecryptError::Authentication);
    }
}

#[test]
fn keys_with_a_bad_length_are_refused() {
    for len in [1usize, 16, 24, 31, 33, 48, 64] {
        let text = URL_SAFE.encode(vec![0x42u8; len]);
        assert_eq!(
            Key::parse(&text).unwrap_err(),
            KeyError::WrongLength { len }
        );
        assert!(Keyring::parse(&text).is_err());
    }
    // The spec's own secret is fine; one character short is not base64 of
    // a whole key.
    let secret = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    assert!(Key::parse(secret).is_ok());
    assert!(Key::parse(&secret[..42]).is_err());
}
