//! `envcloak completions SHELL` and `envcloak man`: the scripts load in
//! their shells, the page renders, hidden commands stay out; and the
//! project options (`-f`, `--profile`, `--key-file`) only where they mean
//! something.
//!
//! A tool a test needs (zsh, man) may be missing on a developer's machine:
//! the test then says so and passes. In CI (`CI` set) a missing tool fails
//! the test: `.ci/run` installs it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Out, Project};

/// Text that must never be printed back.
const CANARY: &str = "QX7ZV9KW";

/// The hidden commands, which git and the hook run, never people.
const HIDDEN: [&str; 3] = ["textconv", "merge-driver", "pre-commit"];

/// Whether `tool` can be run (`tool --version` starts). When it cannot:
/// outside CI, prints a note and returns false (the caller skips); in CI,
/// fails the test.
fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        // CI as envcloak reads it: set, and neither empty, "false" nor "0".
        let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "false" | "0"));
        assert!(
            !ci,
            "{tool} is not installed, and CI is set: .ci/run installs it"
        );
        eprintln!("note: {tool} is not installed: this check is skipped");
    }
    found
}

/// `envcloak completions SHELL`, which must succeed with a script.
fn script(p: &Project, shell: &str) -> String {
    let out = p.envcloak(&["completions", shell]).run().ok();
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let text = out.stdout().to_owned();
    assert!(!text.trim().is_empty(), "{shell}: empty script");
    text
}

/// No hidden command is named in `text` (`git enroll --hook`'s help speaks
/// of "a pre-commit hook", which is not the command).
#[track_caller]
fn no_hidden(what: &str, text: &str) {
    let text = text.replace("pre-commit hook", "");
    for hidden in HIDDEN {
        assert!(!text.contains(hidden), "{what} names '{hidden}'");
    }
}

/// Every visible command is named in `text`.
#[track_caller]
fn names_the_commands(what: &str, text: &str) {
    for cmd in [
        "keygen",
        "token",
        "encrypt",
        "decrypt",
        "run",
        "check",
        "enroll",
        "completions",
        "man",
    ] {
        assert!(text.contains(cmd), "{what} does not name '{cmd}'");
    }
}

