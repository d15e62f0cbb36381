//! Keys, Fernet tokens and password-derived keys: the only module that
//! touches ciphers.
//!
//! An encrypted file (`.env.enc`) holds exactly one [Fernet] token, the same
//! format as Python's `cryptography.fernet`: `Fernet(key).decrypt(data)`
//! opens what [`encrypt`] writes, and [`decrypt`] opens what Python writes.
//! In password mode the token is preceded by one header line that records the
//! key derivation (see [`PasswordHeader`]).
//!
//! The `fernet` crate is used for the cipher itself, with its sharp edges
//! filed off here:
//! - a token is parsed before it is handed to the crate, so a file that is
//!   not a token, or is cut short, is told apart from one that fails
//!   authentication ([`DecryptError`]);
//! - whitespace around and inside a token (a trailing newline, CRLF, a
//!   token wrapped over several lines) is skipped, as Python's decoder
//!   skips it, and the standard base64 alphabet (`+/`) and missing padding
//!   are accepted;
//! - without a TTL, a token dated in the future is accepted (as Python does);
//!   with a TTL, expiry is computed without overflow, and only an authentic
//!   token is ever reported as expired;
//! - plaintext and key bytes live in [`Zeroizing`] buffers, and nothing that
//!   holds a key prints it.
//!
//! [Fernet]: https://github.com/fernet/spec/blob/master/Spec.md

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{self, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

/// Length of a Fernet key in bytes (16 signing + 16 encryption).
const KEY_LEN: usize = 32;
/// Fernet version byte.
const VERSION: u8 = 0x80;
/// Version (1) + timestamp (8) + IV (16) + HMAC (32).
const OVERHEAD: usize = 1 + 8 + 16 + 32;
/// AES block size.
const BLOCK: usize = 16;
/// The shortest token: the overhead and one block of ciphertext.
const MIN_TOKEN_LEN: usize = OVERHEAD + BLOCK;
/// Clock skew tolerated for a token dated in the future when a TTL is asked
/// for (the Fernet spec's and Python's value).
const MAX_CLOCK_SKEW_SECS: u64 = 60;
/// What a password-mode file starts with.
const HEADER_PREFIX: &str = "envcloak:";
/// The only key derivation function in the header.
const KDF_NAME: &str = "pbkdf2-sha256";

/// Default PBKDF2-HMAC-SHA256 iteration count for password mode (the value
/// current `cryptography` documentation recommends).
pub const DEFAULT_ITERATIONS: u32 = 1_200_000;
/// The fewest PBKDF2 iterations a password-mode file may record (OWASP's
/// floor for PBKDF2-HMAC-SHA256); files asking for fewer are refused.
pub const MIN_ITERATIONS: u32 = 600_000;
/// The most PBKDF2 iterations a password-mode file may record, so a forged
/// header cannot make decryption run for hours.
pub const MAX_ITERATIONS: u32 = 100_000_000;
/// Shortest salt, in bytes, a password header may carry.
const MIN_SALT_LEN: usize = 16;
/// Longest salt, in bytes, a password header may carry.
const MAX_SALT_LEN: usize = 64;
/// Salt length used when encrypting with a password.
const SALT_LEN: usize = 16;

/// URL-safe alphabet, padding optional, canonical trailing bits required.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Fills `buf` from the operating system's random number generator.
///
/// # Panics
/// Only if the operating system cannot provide random bytes, which leaves no
/// safe way to make a key, salt or IV.
fn fill_random(buf: &mut [u8]) {
    getrandom::getrandom(buf).expect("the operating system's random number generator failed");
}

/// Copies `input` with the standard base64 alphabet (`+/`) mapped to the
/// URL-safe one (`-_`), in a buffer that is zeroized when dropped.
fn to_url_safe_alphabet(input: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(
        input
            .iter()
            .map(|&b| match b {
                b'+' => b'-',
                b'/' => b'_',
                other => other,
            })
            .collect(),
    )
}

/// Copies a token's text without ASCII whitespace (space, tab, LF, FF, CR:
/// a token may be wrapped over lines or indented, as Python's
/// `base64.urlsafe_b64decode` allows) and with the standard alphabet mapped
/// to the URL-safe one.
fn token_text(input: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(
        input
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .map(|&b| match b {
                b'+' => b'-',
                b'/' => b'_',
                other => other,
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// Why a key (or a keyring) could not be parsed. Never contains the key text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key (or every item of a keyring) is empty.
    #[error("the key is empty: expected a fernet key (44 characters of url-safe base64)")]
    Empty,
    /// The key is not base64.
    #[error(
        "the key is not valid base64: a fernet key is 44 characters of url-safe base64, as `envcloak keygen` prints"
    )]
    NotBase64,
    /// The key is base64 but does not decode to 32 bytes.
    #[error(
        "the key decodes to {len} bytes, but a fernet key is 32 bytes (44 characters of url-safe base64)"
    )]
    WrongLength {
        /// Number of bytes the key decoded to.
        len: usize,
    },
    /// One item of a comma-separated keyring is bad.
    #[error("key {position} of the keyring: {reason}")]
    InKeyring {
        /// 1-based position of the bad key among the non-empty items.
        position: usize,
        /// What is wrong with it.
        reason: Box<KeyError>,
    },
}

/// A Fernet key: 32 random bytes (16 for HMAC-SHA256 signing, 16 for
/// AES-128-CBC encryption), zeroized on drop. Its `Debug` never shows them.
#[derive(Clone)]
pub struct Key {
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl Key {
    /// Makes a new random key from the operating system's random number
    /// generator (as Python's `Fernet.generate_key()`).
    ///
    /// # Panics
    /// Only if the operating system cannot provide random bytes.
    pub fn generate() -> Key {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(&mut bytes[..]);
        Key { bytes }
    }

    /// Parses a key: URL-safe base64 of exactly 32 bytes, as Python's
    /// `Fernet.generate_key()` and [`Key::to_base64`] write it. Surrounding
    /// whitespace is trimmed; the standard alphabet (`+/`) and missing
    /// padding are accepted. The error says what is wrong without repeating
    /// the input.
    pub fn parse(s: &str) -> Result<Key, KeyError> {
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err(KeyError::Empty);
        }
        let text = to_url_safe_alphabet(trimmed.as_bytes());
        let decoded = Zeroizing::new(
            URL_SAFE_LENIENT
                .decode(text)
                .map_err(|_| KeyError::NotBase64)?,
        );
        if decoded.len() != KEY_LEN {
            return Err(KeyError::WrongLength { len: decoded.len() });
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&decoded);
        Ok(Key { bytes })
    }

    /// The key as URL-safe base64 with padding (44 characters), the form
    /// Python's `Fernet.generate_key()` returns and [`Key::parse`] reads.
    pub fn to_base64(&self) -> Zeroizing<String> {
        // Room for the whole encoding up front, so no copy is left behind
        // by a reallocation.
        let mut out = Zeroizing::new(String::with_capacity(48));
        general_purpose::URL_SAFE.encode_string(&self.bytes[..], &mut out);
        out
    }

