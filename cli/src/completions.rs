//! `envcloak completions SHELL` and `envcloak man`: shell completions and
//! a manual page, made from the same definitions as `--help`.
//!
//! Hidden commands (`git textconv`, `git merge-driver`, `git pre-commit`,
//! which git and the hook run, not people) are left out of both.

use std::process::ExitCode;

use clap::{Arg, Args, Command};
use clap_complete::Shell;
use roff::{Roff, bold, italic, roman};

use crate::ui::CmdResult;

/// `completions`
#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    shell: Shell,
}

/// `man`
#[derive(Args)]
pub struct ManArgs {}

/// Prints the completion script for `a.shell` on standard output.
pub fn completions(a: CompletionsArgs) -> CmdResult {
    let mut cmd = visible(&crate::cli_command());
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "envcloak", &mut script);
    crate::out::write(&script);
    Ok(ExitCode::SUCCESS)
}

/// Prints the manual page envcloak(1) on standard output: the tool, its
/// options, then every command with its usage, options and examples.
pub fn man(_a: ManArgs) -> CmdResult {
    let mut root = visible(&crate::cli_command()).disable_help_subcommand(true);
    root.build();
    crate::out::write(page(&root).as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// A copy of `cmd` without its hidden subcommands, at every depth.
///
/// clap_complete lists hidden subcommands, and clap has no way to remove
/// one, so a command that has hidden subcommands is made anew from its
/// parts (the parts completions and the manual page use); the others are
/// cloned as they are.
fn visible(cmd: &Command) -> Command {
    fn has_hidden(cmd: &Command) -> bool {
        cmd.get_subcommands()
            .any(|sub| sub.is_hide_set() || has_hidden(sub))
    }
    if !has_hidden(cmd) {
        return cmd.clone();
    }
    let mut out = Command::new(cmd.get_name().to_owned())
        .hide(cmd.is_hide_set())
        .subcommand_required(cmd.is_subcommand_required_set())
        .arg_required_else_help(cmd.is_arg_required_else_help_set())
        .visible_aliases(cmd.get_visible_aliases().map(str::to_owned))
        .args(cmd.get_arguments().cloned())
        .groups(cmd.get_groups().cloned())
        .subcommands(
            cmd.get_subcommands()
                .filter(|sub| !sub.is_hide_set())
                .map(visible),
        );
    if let Some(text) = cmd.get_about() {
        out = out.about(text.clone());
    }
    if let Some(text) = cmd.get_long_about() {
        out = out.long_about(text.clone());
    }
    if let Some(text) = cmd.get_before_help() {
        out = out.before_help(text.clone());
    }
    if let Some(text) = cmd.get_before_long_help() {
        out = out.before_long_help(text.clone());
    }
    if let Some(text) = cmd.get_after_help() {
        out = out.after_help(text.clone());
    }
    if let Some(text) = cmd.get_after_long_help() {
        out = out.after_long_help(text.clone());
    }
    if let Some(name) = cmd.get_bin_name() {
        out = out.bin_name(name.to_owned());
    }
    if let Some(v) = cmd.get_version() {
        out = out.version(v.to_owned());
    }
    out
}

/// The manual page of the built `root`: the title line first (as `man`
/// and `file` expect), then the page, which roff's renderer starts with its
/// apostrophe set-up.
fn page(root: &Command) -> String {
    let mut title = Roff::new();
    let name = root.get_name();
    let version = root.get_version().unwrap_or_default();
    let source = format!("{name} {version}");
    // An empty argument is written `""`, or the ones after it move up.
    let upper = name.to_uppercase();
    title.control(
        "TH",
        [upper.as_str(), "1", "\"\"", &source, "User Commands"],
    );
    format!("{}{}", title.to_roff(), body(root).render())
}

/// The manual page of the built `root`, but its title line.
fn body(root: &Command) -> Roff {
    let mut r = Roff::new();
    let name = root.get_name();
    r.control("SH", ["NAME"]);
    let about = root
        .get_about()
        .map(ToString::to_string)
        .unwrap_or_default();
    r.text([roman(format!("{name} - {}", one_line(&about)))]);
    r.control("SH", ["SYNOPSIS"]);
    r.text([bold(name), roman(" [OPTIONS] COMMAND [ARGS]")]);
    r.control("SH", ["DESCRIPTION"]);
    if let Some(long) = root.get_long_about() {
        r.text([roman(one_line(&long.to_string()))]);
        r.control("PP", []);
    }
    r.text([roman(
        "Each command is described under COMMANDS below, as 'envcloak COMMAND --help' \
         shows it. Secrets are printed only where a command is asked for them; errors \
         never repeat a value.",
    )]);
    r.control("SH", ["OPTIONS"]);
    r.text([roman(format!(
        "Before the command's name, or after it: every command takes them but {}.",
        crate::WITHOUT_PROJECT_OPTIONS.join(", ")
    ))]);
    options(&mut r, root, &[]);
    r.control("SH", ["COMMANDS"]);
    for sub in root.get_subcommands() {
        command(&mut r, sub);
    }
    if let Some(text) = root.get_after_help() {
        r.control("SH", ["EXAMPLES AND EXIT STATUS"]);
        verbatim(&mut r, &text.to_string());
    }
    r
}

/// One command's part of the page (`.SS envcloak encrypt`), then its own
/// subcommands'.
fn command(r: &mut Roff, cmd: &Command) {
    let path = cmd.get_bin_name().unwrap_or(cmd.get_name()).to_owned();
    r.control("SS", [path.as_str()]);
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        r.text([roman(one_line(&about.to_string()))]);
    }
    r.control("PP", []);
    let usage = cmd.clone().render_usage().to_string();
    let usage = usage.trim().strip_prefix("Usage: ").unwrap_or(usage.trim());
    r.text([roman("Usage: "), bold(usage)]);
    options(r, cmd, &crate::PROJECT_OPTIONS);
    if let Some(text) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        r.control("PP", []);
        verbatim(r, &text.to_string());
    }
    for sub in cmd.get_subcommands() {
        command(r, sub);
    }
}

