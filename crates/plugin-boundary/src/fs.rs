//! The file access a plugin's grants allow, done the same way in-process and in the sandboxed
//! runner, so a plugin cannot tell where it runs: only who decides differs ([`Grant`]).

use std::io::Write;
use std::path::{Path, PathBuf};

/// Who decides whether the plugin may use a path: the in-process host checks the user's grants
/// itself, the runner asks the host over the wire. Either answers with the path to open, the
/// one the check was made on (a relative path means the script's folder), or the refusal.
pub trait Grant {
    /// May the plugin read `path`?
    fn may_read(&self, path: &str) -> Result<PathBuf, String>;
    /// May the plugin write `path`?
    fn may_write(&self, path: &str) -> Result<PathBuf, String>;
}

/// Why a granted read or write did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum IoFailure {
    /// The grants do not allow it (the refusal's text).
    Denied(String),
    /// The file system said no: `cannot read data.txt: No such file or directory (os error 2)`.
    Failed(String),
}

/// How [`write_granted`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Replaces the file atomically.
    Replace,
    /// Appends to it, creating it if needed.
    Append,
}

/// Reads `path` as text once `grant` allows it.
pub fn read_granted(grant: &impl Grant, path: &str) -> Result<String, IoFailure> {
    let resolved = grant.may_read(path).map_err(IoFailure::Denied)?;
    std::fs::read_to_string(&resolved).map_err(|error| IoFailure::Failed(format!("cannot read {path}: {error}")))
}

/// Writes `data` to `path` once `grant` allows it.
pub fn write_granted(grant: &impl Grant, path: &str, data: &[u8], mode: WriteMode) -> Result<(), IoFailure> {
    let resolved = grant.may_write(path).map_err(IoFailure::Denied)?;
    let (written, verb) = match mode {
        WriteMode::Replace => (write_atomically(&resolved, data), "write"),
        WriteMode::Append => (append(&resolved, data), "append to"),
    };
    written.map_err(|error| IoFailure::Failed(format!("cannot {verb} {path}: {error}")))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, then a rename.
/// On failure the temporary file is removed and `path` is as it was.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, bytes, true)
}

/// [`write_atomically`], with the data synced to the disk before the rename (`sync`) or not:
/// a caller that checks what it reads back (the loader's content-addressed copies) can save
/// the `fsync`, which is most of the time of a write on a busy disk.
pub fn write_atomically_with(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let (temporary, mut file) = temporary_in(directory)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| if sync { file.sync_all() } else { Ok(()) })
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Appends `bytes` to `path`, creating it if it does not exist. `path` was checked with its
/// links resolved; a link put in its place since is not followed.
pub fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)?;
    file.write_all(bytes)
}

/// A new file with a unique name in `directory`.
fn temporary_in(directory: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    for attempt in 0..100u32 {
        let path = directory.join(format!(".tusk-{}-{nanos}-{attempt}.tmp", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(std::io::Error::other("could not create a temporary file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a folder fails after the temporary file was written.
        let target = dir.path().join("folder");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), "x").unwrap();
        assert!(write_atomically(&target, b"data").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(names, ["folder"]);
    }

    #[test]
    fn writes_replace_and_appends_extend() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.txt");
        write_atomically(&file, b"one\n").unwrap();
        write_atomically(&file, b"two\n").unwrap();
        append(&file, b"three\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "two\nthree\n");
    }

    /// Grants everything under one folder, as the user's grants would.
    struct Under(PathBuf);

    impl Grant for Under {
        fn may_read(&self, path: &str) -> Result<PathBuf, String> {
            self.may_write(path)
        }
        fn may_write(&self, path: &str) -> Result<PathBuf, String> {
            let resolved = self.0.join(path);
            if path.contains("..") { Err(format!("{path} is outside the granted folder")) } else { Ok(resolved) }
        }
    }

    #[test]
    fn granted_access_uses_the_resolved_path_and_names_the_written_one() {
        let dir = tempfile::tempdir().unwrap();
        let grant = Under(dir.path().to_path_buf());
        write_granted(&grant, "a.txt", b"1", WriteMode::Replace).unwrap();
        write_granted(&grant, "a.txt", b"2", WriteMode::Append).unwrap();
        assert_eq!(read_granted(&grant, "a.txt").unwrap(), "12");
        assert_eq!(
            read_granted(&grant, "../x").unwrap_err(),
            IoFailure::Denied("../x is outside the granted folder".into())
        );
        let Err(IoFailure::Failed(message)) = read_granted(&grant, "missing.txt") else {
            panic!("read a missing file")
        };
        assert!(message.starts_with("cannot read missing.txt: "), "{message}");
    }

    #[test]
    fn appends_do_not_follow_a_link() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), dir.path().join("link")).unwrap();
        assert!(append(&dir.path().join("link"), b"x").is_err());
        assert_eq!(std::fs::read_to_string(dir.path().join("secret")).unwrap(), "s");
    }
}