    /// A 32-byte subkey for another purpose than Fernet, derived from this
    /// key and `label` (HMAC-SHA256 keyed with the whole key, over the
    /// label), so that what is made with the subkey reveals nothing of the
    /// key. Different labels give unrelated subkeys; the same key and label
    /// always give the same one. The git textconv's value fingerprints
    /// ([`git::Fingerprinter`](crate::git::Fingerprinter)) use one.
    pub fn subkey(&self, label: &str) -> Zeroizing<[u8; 32]> {
        use hmac::Mac as _;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.bytes[..])
            .expect("HMAC takes a key of any length");
        mac.update(label.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// Builds a key from raw bytes (the array is moved into a zeroizing
    /// buffer; the caller's copy, if any, is its own to wipe).
    fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Key {
        Key { bytes }
    }

    /// A `fernet::Fernet` for this key, wrapped so it never prints.
    fn cipher(&self) -> Cipher {
        let encoded = self.to_base64();
        // A 32-byte key always encodes to a key the crate accepts.
        Cipher(
            fernet::Fernet::new(&encoded)
                .expect("a 32-byte key encoded as url-safe base64 is always a valid fernet key"),
        )
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// Compares in constant time (no early exit on the first differing byte).
impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.bytes
            .iter()
            .zip(other.bytes.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl Eq for Key {}

/// `fernet::Fernet` has no `Debug`; this wrapper makes sure it never gets
/// one that prints the key. (The crate zeroizes the `Fernet` on drop.)
struct Cipher(fernet::Fernet);

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(<redacted>)")
    }
}

/// One or more keys: the first encrypts, all are tried in order to decrypt
/// (Python's `MultiFernet`). This is how key rotation works: put the new key
/// first and keep the old one after it until every file is re-encrypted.
/// Never empty. Its `Debug` shows only the number of keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl Keyring {
    /// Parses a list of keys (each as [`Key::parse`]), the form of
    /// `ENVCLOAK_KEY` and of key files: keys separated by commas or line
    /// breaks (LF, CRLF or CR), in order.
    ///
    /// - A leading UTF-8 byte order mark is skipped.
    /// - `#` starts a comment that runs to the end of its line (`#` is in
    ///   neither base64 alphabet, so it is never part of a key).
    /// - Items are trimmed, and empty items and blank lines are skipped.
    ///
    /// An error if no key remains ([`KeyError::Empty`]), or if any item is
    /// not a key (with several items, [`KeyError::InKeyring`] gives its
    /// position). Errors never contain the text.
    ///
    /// ```
    /// use envcloak::crypto::{Key, Keyring};
    /// let (a, b) = (Key::generate(), Key::generate());
    /// let file = format!(
    ///     "\u{feff}# new key first\r\n{}\r\n\r\n# old key, until every file is re-encrypted\r\n{}\r\n",
    ///     a.to_base64().as_str(),
    ///     b.to_base64().as_str(),
    /// );
    /// let ring = Keyring::parse(&file)?;
    /// assert_eq!(ring.keys(), &[a, b]);
    /// # Ok::<(), envcloak::crypto::KeyError>(())
    /// ```
    pub fn parse(s: &str) -> Result<Keyring, KeyError> {
        let s = s.strip_prefix('\u{feff}').unwrap_or(s);
        let items: Vec<&str> = s
            .split(['\n', '\r'])
            .map(|line| line.split_once('#').map_or(line, |(before, _)| before))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .collect();
        if items.is_empty() {
            return Err(KeyError::Empty);
        }
        let several = items.len() > 1;
        let keys = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                Key::parse(item).map_err(|e| {
                    if several {
                        KeyError::InKeyring {
                            position: i + 1,
                            reason: Box::new(e),
                        }
                    } else {
                        e
                    }
                })
            })
            .collect::<Result<Vec<Key>, KeyError>>()?;
        Ok(Keyring { keys })
    }

    /// A keyring of the given keys, the first of which encrypts.
    /// [`KeyError::Empty`] if `keys` is empty.
    pub fn new(keys: Vec<Key>) -> Result<Keyring, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Keyring { keys })
    }

    /// The key that encrypts.
    pub fn first(&self) -> &Key {
        // Non-empty by construction.
        &self.keys[0]
    }

    /// All keys, in the order they are tried.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Number of keys (at least 1).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always `false`: a keyring has at least one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys as comma-separated URL-safe base64, the form
    /// [`Keyring::parse`] reads.
    pub fn to_base64(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(self.keys.len() * 45));
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&key.to_base64());
        }
        out
    }
}

impl From<Key> for Keyring {
    fn from(key: Key) -> Keyring {
        Keyring { keys: vec![key] }
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("len", &self.keys.len())
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

/// Why an encrypted file could not be opened. Messages are one line and
/// never contain plaintext or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// Nothing but whitespace.
    #[error("the encrypted file is empty")]
    Empty,
    /// Not URL-safe (or standard) base64.
    #[error(
        "not a fernet token: the contents are not base64 (was this file made by envcloak encrypt?)"
    )]
    NotBase64,
    /// Base64, but the first byte is not Fernet's version byte 0x80.
    #[error("not a fernet token: unknown version byte (expected 0x80)")]
    BadVersion,
    /// Too short, or the ciphertext is not a whole number of AES blocks.
    #[error(
        "truncated fernet token: too short or not a whole number of blocks; the file may have been cut off"
    )]
    Truncated,
    /// A complete token followed by more text: two tokens in one file (two
    /// files joined, a bad merge), or text appended after the token.
    #[error(
        "not a single fernet token: a complete token is followed by more text (two tokens joined, or text added after it)"
    )]
    TrailingData,
    /// No key authenticates the token.
    #[error("authentication failed: wrong key, or the file was modified")]
    Authentication,
    /// Password mode: the key derived from the password does not
    /// authenticate the token.
    #[error("authentication failed: wrong password, or the file was modified")]
    WrongPassword,
    /// Authentic, but older than the TTL asked for.
    #[error("the token has expired: it is {age_secs} s old and the ttl is {ttl_secs} s")]
    Expired {
        /// Seconds between the token's timestamp and now.
        age_secs: u64,
        /// The TTL asked for, in seconds.
        ttl_secs: u64,
    },
    /// Authentic, but dated further in the future than the 60 s of clock
    /// skew tolerated when a TTL is asked for (without a TTL any timestamp
    /// is accepted, as in Python).
    #[error(
        "the token is dated {ahead_secs} s in the future, more than the 60 s of clock skew allowed with a ttl; check the system clock"
    )]
    ClockSkew {
        /// Seconds by which the token's timestamp is ahead of now.
        ahead_secs: u64,
    },
    /// Git's own text conflict: the file starts with a `<<<<<<< ` line
    /// and holds `=======` and `>>>>>>> ` lines around token lines. Git
    /// merged it as text because the clone's envcloak merge driver was not
    /// configured when it merged.
    #[error(
        "git merged this file as text (git's conflict markers around encrypted tokens): this clone's envcloak merge driver was not configured when it merged"
    )]
    GitTextConflict,
    /// The password-mode header line is malformed or missing.
    #[error("bad password header: {0}")]
    BadHeader(&'static str),
    /// The password-mode header asks for fewer PBKDF2 iterations than
    /// [`MIN_ITERATIONS`]: envcloak never writes such a file, so another
    /// tool made it or someone lowered the count to make the password
    /// cheaper to guess. It is refused before any key derivation.
    #[error(
        "the password header records {iterations} pbkdf2 iterations, below the floor of 600000: the file was made by another tool or tampered with; re-encrypt it from the plaintext with 'envcloak encrypt --password'"
    )]
    TooFewIterations {
        /// The iteration count the header records.
        iterations: u32,
    },
    /// The file is encrypted with a password and was given to a key.
    #[error("this file is encrypted with a password: decrypt it with the password, not a key")]
    PasswordRequired,
}

/// A structurally valid token: decoded bytes and its timestamp.
struct ParsedToken<'a> {
    /// The whole decoded token.
    raw: Vec<u8>,
    /// The token as the fernet crate reads it (URL-safe base64 with
    /// padding): the input itself when it already is, to skip re-encoding.
    canonical: Option<&'a str>,
    /// Seconds since the Unix epoch, as recorded in the token.
    timestamp: u64,
}

/// Checks the token's structure without any key: base64, version byte,
/// length. `token` must already be trimmed and non-empty; inner whitespace
/// (a wrapped token) is skipped.
fn parse_token(token: &[u8]) -> Result<ParsedToken<'_>, DecryptError> {
    // Tokens envcloak and Python write are already canonical: no copy.
    let canonical_input = token.len().is_multiple_of(4)
        && !token
            .iter()
            .any(|&b| b == b'+' || b == b'/' || b.is_ascii_whitespace());
    let cleaned;
    let text: &[u8] = if canonical_input {
        token
    } else {
        cleaned = token_text(token);
        &cleaned
    };
    let raw = match decode_structure(text) {
        Ok(raw) => raw,
        // Report what the file is, not what the joined text decodes to.
        Err(_) if followed_by_more(token) => return Err(DecryptError::TrailingData),
        Err(e) => return Err(e),
    };
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&raw[1..9]);
    let canonical = if canonical_input {
        std::str::from_utf8(token).ok()
    } else {
        None
    };
    Ok(ParsedToken {
        timestamp: u64::from_be_bytes(ts),
        raw,
        canonical,
    })
}

/// Decodes URL-safe base64 `text` (no whitespace) and checks the Fernet
/// structure: version byte, at least one block, whole blocks.
fn decode_structure(text: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let raw = URL_SAFE_LENIENT
        .decode(text)
        .map_err(|_| DecryptError::NotBase64)?;
    match raw.first() {
        None => return Err(DecryptError::Truncated),
        Some(&VERSION) => {}
        Some(_) => return Err(DecryptError::BadVersion),
    }
    if raw.len() < MIN_TOKEN_LEN || !(raw.len() - OVERHEAD).is_multiple_of(BLOCK) {
        return Err(DecryptError::Truncated);
    }
    Ok(raw)
}

/// Whether `token` (trimmed) is a structurally complete token followed,
/// after whitespace, by more text: asked only once the whole text has
/// failed as one token, so a token wrapped over lines never gets here.
fn followed_by_more(token: &[u8]) -> bool {
    let Some(end) = token.iter().position(u8::is_ascii_whitespace) else {
        return false;
    };
    let (first, rest) = token.split_at(end);
    !rest.trim_ascii().is_empty() && decode_structure(&token_text(first)).is_ok()
}

