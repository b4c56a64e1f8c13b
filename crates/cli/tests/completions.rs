//! `tusk completions SHELL` and `tusk man [COMMAND]`, generated from the clap definition: they
//! name every command and option (the plugin options too, which `--help` hides), and bash
//! accepts the script.

mod common;

use common::{assert_output, run};

const COMMANDS: &str = "run get check eval repl set fmt convert serve lsp completions man plugin help";

#[test]
fn bash_completion_lists_every_command_and_parses() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["completions", "bash"], None);
    assert_eq!((output.code, output.stderr.as_str()), (0, ""));
    assert!(output.stdout.starts_with("_tusk() {\n"), "{}", &output.stdout[..80]);
    let top_level = format!(
        "            opts=\"-e -q -h -V --eval --format --compact --color --strict --compat --quiet --deny-warnings \
         --arg --argjson --max-call-depth --max-operations --max-depth --allow-read --allow-write --allow-net \
         --allow-env --allow-db --allow-all --grants --sandbox --sandbox-all --plugin-timeout --plugin-memory \
         --plugin-cpu --help --version {COMMANDS}\"\n"
    );
    assert!(output.stdout.contains(&top_level), "no top-level line in:\n{}", output.stdout);
    let script = dir.path().join("tusk.bash");
    std::fs::write(&script, &output.stdout).unwrap();
    let syntax = std::process::Command::new("bash").arg("-n").arg(&script).output().expect("bash runs");
    assert!(syntax.status.success(), "{}", String::from_utf8_lossy(&syntax.stderr));
}

#[test]
fn zsh_and_fish_completions() {
    let dir = tempfile::tempdir().unwrap();
    let zsh = run(dir.path(), &["completions", "zsh"], None);
    assert!(zsh.stdout.starts_with("#compdef tusk\n"), "{}", zsh.stdout);
    assert!(zsh.stdout.contains("'*--argjson=[Set the global variable"), "{}", zsh.stdout);
    let fish = run(dir.path(), &["completions", "fish"], None);
    assert!(
        fish.stdout.contains(
            "complete -c tusk -n \"__fish_tusk_needs_command\" -a \"convert\" -d 'Convert JSON, YAML or TOML into \
             TuskLang (or into another of those formats)'\n"
        ),
        "{}",
        fish.stdout
    );
    let bad = run(dir.path(), &["completions", "tcsh"], None);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("invalid value 'tcsh'"), "{}", bad.stderr);
}

#[test]
fn man_pages_for_tusk_and_its_commands() {
    let dir = tempfile::tempdir().unwrap();
    let page = run(dir.path(), &["man"], None);
    assert_eq!((page.code, page.stderr.as_str()), (0, ""));
    let headings: Vec<&str> =
        page.stdout.lines().filter(|line| line.starts_with(".TH") || line.starts_with(".SH")).collect();
    assert_eq!(
        headings,
        [
            format!(".TH tusk 1  \"tusk {}\" ", env!("CARGO_PKG_VERSION")).as_str(),
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH DESCRIPTION",
            ".SH OPTIONS",
            ".SH LIMITS",
            ".SH \"PLUGIN PERMISSIONS (EACH PLUGIN GETS ONLY WHAT ITS PLUGIN.TOML ALSO DECLARES)\"",
            ".SH \"PLUGIN SANDBOX\"",
            ".SH SUBCOMMANDS",
            ".SH EXTRA",
            ".SH VERSION",
        ]
    );
    let set = run(dir.path(), &["man", "set"], None);
    assert!(set.stdout.contains("tusk\\-set \\- Change or add one value in a file"), "{}", set.stdout);
    assert_output(
        &run(dir.path(), &["man", "sett"], None),
        2,
        "",
        &format!("Error: `sett` is not a tusk command (the commands: {})\n", COMMANDS.replace(' ', ", ")),
    );
}
