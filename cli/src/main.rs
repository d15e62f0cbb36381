//! `envcloak`: keep a team's `.env` encrypted in git, and run programs with it.
//!
//! A thin shell over the library: each command is a few calls into
//! `envcloak::{vault, keys, crypto, dotenv, Config}`.

#![forbid(unsafe_code)]

mod completions;
mod diff;
mod git;
mod guard;
mod members;
mod out;
mod platform;
mod redact;
mod run;
mod sealed_merge;
mod secrets;
mod team;
mod ui;

use std::ffi::OsString;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Keep secrets out of git and logs: load `.env` and the encrypted
/// `.env.enc`, check them against `.env.example`, and run programs with them.
#[derive(Parser)]
// A fixed bin_name: usage lines never take the name from argv[0].
#[command(name = "envcloak", bin_name = "envcloak", version, about, long_about = None)]
#[command(after_help = "\
Examples:
  envcloak keygen --write            create .env.key (0600, gitignored)
  envcloak encrypt                   .env -> .env.enc (commit .env.enc)
  envcloak run -- cargo test         run with .env.enc decrypted in memory
  envcloak check --strict            CI: is the configuration complete?

Exit codes: 0 success; 1 a problem was found (check, get of a missing key);
2 could not run (bad input, no key, wrong key, usage); run passes through
the command's own code (126/127 when it cannot be started); 141 standard
output was closed; 70 an internal error (a bug).