/// Trims the input and checks it is a token; the step every decryption
/// starts with, before any (possibly slow) key work.
fn prepare(token: &[u8]) -> Result<ParsedToken<'_>, DecryptError> {
    let token = token.trim_ascii();
    if token.is_empty() {
        return Err(DecryptError::Empty);
    }
    if token.starts_with(HEADER_PREFIX.as_bytes()) {
        return Err(DecryptError::PasswordRequired);
    }
    if is_git_text_conflict(token) {
        return Err(DecryptError::GitTextConflict);
    }
    parse_token(token)
}

/// Whether `contents` is git's text conflict of encrypted files: it starts
/// with a `<<<<<<< ` line, then has a `=======` line and a `>>>>>>> `
/// line, in that order (a `||||||| ` base section may sit between).
///
/// ```
/// use envcloak::crypto::is_git_text_conflict;
/// assert!(is_git_text_conflict(b"<<<<<<< HEAD\ngAAAA1\n=======\ngAAAA2\n>>>>>>> topic\n"));
/// assert!(!is_git_text_conflict(b"gAAAA1\n"));
/// ```
pub fn is_git_text_conflict(contents: &[u8]) -> bool {
    let contents = contents.trim_ascii_start();
    // Every load asks: answer "no" without scanning a token for newlines.
    if !contents.starts_with(b"<<<<<<< ") {
        return false;
    }
    let mut lines = contents
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    if !lines.next().is_some_and(|l| l.starts_with(b"<<<<<<< ")) {
        return false;
    }
    let mut middle = false;
    for l in lines {
        if l == b"=======" {
            middle = true;
        } else if middle && (l.starts_with(b">>>>>>> ") || l == b">>>>>>>") {
            return true;
        }
    }
    false
}

/// Authenticates and decrypts a parsed token with each key in turn, then
/// applies the TTL.
fn open_parsed(
    keyring: &Keyring,
    parsed: &ParsedToken,
    ttl: Option<Duration>,
    now_unix_secs: u64,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    // Canonical form for the crate: URL-safe with padding, no whitespace.
    let encoded;
    let canonical: &str = match parsed.canonical {
        Some(c) => c,
        None => {
            encoded = general_purpose::URL_SAFE.encode(&parsed.raw);
            &encoded
        }
    };
    // The crate rejects a token dated more than 60 s after the "current
    // time" even without a TTL, and computes `current_time + 60` unchecked.
    // Handing it the token's own timestamp (capped so that sum cannot
    // overflow) makes it check only the HMAC and the padding.
    let at = parsed.timestamp.min(u64::MAX - MAX_CLOCK_SKEW_SECS);
    let plaintext = keyring
        .keys()
        .iter()
        .find_map(|key| {
            key.cipher()
                .0
                .decrypt_at_time(canonical, None, at)
                .ok()
                .map(Zeroizing::new)
        })
        .ok_or(DecryptError::Authentication)?;

    if let Some(ttl) = ttl {
        let ttl_secs = ttl.as_secs();
        let ts = parsed.timestamp;
        // Python: `timestamp + ttl < current_time` is expired. A sum that
        // overflows u64 is a deadline past the end of time: not expired.
        if ts
            .checked_add(ttl_secs)
            .is_some_and(|deadline| deadline < now_unix_secs)
        {
            return Err(DecryptError::Expired {
                age_secs: now_unix_secs.saturating_sub(ts),
                ttl_secs,
            });
        }
        // Python: `current_time + 60 < timestamp` is too far in the future.
        if now_unix_secs
            .checked_add(MAX_CLOCK_SKEW_SECS)
            .is_some_and(|limit| limit < ts)
        {
            return Err(DecryptError::ClockSkew {
                ahead_secs: ts - now_unix_secs,
            });
        }
    }
    Ok(plaintext)
}

/// Seconds since the Unix epoch by the system clock (0 if it is before).
fn now_unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Encrypts `plaintext` into a Fernet token (URL-safe base64 with padding,
/// no newline) with the keyring's first key, dated now with a random IV.
/// Python's `Fernet(key).decrypt(token)` opens it.
///
/// # Panics
/// Only if the operating system cannot provide random bytes for the IV.
pub fn encrypt(keyring: &Keyring, plaintext: &[u8]) -> String {
    keyring.first().cipher().0.encrypt(plaintext)
}

/// Decrypts a Fernet token with the first key of the keyring that
/// authenticates it, using the system clock for the TTL (see
/// [`decrypt_at`]).
pub fn decrypt(
    keyring: &Keyring,
    token: &[u8],
    ttl: Option<Duration>,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    decrypt_at(keyring, token, ttl, now_unix_secs())
}

/// Decrypts a Fernet token as [`decrypt`] does, with `now_unix_secs` as the
/// current time (for tests and for checking a TTL against a known clock).
///
/// - ASCII whitespace around and inside the token (a trailing newline,
///   CRLF, a token wrapped over several lines, as Python's `Fernet.decrypt`
///   accepts) is ignored; the standard base64 alphabet and missing padding
///   are accepted. Any other character outside the alphabet is refused.
/// - The token's structure is checked first: [`DecryptError::Empty`],
///   [`DecryptError::NotBase64`], [`DecryptError::BadVersion`],
///   [`DecryptError::Truncated`], [`DecryptError::TrailingData`] (a whole
///   token, then more text); a password-mode file gives
///   [`DecryptError::PasswordRequired`].
/// - Then each key is tried: [`DecryptError::Authentication`] if none fits.
/// - Without a TTL any timestamp is accepted, including one in the future
///   (as Python's `cryptography` does). With a TTL (whole seconds), an
///   authentic token older than it is [`DecryptError::Expired`], and one
///   dated more than 60 s ahead of `now_unix_secs` is
///   [`DecryptError::ClockSkew`].
pub fn decrypt_at(
    keyring: &Keyring,
    token: &[u8],
    ttl: Option<Duration>,
    now_unix_secs: u64,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let parsed = prepare(token)?;
    open_parsed(keyring, &parsed, ttl, now_unix_secs)
}

// ---------------------------------------------------------------------------
// Password mode
// ---------------------------------------------------------------------------

/// Derives a Fernet key from a password: PBKDF2-HMAC-SHA256, 32 bytes. The
/// same key as Python's
/// `base64.urlsafe_b64encode(PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=n).derive(password))`.
///
/// This does no policy check: files go through [`PasswordHeader::parse`],
/// which bounds `iterations`.
pub fn derive_key(password: &[u8], salt: &[u8], iterations: u32) -> Key {
    // PBKDF2 is slow on purpose; a command derives the same key more than
    // once (to check the password before it takes the write lock, then to
    // open and re-seal under it), so the last few are kept in memory.
    if let Some(key) = derived::get(password, salt, iterations) {
        return key;
    }
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut bytes[..]);
    let key = Key::from_bytes(bytes);
    derived::put(password, salt, iterations, &key);
    key
}

/// The last few keys [`derive_key`] made, with what they were made from;
/// all of it zeroized when evicted (and the process's memory holds the
/// password anyway while the command runs).
mod derived {
    use std::sync::Mutex;

    use zeroize::Zeroizing;

    use super::Key;

    struct Entry {
        password: Zeroizing<Vec<u8>>,
        salt: Vec<u8>,
        iterations: u32,
        key: Key,
    }

    static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
    const MAX: usize = 4;

    pub(super) fn get(password: &[u8], salt: &[u8], iterations: u32) -> Option<Key> {
        let cache = CACHE.lock().ok()?;
        cache
            .iter()
            .find(|e| e.iterations == iterations && e.salt == salt && *e.password == password)
            .map(|e| e.key.clone())
    }

    pub(super) fn put(password: &[u8], salt: &[u8], iterations: u32, key: &Key) {
        if let Ok(mut cache) = CACHE.lock() {
            if cache.len() >= MAX {
                cache.remove(0);
            }
            cache.push(Entry {
                password: Zeroizing::new(password.to_vec()),
                salt: salt.to_vec(),
                iterations,
                key: key.clone(),
            });
        }
    }
}

/// The header line of a password-mode file:
/// `envcloak:pbkdf2-sha256:<iterations>:<salt as URL-safe base64 with padding>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHeader {
    /// PBKDF2 iteration count, between [`MIN_ITERATIONS`] and
    /// [`MAX_ITERATIONS`].
    pub iterations: u32,
    /// The salt (16 to 64 bytes); not secret.
    pub salt: Vec<u8>,
}