/// What bash offers for the command line `line` (the cursor at its end),
/// with the script in `envcloak.bash` loaded.
fn bash_offers(p: &Project, line: &str) -> Vec<String> {
    let script = r#"source ./envcloak.bash
read -ra w <<<"$LINE"
[[ $LINE == *" " ]] && w+=("")
COMP_WORDS=("${w[@]}"); COMP_CWORD=$((${#w[@]} - 1))
COMP_LINE=$LINE; COMP_POINT=${#LINE}
_envcloak envcloak "${w[-1]}" "${w[-2]}"
printf '%s\n' "${COMPREPLY[@]}""#;
    let out = p
        .command("bash", &["-c", script])
        .env("LINE", line)
        .run()
        .ok();
    out.lines().into_iter().map(str::to_owned).collect()
}

#[test]
fn bash_completion_loads_in_bash_and_completes_commands() {
    let p = Project::new();
    let text = script(&p, "bash");
    names_the_commands("bash", &text);
    no_hidden("bash", &text);
    p.write("envcloak.bash", &text);
    p.command("bash", &["-n", "envcloak.bash"]).run().ok();
    // Loaded, the function is registered for envcloak.
    let out = p
        .command(
            "bash",
            &["-c", "source ./envcloak.bash && complete -p envcloak"],
        )
        .run()
        .ok();
    out.stdout_is(&["complete -o bashdefault -o default -o nosort -F _envcloak envcloak"]);
    assert_eq!(bash_offers(&p, "envcloak enc"), ["encrypt"]);
    assert_eq!(
        bash_offers(&p, "envcloak encrypt --pr"),
        ["--prune", "--profile"]
    );
    assert_eq!(
        bash_offers(&p, "envcloak token --"),
        ["--hex", "--urlsafe", "--base64", "--help"]
    );
    let git = bash_offers(&p, "envcloak git ");
    for sub in ["enroll", "disenroll"] {
        assert!(git.iter().any(|w| w == sub), "{git:?}");
    }
    no_hidden("bash's completion of 'git '", &git.join(" "));
}

#[test]
fn zsh_completion_passes_zsh_n() {
    let p = Project::new();
    let text = script(&p, "zsh");
    assert!(text.starts_with("#compdef envcloak"), "{text}");
    names_the_commands("zsh", &text);
    no_hidden("zsh", &text);
    if !have("zsh") {
        return;
    }
    p.write("_envcloak", &text);
    p.command("zsh", &["-n", "_envcloak"]).run().ok();
    // Loaded after compinit, it is the completion function for envcloak.
    p.command(
        "zsh",
        &[
            "-f",
            "-c",
            "autoload -U compinit && compinit -u -D && source ./_envcloak && \
             print -r -- $_comps[envcloak]",
        ],
    )
    .run()
    .ok()
    .stdout_is(&["_envcloak"]);
}

#[test]
fn fish_elvish_and_powershell_scripts_name_the_commands() {
    let p = Project::new();
    for shell in ["fish", "elvish", "powershell"] {
        let text = script(&p, shell);
        names_the_commands(shell, &text);
        no_hidden(shell, &text);
    }
    // Each script completes the options of the commands that take them.
    let fish = script(&p, "fish");
    assert!(fish.contains("__fish_envcloak_using_subcommand encrypt"));
    assert!(fish.contains("-l profile"), "fish: no --profile");
}

#[test]
fn an_unknown_shell_is_a_usage_error_naming_the_choices() {
    let p = Project::new();
    let out = p.envcloak(&["completions", CANARY]).run().fails(2);
    out.hides(CANARY).stderr_says(&[
        "invalid value for '<SHELL>'",
        "possible values: bash, elvish, fish, powershell, zsh",
    ]);
    p.envcloak(&["completions"])
        .run()
        .fails(2)
        .stderr_says(&["<SHELL>"]);
}

/// `envcloak man`, which must succeed with a roff page.
fn page(p: &Project) -> String {
    let out = p.envcloak(&["man"]).run().ok();
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    out.stdout().to_owned()
}

#[test]
fn the_man_page_renders_with_man_and_holds_every_command() {
    let p = Project::new();
    let roff = page(&p);
    assert!(roff.starts_with(".TH ENVCLOAK 1 "), "{roff}");
    no_hidden("man", &roff);
    if !have("man") {
        return;
    }
    p.write("envcloak.1", &roff);
    let out = p
        .command("man", &["-l", "envcloak.1"])
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .run()
        .ok();
    assert!(
        !out.stderr.contains("warning") && !out.stderr.contains("error"),
        "{}",
        out.stderr
    );
    let text = plain(&out);
    for needle in [
        "ENVCLOAK(1)",
        "NAME",
        "SYNOPSIS",
        "COMMANDS",
        "envcloak encrypt",
        "Usage: envcloak encrypt [OPTIONS] [INPUT]",
        "--password",
        "envcloak git enroll",
        "envcloak git disenroll",
        "envcloak completions",
        "possible values: bash, elvish, fish, powershell, zsh",
        // Examples keep their lines.
        "  envcloak run -- cargo test         run with .env.enc decrypted in memory",
        "Exit codes: 0 success",
    ] {
        assert!(text.contains(needle), "the page lacks {needle:?}:\n{text}");
    }
    for hidden in HIDDEN {
        let heading = format!("envcloak git {hidden}");
        assert!(!text.contains(&heading), "the page has {heading}");
    }
}

/// What `man` printed, without its bold and underline overstrikes.
fn plain(out: &Out) -> String {
    let mut text = String::new();
    for c in out.stdout().chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    // man may hyphenate: join words it broke at the end of a line.
    text.replace("‐\n", "").replace("-\n", "")
}

#[test]
fn completions_and_man_have_help_with_examples() {
    let p = Project::new();
    for cmd in ["completions", "man"] {
        let out = p.envcloak(&[cmd, "--help"]).run().ok();
        assert!(out.stdout().contains("Examples:"), "{}", out.stdout());
        assert!(out.stdout().contains(&format!("envcloak {cmd}")));
    }
    let top = p.envcloak(&["--help"]).run().ok();
    for line in ["  completions  ", "  man  "] {
        assert!(top.stdout().contains(line), "{}", top.stdout());
    }
}

// ---------------------------------------------------------------------------
// Project options only where they mean something
// ---------------------------------------------------------------------------

/// The project options as `--help` shows them.
const PROJECT_OPTIONS: [&str; 3] = ["-f, --file <FILE>", "--profile <NAME>", "--key-file <FILE>"];

#[test]
fn token_completions_and_man_do_not_show_the_project_options() {
    let p = Project::new();
    for cmd in ["token", "completions", "man"] {
        let help = p.envcloak(&[cmd, "--help"]).run().ok();
        for option in PROJECT_OPTIONS {
            assert!(
                !help.stdout().contains(option),
                "`{cmd} --help` shows {option}:\n{}",
                help.stdout()
            );
        }
    }
    // Those that use them still show them, keygen included (--write
    // stores the key next to the file they name).
    for cmd in ["keygen", "encrypt", "decrypt", "run", "check", "git"] {
        let help = p.envcloak(&[cmd, "--help"]).run().ok();
        for option in PROJECT_OPTIONS {
            assert!(
                help.stdout().contains(option),
                "`{cmd} --help` lacks {option}"
            );
        }
    }
}

#[test]
fn a_project_option_on_token_is_a_usage_error_that_hides_its_value() {
    let p = Project::new();
    let value = format!("prod{CANARY}");
    let with_eq = format!("--profile={value}");
    let cases: [(&[&str], &str); 7] = [
        (&["token", "--profile", &value], "'--profile <NAME>'"),
        (&["token", &with_eq], "'--profile <NAME>'"),
        (&["--profile", &value, "token"], "'--profile <NAME>'"),
        (&["token", "-f", &value], "'--file <FILE>'"),
        (
            &["--key-file", &value, "token", "16"],
            "'--key-file <FILE>'",
        ),
        (
            &["completions", "bash", "--profile", &value],
            "'--profile <NAME>'",
        ),
        (&["--file", &value, "man"], "'--file <FILE>'"),
    ];
    for (args, option) in cases {
        let command = if args.contains(&"man") {
            "man"
        } else if args.contains(&"completions") {
            "completions"
        } else {
            "token"
        };
        let out = p.envcloak(args).run().fails(2);
        out.hides(CANARY).hides(&value);
        out.error_says(&[option, &format!("does not apply to 'envcloak {command}'")]);
        out.stderr_says(&[
            &format!("Usage: envcloak {command}"),
            &format!("'envcloak {command} --help'"),
        ]);
    }
}

/// A project with `.env.dev` holding `A=dev` and `.env` holding `A=base`.
fn profiles() -> Project {
    let p = Project::new();
    p.write(".env", "A=base\n");
    p.write(".env.dev", "A=dev\n");
    p.write(".env.prod", "A=prod\n");
    p
}

#[test]
fn project_options_work_before_and_after_the_command() {
    let p = profiles();
    for args in [
        &["--profile", "dev", "get", "A"][..],
        &["get", "A", "--profile", "dev"],
        &["get", "--profile", "dev", "A"],
        // After the command's name wins over before it.
        &["--profile", "prod", "get", "A", "--profile", "dev"],
    ] {
        p.envcloak(args).run().ok().stdout_is(&["dev"]);
    }
    p.envcloak(&["get", "A"]).run().ok().stdout_is(&["base"]);
}

#[test]
fn encrypt_takes_the_profile_before_or_after_its_name() {
    for args in [
        &["--profile", "dev", "encrypt"][..],
        &["encrypt", "--profile", "dev"],
    ] {
        let p = profiles();
        p.envcloak(args).run().ok();
        assert!(p.exists(".env.dev.enc"), "{args:?}: {:?}", p.names());
        assert!(p.exists(".env.dev.key"), "{args:?}: {:?}", p.names());
        assert!(!p.exists(".env.enc"), "{args:?}: {:?}", p.names());
        std::fs::remove_file(p.p(".env.dev")).unwrap();
        p.envcloak(&["decrypt", "--profile", "dev"])
            .run()
            .ok()
            .stdout_is(&["A=dev"]);
    }
}

#[test]
fn keygen_write_keeps_the_project_options() {
    let p = Project::new();
    p.envcloak(&["keygen", "--write", "--profile", "prod"])
        .run()
        .ok();
    assert!(p.exists(".env.prod.key"), "{:?}", p.names());
    p.envcloak(&["--key-file", "elsewhere.key", "keygen", "--write"])
        .run()
        .ok();
    assert!(Path::new(&p.p("elsewhere.key")).is_file());
    assert!(!p.exists(".env.key"));
}
