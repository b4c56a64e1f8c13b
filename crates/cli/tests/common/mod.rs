//! What the tests of the `tusk` command share: running the real binary in a scratch folder
//! (plugin discovery, the grants file and the user's folders kept out of the real home), with
//! standard input, reading what it printed, and following a running one's output.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

/// What one run of the binary produced (standard error cleaned by [`clean_stderr`]).
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The output of a finished run.
    pub fn of(output: std::process::Output) -> Output {
        Output {
            code: output.status.code().expect("tusk exits normally, not by a signal"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: clean_stderr(&String::from_utf8(output.stderr).unwrap()),
        }
    }
}

/// Trailing spaces go (ariadne pads some lines), and so do the sandbox's notes about what this
/// kernel supports (they depend on the machine).
pub fn clean_stderr(text: &str) -> String {
    text.lines()
        .filter(|line| !(line.starts_with('[') && line.contains("] warn: sandboxed plugins run with ")))
        .map(str::trim_end)
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Runs `tusk ARGS` in `dir`, with `stdin` as standard input when given.
pub fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tusk"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("TUSK_PLUGIN_PATH")
        .env("XDG_DATA_HOME", dir.join(".xdg/data"))
        .env("XDG_CONFIG_HOME", dir.join(".xdg/config"))
        .env("XDG_CACHE_HOME", dir.join(".xdg/cache"));
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("the tusk binary starts");
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    Output::of(child.wait_with_output().unwrap())
}

/// Asserts the exit code and both outputs at once, so a failure shows all three.
pub fn assert_output(output: &Output, code: i32, stdout: &str, stderr: &str) {
    assert_eq!(
        (output.code, output.stdout.as_str(), output.stderr.as_str()),
        (code, stdout, stderr),
        "exit code, stdout, stderr"
    );
}

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// The text of `dir/name`.
pub fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// Where crates made by `tusk plugin new` are built (kept between runs, shared by the test
/// binaries): a folder inside the target folder these tests were built in.
pub fn shared_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("tusk-cli-plugin-builds")
}

/// A home for one test: a temporary root with `work` (the working folder), `data`, `config`,
/// `cache` and `home` (`HOME` and `XDG_*` point there), so that tests never touch the real
/// ones, and the sandbox runner to use.
pub struct Env {
    root: TempDir,
    runner: PathBuf,
    /// `TUSK_PLUGIN_PATH` is `ROOT/plugins` (else unset).
    search_path: bool,
}

impl Env {
    /// A home whose runs use `runner` (`TUSK_PLUGIN_RUNNER`); `TUSK_PLUGIN_PATH` is
    /// [`Env::plugin_path`] when `search_path`, else unset.
    pub fn home(runner: &Path, search_path: bool) -> Env {
        let root = tempfile::tempdir().unwrap();
        for dir in ["work", "data", "config/tusk", "cache", "home"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        let root_path = root.path().canonicalize().unwrap();
        assert_eq!(root_path, root.path(), "temporary folders without symbolic links keep paths comparable");
        let env = Env { root, runner: runner.to_path_buf(), search_path };
        if search_path {
            std::fs::create_dir_all(env.plugin_path()).unwrap();
        }
        env
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    /// The working folder.
    pub fn work(&self) -> PathBuf {
        self.path("work")
    }

    /// `TUSK_PLUGIN_PATH`, when set.
    pub fn plugin_path(&self) -> PathBuf {
        self.path("plugins")
    }

    /// Where `tusk plugin install PATH` puts plugins.
    pub fn user_plugins(&self) -> PathBuf {
        self.path("data/tusk/plugins")
    }

    /// The tusk command in this home and working folder, standard input empty.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tusk"));
        command
            .args(args)
            .current_dir(self.work())
            .env("HOME", self.path("home"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .env("TUSK_PLUGIN_RUNNER", &self.runner)
            .env_remove("TUSK_PLUGIN_PATH")
            .env_remove("TUSK_PLUGIN_CACHE")
            .env_remove("TUSK_SDK_PATH")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        if self.search_path {
            command.env("TUSK_PLUGIN_PATH", self.plugin_path());
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run_command(self.command(args))
    }

    /// Runs and expects success; the standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(output.code, 0, "tusk {args:?}: {output:?}");
        output.stdout
    }

    /// Runs and expects exit code 1 with `needle` in the error.
    pub fn refused(&self, args: &[&str], needle: &str) {
        let output = self.run(args);
        assert_eq!(output.code, 1, "tusk {args:?}: {output:?}");
        assert!(output.stderr.contains(needle), "expected `{needle}` in: {}", output.stderr);
    }

    /// Starts tusk with piped standard streams (`NO_COLOR` set).
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut command = self.command(args);
        command.env("NO_COLOR", "1");
        Running::spawn(command)
    }
}

/// Runs `command` to its end.
pub fn run_command(mut command: Command) -> Output {
    Output::of(command.output().expect("the tusk binary starts"))
}

/// Lines of a child's output, read on a thread so that a test can wait with a timeout.
pub struct Lines(mpsc::Receiver<String>);

impl Lines {
    pub fn new(stream: impl std::io::Read + Send + 'static) -> Lines {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stream)).map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Lines(receiver)
    }

    /// Reads lines until one satisfies `wanted`; panics with what was seen after 60 s without
    /// a line (a loaded machine).
    pub fn until(&self, wanted: impl Fn(&str) -> bool) -> String {
        let mut seen = Vec::new();
        loop {
            match self.0.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if wanted(&line) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!("no such line; saw {seen:#?}"),
            }
        }
    }
}

/// A running tusk process with its output followed, killed when dropped.
pub struct Running {
    pub child: std::process::Child,
    pub stdout: Lines,
    pub stderr: Lines,
}

impl Running {
    /// Starts `command` with piped standard streams.
    pub fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the tusk binary starts");
        let stdout = Lines::new(child.stdout.take().unwrap());
        let stderr = Lines::new(child.stderr.take().unwrap());
        Running { child, stdout, stderr }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