impl PasswordHeader {
    /// Parses a header line (surrounding whitespace, e.g. a trailing CR, is
    /// ignored). Refuses an unknown key derivation, an iteration count
    /// below [`MIN_ITERATIONS`] ([`DecryptError::TooFewIterations`]) or
    /// above [`MAX_ITERATIONS`], and a salt that is not base64 (URL-safe or
    /// standard alphabet, padding optional) of 16 to 64 bytes.
    pub fn parse(line: &str) -> Result<PasswordHeader, DecryptError> {
        let line = line.trim();
        let Some(rest) = line.strip_prefix(HEADER_PREFIX) else {
            return Err(DecryptError::BadHeader(
                "the line does not start with `envcloak:`",
            ));
        };
        let fields: Vec<&str> = rest.split(':').collect();
        let [kdf, iterations, salt] = fields[..] else {
            return Err(DecryptError::BadHeader(
                "expected `envcloak:pbkdf2-sha256:<iterations>:<salt>`",
            ));
        };
        if kdf != KDF_NAME {
            return Err(DecryptError::BadHeader(
                "unknown key derivation (only pbkdf2-sha256 is supported)",
            ));
        }
        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DecryptError::BadHeader(
                "the iteration count is not a number",
            ));
        }
        let iterations: u32 = iterations.parse().map_err(|_| {
            DecryptError::BadHeader("the iteration count is above 100000000, the maximum")
        })?;
        if iterations < MIN_ITERATIONS {
            return Err(DecryptError::TooFewIterations { iterations });
        }
        if iterations > MAX_ITERATIONS {
            return Err(DecryptError::BadHeader(
                "the iteration count is above 100000000, the maximum",
            ));
        }
        let salt = URL_SAFE_LENIENT
            .decode(to_url_safe_alphabet(salt.as_bytes()))
            .map_err(|_| DecryptError::BadHeader("the salt is not base64"))?;
        if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
            return Err(DecryptError::BadHeader("the salt must be 16 to 64 bytes"));
        }
        Ok(PasswordHeader { iterations, salt })
    }

    /// The header line, without a newline.
    pub fn format(&self) -> String {
        format!(
            "{HEADER_PREFIX}{KDF_NAME}:{}:{}",
            self.iterations,
            general_purpose::URL_SAFE.encode(&self.salt)
        )
    }
}

/// Splits a file into its password header, if any, and the token. A file
/// whose first non-blank text starts with `envcloak:` has a header: its first
/// line, which must parse, followed by the token. Any other file is a bare
/// token (returned as is; an empty one is left for [`decrypt`] to report).
/// Git's text conflict of two versions ([`is_git_text_conflict`], before
/// or after a header) is [`DecryptError::GitTextConflict`].
pub fn split_file(contents: &[u8]) -> Result<(Option<PasswordHeader>, &[u8]), DecryptError> {
    let start = contents.trim_ascii_start();
    if is_git_text_conflict(start) {
        return Err(DecryptError::GitTextConflict);
    }
    if !start.starts_with(HEADER_PREFIX.as_bytes()) {
        return Ok((None, contents));
    }
    let mut parts = start.splitn(2, |&b| b == b'\n');
    let line = parts.next().unwrap_or_default();
    let rest = parts.next().unwrap_or_default();
    let line = std::str::from_utf8(line)
        .map_err(|_| DecryptError::BadHeader("the header line is not utf-8"))?;
    let header = PasswordHeader::parse(line)?;
    if is_git_text_conflict(rest) {
        return Err(DecryptError::GitTextConflict);
    }
    if rest.trim_ascii().is_empty() {
        return Err(DecryptError::BadHeader(
            "the header line is not followed by a token",
        ));
    }
    Ok((Some(header), rest))
}

/// Encrypts with a password: a fresh random 16-byte salt, a key derived with
/// [`derive_key`], and the whole file text — the header line, a newline, the
/// token and a newline. `iterations` is clamped to
/// [`MIN_ITERATIONS`]`..=`[`MAX_ITERATIONS`] so that the file can be read
/// back; use [`DEFAULT_ITERATIONS`] unless there is a reason not to.
///
/// # Panics
/// Only if the operating system cannot provide random bytes.
pub fn encrypt_with_password(password: &[u8], plaintext: &[u8], iterations: u32) -> String {
    let mut salt = vec![0u8; SALT_LEN];
    fill_random(&mut salt);
    encrypt_with_password_salt(password, plaintext, iterations, salt)
}

/// [`encrypt_with_password`] with a given salt: a re-write under the same
/// password keeps the file's salt, so the key (derived once, outside the
/// write lock) need not be derived again. A new password gets a new salt.
pub fn encrypt_with_password_salt(
    password: &[u8],
    plaintext: &[u8],
    iterations: u32,
    salt: Vec<u8>,
) -> String {
    let header = PasswordHeader {
        iterations: iterations.clamp(MIN_ITERATIONS, MAX_ITERATIONS),
        salt,
    };
    let key = derive_key(password, &header.salt, header.iterations);
    let token = encrypt(&Keyring::from(key), plaintext);
    format!("{}\n{token}\n", header.format())
}

/// Decrypts a password-mode file (header line and token) with the system
/// clock for the TTL; see [`decrypt_with_password_at`].
pub fn decrypt_with_password(
    password: &[u8],
    contents: &[u8],
    ttl: Option<Duration>,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    decrypt_with_password_at(password, contents, ttl, now_unix_secs())
}

/// Decrypts a password-mode file with `now_unix_secs` as the current time.
/// The header's salt and iteration count are honoured. The token's structure
/// is checked before the (deliberately slow) key derivation, so a damaged
/// file is reported at once. A file without a header is
/// [`DecryptError::BadHeader`] (it was encrypted with a key), one whose
/// header records too few iterations [`DecryptError::TooFewIterations`];
/// errors are otherwise those of [`decrypt_at`], except that a wrong
/// password (or a modified file) is [`DecryptError::WrongPassword`], never
/// the key-mode [`DecryptError::Authentication`].
pub fn decrypt_with_password_at(
    password: &[u8],
    contents: &[u8],
    ttl: Option<Duration>,
    now_unix_secs: u64,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    if contents.trim_ascii().is_empty() {
        return Err(DecryptError::Empty);
    }
    let (header, token) = split_file(contents)?;
    let Some(header) = header else {
        return Err(DecryptError::BadHeader(
            "missing: the file is a bare token, encrypted with a key rather than a password",
        ));
    };
    let parsed = prepare(token)?;
    let key = derive_key(password, &header.salt, header.iterations);
    open_parsed(&Keyring::from(key), &parsed, ttl, now_unix_secs).map_err(|e| match e {
        DecryptError::Authentication => DecryptError::WrongPassword,
        other => other,
    })
}

// ---------------------------------------------------------------------------
// Random tokens
// ---------------------------------------------------------------------------

/// `n` random bytes from the operating system, zeroized on drop.
///
/// # Panics
/// Only if the operating system cannot provide random bytes.
pub fn random_bytes(n: usize) -> Zeroizing<Vec<u8>> {
    let mut bytes = Zeroizing::new(vec![0u8; n]);
    fill_random(&mut bytes);
    bytes
}

/// `n` random bytes as `2n` lowercase hex characters, as Python's
/// `secrets.token_hex(n)`.
pub fn token_hex(n: usize) -> Zeroizing<String> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = random_bytes(n);
    let mut out = Zeroizing::new(String::with_capacity(n.saturating_mul(2)));
    for &b in bytes.iter() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// `n` random bytes as URL-safe base64 without padding, as Python's
/// `secrets.token_urlsafe(n)`.
pub fn token_urlsafe(n: usize) -> Zeroizing<String> {
    let bytes = random_bytes(n);
    let mut out = Zeroizing::new(String::with_capacity(n.div_ceil(3).saturating_mul(4)));
    general_purpose::URL_SAFE_NO_PAD.encode_string(&bytes[..], &mut out);
    out
}