/// The arguments and options of `cmd`, one `.TP` each, but those whose id
/// is in `except` (help and version are left out too: every command has
/// them).
fn options(r: &mut Roff, cmd: &Command, except: &[&str]) {
    let shown = |a: &&Arg| {
        let id = a.get_id().as_str();
        !a.is_hide_set() && !matches!(id, "help" | "version") && !except.contains(&id)
    };
    for arg in cmd.get_arguments().filter(shown) {
        r.control("TP", []);
        r.text(arg_header(arg));
        let help = arg.get_long_help().or(arg.get_help());
        let mut body = help.map(|h| one_line(&h.to_string())).unwrap_or_default();
        let possible: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_owned())
            .collect();
        if !possible.is_empty() && arg.get_action().takes_values() {
            body.push_str(&format!(" [possible values: {}]", possible.join(", ")));
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() && arg.get_action().takes_values() {
            body.push_str(&format!(" [default: {}]", defaults.join(", ")));
        }
        r.text([roman(body)]);
    }
}

/// `-f, --file FILE` or `[BYTES]`, in roff's fonts.
fn arg_header(arg: &Arg) -> Vec<roff::Inline> {
    let value = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map_or_else(|| arg.get_id().as_str().to_uppercase(), ToString::to_string);
    if arg.is_positional() {
        let text = if arg.is_required_set() {
            format!("<{value}>")
        } else {
            format!("[{value}]")
        };
        return vec![italic(text)];
    }
    let mut out = Vec::new();
    if let Some(s) = arg.get_short() {
        out.push(bold(format!("-{s}")));
        if arg.get_long().is_some() {
            out.push(roman(", "));
        }
    }
    if let Some(l) = arg.get_long() {
        out.push(bold(format!("--{l}")));
    }
    if arg.get_action().takes_values() {
        out.push(roman(" "));
        out.push(italic(value));
    }
    out
}

/// Text laid out as written (examples, tables): no filling, no adjusting.
fn verbatim(r: &mut Roff, text: &str) {
    r.control("nf", []);
    for line in text.lines() {
        r.text([roman(line)]);
    }
    r.control("fi", []);
}

/// A help text's lines joined into one (roff fills the paragraph).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
