//! Standard output for every command, and stderr lines that cannot panic.
//!
//! `println!` panics when standard output is a pipe whose reader has gone
//! (`envcloak keygen | true`, `envcloak ls | head -1`): Rust ignores
//! SIGPIPE, so the write fails with `EPIPE`. Commands print through this
//! module instead. A closed standard output is remembered, later output is
//! dropped, and the command goes on to finish its work (a backup made, a
//! file written); [`exit_code`] then turns its success into 141, which is
//! what a shell shows for a Unix tool killed by SIGPIPE. Any other write
//! error is remembered too and reported once, naming standard output
//! (exit 2).
//!
//! Output that the command must not go on without (the only copy of a new
//! key, before a file is sealed with it) goes through [`write_required`],
//! which fails instead.

use std::fmt::Display;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::ui::{self, Failure};

/// The exit code of a command whose standard output was closed under it.
const CLOSED_EXIT: u8 = 141;

static CLOSED: AtomicBool = AtomicBool::new(false);
static FAILED: OnceLock<String> = OnceLock::new();

/// Prints `text` and a newline on standard output; never panics.
///
/// `outln!` is the `println!`-like form.
pub fn line(text: impl Display) {
    emit(|out| writeln!(out, "{text}"));
}

/// Writes `bytes` to standard output as they are; never panics.
pub fn write(bytes: &[u8]) {
    emit(|out| out.write_all(bytes));
}

/// Writes `bytes` to standard output, or fails when they could not be
/// written (closed or broken standard output): for output the command must
/// not go on without.
pub fn write_required(bytes: &[u8]) -> Result<(), Failure> {
    write(bytes);
    if CLOSED.load(Ordering::Relaxed) {
        return Err(Failure::new("standard output is closed"));
    }
    if let Some(e) = FAILED.get() {
        return Err(Failure::new(format!(
            "could not write to standard output: {e}"
        )));
    }
    Ok(())
}

/// `println!` for commands: prints on standard output through [`line`].
macro_rules! outln {
    () => {
        $crate::out::line("")
    };
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// Writes a prompt (no newline) on standard error, ignoring errors.
pub fn err_prompt(text: impl Display) {
    let mut err = io::stderr().lock();
    let _ = write!(err, "{text}").and_then(|_| err.flush());
}

/// Writes `text` and a newline on standard error, ignoring errors: for the
/// messages that are printed when something already went wrong.
pub fn err_line(text: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// The process's exit code for a command that ended with `code`: a success
/// becomes 141 when standard output was closed, or 2 (with a message) when
/// writing to it failed otherwise. Any other code is kept.
pub fn exit_code(code: ExitCode) -> ExitCode {
    if code != ExitCode::SUCCESS {
        return code;
    }
    if CLOSED.load(Ordering::Relaxed) {
        return ExitCode::from(CLOSED_EXIT);
    }
    if let Some(e) = FAILED.get() {
        let f = Failure::new(format!("could not write to standard output: {e}"));
        ui::report(&f);
        return ExitCode::from(f.exit_code());
    }
    code
}

/// Runs `write` on the locked standard output and flushes it, unless an
/// earlier write failed; records a failure instead of returning it.
fn emit(write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) {
    if CLOSED.load(Ordering::Relaxed) || FAILED.get().is_some() {
        return;
    }
    let mut out = io::stdout().lock();
    let result = write(&mut out).and_then(|()| out.flush());
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => CLOSED.store(true, Ordering::Relaxed),
        Err(e) => {
            let _ = FAILED.set(e.to_string());
        }
    }
}
