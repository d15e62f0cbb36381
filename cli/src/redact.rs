//! redact, run --redact: keep loaded values out of logs.
//!
//! `envcloak redact` copies standard input to standard output with every
//! loaded value replaced by `[REDACTED:KEY]`; `run --redact` puts the
//! command's standard output and standard error each through the same
//! filter. The values are the effective values of the keys the files
//! define (`.env`, `.env.enc`, their profile variants), also when the
//! process environment overrides them; values shorter than six characters
//! and keys marked public (`--public KEY`, `# @public` in `.env.example`)
//! are left alone. The streaming filter itself is in [`filter`].

pub mod filter;

use std::collections::BTreeSet;
use std::io;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;

use clap::Args;
use envcloak::ExposeSecret;
use envcloak::example::Example;

pub use filter::Redactor;
use filter::StreamError;

use crate::Global;
use crate::ui::{self, CmdResult, Failure};

/// The exit code when standard output was closed under us (as a shell
/// shows for a tool killed by SIGPIPE; see `out.rs`).
const CLOSED_EXIT: u8 = 141;

/// `redact`
#[derive(Args)]
pub struct RedactArgs {
    /// Leave this key's value as it is (repeatable); `# @public` above a key
    /// in .env.example does the same
    #[arg(long = "public", value_name = "KEY")]
    public: Vec<String>,
}

/// `run`'s options for redaction (flattened into its arguments).
#[derive(Args)]
pub struct RunRedact {
    /// Filter the command's standard output and standard error through
    /// `envcloak redact` (each separately)
    #[arg(long)]
    redact: bool,
    /// With --redact: leave this key's value as it is (repeatable)
    #[arg(long = "public", value_name = "KEY", requires = "redact")]
    public: Vec<String>,
}

impl RunRedact {
    /// The redactor `run` should filter through, if `--redact` was given.
    pub fn redactor(&self, cfg: &envcloak::Config) -> CmdResult<Option<Redactor>> {
        if !self.redact {
            return Ok(None);
        }
        redactor(cfg, &self.public).map(Some)
    }
}

/// `envcloak redact`: standard input to standard output, values replaced.
pub fn redact(g: &Global, a: RedactArgs) -> CmdResult {
    let cfg = ui::config(g)?;
    for skipped in cfg.skipped_encrypted() {
        ui::note(format!(
            "{} not read: no key (set ENVCLOAK_KEY or create .env.key); its values are not redacted",
            skipped.display()
        ));
    }
    let redactor = redactor(&cfg, &a.public)?;
    drop(cfg);
    grow_pipe(io::stdin());
    let stdin = io::stdin().lock();
    match redactor.stream(stdin, raw_stdout()?) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(StreamError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            Ok(ExitCode::from(CLOSED_EXIT))
        }
        Err(StreamError::Write(e)) => Err(Failure::new(format!(
            "could not write to standard output: {e}"
        ))),
        Err(StreamError::Read(e)) => {
            Err(Failure::new(format!("could not read standard input: {e}")))
        }
    }
}

/// The redactor for a loaded configuration: the effective value of every
/// key a file defines, except the keys in `public` and those marked
/// `@public` in the project's `.env.example`.
pub fn redactor(cfg: &envcloak::Config, public: &[String]) -> CmdResult<Redactor> {
    for key in public {
        ui::check_key_arg(key, "envcloak redact --public KEY")?;
    }
    let mut public: BTreeSet<String> = public.iter().cloned().collect();
    public.extend(example_public()?);
    let mut pairs = Vec::new();
    for (key, _origin) in cfg.keys() {
        if public.contains(&key) {
            continue;
        }
        if let Some(value) = cfg.get_raw(&key)? {
            pairs.push((key, value));
        }
    }
    Redactor::new(
        pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret().as_bytes())),
    )
    .map_err(Failure::new)
}

/// The keys `.env.example` (at the project root) marks `@public`. No
/// example: none. An example that does not parse: none either, with a
/// note — more is redacted, nothing leaks.
fn example_public() -> CmdResult<Vec<String>> {
    let path = ui::root()?.join(".env.example");
    if !path.exists() {
        return Ok(Vec::new());
    }
    match Example::load(&path) {
        Ok(example) => Ok(example
            .keys
            .into_iter()
            .filter(|k| k.public)
            .map(|k| k.key)
            .collect()),
        Err(e) => {
            ui::note(format!(
                "{e}; no key is treated as @public (run 'envcloak check')"
            ));
            Ok(Vec::new())
        }
    }
}

/// When `fd` is a pipe, asks for a buffer as large as one read (Linux: a
/// 64 KiB pipe wakes the reader up four times as often, and the writer
/// waits in between). Only a hint: on failure nothing changes.
#[cfg(target_os = "linux")]
fn grow_pipe(fd: impl std::os::fd::AsFd) {
    if rustix::pipe::fcntl_getpipe_size(&fd).is_ok_and(|n| n < filter::CHUNK) {
        let _ = rustix::pipe::fcntl_setpipe_size(&fd, filter::CHUNK);
    }
}

#[cfg(not(target_os = "linux"))]
fn grow_pipe<T>(_: T) {}

