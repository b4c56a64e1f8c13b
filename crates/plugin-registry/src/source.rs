//! Reading a registry: a folder on this machine or a static tree behind HTTP(S). Only reads;
//! publishing writes folders ([`crate::publish`]).

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use crate::digest::sha256_hex;
use crate::error::RegistryError;
use crate::index::{self, IndexEntry, SearchEntry};

/// The largest index or search file read (an index line is a few hundred bytes).
const MAX_INDEX_BYTES: u64 = 16 << 20;

/// Where a registry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A folder.
    Folder(PathBuf),
    /// The base URL of a static tree, without a trailing `/`.
    Http(String),
}

/// A registry, by the name the user configured (or its location when given on the command line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    /// Its name.
    pub name: String,
    /// Where it is.
    pub location: Location,
}

impl Registry {
    /// A registry at `location`: `http://…` or `https://…` is a URL, `file://…` or anything
    /// else a folder.
    pub fn new(name: &str, location: &str) -> Registry {
        let location = if location.starts_with("http://") || location.starts_with("https://") {
            Location::Http(location.trim_end_matches('/').to_string())
        } else {
            Location::Folder(PathBuf::from(location.strip_prefix("file://").unwrap_or(location)))
        };
        Registry { name: name.to_string(), location }
    }

    /// The location as text: the folder, or the URL without user information (a password in
    /// a URL must not reach messages or the lockfile).
    pub fn location_text(&self) -> String {
        match &self.location {
            Location::Folder(dir) => dir.display().to_string(),
            Location::Http(url) => without_user_info(url),
        }
    }

    /// The lockfile's `source` for packages of this registry.
    pub fn source_text(&self) -> String {
        format!("registry+{}", self.location_text())
    }

    fn unreachable(&self, message: String) -> RegistryError {
        RegistryError::Unreachable { registry: self.name.clone(), location: self.location_text(), message }
    }

    /// The file at `relative` (from the registry's root), at most `limit` bytes; `None` when the
    /// registry has no such file. With `expected_size`, fewer bytes than that is a cut download.
    fn fetch(&self, relative: &str, limit: u64, expected_size: Option<u64>) -> Result<Option<Vec<u8>>, RegistryError> {
        let truncated = |got: usize, expected: u64| RegistryError::Truncated {
            file: relative.to_string(),
            message: format!("got {got} of {expected} bytes"),
        };
        let bytes = match &self.location {
            Location::Folder(dir) => {
                if !dir.is_dir() {
                    return Err(self.unreachable("no such folder".to_string()));
                }
                let path = dir.join(relative);
                let file = match std::fs::File::open(&path) {
                    Ok(file) => file,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(error) => return Err(RegistryError::io(format!("cannot read {}", path.display()), error)),
                };
                let mut bytes = Vec::new();
                file.take(limit + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|error| RegistryError::io(format!("cannot read {}", path.display()), error))?;
                bytes
            }
            Location::Http(base) => {
                let url = format!("{base}/{relative}");
                let agent = ureq::AgentBuilder::new()
                    .timeout_connect(Duration::from_secs(10))
                    .timeout_read(Duration::from_secs(30))
                    .build();
                let response = match agent.get(&url).call() {
                    Ok(response) => response,
                    Err(ureq::Error::Status(404 | 410, _)) => return Ok(None),
                    Err(ureq::Error::Status(status, response)) => {
                        return Err(
                            self.unreachable(format!("HTTP {status} {} for {relative}", response.status_text()))
                        );
                    }
                    Err(ureq::Error::Transport(transport)) => {
                        // The transport error's text may quote the URL, user information included.
                        return Err(self.unreachable(format!("{} for {relative}", transport.kind())));
                    }
                };
                let declared: Option<u64> = response.header("content-length").and_then(|length| length.parse().ok());
                let mut bytes = Vec::new();
                if let Err(error) = response.into_reader().take(limit + 1).read_to_end(&mut bytes) {
                    return Err(RegistryError::Truncated {
                        file: relative.to_string(),
                        message: format!("{error} after {} bytes", bytes.len()),
                    });
                }
                if let Some(declared) = declared
                    && (bytes.len() as u64) < declared
                {
                    return Err(truncated(bytes.len(), declared));
                }
                bytes
            }
        };
        if bytes.len() as u64 > limit {
            return Err(RegistryError::Index { message: format!("{relative} is larger than {limit} bytes") });
        }
        if let Some(expected) = expected_size
            && (bytes.len() as u64) < expected
        {
            return Err(truncated(bytes.len(), expected));
        }
        Ok(Some(bytes))
    }

    /// Every build of `name` the registry lists (none when it has no such plugin).
    pub fn entries(&self, name: &str) -> Result<Vec<IndexEntry>, RegistryError> {
        let path = index::index_path(name)?;
        let Some(bytes) = self.fetch(&path, MAX_INDEX_BYTES, None)? else { return Ok(Vec::new()) };
        let text = String::from_utf8(bytes).map_err(|_| RegistryError::Index {
            message: format!("{path} of registry `{}` is not UTF-8", self.name),
        })?;
        index::parse_index(&text, name, &format!("{path} of registry `{}`", self.name))
    }

    /// The archive of `entry`, checked against its size and checksum.
    pub fn download(&self, entry: &IndexEntry) -> Result<Vec<u8>, RegistryError> {
        let Some(bytes) = self.fetch(&entry.file, entry.size, Some(entry.size))? else {
            return Err(self.unreachable(format!("{} is listed in the index but missing", entry.file)));
        };
        check_checksum(&bytes, &entry.cksum, &entry.file)?;
        Ok(bytes)
    }

    /// The registry's search list.
    pub fn search_list(&self) -> Result<Vec<SearchEntry>, RegistryError> {
        let Some(bytes) = self.fetch(index::SEARCH_FILE, MAX_INDEX_BYTES, None)? else { return Ok(Vec::new()) };
        serde_json::from_slice(&bytes).map_err(|error| RegistryError::Index {
            message: format!("{} of registry `{}`: {error}", index::SEARCH_FILE, self.name),
        })
    }
}

/// An error unless `bytes` have the SHA-256 `expected`.
pub fn check_checksum(bytes: &[u8], expected: &str, file: &str) -> Result<(), RegistryError> {
    let found = sha256_hex(bytes);
    if found != expected {
        return Err(RegistryError::ChecksumMismatch { file: file.to_string(), expected: expected.to_string(), found });
    }
    Ok(())
}

/// `https://user:secret@host/x` as `https://host/x`.
fn without_user_info(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_secrets() {
        assert_eq!(
            Registry::new("r", "https://x.example/reg/").location,
            Location::Http("https://x.example/reg".into())
        );
        assert_eq!(Registry::new("r", "file:///srv/reg").location, Location::Folder(PathBuf::from("/srv/reg")));
        let secret = Registry::new("r", "https://ann:hunter2@x.example/reg");
        assert_eq!(secret.location_text(), "https://x.example/reg");
        assert_eq!(secret.source_text(), "registry+https://x.example/reg");
    }
}
