//! Small file helpers shared by the loader and the host API.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, then a rename.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temporary = tempfile_in(directory)?;
    temporary.1.write_all(bytes)?;
    temporary.1.sync_all()?;
    std::fs::rename(&temporary.0, path)
}

/// Appends `bytes` to `path`, creating it if it does not exist. `path` was checked with its
/// links resolved; a link put in its place since is not followed.
pub(crate) fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        std::fs::OpenOptions::new().create(true).append(true).custom_flags(nix::libc::O_NOFOLLOW).open(path)?;
    file.write_all(bytes)
}

/// A new file with a unique name in `directory` (removed by the rename that follows).
fn tempfile_in(directory: &Path) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    for attempt in 0..100u32 {
        let name = format!(".tusk-{}-{}-{attempt}.tmp", std::process::id(), unique());
        let path = directory.join(name);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(std::io::Error::other("could not create a temporary file"))
}

fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}
