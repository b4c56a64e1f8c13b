//! What the registry tests share: the test plugins (built once per test process), plugin
//! folders of any version made from them, a library check through the plugin host's info
//! record reader, and a small static HTTP server that can cut a download short.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tusk_plugin_registry::{LibraryCheck, LibraryFacts};

/// The built test plugins: `(name, library)`.
pub fn libraries() -> Vec<(String, PathBuf)> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let packages = ["tusk-plugin-reg-base", "tusk-plugin-reg-app"];
    let built =
        tusk_plugin_testkit::build_packages(&fixtures, &packages, tusk_plugin_testkit::Profile::of_this_build())
            .expect("the registry test plugins build");
    vec![
        ("reg_base".to_string(), built.library("tusk-plugin-reg-base").to_path_buf()),
        ("reg_app".to_string(), built.library("tusk-plugin-reg-app").to_path_buf()),
    ]
}

/// A plugin folder of test plugin `name` under `parent`, its manifest claiming `version` and
/// `dependencies` (TOML lines for `[dependencies]`); the library is the built one (the
/// registry never loads it, so its own version does not matter here).
pub fn plugin_folder(parent: &Path, name: &str, version: &str, dependencies: &str) -> PathBuf {
    let library = libraries().into_iter().find(|(plugin, _)| plugin == name).expect("a test plugin").1;
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let dir = parent.join(format!("{name}-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = std::fs::read_to_string(fixture.join("plugin.toml")).unwrap();
    let mut manifest = manifest.replace("version = \"1.0.0\"", &format!("version = \"{version}\""));
    if let Some(start) = manifest.find("\n[dependencies]") {
        let end = manifest[start + 1..].find("\n[").map_or(manifest.len(), |offset| start + 1 + offset);
        manifest.replace_range(start..end, "");
    }
    if !dependencies.is_empty() {
        manifest.push_str(&format!("\n[dependencies]\n{dependencies}\n"));
    }
    std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
    std::fs::copy(fixture.join("README.md"), dir.join("README.md")).unwrap();
    std::fs::copy(&library, dir.join(tusk_plugin_catalog::default_library_name(name))).unwrap();
    dir
}

/// Reads info records as the tusk command does.
pub struct HostCheck;

impl LibraryCheck for HostCheck {
    fn facts(&self, library: &Path) -> Result<LibraryFacts, String> {
        let info = tusk_plugin_host::read_info_record(library).map_err(|error| error.to_string())?;
        let end = info.target.iter().position(|&byte| byte == 0).unwrap_or(info.target.len());
        Ok(LibraryFacts {
            abi: (info.abi_major, info.abi_minor),
            target: String::from_utf8_lossy(&info.target[..end]).into_owned(),
        })
    }
}

/// Every file and folder under `dir`, relative, with each file's checksum: what "nothing on
/// disk changed" compares.
pub fn snapshot(dir: &Path) -> Vec<String> {
    let mut items = Vec::new();
    fn walk(root: &Path, dir: &Path, items: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                items.push(format!("{relative}/"));
                walk(root, &path, items);
            } else {
                items.push(format!("{relative} {}", tusk_plugin_registry::sha256_hex(&std::fs::read(&path).unwrap())));
            }
        }
    }
    walk(dir, dir, &mut items);
    items.sort();
    items
}

/// A static file server on 127.0.0.1 for the files under a folder. `cut` makes it send only
/// the first bytes of one file (with the full length announced) and close the connection.
pub struct Server {
    pub url: String,
    cut: Arc<Mutex<Option<(String, usize)>>>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(root: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cut: Arc<Mutex<Option<(String, usize)>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (root, thread_cut, thread_requests) = (root.to_path_buf(), cut.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &root, &thread_cut, &thread_requests);
            }
        });
        Server { url, cut, requests }
    }

    /// Sends only the first `bytes` bytes of `path` (from the root, `/`-separated) from now on.
    pub fn cut(&self, path: &str, bytes: usize) {
        *self.cut.lock().unwrap() = Some((path.to_string(), bytes));
    }

    /// Serves every file whole again.
    pub fn heal(&self) {
        *self.cut.lock().unwrap() = None;
    }
}

fn serve(stream: TcpStream, root: &Path, cut: &Mutex<Option<(String, usize)>>, requests: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
    requests.lock().unwrap().push(path.clone());
    let mut stream = stream;
    let file = root.join(&path);
    let body = if path.split('/').any(|part| part == "..") { None } else { std::fs::read(&file).ok() };
    let Some(body) = body else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let header = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let _ = stream.write_all(header.as_bytes());
    let sent = match cut.lock().unwrap().as_ref() {
        Some((cut_path, bytes)) if *cut_path == path => &body[..(*bytes).min(body.len())],
        _ => &body[..],
    };
    let _ = stream.write_all(sent);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}