Writers of one file queue on .envcloak.lock; ENVCLOAK_LOCK_TIMEOUT (seconds,
default 60) bounds the wait.")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// The project options: which files and key a command works with.
///
/// Given before the command name (`envcloak --profile p encrypt`) or after
/// it (`envcloak encrypt --profile p`); after wins. [`cli_command`] adds
/// them to every command except those in [`WITHOUT_PROJECT_OPTIONS`], which
/// refuse them.
#[derive(Args, Clone, Debug)]
pub struct Global {
    /// The encrypted file to use [default: .env.enc at the project root,
    /// or .env.<profile>.enc]
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Profile: use .env.<profile> and .env.<profile>.enc too [env: ENVCLOAK_PROFILE]
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Read the key from this file instead of searching
    /// (ENVCLOAK_KEY, ENVCLOAK_KEY_FILE, ENVCLOAK_KEY_CMD, .env.key)
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

/// The argument ids of [`Global`]'s options.
const PROJECT_OPTIONS: [&str; 3] = ["file", "profile", "key_file"];

/// The commands to which [`Global`]'s options mean nothing: they are not in
/// their help, and given anyway (before or after the name) they are a
/// usage error rather than silently ignored. (`keygen` keeps them: `keygen
/// --write` stores the key next to the encrypted file they name.)
const WITHOUT_PROJECT_OPTIONS: [&str; 3] = ["token", "completions", "man"];

/// The whole tool's definitions: [`Cli`]'s, with [`Global`]'s options added
/// to each command that uses them (and, through `global`, to its own
/// subcommands: `envcloak git enroll --profile p`).
pub fn cli_command() -> clap::Command {
    let mut cmd = Cli::command();
    // Built on a scratch command: on a real one, the derive would also set
    // its about text to Global's doc comment.
    let project_options: Vec<clap::Arg> = Global::augment_args(clap::Command::new("options"))
        .get_arguments()
        // After the command's own options in its help, before --help.
        .zip(900..)
        .map(|(a, order)| a.clone().global(true).display_order(order))
        .collect();
    for sub in cmd.get_subcommands_mut() {
        if !WITHOUT_PROJECT_OPTIONS.contains(&sub.get_name()) {
            *sub = std::mem::take(sub).args(project_options.iter().cloned());
        }
    }
    cmd
}

/// Parses the command line: the options given after the command's name
/// override those given before it. A project option given before a command
/// that refuses it is an error (clap itself refuses one given after).
fn parse(args: Vec<OsString>) -> Result<Cli, ParseError> {
    let matches = cli_command()
        .try_get_matches_from(args)
        .map_err(ParseError::Clap)?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(ParseError::Clap)?;
    if let Some((name, sub)) = matches.subcommand() {
        if WITHOUT_PROJECT_OPTIONS.contains(&name) {
            let given = PROJECT_OPTIONS
                .into_iter()
                .find(|id| matches.value_source(id) == Some(ValueSource::CommandLine));
            if let Some(id) = given {
                return Err(ParseError::NotFor {
                    option: id,
                    command: name.to_owned(),
                });
            }
        } else {
            cli.global.overlay(sub);
        }
    }
    Ok(cli)
}

/// Why the command line was refused.
#[derive(Debug)]
enum ParseError {
    /// clap's own error.
    Clap(clap::Error),
    /// A project option (its argument id) before a command that refuses it.
    NotFor {
        option: &'static str,
        command: String,
    },
}

impl Global {
    /// Takes the options given in `m` (a command's matches), which were
    /// given after the command's name, over those given before it.
    fn overlay(&mut self, m: &ArgMatches) {
        let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
        if given("file") {
            self.file = m.get_one::<PathBuf>("file").cloned();
        }
        if given("profile") {
            self.profile = m.get_one::<String>("profile").cloned();
        }
        if given("key_file") {
            self.key_file = m.get_one::<PathBuf>("key_file").cloned();
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Print a new Fernet key, or store it in .env.key with --write
    #[command(after_help = "\
Examples:
  envcloak keygen                    print a key (for ENVCLOAK_KEY in CI)
  envcloak keygen --write            store it in .env.key, mode 0600, gitignored
  envcloak keygen --write --profile prod   store it in .env.prod.key")]
    Keygen(secrets::KeygenArgs),
    /// Print a random token, like Python's secrets.token_hex / token_urlsafe
    #[command(after_help = "\
Examples:
  envcloak token                     64 hex characters (32 random bytes)
  envcloak token 16 --urlsafe        URL-safe base64 of 16 random bytes")]
    Token(secrets::TokenArgs),
    /// Encrypt a dotenv file (default .env) into .env.enc
    #[command(after_help = "\
Examples:
  envcloak encrypt                   .env -> .env.enc, creating .env.key if no key exists
  envcloak encrypt --dry-run         what would change, by key; nothing written
  envcloak encrypt --prune           also drop keys .env no longer has
  envcloak encrypt .env.production -f .env.production.enc
  envcloak encrypt --password        derive the key from a passphrase (PBKDF2)

Before replacing an existing .env.enc, encrypt prints which keys it adds,
changes and removes (names only). It refuses to remove keys that only
.env.enc holds (set there with 'envcloak set', say) unless --prune is given:
bring them into .env first, or change .env.enc with 'envcloak set'.")]
    Encrypt(secrets::EncryptArgs),
    /// Decrypt .env.enc to standard output (or a file with -o)
    #[command(after_help = "\
Examples:
  envcloak decrypt                   print the plaintext
  envcloak decrypt -f .env.production.enc
  envcloak decrypt --format json     as a JSON object
  envcloak decrypt -o .env           write .env (refuses to overwrite without --force)
  envcloak decrypt --format github   GitHub Actions: values to $GITHUB_ENV, masks to the log
  envcloak decrypt --format docker -o app.env && docker run --env-file app.env IMAGE
  envcloak decrypt --format k8s --name app --namespace prod | kubectl apply -f -

The encrypted file is named with -f, as for every command. Every format but
dotenv gives the file's values as 'envcloak run' reads them ($VAR expanded
from the environment and earlier lines); dotenv prints the text as it is.
--format github appends to the file GITHUB_ENV names (it must exist) and
prints only ::add-mask:: lines; -o does not apply to it. --format docker
refuses a value with a newline (docker's --env-file cannot hold one).

-o never writes over the encrypted file, a key file, a *.enc name or a file
git tracks; inside a git work tree the output is added to .gitignore first.")]
    Decrypt(secrets::DecryptArgs),
    /// Edit .env.enc in $VISUAL/$EDITOR through a private temporary file
    #[command(after_help = "\
Examples:
  envcloak edit
  EDITOR=nano envcloak edit -f .env.production.enc

Changes others save while the editor is open are merged by key; a key
changed on both sides reopens the editor with both versions marked.")]
    Edit(secrets::EditArgs),
    /// Set one entry of .env.enc (value from the argument, stdin, or a prompt)
    #[command(after_help = "\
Examples:
  envcloak set API_TOKEN              prompt without echo
  printf %s \"$TOKEN\" | envcloak set API_TOKEN
  envcloak set DEBUG false
  envcloak set TOKEN -- -starts-with-a-dash
  envcloak set OPTIONAL ''            an empty value (an empty stdin sets nothing)")]
    Set(secrets::SetArgs),
    /// Remove one entry from .env.enc
    #[command(after_help = "Example:\n  envcloak unset OLD_TOKEN")]
    Unset(secrets::UnsetArgs),
    /// Print one effective value (environment > .env > .env.enc)
    #[command(after_help = "\
Examples:
  envcloak get DATABASE_URL
  psql \"$(envcloak get DATABASE_URL)\"")]
    Get(run::GetArgs),
    /// List every effective key and where it comes from (values redacted)
    #[command(after_help = "\
Examples:
  envcloak ls                        a key that hides another layer's ends with (hides .env.enc:3)
  envcloak ls --all                  every layer's definition, the hidden ones too
  envcloak ls --all --show           with each definition's own value
  envcloak ls --format json          [{key, source}]; with --all, one entry per definition and \"wins\"")]
    Ls(run::LsArgs),
    /// Run a command with the layered configuration in its environment
    #[command(after_help = "\
