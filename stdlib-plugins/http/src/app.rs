//! What a server answers with: its routes, middleware, static folders, CORS policy and limits.
//!
//! An [`App`] is immutable; a change (a new route) makes a new one, swapped in whole
//! ([`SharedApp`]), so a request sees one consistent set from its start to its end, and the
//! request path takes no lock but the one of the swap.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tusk_plugin_sdk::RetainedFunction;

use crate::routes::Pattern;

/// One route: a method (`None`: any), a pattern and the script function that answers.
#[derive(Clone, Debug)]
pub struct Route {
    pub method: Option<String>,
    pub pattern: Pattern,
    pub handler: RetainedFunction,
    /// A websocket route: its GET requests must ask for the upgrade; the server answers it and
    /// calls the handler with the connection's hand-off ticket (`crate::upgrade`).
    pub websocket: bool,
}

/// A middleware: `before(req)` runs before the handler, `after(req, res)` after it, for the
/// paths under `prefix`.
#[derive(Clone, Debug)]
pub struct Middleware {
    pub before: Option<RetainedFunction>,
    pub after: Option<RetainedFunction>,
    pub prefix: String,
}

impl Middleware {
    pub fn applies_to(&self, path: &str) -> bool {
        under(path, &self.prefix)
    }
}

/// Files of `folder` served under the URL prefix.
#[derive(Clone, Debug)]
pub struct StaticDir {
    pub prefix: String,
    pub folder: PathBuf,
}

/// Which cross-origin requests browsers may make.
#[derive(Clone, Debug, PartialEq)]
pub struct Cors {
    /// `None`: any origin (`*`, or the request's origin with credentials).
    pub origins: Option<Vec<String>>,
    pub methods: Vec<String>,
    /// `None`: whatever the preflight asks for.
    pub headers: Option<Vec<String>>,
    pub expose: Vec<String>,
    pub credentials: bool,
    pub max_age: Option<u64>,
}

impl Default for Cors {
    fn default() -> Cors {
        Cors {
            origins: None,
            methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].map(String::from).to_vec(),
            headers: None,
            expose: Vec::new(),
            credentials: false,
            max_age: Some(600),
        }
    }
}

impl Cors {
    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if allowed.
    pub fn allow_origin(&self, origin: &str) -> Option<String> {
        match &self.origins {
            None if self.credentials => Some(origin.to_string()),
            None => Some("*".to_string()),
            Some(list) => list.iter().any(|allowed| allowed == origin || allowed == "*").then(|| origin.to_string()),
        }
    }
}

/// Limits of one request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// The largest request body, in bytes (413 beyond).
    pub max_body: usize,
    /// How long the middleware and the handler together may take (503 beyond).
    pub timeout: Duration,
}

/// Everything a server answers with.
#[derive(Clone, Debug)]
pub struct App {
    pub routes: Vec<Route>,
    pub middleware: Vec<Middleware>,
    pub statics: Vec<StaticDir>,
    pub cors: Option<Cors>,
    pub limits: Limits,
}

impl App {
    pub fn new(limits: Limits) -> App {
        App { routes: Vec::new(), middleware: Vec::new(), statics: Vec::new(), cors: None, limits }
    }
}

/// An app that changes while servers use it: readers take the current version.
#[derive(Clone, Debug)]
pub struct SharedApp(Arc<RwLock<Arc<App>>>);

impl SharedApp {
    pub fn new(app: App) -> SharedApp {
        SharedApp(Arc::new(RwLock::new(Arc::new(app))))
    }

    /// The current version.
    pub fn current(&self) -> Arc<App> {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Replaces the current version with `change` applied to a copy of it.
    pub fn update<T>(&self, change: impl FnOnce(&mut App) -> T) -> T {
        let mut slot = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut app = App::clone(&slot);
        let result = change(&mut app);
        *slot = Arc::new(app);
        result
    }
}

/// True when `path` is `prefix` or below it (`/api` covers `/api` and `/api/x`, not `/apix`).
pub fn under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty() || path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_cover_whole_segments() {
        assert!(under("/api", "/api"));
        assert!(under("/api/x", "/api/"));
        assert!(!under("/apix", "/api"));
        assert!(under("/anything", "/"));
        assert!(under("/anything", ""));
    }

    #[test]
    fn cors_origins() {
        let any = Cors::default();
        assert_eq!(any.allow_origin("http://a.test").as_deref(), Some("*"));
        let with_credentials = Cors { credentials: true, ..Cors::default() };
        assert_eq!(with_credentials.allow_origin("http://a.test").as_deref(), Some("http://a.test"));
        let listed = Cors { origins: Some(vec!["http://a.test".into()]), ..Cors::default() };
        assert_eq!(listed.allow_origin("http://a.test").as_deref(), Some("http://a.test"));
        assert_eq!(listed.allow_origin("http://b.test"), None);
    }
}