/// Standard output without Rust's line buffering: the filter writes large
/// chunks and flushes after each read itself.
#[cfg(unix)]
fn raw_stdout() -> CmdResult<std::fs::File> {
    use std::os::fd::AsFd;
    dup(io::stdout().as_fd(), "standard output")
}

#[cfg(unix)]
fn raw_stderr() -> CmdResult<std::fs::File> {
    use std::os::fd::AsFd;
    dup(io::stderr().as_fd(), "standard error")
}

#[cfg(unix)]
fn dup(fd: std::os::fd::BorrowedFd<'_>, what: &str) -> CmdResult<std::fs::File> {
    fd.try_clone_to_owned()
        .map(std::fs::File::from)
        .map_err(|e| Failure::new(format!("{what}: {e}")))
}

#[cfg(not(unix))]
fn raw_stdout() -> CmdResult<io::Stdout> {
    Ok(io::stdout())
}

#[cfg(not(unix))]
fn raw_stderr() -> CmdResult<io::Stderr> {
    Ok(io::stderr())
}

/// Runs `cmd` with its standard output and standard error each through
/// `redactor` (two pipes, two threads: what the command writes to stderr
/// stays on stderr), forwards SIGINT, SIGTERM and SIGHUP to it, and
/// returns its exit code — 128 + the signal's number when a signal ended
/// it, as a shell shows it.
///
/// The command's standard input is this process's. The call returns when
/// the command has exited and both pipes are closed (a background process
/// that keeps them open is waited for, as in a shell pipeline).
///
/// `Err` when the command could not be started (the caller names it), or
/// in the unlikely case that waiting for it failed.
pub fn run_redacted(mut cmd: Command, redactor: Redactor) -> io::Result<ExitCode> {
    let redactor = Arc::new(redactor);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let stdout = raw_stdout().map_err(|_| io::Error::other("standard output is not usable"))?;
    let stderr = raw_stderr().map_err(|_| io::Error::other("standard error is not usable"))?;
    // Before the spawn, so that a signal that comes right after it is
    // forwarded rather than ending envcloak.
    #[cfg(unix)]
    let signals = forward::Signals::new()?;
    let mut child = cmd.spawn()?;
    if let Some(p) = &child.stdout {
        grow_pipe(p);
    }
    if let Some(p) = &child.stderr {
        grow_pipe(p);
    }
    let from_child = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn io::Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn io::Read + Send>),
    ];
    let to_us = [
        Box::new(stdout) as Box<dyn io::Write + Send>,
        Box::new(stderr) as Box<dyn io::Write + Send>,
    ];
    let mut pumps = Vec::new();
    for (from, to) in from_child.into_iter().zip(to_us) {
        let Some(from) = from else { continue };
        let redactor = Arc::clone(&redactor);
        pumps.push(std::thread::spawn(move || pump(&redactor, from, to)));
    }
    #[cfg(unix)]
    let status = signals.wait_forwarding(&mut child);
    #[cfg(not(unix))]
    let status = child.wait();
    for p in pumps {
        let _ = p.join();
    }
    let status = status?;
    Ok(ExitCode::from(exit_code(status)))
}

/// One pipe through the filter. When our side is closed (`| head`), the
/// command's pipe is closed too, so the command gets SIGPIPE as it would
/// without envcloak in between.
fn pump(redactor: &Redactor, from: Box<dyn io::Read + Send>, to: Box<dyn io::Write + Send>) {
    match redactor.stream(from, to) {
        Ok(()) => {}
        Err(StreamError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(StreamError::Write(e)) => ui::note(format!("run --redact: could not write: {e}")),
        Err(StreamError::Read(e)) => ui::note(format!("run --redact: could not read: {e}")),
    }
}

/// A shell's exit code for `status`: the code, or 128 + the signal.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return (128 + sig).clamp(0, 255) as u8;
        }
    }
    status.code().unwrap_or(1).clamp(0, 255) as u8
}

/// Signals for the command, handled by the thread that waits for it.
#[cfg(unix)]
mod forward {
    use std::io;
    use std::process::{Child, ExitStatus};

    use rustix::process::{Pid, Signal, kill_process};
    use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};

    /// SIGINT, SIGTERM and SIGHUP caught (to forward), and SIGCHLD (to
    /// notice the command's end).
    pub struct Signals(signal_hook::iterator::Signals);

    impl Signals {
        pub fn new() -> io::Result<Signals> {
            Ok(Signals(signal_hook::iterator::Signals::new([
                SIGINT, SIGTERM, SIGHUP, SIGCHLD,
            ])?))
        }

        /// Waits for `child`, forwarding signals to it. The command is
        /// reaped only here, between signals, so a forwarded signal can
        /// never reach another process that reused its id.
        pub fn wait_forwarding(mut self, child: &mut Child) -> io::Result<ExitStatus> {
            let pid = Pid::from_child(child);
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            for sig in self.0.forever() {
                let forward = match sig {
                    SIGINT => Some(Signal::INT),
                    SIGTERM => Some(Signal::TERM),
                    SIGHUP => Some(Signal::HUP),
                    _ => None,
                };
                if let Some(s) = forward {
                    // The command may have just exited (not yet reaped):
                    // then there is nobody to tell.
                    let _ = kill_process(pid, s);
                }
                if let Some(status) = child.try_wait()? {
                    return Ok(status);
                }
            }
            child.wait()
        }
    }
}