Examples:
  envcloak run -- cargo test
  ENVCLOAK_KEY=... envcloak run -- ./server --port 8080
  envcloak run --no-require-key -- cargo test   in CI, run even without the key
  envcloak run --redact -- cargo test          values in its output show as [REDACTED:KEY]

Fail closed: with --require-key, the default when CI is set (to anything but
an empty value, false or 0), an encrypted file that exists but that no key
opens stops run with exit 2 before the command starts. Without it, run warns
and starts the command without the encrypted values. A key that does not
open the file is an error either way.

With --redact the command's stdout and stderr are pipes, each filtered like
'envcloak redact' (a program that buffers its output when it is not on a
terminal prints in bursts); SIGINT, SIGTERM and SIGHUP are forwarded to it
and its exit code is passed through (128+N when signal N ended it).")]
    Run(run::RunArgs),
    /// Copy stdin to stdout with every loaded value replaced by [REDACTED:KEY]
    #[command(after_help = "\
Examples:
  ./deploy.sh 2>&1 | envcloak redact             hide the values in a log
  envcloak redact --public DATABASE_HOST < app.log
  envcloak run --redact -- cargo test            the same for a command's stdout and stderr

The values are those of every key that .env, .env.enc (and a profile's
files) define, as the command sees them (the environment may override them).
Values shorter than 6 characters are left alone, and so are keys marked
'# @public' in .env.example or given with --public. Output is written as
it comes: only bytes that could begin a value wait for the next read.")]
    Redact(redact::RedactArgs),
    /// New key first in the keyring, file re-encrypted; old key kept until --drop-old
    #[command(after_help = "\
Examples:
  envcloak rotate --write            new key in .env.key (as new,old), file re-encrypted
  ENVCLOAK_KEY=... envcloak rotate   print the new keyring once (to store in the CI secret)
  envcloak rotate --drop-old --write re-encrypt with the first key, forget the others

A key read from a file (.env.key, ENVCLOAK_KEY_FILE, --key-file) needs
--write. Password mode: the new password comes from ENVCLOAK_NEW_PASSWORD or
is asked twice.")]
    Rotate(secrets::RotateArgs),
    /// Check .env/.env.enc against .env.example, syntax, git and permissions
    #[command(after_help = "\
Examples:
  envcloak check
  envcloak check --strict --format json   (warnings fail too; for CI)

Warnings include shadowed definitions: a key set in two files, where the
higher one hides the other (DEBUG: .env:4 hides .env.enc:2). The environment
overriding a file is deliberate in CI and deployments and is not reported;
'envcloak ls --all' shows every definition, the environment's included.")]
    Check(team::CheckArgs),
    /// Create .env from .env.example, generating the values it marks
    #[command(after_help = "\
Examples:
  envcloak init                      .env from .env.example, fresh secrets
  envcloak init --force              replace .env (the old one is kept as a backup)
  envcloak init --encrypt            write .env.enc instead

.env gets only the keys no other layer supplies: a key that the environment
or .env.enc (with its key; .env.<profile>.enc with a profile) already sets
is left as a comment naming its source, so .env does not hide it. Without
the key for .env.enc every key is written, and init says which ones will
hide .env.enc's values once the key is there ('envcloak init --force' then).")]
    Init(team::InitArgs),
    /// Which keys changed (names only) between revisions, or .env and .env.enc
    #[command(after_help = "\
Examples:
  envcloak diff                      HEAD against the work tree
  envcloak diff main                 main against the work tree
  envcloak diff main feature         between two revisions
  envcloak diff --plain              .env against .env.enc: what 'encrypt' would change
  envcloak diff --profile production HEAD~3 --format json

Prints 'added KEY', 'changed KEY' and 'removed KEY' lines (names only, never
values), or 'no changes'. Revisions are decrypted in memory with the key the
work tree's file uses: a keyring (new,old) opens revisions sealed with an old
key. A file absent at a revision counts as empty.")]
    Diff(diff::DiffArgs),
    /// Git integration: readable diffs, key-level merges, a commit guard
    #[command(after_help = "\
