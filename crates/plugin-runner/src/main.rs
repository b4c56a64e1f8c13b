//! `tusk-plugin-runner`: runs one TuskLang plugin in a locked-down process for the plugin host.
//! The host starts it with `--parent PID` and the channel socket as standard input; it is not
//! meant to be run by hand.

fn main() {
    std::process::exit(tusk_plugin_runner::run(std::env::args_os().skip(1)))
}
