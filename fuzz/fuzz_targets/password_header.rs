//! `envcloak::crypto::PasswordHeader` and `split_file` on arbitrary text.
//!
//! - `PasswordHeader::parse` never panics; it fails only with `BadHeader`;
//!   a header it returns is within the documented bounds (iterations in
//!   `MIN_ITERATIONS..=MAX_ITERATIONS`, a 16 to 64 byte salt) and survives
//!   `format()` then `parse` unchanged; `format()` is one line.
//! - The same for the first line of the input, for each line, and for the
//!   input with a `\n<token>` appended through `split_file`.
//! - The other direction: a header built from the input's bytes (any
//!   iteration count in bounds, any 16 to 64 byte salt) formats to a line
//!   that parses back to it.
#![no_main]

use envcloak::crypto::{self, DecryptError, MAX_ITERATIONS, MIN_ITERATIONS, PasswordHeader};
use libfuzzer_sys::fuzz_target;

fn check_parse(line: &str) {
    match PasswordHeader::parse(line) {
        Ok(header) => check_header(&header),
        Err(DecryptError::BadHeader(_)) => {}
        Err(e) => panic!("PasswordHeader::parse: undocumented error {e:?}"),
    }
}

fn check_header(header: &PasswordHeader) {
    assert!(
        (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&header.iterations),
        "iterations {} out of bounds",
        header.iterations
    );
    assert!(
        (16..=64).contains(&header.salt.len()),
        "salt of {} bytes",
        header.salt.len()
    );
    let line = header.format();
    assert!(line.starts_with("envcloak:pbkdf2-sha256:"), "{line:?}");
    assert!(!line.contains(['\n', '\r']), "{line:?}");
    assert_eq!(
        PasswordHeader::parse(&line).as_ref(),
        Ok(header),
        "format() = {line:?} does not parse back"
    );
}

fn check_split(contents: &[u8]) {
    match crypto::split_file(contents) {
        Ok((None, rest)) => assert_eq!(rest, contents),
        Ok((Some(header), rest)) => {
            check_header(&header);
            assert!(!rest.trim_ascii().is_empty());
            assert!(contents.ends_with(rest));
        }
        Err(DecryptError::BadHeader(_)) => {}
        Err(e) => panic!("split_file: undocumented error {e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    // The other direction first: any in-bounds header from raw bytes.
    if data.len() >= 4 + 16 {
        let n = u32::from_le_bytes(data[..4].try_into().unwrap());
        let iterations = MIN_ITERATIONS + n % (MAX_ITERATIONS - MIN_ITERATIONS + 1);
        let salt = data[4..data.len().min(4 + 64)].to_vec();
        check_header(&PasswordHeader { iterations, salt });
    }

    check_split(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_parse(text);
    for line in text.split('\n') {
        check_parse(line);
    }
    let first_line = text.split('\n').next().unwrap_or_default();
    let file = format!("{first_line}\ngAAAAAB-token\n");
    check_split(file.as_bytes());
});