Examples:
  envcloak git enroll                .gitattributes and this clone's drivers
  envcloak git enroll --hook         and the pre-commit guard
  envcloak git disenroll             undo all of it

'git diff' and 'git log -p' show key names with fingerprints of values and
of comments ('# [comment fp:...]': a comment may hold an old secret), never
their text; ENVCLOAK_DIFF_VALUES=1 shows the text. See 'envcloak git enroll
--help' for merges.")]
    Git(git::GitArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(after_help = "\
Examples:
  source <(envcloak completions bash)                                  this bash session
  envcloak completions bash > ~/.local/share/bash-completion/completions/envcloak
  envcloak completions zsh > ~/.zfunc/_envcloak    with fpath+=(~/.zfunc) before compinit
  envcloak completions fish > ~/.config/fish/completions/envcloak.fish
  envcloak completions elvish >> ~/.config/elvish/rc.elv
  envcloak completions powershell >> $PROFILE")]
    Completions(completions::CompletionsArgs),
    /// Print the manual page, envcloak(1): every command, its options and examples
    #[command(after_help = "\
Examples:
  envcloak man | man -l -            read it now
  envcloak man > ~/.local/share/man/man1/envcloak.1    then: man envcloak

One page holds the whole tool: its options, then each command (git enroll
and git disenroll included) with its usage, options and examples.")]
    Man(completions::ManArgs),
    /// Per-person access: the keyring sealed to each member's SSH or age key
    #[command(after_help = "\
Examples:
  envcloak team add ~/.ssh/id_ed25519.pub      seal the keyring to you (.env.key.age)
  envcloak team add --name bob bob.pub         and to a teammate
  envcloak team rm bob                         new key, files re-encrypted, bob cut off
  envcloak team ls                             who can open what
  envcloak team sync                           re-seal after a merge of .env.recipients
  envcloak team whoami                         the line to hand to a member")]
    Team(members::TeamArgs),
}

/// The exit code after a panic (EX_SOFTWARE: "internal software error").
const PANIC_EXIT: u8 = 70;

/// The exit code of a usage error (DESIGN §4: "could not run").
const USAGE_EXIT: u8 = 2;

fn main() -> ExitCode {
    // A panic's payload can quote user data (a slice error quotes the text
    // it slices): the hook prints only where the panic happened. Catching
    // the unwind below, rather than exiting in the hook, lets every Drop
    // run first (`edit` wipes its plaintext temp file in one).
    panic::set_hook(Box::new(|info| {
        let at = info.location().map_or_else(
            || "an unknown place".to_owned(),
            |l| format!("{}:{}", l.file(), l.line()),
        );
        out::err_line(format_args!(
            "envcloak: internal error (a bug in envcloak) at {at}; please report it"
        ));
    }));
    match panic::catch_unwind(AssertUnwindSafe(cli_main)) {
        Ok(code) => code,
        Err(_payload) => ExitCode::from(PANIC_EXIT),
    }
}

fn cli_main() -> ExitCode {
    #[cfg(debug_assertions)]
    test_panic();
    let cli = match parse(protect_set_value(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(ParseError::Clap(e)) => return usage::report(&e),
        Err(ParseError::NotFor { option, command }) => return usage::not_for(option, &command),
    };
    let g = &cli.global;
    envcloak::team::set_passphrase_prompt(members::ask_passphrase);
    if matches!(
        cli.command,
        Command::Init(_)
            | Command::Set(_)
            | Command::Unset(_)
            | Command::Edit(_)
            | Command::Encrypt(_)
            | Command::Check(_)
            | Command::Get(_)
            | Command::Ls(_)
            | Command::Decrypt(_)
            | Command::Diff(_)
            | Command::Rotate(_)
            | Command::Redact(_)
    ) {
        git::auto_configure(g);
    }
    let result = match cli.command {
        Command::Keygen(a) => secrets::keygen(g, a),
        Command::Token(a) => secrets::token(a),
        Command::Encrypt(a) => secrets::encrypt(g, a),
        Command::Decrypt(a) => secrets::decrypt(g, a),
        Command::Edit(a) => secrets::edit(g, a),
        Command::Set(a) => secrets::set(g, a),
        Command::Unset(a) => secrets::unset(g, a),
        Command::Rotate(a) => secrets::rotate(g, a),
        Command::Get(a) => run::get(g, a),
        Command::Ls(a) => run::ls(g, a),
        Command::Run(a) => run::run(g, a),
        Command::Redact(a) => redact::redact(g, a),
        Command::Check(a) => team::check(g, a),
        Command::Init(a) => team::init(g, a),
        Command::Diff(a) => diff::diff(g, a),
        Command::Git(a) => git::git(g, a),
        Command::Completions(a) => completions::completions(a),
        Command::Man(a) => completions::man(a),
        Command::Team(a) => members::team(g, a),
    };
    match result {
        Ok(code) => out::exit_code(code),
        Err(e) => {
            ui::report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// `envcloak set KEY -hf7Kx…`: a value that starts with `-` and is more than
/// a flag (a generated token, say) would be read by clap as `-h` (help, and
/// nothing set) or `-f` with the rest as a file name (echoed in the error).
/// Such a value right after KEY is taken as the value: a `--` is put before
/// it. A bare `-h`/`-f` and any `--long` option keep their meaning.
fn protect_set_value(mut args: Vec<OsString>) -> Vec<OsString> {
    // Global options that take a value, before or after the subcommand.
    const WITH_VALUE: [&str; 4] = ["-f", "--file", "--profile", "--key-file"];
    let mut i = 1;
    let mut positionals = Vec::new();
    while i < args.len() {
        let arg = args[i].to_string_lossy();
        if arg == "--" {
            break;
        }
        if WITH_VALUE.contains(&arg.as_ref()) {
            i += 2;
            continue;
        }
        if !arg.starts_with('-') {
            positionals.push(i);
            // The subcommand, then KEY: what follows KEY is the value.
            if positionals.len() == 2 {
                break;
            }
        }
        i += 1;
    }
    if let [sub, key] = positionals[..]
        && args[sub] == "set"
        && let Some(value) = args.get(key + 1)
    {
        let v = value.to_string_lossy();
        if v.starts_with('-') && !v.starts_with("--") && v.len() > 2 {
            args.insert(key + 1, OsString::from("--"));
        }
    }
    args
}

/// Debug builds only, for tests: `ENVCLOAK_TEST_PANIC=TEXT` panics here with
/// TEXT in the payload (`thread:TEXT` in another thread), while a temp file
/// in the current directory waits for its Drop to remove it.
#[cfg(debug_assertions)]
fn test_panic() {
    let Some(text) = std::env::var_os("ENVCLOAK_TEST_PANIC") else {
        return;
    };
    let text = text.to_string_lossy().into_owned();
    let _dropped_on_unwind = tempfile::Builder::new()
        .prefix("envcloak-test-panic")
        .tempfile_in(".");
    if let Some(text) = text.strip_prefix("thread:") {
        let text = text.to_owned();
        let Err(payload) = std::thread::spawn(move || panic!("{text}")).join();
        panic::resume_unwind(payload);
    }
    panic!("{text}");
}

/// Usage errors: clap's kind and the command definitions, never the text
/// of clap's message, which quotes what the user typed.
mod usage {
    use std::ffi::OsString;
    use std::io::IsTerminal;
    use std::process::ExitCode;

    use clap::error::{ContextKind, ContextValue, ErrorKind};

    use crate::{PROJECT_OPTIONS, USAGE_EXIT, cli_command, out};

    /// Prints help or the version (on standard output), or a usage error that
    /// repeats nothing the user typed: any argument could be a secret
    /// (`set K --s3cr3t`, `encrypt --password=hunter2`).
    pub fn report(e: &clap::Error) -> ExitCode {
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let text = e.render();
                let color = std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
                // The rendering ends with its own newline.
                let text = if color {
                    text.ansi().to_string()
                } else {
                    text.to_string()
                };
                out::write(text.as_bytes());
                out::exit_code(ExitCode::SUCCESS)
            }
            // The help text alone, made from the definitions.
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                out::err_line(e.render().to_string().trim_end());
                ExitCode::from(USAGE_EXIT)
            }
            _ => {
                let args: Vec<OsString> = std::env::args_os().skip(1).collect();
                out::err_line(usage_message(e, &args));
                ExitCode::from(USAGE_EXIT)
            }
        }
    }

    /// The usage error for a project option (its argument id) given before
    /// `command`, a command that takes none.
    pub fn not_for(option: &str, command: &str) -> ExitCode {
        let mut root = cli_command();
        root.build();
        let rendering = root
            .get_arguments()
            .find(|a| a.get_id() == option)
            .map_or_else(|| option.to_owned(), ToString::to_string);
        let path = match root.find_subcommand(command) {
            Some(sub) => vec![&root, sub],
            None => vec![&root],
        };
        out::err_line(message(&path, &not_for_problem(&rendering, command), &[]));
        ExitCode::from(USAGE_EXIT)
    }

    /// "'--profile <NAME>' does not apply to 'envcloak token'".
    fn not_for_problem(rendering: &str, command: &str) -> String {
        format!("'{rendering}' does not apply to 'envcloak {command}'")
    }

    /// The project option that `invalid` (clap's "invalid argument", as
    /// typed: `--profile`, `--profile=VALUE`, `-f`) names, when it is one,
    /// as the definition renders it; nothing of the value is kept.
    fn project_option(root: &clap::Command, invalid: &str) -> Option<String> {
        let name = invalid.split('=').next().unwrap_or(invalid);
        let long = name.strip_prefix("--");
        let short = name
            .strip_prefix('-')
            .filter(|s| s.chars().count() == 1)
            .and_then(|s| s.chars().next());
        root.get_arguments()
            .filter(|a| PROJECT_OPTIONS.contains(&a.get_id().as_str()))
            .find(|a| {
                (long.is_some() && a.get_long() == long)
                    || (short.is_some() && a.get_short() == short)
            })
            .map(ToString::to_string)
    }

    /// A usage error built from the error's kind and from names that are
    /// checked against the command definitions, never from the error's text.
    fn usage_message(e: &clap::Error, args: &[OsString]) -> String {
        let mut root = cli_command();
        root.build();
        let path = command_path(&root, args);
        let cmd = path[path.len() - 1];
        let name = path
            .iter()
            .map(|c| c.get_name())
            .collect::<Vec<_>>()
            .join(" ");
        let arg = strings(e, ContextKind::InvalidArg)
            .into_iter()
            .filter_map(|s| defined_arg(&path, &s))
            .collect::<Vec<_>>();
        let arg_or = |fallback: &str| {
            arg.first()
                .map_or_else(|| fallback.to_owned(), |a| format!("'{a}'"))
        };
        const NOT_SHOWN: &str = "(not shown: it could be a secret)";
        // `envcloak token --profile p`: an option of other commands.
        if e.kind() == ErrorKind::UnknownArgument
            && path.len() > 1
            && let Some(option) = strings(e, ContextKind::InvalidArg)
                .first()
                .and_then(|a| project_option(&root, a))
        {
            return message(
                &path,
                &not_for_problem(&option, &name["envcloak ".len()..]),
                &[],
            );
        }
        let mut hints = Vec::new();
        let problem = match e.kind() {
            ErrorKind::UnknownArgument => {
                let flag_like = strings(e, ContextKind::InvalidArg)
                    .first()
                    .is_some_and(|a| a.starts_with('-'));
                let mut did_you_mean = Vec::new();
                for s in strings(e, ContextKind::SuggestedArg) {
                    did_you_mean.extend(defined_long(&path, &s));
                }
                for s in strings(e, ContextKind::Suggested) {
                    did_you_mean.extend(flag_of_subcommand(&root, &s));
                }
                hints.extend(one_of(&did_you_mean));
                if !flag_like {
                    if cmd.get_name() == "decrypt" {
                        hints.push(
                            "name the encrypted file with -f: envcloak decrypt -f FILE".to_owned(),
                        );
                    }
                    if cmd.get_name() == "set" {
                        hints.push(
                            "quote a value that has spaces: envcloak set KEY 'a b c'".to_owned(),
                        );
                    }
                    format!("unexpected extra argument {NOT_SHOWN}")
                } else {
                    if did_you_mean.is_empty() && cmd.get_name() == "set" {
                        hints.push(
                            "a value that starts with '-' goes after '--': envcloak set KEY -- -value"
                                .to_owned(),
                        );
                    } else if did_you_mean.is_empty() && cmd.get_positionals().next().is_some() {
                        hints.push("an argument that starts with '-' goes after '--'".to_owned());
                    }
                    format!("unexpected argument {NOT_SHOWN}")
                }
            }
            ErrorKind::InvalidSubcommand => {
                let did_you_mean = strings(e, ContextKind::SuggestedSubcommand)
                    .iter()
                    .filter_map(|s| cmd.find_subcommand(s))
                    .map(|sub| sub.get_name().to_owned())
                    .collect::<Vec<_>>();
                hints.extend(one_of(&did_you_mean));
                format!("unrecognized command {NOT_SHOWN}")
            }
            ErrorKind::InvalidValue
                if strings(e, ContextKind::InvalidValue)
                    .first()
                    .is_some_and(|v| v.is_empty()) =>
            {
                format!("a value is required for {}", arg_or("an option"))
            }
            ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
                let possible = possible_values(&path, &arg);
                let suggested = strings(e, ContextKind::SuggestedValue);
                let did_you_mean = suggested
                    .into_iter()
                    .filter(|s| possible.contains(s))
                    .collect::<Vec<_>>();
                hints.extend(one_of(&did_you_mean));
                if !possible.is_empty() {
                    hints.push(format!("possible values: {}", possible.join(", ")));
                }
                format!("invalid value for {} {NOT_SHOWN}", arg_or("an argument"))
            }
            ErrorKind::TooManyValues if arg_takes_no_value(&path, &arg) => {
                format!("{} takes no value {NOT_SHOWN}", arg_or("the option"))
            }
            ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues | ErrorKind::TooFewValues => {
                format!(
                    "wrong number of values for {} {NOT_SHOWN}",
                    arg_or("an argument")
                )
            }
            ErrorKind::NoEquals => format!(
                "{} needs '=' before its value {NOT_SHOWN}",
                arg_or("an option")
            ),
            ErrorKind::InvalidUtf8 => "an argument is not valid UTF-8".to_owned(),
            ErrorKind::MissingRequiredArgument if !arg.is_empty() => {
                format!("required argument missing: {}", arg.join(", "))
            }
            ErrorKind::MissingRequiredArgument => "a required argument is missing".to_owned(),
            ErrorKind::MissingSubcommand => "a command is required".to_owned(),
            ErrorKind::ArgumentConflict => {
                let prior = strings(e, ContextKind::PriorArg)
                    .into_iter()
                    .filter_map(|s| defined_arg(&path, &s))
                    .collect::<Vec<_>>();
                match (arg.first(), prior.is_empty()) {
                    (Some(a), false) => {
                        format!("'{a}' cannot be used with '{}'", prior.join("', '"))
                    }
                    _ => "these arguments cannot be used together".to_owned(),
                }
            }
            _ => format!("invalid arguments {NOT_SHOWN}"),
        };
        message(&path, &problem, &hints)
    }

    /// `error: PROBLEM`, the hints, and the usage of the last command on `path`.
    fn message(path: &[&clap::Command], problem: &str, hints: &[String]) -> String {
        let cmd = path[path.len() - 1];
        let name = path
            .iter()
            .map(|c| c.get_name())
            .collect::<Vec<_>>()
            .join(" ");
        let mut msg = format!("error: {problem}\n");
        for h in hints {
            msg.push_str(&format!("hint: {h}\n"));
        }
        let usage = cmd.clone().render_usage();
        msg.push_str(&format!(
            "\n{usage}\n\nFor more information, try '{name} --help'."
        ));
        msg
    }

    /// "did you mean 'a'?", "did you mean 'a' or 'b'?", or nothing.
    fn one_of(names: &[String]) -> Option<String> {
        let (last, rest) = names.split_last()?;
        Some(if rest.is_empty() {
            format!("did you mean '{last}'?")
        } else {
            format!("did you mean '{}' or '{last}'?", rest.join("', '"))
        })
    }

    /// The commands named in `args`, from the root: options are skipped with
    /// their values, and the walk stops at `--`, `help` or the first positional
    /// argument.
    fn command_path<'a>(root: &'a clap::Command, args: &[OsString]) -> Vec<&'a clap::Command> {
        let mut path = vec![root];
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let cmd = path[path.len() - 1];
            let Some(arg) = arg.to_str() else { break };
            let takes_value = |is: &dyn Fn(&clap::Arg) -> bool| {
                path.iter()
                    .flat_map(|c| c.get_arguments())
                    .any(|a| is(a) && a.get_action().takes_values())
            };
            if arg == "--" {
                break;
            } else if let Some(long) = arg.strip_prefix("--") {
                if !long.contains('=') && takes_value(&|a| a.get_long() == Some(long)) {
                    args.next();
                }
            } else if let Some(shorts) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
                // In a cluster (-abc), the first short option that takes a
                // value takes the rest, or else the next argument.
                if let Some((i, c)) = shorts
                    .char_indices()
                    .find(|&(_, c)| takes_value(&|a| a.get_short() == Some(c)))
                    && i + c.len_utf8() == shorts.len()
                {
                    args.next();
                }
            } else if let Some(sub) = cmd.find_subcommand(arg) {
                // `help COMMAND` is shown as an error of the whole tool.
                if sub.get_name() == "help" {
                    break;
                }
                path.push(sub);
            } else {
                break;
            }
        }
        path
    }

    /// The context strings of `kind` in `e` (a String or Strings value).
    fn strings(e: &clap::Error, kind: ContextKind) -> Vec<String> {
        match e.get(kind) {
            Some(ContextValue::String(s)) => vec![s.clone()],
            Some(ContextValue::Strings(v)) => v.clone(),
            Some(ContextValue::StyledStr(s)) => vec![s.to_string()],
            Some(ContextValue::StyledStrs(v)) => v.iter().map(ToString::to_string).collect(),
            _ => Vec::new(),
        }
    }

    /// The arguments of the commands on `path`.
    fn arguments<'a>(path: &[&'a clap::Command]) -> impl Iterator<Item = &'a clap::Arg> {
        path.iter().flat_map(|c| c.get_arguments())
    }

    /// `s` when it is the rendering of an argument of the commands on `path`
    /// (`--format <FORMAT>`, `<KEY>`), as the definition renders it.
    fn defined_arg(path: &[&clap::Command], s: &str) -> Option<String> {
        arguments(path).map(ToString::to_string).find(|a| a == s)
    }

    /// `s` when it is `--LONG` for a long option of the commands on `path`.
    fn defined_long(path: &[&clap::Command], s: &str) -> Option<String> {
        let long = s.strip_prefix("--")?;
        arguments(path)
            .filter_map(|a| a.get_long())
            .find(|l| *l == long)
            .map(|l| format!("--{l}"))
    }

    /// clap's "'SUB --LONG' exists" suggestion, when SUB and --LONG are defined.
    fn flag_of_subcommand(root: &clap::Command, s: &str) -> Option<String> {
        root.get_subcommands().find_map(|sub| {
            sub.get_arguments()
                .filter_map(|a| a.get_long())
                .map(|l| format!("{} --{l}", sub.get_name()))
                .find(|candidate| s == format!("'{candidate}' exists"))
                .map(|candidate| format!("envcloak {candidate}"))
        })
    }

    /// The possible values of the defined argument rendered as `arg[0]`.
    fn possible_values(path: &[&clap::Command], arg: &[String]) -> Vec<String> {
        arguments(path)
            .find(|a| arg.first().is_some_and(|s| a.to_string() == *s))
            .map(|a| {
                a.get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| v.get_name().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the defined argument rendered as `arg[0]` is a flag.
    fn arg_takes_no_value(path: &[&clap::Command], arg: &[String]) -> bool {
        arguments(path)
            .find(|a| arg.first().is_some_and(|s| a.to_string() == *s))
            .is_some_and(|a| !a.get_action().takes_values())
    }
}

/// Output formats for commands that print configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// dotenv text
    Dotenv,
    /// a JSON object
    Json,
    /// `export KEY='value'` lines for `eval`
    Shell,
    /// GitHub Actions: every value appended to the file named by
    /// GITHUB_ENV (NAME<<DELIMITER heredocs), and one ::add-mask:: line
    /// per line of every value on standard output
    Github,
    /// `docker run --env-file`: KEY=value lines, taken literally (a value
    /// with a newline is an error)
    Docker,
    /// a Kubernetes v1 Secret manifest (needs --name) for `kubectl apply -f -`
    K8s,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The project options `args` (without the program name) end up with.
    fn global(args: &[&str]) -> Global {
        let mut argv = vec![OsString::from("envcloak")];
        argv.extend(args.iter().map(OsString::from));
        match parse(argv) {
            Ok(cli) => cli.global,
            Err(e) => panic!("{args:?}: {e:?}"),
        }
    }

    #[test]
    fn the_definitions_are_consistent() {
        cli_command().debug_assert();
    }

    #[test]
    fn project_options_reach_nested_commands_from_any_level() {
        for args in [
            &["--profile", "p", "git", "enroll"][..],
            &["git", "--profile", "p", "enroll"],
            &["git", "enroll", "--profile", "p"],
            &["--profile", "q", "git", "enroll", "--profile", "p"],
        ] {
            assert_eq!(global(args).profile.as_deref(), Some("p"), "{args:?}");
        }
        let g = global(&["-f", "a.enc", "decrypt", "--key-file", "k"]);
        assert_eq!(g.file, Some(PathBuf::from("a.enc")));
        assert_eq!(g.key_file, Some(PathBuf::from("k")));
    }

    #[test]
    fn commands_without_project_options_refuse_them_before_their_name() {
        for command in WITHOUT_PROJECT_OPTIONS {
            let mut argv = vec!["envcloak", "--profile", "p", command];
            if command == "completions" {
                argv.push("bash");
            }
            let argv = argv.into_iter().map(OsString::from).collect();
            assert!(
                matches!(
                    parse(argv),
                    Err(ParseError::NotFor {
                        option: "profile",
                        ..
                    })
                ),
                "{command}"
            );
        }
    }
}