/// `n` random bytes as standard base64 with padding (`base64.b64encode` of
/// `secrets.token_bytes(n)` in Python).
pub fn token_base64(n: usize) -> Zeroizing<String> {
    let bytes = random_bytes(n);
    let mut out = Zeroizing::new(String::with_capacity(n.div_ceil(3).saturating_mul(4)));
    general_purpose::STANDARD.encode_string(&bytes[..], &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token made by the crate at a chosen time (any u64, with a valid HMAC).
    fn token_at(key: &Key, plaintext: &[u8], ts: u64) -> String {
        key.cipher().0.encrypt_at_time(plaintext, ts)
    }

    fn keyring() -> Keyring {
        Keyring::from(Key::generate())
    }

    /// A low-iteration password file, written by hand (encrypt_with_password
    /// clamps to the minimum), for header tests that never reach the KDF.
    fn fake_password_file(header: &str, token: &str) -> Vec<u8> {
        format!("{header}\n{token}\n").into_bytes()
    }

    // --- keys -------------------------------------------------------------

    #[test]
    fn key_round_trips_through_base64() {
        let key = Key::generate();
        let text = key.to_base64();
        assert_eq!(text.len(), 44);
        assert!(text.ends_with('='));
        assert!(!text.contains('+') && !text.contains('/'));
        assert_eq!(Key::parse(&text).unwrap(), key);
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(Key::generate(), Key::generate());
    }

    #[test]
    fn key_parse_trims_and_accepts_standard_alphabet_and_no_padding() {
        // 32 bytes chosen so the encoding has `-` and `_` in it.
        let bytes = [0xfbu8; KEY_LEN];
        let key = Key::from_bytes(Zeroizing::new(bytes));
        let url = key.to_base64();
        assert!(url.contains('-') || url.contains('_'));
        let standard = url.replace('-', "+").replace('_', "/");
        let unpadded = url.trim_end_matches('=').to_string();
        for text in [
            format!("  {}\r\n", url.as_str()),
            standard.clone(),
            unpadded.clone(),
            standard.trim_end_matches('=').to_string(),
            format!("\t{unpadded}\n"),
        ] {
            assert_eq!(Key::parse(&text).unwrap(), key, "variant {text:?}");
        }
    }

    #[test]
    fn key_parse_errors_say_what_is_wrong_without_the_input() {
        assert_eq!(Key::parse("").unwrap_err(), KeyError::Empty);
        assert_eq!(Key::parse(" \n ").unwrap_err(), KeyError::Empty);
        let secret_looking = "this is not base64!!";
        let err = Key::parse(secret_looking).unwrap_err();
        assert_eq!(err, KeyError::NotBase64);
        assert!(!err.to_string().contains(secret_looking));
        assert!(!format!("{err:?}").contains(secret_looking));
        // Interior whitespace is not trimmed.
        let good = Key::generate().to_base64();
        let broken = format!("{} {}", &good[..20], &good[20..]);
        assert_eq!(Key::parse(&broken).unwrap_err(), KeyError::NotBase64);
        for len in [0usize, 1, 16, 31, 33, 64] {
            let text = general_purpose::URL_SAFE.encode(vec![7u8; len]);
            if len == 0 {
                assert_eq!(Key::parse(&text).unwrap_err(), KeyError::Empty);
                continue;
            }
            let err = Key::parse(&text).unwrap_err();
            assert_eq!(err, KeyError::WrongLength { len });
            let msg = err.to_string();
            assert!(msg.contains(&format!("{len} bytes")), "{msg}");
            assert!(msg.contains("32 bytes"), "{msg}");
            assert!(!msg.contains(&text));
        }
    }

    #[test]
    fn key_debug_is_redacted() {
        let key = Key::generate();
        let text = key.to_base64();
        let debug = format!("{key:?}");
        assert_eq!(debug, "Key(<redacted>)");
        assert!(!debug.contains(text.as_str()));
        let ring = Keyring::new(vec![key.clone(), Key::generate()]).unwrap();
        let debug = format!("{ring:?}");
        assert_eq!(debug, "Keyring { len: 2, .. }");
        assert!(!debug.contains(&text[..10]));
        assert_eq!(format!("{:?}", key.cipher()), "Cipher(<redacted>)");
    }

    // --- keyrings ----------------------------------------------------------

    #[test]
    fn keyring_parse_splits_trims_and_skips_empty_items() {
        let (a, b) = (Key::generate(), Key::generate());
        let text = format!(
            " ,{} , ,\n{},",
            a.to_base64().as_str(),
            b.to_base64().as_str()
        );
        let ring = Keyring::parse(&text).unwrap();
        assert_eq!(ring.len(), 2);
        assert!(!ring.is_empty());
        assert_eq!(ring.first(), &a);
        assert_eq!(ring.keys(), &[a.clone(), b.clone()]);
        let joined = ring.to_base64();
        assert_eq!(
            joined.as_str(),
            format!("{},{}", a.to_base64().as_str(), b.to_base64().as_str())
        );
        assert_eq!(Keyring::parse(&joined).unwrap(), ring);
        assert_eq!(Keyring::parse(&a.to_base64()).unwrap().len(), 1);
    }

    #[test]
    fn keyring_parse_reads_one_key_per_line_comments_bom_and_crlf() {
        let (a, b, c) = (Key::generate(), Key::generate(), Key::generate());
        let (a64, b64, c64) = (a.to_base64(), b.to_base64(), c.to_base64());
        let (a64, b64, c64) = (a64.as_str(), b64.as_str(), c64.as_str());
        let want = [a.clone(), b.clone(), c.clone()];
        for text in [
            format!("{a64}\n{b64}\n{c64}\n"),
            format!("{a64}\r\n{b64}\r\n{c64}\r\n"),
            format!("{a64}\r{b64}\r{c64}"),
            format!("\u{feff}{a64}\n{b64},{c64}"),
            format!(
                "\u{feff}# envcloak keyring: new key first\r\n\r\n{a64}\r\n  # old keys\r\n{b64} # since May\r\n\t{c64}\r\n#\r\n"
            ),
            format!("{a64},\n,{b64},\n\n{c64},"),
        ] {
            assert_eq!(Keyring::parse(&text).unwrap().keys(), &want, "{text:?}");
        }
        // Comments and blank lines only: no key.
        assert_eq!(
            Keyring::parse("\u{feff}# nothing yet\r\n\r\n").unwrap_err(),
            KeyError::Empty
        );
        // A bad line is reported by position, without any key text.
        let err = Keyring::parse(&format!("# c\n{a64}\n{}\n", &b64[..30])).unwrap_err();
        assert!(
            matches!(err, KeyError::InKeyring { position: 2, .. }),
            "{err:?}"
        );
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&b64[..10]) && !shown.contains(&a64[..10]));
        // A key split over two lines is two bad items, not one key.
        assert!(Keyring::parse(&format!("{}\n{}", &a64[..22], &a64[22..])).is_err());
    }

    #[test]
    fn keyring_parse_errors() {
        assert_eq!(Keyring::parse("").unwrap_err(), KeyError::Empty);
        assert_eq!(Keyring::parse(" , ,, ").unwrap_err(), KeyError::Empty);
        assert_eq!(Keyring::parse("nope!").unwrap_err(), KeyError::NotBase64);
        let good = Key::generate().to_base64();
        let err = Keyring::parse(&format!("{},,AAAA", good.as_str())).unwrap_err();
        assert_eq!(
            err,
            KeyError::InKeyring {
                position: 2,
                reason: Box::new(KeyError::WrongLength { len: 3 })
            }
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with("key 2 of the keyring: the key decodes to 3 bytes"),
            "{msg}"
        );
        assert!(!msg.contains(&good[..10]));
        assert_eq!(Keyring::new(Vec::new()).unwrap_err(), KeyError::Empty);
    }

    // --- encrypt / decrypt -------------------------------------------------

    #[test]
    fn round_trips() {
        let ring = keyring();
        for plaintext in [&b""[..], b"A=1\n", b"\x00\xff\x00", &[b'x'; 1000][..]] {
            let token = encrypt(&ring, plaintext);
            assert!(token.is_ascii());
            assert_eq!(
                &decrypt(&ring, token.as_bytes(), None).unwrap()[..],
                plaintext
            );
            let ttl = Some(Duration::from_secs(60));
            assert_eq!(
                &decrypt(&ring, token.as_bytes(), ttl).unwrap()[..],
                plaintext
            );
        }
    }

    #[test]
    fn decrypt_accepts_whitespace_crlf_standard_alphabet_and_missing_padding() {
        let ring = keyring();
        // Long enough that `-`/`_` and padding almost surely occur; find one
        // that has both so every conversion is exercised.
        let token = (0..1000)
            .map(|_| encrypt(&ring, b"SECRET=1"))
            .find(|t| (t.contains('-') || t.contains('_')) && t.ends_with('='))
            .unwrap();
        let standard = token.replace('-', "+").replace('_', "/");
        for variant in [
            format!("{token}\n"),
            format!("{token}\r\n"),
            format!("  \t{token}\r\n\r\n"),
            standard.clone(),
            format!("{standard}\r\n"),
            token.trim_end_matches('=').to_string(),
            standard.trim_end_matches('=').to_string(),
        ] {
            assert_eq!(
                &decrypt(&ring, variant.as_bytes(), None).unwrap()[..],
                b"SECRET=1",
                "variant {variant:?}"
            );
        }
    }

    /// `token` wrapped every `width` characters with `sep`.
    fn wrap(token: &str, width: usize, sep: &str) -> String {
        token
            .as_bytes()
            .chunks(width)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(sep)
    }

    #[test]
    fn decrypt_accepts_wrapped_tokens_and_inner_whitespace() {
        let ring = keyring();
        let plaintext = b"A=1\nB=a value long enough to make a token of several lines\n";
        let token = encrypt(&ring, plaintext);
        let standard = token.replace('-', "+").replace('_', "/");
        let mid = token.len() / 2;
        for variant in [
            wrap(&token, 64, "\n"),
            format!("{}\n", wrap(&token, 76, "\r\n")),
            wrap(&token, 1, "\n"),
            wrap(&standard, 70, "\n"),
            format!("{} {}", &token[..mid], &token[mid..]),
            format!("{}\t{}", &token[..mid], &token[mid..]),
            format!("  {}\n  {}\n", &token[..mid], &token[mid..]),
            wrap(token.trim_end_matches('='), 20, " \r\n\t"),
        ] {
            assert_eq!(
                &decrypt(&ring, variant.as_bytes(), None).unwrap()[..],
                plaintext,
                "variant {variant:?}"
            );
        }
        // Only whitespace is skipped: other characters are not base64.
        for junk in ["%", ".", "\u{0}", "\u{b}"] {
            let variant = format!("{}{junk}{}", &token[..mid], &token[mid..]);
            assert_eq!(
                decrypt(&ring, variant.as_bytes(), None).unwrap_err(),
                DecryptError::NotBase64,
                "{junk:?}"
            );
        }
        // A wrapped token cut short is still truncated, and a wrapped token
        // with a changed character still fails authentication.
        let wrapped = wrap(&token, 64, "\n");
        assert_eq!(
            decrypt(&ring, &wrapped.as_bytes()[..101], None).unwrap_err(),
            DecryptError::Truncated
        );
        let mut changed = wrapped.into_bytes();
        changed[10] = if changed[10] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            decrypt(&ring, &changed, None).unwrap_err(),
            DecryptError::Authentication
        );
    }

    #[test]
    fn a_token_followed_by_more_text_is_trailing_data() {
        let ring = keyring();
        let token = encrypt(&ring, b"SECRET=1");
        let other = encrypt(&ring, b"SECRET=2");
        for variant in [
            format!("{token}\n{other}\n"),
            format!("{token}\r\n{token}"),
            format!("{token} junk!"),
            format!("{token}\n\nAAAA\n"),
            format!("{token}\n<<<<<<< ours\n"),
        ] {
            let err = decrypt(&ring, variant.as_bytes(), None).unwrap_err();
            assert_eq!(err, DecryptError::TrailingData, "{variant:?}");
        }
        assert!(
            DecryptError::TrailingData
                .to_string()
                .starts_with("not a single fernet token")
        );
        // Without whitespace it is one (bad) text, as before.
        assert_eq!(
            decrypt(&ring, format!("{token}%").as_bytes(), None).unwrap_err(),
            DecryptError::NotBase64
        );
    }

    #[test]
    fn keyring_rotation_tries_every_key_and_encrypts_with_the_first() {
        let (old, new) = (Key::generate(), Key::generate());
        let old_ring = Keyring::from(old.clone());
        let rotated = Keyring::new(vec![new.clone(), old.clone()]).unwrap();
        let old_token = encrypt(&old_ring, b"v1");
        assert_eq!(
            &decrypt(&rotated, old_token.as_bytes(), None).unwrap()[..],
            b"v1"
        );
        let new_token = encrypt(&rotated, b"v2");
        assert_eq!(
            &decrypt(&Keyring::from(new), new_token.as_bytes(), None).unwrap()[..],
            b"v2"
        );
        assert_eq!(
            decrypt(&old_ring, new_token.as_bytes(), None).unwrap_err(),
            DecryptError::Authentication
        );
    }

    #[test]
    fn wrong_key_is_authentication_failure() {
        let token = encrypt(&keyring(), b"x");
        let err = decrypt(&keyring(), token.as_bytes(), None).unwrap_err();
        assert_eq!(err, DecryptError::Authentication);
        assert_eq!(
            err.to_string(),
            "authentication failed: wrong key, or the file was modified"
        );
    }

    #[test]
    fn future_timestamps_are_accepted_without_ttl() {
        let key = Key::generate();
        let ring = Keyring::from(key.clone());
        let now = 1_700_000_000;
        for ts in [
            now + 61,
            now + 86_400 * 365,
            u64::MAX - 60,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let token = token_at(&key, b"later", ts);
            assert_eq!(
                &decrypt_at(&ring, token.as_bytes(), None, now).unwrap()[..],
                b"later",
                "ts {ts}"
            );
            // And with the real clock.
            assert_eq!(
                &decrypt(&ring, token.as_bytes(), None).unwrap()[..],
                b"later"
            );
        }
    }

    #[test]
    fn ttl_expiry_and_clock_skew() {
        let key = Key::generate();
        let ring = Keyring::from(key.clone());
        let ttl = Some(Duration::from_secs(60));
        let token = token_at(&key, b"v", 1000);
        // Within the TTL, at its edge, and up to 60 s of skew.
        for now in [940, 1000, 1059, 1060] {
            assert!(
                decrypt_at(&ring, token.as_bytes(), ttl, now).is_ok(),
                "now {now}"
            );
        }
        assert_eq!(
            decrypt_at(&ring, token.as_bytes(), ttl, 1061).unwrap_err(),
            DecryptError::Expired {
                age_secs: 61,
                ttl_secs: 60
            }
        );
        assert_eq!(
            decrypt_at(&ring, token.as_bytes(), ttl, 939).unwrap_err(),
            DecryptError::ClockSkew { ahead_secs: 61 }
        );
        // Without a TTL neither applies.
        assert!(decrypt_at(&ring, token.as_bytes(), None, u64::MAX).is_ok());
        assert!(decrypt_at(&ring, token.as_bytes(), None, 0).is_ok());
        // Sub-second TTLs count in whole seconds.
        assert!(
            decrypt_at(
                &ring,
                token.as_bytes(),
                Some(Duration::from_millis(999)),
                1000
            )
            .is_ok()
        );
    }

    #[test]
    fn forged_huge_timestamps_and_ttls_do_not_panic() {
        let key = Key::generate();
        let ring = Keyring::from(key.clone());
        let huge = token_at(&key, b"v", u64::MAX);
        let max_ttl = Some(Duration::MAX);
        assert_eq!(
            decrypt_at(&ring, huge.as_bytes(), Some(Duration::from_secs(60)), 1000).unwrap_err(),
            DecryptError::ClockSkew {
                ahead_secs: u64::MAX - 1000
            }
        );
        assert!(decrypt_at(&ring, huge.as_bytes(), max_ttl, u64::MAX).is_ok());
        assert!(decrypt_at(&ring, huge.as_bytes(), max_ttl, u64::MAX - 60).is_ok());
        assert!(decrypt(&ring, huge.as_bytes(), max_ttl).is_err());
        let zero = token_at(&key, b"v", 0);
        assert!(decrypt_at(&ring, zero.as_bytes(), max_ttl, u64::MAX).is_ok());
        assert_eq!(
            decrypt_at(&ring, zero.as_bytes(), Some(Duration::ZERO), u64::MAX).unwrap_err(),
            DecryptError::Expired {
                age_secs: u64::MAX,
                ttl_secs: 0
            }
        );
    }

    #[test]
    fn an_expired_token_must_be_authentic_to_be_called_expired() {
        let token = token_at(&Key::generate(), b"v", 0);
        let other = keyring();
        let ttl = Some(Duration::from_secs(1));
        assert_eq!(
            decrypt_at(&other, token.as_bytes(), ttl, 1_000_000).unwrap_err(),
            DecryptError::Authentication
        );
        let future = token_at(&Key::generate(), b"v", u64::MAX);
        assert_eq!(
            decrypt_at(&other, future.as_bytes(), ttl, 0).unwrap_err(),
            DecryptError::Authentication
        );
    }

    #[test]
    fn every_structural_error_is_reachable() {
        let ring = keyring();
        let token = encrypt(&ring, b"hello");
        let raw = URL_SAFE_LENIENT.decode(&token).unwrap();
        let enc = |bytes: &[u8]| general_purpose::URL_SAFE.encode(bytes);

        assert_eq!(decrypt(&ring, b"", None).unwrap_err(), DecryptError::Empty);
        assert_eq!(
            decrypt(&ring, b" \r\n\t", None).unwrap_err(),
            DecryptError::Empty
        );
        assert_eq!(
            decrypt(&ring, b"%%%%", None).unwrap_err(),
            DecryptError::NotBase64
        );
        assert_eq!(
            decrypt(&ring, b"gAAAA", None).unwrap_err(),
            DecryptError::NotBase64
        );
        assert_eq!(
            decrypt(&ring, &[0xff, 0xfe, 0x00], None).unwrap_err(),
            DecryptError::NotBase64
        );
        let mut bad_version = raw.clone();
        bad_version[0] = 0x81;
        assert_eq!(
            decrypt(&ring, enc(&bad_version).as_bytes(), None).unwrap_err(),
            DecryptError::BadVersion
        );
        assert_eq!(
            decrypt(&ring, enc(&raw[..72]).as_bytes(), None).unwrap_err(),
            DecryptError::Truncated
        );
        let mut unaligned = raw.clone();
        unaligned.push(0);
        assert_eq!(
            decrypt(&ring, enc(&unaligned).as_bytes(), None).unwrap_err(),
            DecryptError::Truncated
        );
        assert_eq!(
            decrypt(&ring, enc(&[0x80]).as_bytes(), None).unwrap_err(),
            DecryptError::Truncated
        );
        assert_eq!(
            decrypt(&ring, b"==", None).unwrap_err(),
            DecryptError::NotBase64
        );
        // The shortest well-formed token that no key made.
        let mut forged = vec![0x80u8];
        forged.extend_from_slice(&[0u8; MIN_TOKEN_LEN - 1]);
        assert_eq!(
            decrypt(&ring, enc(&forged).as_bytes(), None).unwrap_err(),
            DecryptError::Authentication
        );
        assert_eq!(
            decrypt(&ring, b"envcloak:pbkdf2-sha256:600000:AAAA\ngAAAA\n", None).unwrap_err(),
            DecryptError::PasswordRequired
        );
    }

    #[test]
    fn error_messages_are_one_line_and_lowercase() {
        let errors = [
            DecryptError::Empty,
            DecryptError::NotBase64,
            DecryptError::BadVersion,
            DecryptError::Truncated,
            DecryptError::TrailingData,
            DecryptError::Authentication,
            DecryptError::WrongPassword,
            DecryptError::Expired {
                age_secs: 5,
                ttl_secs: 1,
            },
            DecryptError::ClockSkew { ahead_secs: 100 },
            DecryptError::BadHeader("the salt must be 16 to 64 bytes"),
            DecryptError::TooFewIterations { iterations: 1000 },
            DecryptError::PasswordRequired,
        ];
        for err in errors {
            let msg = err.to_string();
            assert!(!msg.contains('\n'), "{msg}");
            assert!(msg.starts_with(|c: char| c.is_ascii_lowercase()), "{msg}");
        }
        let key_errors = [
            KeyError::Empty,
            KeyError::NotBase64,
            KeyError::WrongLength { len: 3 },
            KeyError::InKeyring {
                position: 1,
                reason: Box::new(KeyError::NotBase64),
            },
        ];
        for err in key_errors {
            let msg = err.to_string();
            assert!(!msg.contains('\n'), "{msg}");
            assert!(msg.starts_with(|c: char| c.is_ascii_lowercase()), "{msg}");
        }
    }

    #[test]
    fn modified_tokens_fail_authentication_without_panicking() {
        let key = Key::generate();
        let ring = Keyring::from(key.clone());
        let token = encrypt(&ring, b"some plaintext that spans two blocks");
        let raw = URL_SAFE_LENIENT.decode(&token).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x80;
            let err = decrypt(
                &ring,
                general_purpose::URL_SAFE.encode(&bad).as_bytes(),
                None,
            )
            .unwrap_err();
            let want = if i == 0 {
                DecryptError::BadVersion
            } else {
                DecryptError::Authentication
            };
            assert_eq!(err, want, "byte {i}");
        }
    }

    // --- password mode -------------------------------------------------------

    #[test]
    fn derive_key_matches_pbkdf2_hmac_sha256_vectors() {
        // RFC 7914 §11 and the widely published PBKDF2-HMAC-SHA256 vectors
        // (first 32 bytes), checked against Python's hashlib.pbkdf2_hmac.
        let hex = |k: &Key| {
            k.bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(
            hex(&derive_key(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        assert_eq!(
            hex(&derive_key(b"password", b"salt", 2)),
            "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"
        );
        assert_eq!(
            hex(&derive_key(b"password", b"salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
        // Zero iterations does not panic.
        let _ = derive_key(b"", b"", 0);
    }

    #[test]
    fn password_header_round_trips() {
        let header = PasswordHeader {
            iterations: DEFAULT_ITERATIONS,
            salt: (0u8..16).collect(),
        };
        let line = header.format();
        assert_eq!(
            line,
            "envcloak:pbkdf2-sha256:1200000:AAECAwQFBgcICQoLDA0ODw=="
        );
        assert_eq!(PasswordHeader::parse(&line).unwrap(), header);
        assert_eq!(PasswordHeader::parse(&format!("{line}\r")).unwrap(), header);
        assert_eq!(
            PasswordHeader::parse("envcloak:pbkdf2-sha256:600000:AAECAwQFBgcICQoLDA0ODw")
                .unwrap()
                .iterations,
            MIN_ITERATIONS
        );
        let max_salt = general_purpose::URL_SAFE.encode([9u8; 64]);
        let line = format!("envcloak:pbkdf2-sha256:100000000:{max_salt}");
        assert_eq!(
            PasswordHeader::parse(&line).unwrap().iterations,
            MAX_ITERATIONS
        );
    }

    #[test]
    fn password_header_parse_errors() {
        let salt = "AAECAwQFBgcICQoLDA0ODw==";
        let cases: &[(String, &str)] = &[
            ("".into(), "does not start"),
            ("envcloak".into(), "does not start"),
            ("Envcloak:pbkdf2-sha256:600000:x".into(), "does not start"),
            ("envcloak:pbkdf2-sha256:600000".into(), "expected"),
            (
                format!("envcloak:pbkdf2-sha256:600000:{salt}:extra"),
                "expected",
            ),
            (
                format!("envcloak:scrypt:600000:{salt}"),
                "unknown key derivation",
            ),
            (format!("envcloak:pbkdf2-sha256::{salt}"), "not a number"),
            (
                format!("envcloak:pbkdf2-sha256:+600000:{salt}"),
                "not a number",
            ),
            (format!("envcloak:pbkdf2-sha256:-1:{salt}"), "not a number"),
            (format!("envcloak:pbkdf2-sha256:6e5:{salt}"), "not a number"),
            (
                format!("envcloak:pbkdf2-sha256:100000001:{salt}"),
                "above 100000000",
            ),
            (
                format!("envcloak:pbkdf2-sha256:99999999999999999999:{salt}"),
                "above 100000000",
            ),
            ("envcloak:pbkdf2-sha256:600000:%%%%".into(), "not base64"),
            (
                "envcloak:pbkdf2-sha256:600000:AAAA".into(),
                "16 to 64 bytes",
            ),
            ("envcloak:pbkdf2-sha256:600000:".into(), "16 to 64 bytes"),
            (
                format!(
                    "envcloak:pbkdf2-sha256:600000:{}",
                    general_purpose::URL_SAFE.encode([0u8; 65])
                ),
                "16 to 64 bytes",
            ),
        ];
        for (line, want) in cases {
            match PasswordHeader::parse(line) {
                Err(DecryptError::BadHeader(reason)) => {
                    assert!(reason.contains(want), "{line:?}: {reason}");
                    let msg = DecryptError::BadHeader(reason).to_string();
                    assert!(msg.starts_with("bad password header: "), "{msg}");
                }
                other => panic!("{line:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn too_few_iterations_is_its_own_error() {
        let salt = "AAECAwQFBgcICQoLDA0ODw==";
        for n in [0u32, 1, 10_000, 599_999] {
            let err =
                PasswordHeader::parse(&format!("envcloak:pbkdf2-sha256:{n}:{salt}")).unwrap_err();
            assert_eq!(err, DecryptError::TooFewIterations { iterations: n });
            let msg = err.to_string();
            for part in [
                &format!("records {n} pbkdf2 iterations"),
                "below the floor of 600000",
                "another tool or tampered",
                "envcloak encrypt --password",
            ] {
                assert!(msg.contains(part), "{msg}");
            }
        }
    }

    #[test]
    fn salt_in_the_standard_alphabet_is_accepted() {
        // Bytes whose encoding has both `-`/`_` (URL-safe) and `+`/`/`.
        let salt: Vec<u8> = (0..16u8).map(|i| 0xf8 | (i & 7)).collect();
        let url = general_purpose::URL_SAFE.encode(&salt);
        let standard = general_purpose::STANDARD.encode(&salt);
        assert!(standard.contains('+') || standard.contains('/'));
        assert_ne!(url, standard);
        for text in [
            url.clone(),
            standard.clone(),
            standard.trim_end_matches('=').to_owned(),
        ] {
            let header =
                PasswordHeader::parse(&format!("envcloak:pbkdf2-sha256:600000:{text}")).unwrap();
            assert_eq!(header.salt, salt, "{text}");
        }
        // Written back in the URL-safe alphabet, as always.
        let header = PasswordHeader {
            iterations: MIN_ITERATIONS,
            salt,
        };
        assert!(header.format().ends_with(&url));
    }

    #[test]
    fn split_file_finds_the_header() {
        let token = "gAAAAAtoken";
        let header = "envcloak:pbkdf2-sha256:600000:AAECAwQFBgcICQoLDA0ODw==";
        let file = fake_password_file(header, token);
        let (h, rest) = split_file(&file).unwrap();
        assert_eq!(h.unwrap().iterations, 600_000);
        assert_eq!(rest, b"gAAAAAtoken\n");
        let crlf = format!("{header}\r\n{token}\r\n");
        let (h, rest) = split_file(crlf.as_bytes()).unwrap();
        assert!(h.is_some());
        assert_eq!(rest, b"gAAAAAtoken\r\n");
        // A bare token has no header and is returned untouched.
        let (h, rest) = split_file(b"gAAAAAtoken\n").unwrap();
        assert!(h.is_none());
        assert_eq!(rest, b"gAAAAAtoken\n");
        let (h, rest) = split_file(b"").unwrap();
        assert!(h.is_none());
        assert!(rest.is_empty());
        // A header and nothing after it.
        for file in [
            header.to_string(),
            format!("{header}\n"),
            format!("{header}\n \n"),
        ] {
            assert_eq!(
                split_file(file.as_bytes()).unwrap_err(),
                DecryptError::BadHeader("the header line is not followed by a token")
            );
        }
        assert!(matches!(
            split_file(b"envcloak:\xff\ntoken").unwrap_err(),
            DecryptError::BadHeader(_)
        ));
        assert_eq!(
            split_file(b"envcloak:pbkdf2-sha256:10:AAECAwQFBgcICQoLDA0ODw==\ntoken").unwrap_err(),
            DecryptError::TooFewIterations { iterations: 10 }
        );
    }

    #[test]
    fn password_mode_round_trip_and_wrong_password() {
        let file = encrypt_with_password(b"correct horse", b"A=1\nB=2\n", MIN_ITERATIONS);
        let mut lines = file.lines();
        let header = PasswordHeader::parse(lines.next().unwrap()).unwrap();
        assert_eq!(header.iterations, MIN_ITERATIONS);
        assert_eq!(header.salt.len(), 16);
        assert!(lines.next().unwrap().starts_with("gAAAAA"));
        assert!(lines.next().is_none());
        assert!(file.ends_with('\n'));

        assert_eq!(
            &decrypt_with_password(b"correct horse", file.as_bytes(), None).unwrap()[..],
            b"A=1\nB=2\n"
        );
        let err = decrypt_with_password(b"wrong horse", file.as_bytes(), None).unwrap_err();
        assert_eq!(err, DecryptError::WrongPassword);
        assert_eq!(
            err.to_string(),
            "authentication failed: wrong password, or the file was modified"
        );
        // A modified password file says the same, never "wrong key".
        let mut modified = file.clone().into_bytes();
        let at = modified.len() - 10;
        modified[at] = if modified[at] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            decrypt_with_password(b"correct horse", &modified, None).unwrap_err(),
            DecryptError::WrongPassword
        );
        // A key cannot open it, and says why.
        assert_eq!(
            decrypt(&keyring(), file.as_bytes(), None).unwrap_err(),
            DecryptError::PasswordRequired
        );
    }

    #[test]
    fn encrypt_with_password_clamps_iterations() {
        // Only the header is inspected: no decryption, so this stays fast
        // apart from the derivation done while encrypting.
        let file = encrypt_with_password(b"pw", b"x", 1);
        let (header, _) = split_file(file.as_bytes()).unwrap();
        assert_eq!(header.unwrap().iterations, MIN_ITERATIONS);
    }

    #[test]
    fn password_mode_errors_come_before_the_key_derivation() {
        let header = "envcloak:pbkdf2-sha256:100000000:AAECAwQFBgcICQoLDA0ODw==";
        // If these derived a key at 10^8 iterations the test would take
        // minutes; they must fail on the token's structure first.
        assert_eq!(
            decrypt_with_password(b"pw", &fake_password_file(header, "%%%%"), None).unwrap_err(),
            DecryptError::NotBase64
        );
        assert_eq!(
            decrypt_with_password(b"pw", &fake_password_file(header, "gAAAAA"), None).unwrap_err(),
            DecryptError::Truncated
        );
        assert_eq!(
            decrypt_with_password(b"pw", &fake_password_file(header, "AAAA"), None).unwrap_err(),
            DecryptError::BadVersion
        );
        assert_eq!(
            decrypt_with_password(b"pw", b"", None).unwrap_err(),
            DecryptError::Empty
        );
        assert_eq!(
            decrypt_with_password(b"pw", b"\r\n", None).unwrap_err(),
            DecryptError::Empty
        );
        let bare = encrypt(&keyring(), b"x");
        assert!(matches!(
            decrypt_with_password(b"pw", bare.as_bytes(), None).unwrap_err(),
            DecryptError::BadHeader(reason) if reason.starts_with("missing")
        ));
        assert_eq!(
            decrypt_with_password(b"pw", b"envcloak:pbkdf2-sha256:5:AA\nx", None).unwrap_err(),
            DecryptError::TooFewIterations { iterations: 5 }
        );
    }

    #[test]
    fn no_panic_on_arbitrary_input() {
        let ring = keyring();
        let alphabet =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \r\n:,";
        for round in 0..3000usize {
            let seed = random_bytes(1 + round % 200);
            // Raw bytes, text drawn from the base64 alphabet and separators,
            // and text that looks like a password file.
            let text: Vec<u8> = seed
                .iter()
                .map(|&b| alphabet[usize::from(b) % alphabet.len()])
                .collect();
            let mut header_like = b"envcloak:pbkdf2-sha256:".to_vec();
            header_like.extend_from_slice(&text);
            let mut versioned = vec![0x80u8];
            versioned.extend_from_slice(&seed);
            let versioned = general_purpose::URL_SAFE.encode(&versioned).into_bytes();
            for input in [&seed[..], &text, &header_like, &versioned] {
                let ttl = Some(Duration::from_secs(u64::from(seed[0])));
                let _ = decrypt(&ring, input, None);
                let _ = decrypt_at(&ring, input, ttl, u64::MAX);
                let _ = split_file(input);
                let as_str = String::from_utf8_lossy(input);
                let _ = Key::parse(&as_str);
                let _ = Keyring::parse(&as_str);
                let _ = PasswordHeader::parse(&as_str);
                // Only inputs whose header fails to parse reach no KDF;
                // skip the (astronomically unlikely) valid ones to stay fast.
                if !matches!(split_file(input), Ok((Some(_), _))) {
                    let _ = decrypt_with_password(b"pw", input, ttl);
                }
            }
        }
    }

    // --- random tokens --------------------------------------------------------

    #[test]
    fn random_tokens_have_python_shapes() {
        assert_eq!(random_bytes(0).len(), 0);
        assert_eq!(random_bytes(33).len(), 33);
        assert_ne!(random_bytes(32), random_bytes(32));

        for n in [0usize, 1, 2, 3, 16, 31, 32, 33] {
            let hex = token_hex(n);
            assert_eq!(hex.len(), 2 * n);
            assert!(
                hex.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );

            let url = token_urlsafe(n);
            // Python: len(secrets.token_urlsafe(n)) == ceil(4n/3)
            assert_eq!(url.len(), (4 * n).div_ceil(3), "n {n}");
            assert!(
                url.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert_eq!(
                general_purpose::URL_SAFE_NO_PAD
                    .decode(url.as_bytes())
                    .unwrap()
                    .len(),
                n
            );

            let b64 = token_base64(n);
            assert_eq!(b64.len(), n.div_ceil(3) * 4);
            assert_eq!(
                general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .unwrap()
                    .len(),
                n
            );
        }
        assert_ne!(token_hex(32), token_hex(32));
    }

    #[test]
    fn git_text_conflicts_are_recognised() {
        let ring = Keyring::from(Key::generate());
        let a = encrypt(&ring, b"A=1\n");
        let b = encrypt(&ring, b"A=2\n");
        let conflict = format!("<<<<<<< HEAD\n{a}\n=======\n{b}\n>>>>>>> topic\n");
        assert!(is_git_text_conflict(conflict.as_bytes()));
        assert_eq!(
            decrypt(&ring, conflict.as_bytes(), None).unwrap_err(),
            DecryptError::GitTextConflict
        );
        assert_eq!(
            split_file(conflict.as_bytes()).unwrap_err(),
            DecryptError::GitTextConflict
        );
        let diff3 = format!(
            "<<<<<<< HEAD\r\n{a}\r\n||||||| base\r\n{b}\r\n=======\r\n{b}\r\n>>>>>>> topic\r\n"
        );
        assert!(is_git_text_conflict(diff3.as_bytes()));
        // A password file whose header both sides kept.
        let pw = encrypt_with_password(b"pw", b"A=1\n", MIN_ITERATIONS);
        let (header, token) = pw.split_once('\n').unwrap();
        let inside = format!("{header}\n<<<<<<< HEAD\n{token}=======\n{token}>>>>>>> t\n");
        assert_eq!(
            split_file(inside.as_bytes()).unwrap_err(),
            DecryptError::GitTextConflict
        );
        // Not conflicts: no markers, markers out of order, not at the top.
        for text in [
            a.clone(),
            format!("<<<<<<< HEAD\n{a}\n"),
            format!("<<<<<<< HEAD\n{a}\n>>>>>>> t\n=======\n"),
            format!("{a}\n<<<<<<< HEAD\n=======\n>>>>>>> t\n"),
        ] {
            assert!(!is_git_text_conflict(text.as_bytes()), "{text}");
        }
    }
}
