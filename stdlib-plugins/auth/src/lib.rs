//! The `auth` plugin: authentication for scripts.
//!
//! - JWT (`jwt`): sign, verify and decode JSON Web Tokens with HS256/384/512, RS256/384/512,
//!   PS256/384/512, ES256/384 and EdDSA (jsonwebtoken with its pure-Rust backend); keys are
//!   HMAC secrets, PEM keys, JWKs or JWKS documents; `exp`, `nbf`, `iss`, `aud` and `sub` are
//!   checked with a leeway. `jws` signs and verifies payloads that are not JSON claims.
//! - API keys (`api_key`): random keys, stored as SHA-256 hashes, verified in constant time.
//! - Cookies and sessions (`cookie`, `session`): HMAC-signed cookie values; server-side
//!   sessions in memory or in Redis.
//! - OAuth2 (`oauth2`): authorization code with PKCE, client credentials, refresh (the
//!   `oauth2` crate over a blocking ureq client).
//! - `require`: the check an HTTP server's middleware makes (a bearer token or a session
//!   cookie), as a call that returns the claims or a precise error.
//! - The seed's forms: `@auth("jwt", payload, secret)`, `generate_token`, `validate_token`.
//!
//! No secret (HMAC secret, private key, client secret, API key, session id) ever appears in an
//! error message: messages name what was wrong, never the value.

mod apikey;
mod config;
mod der;
mod jwt;
mod keys;
mod oauth;
mod ops;
mod session;
mod util;

use std::sync::Arc;

use tusk_plugin_sdk::{PluginContext, PluginError, TuskPlugin, export_plugin};

/// What every call of one plugin instance shares.
pub(crate) struct State {
    settings: config::Settings,
    sessions: session::Sessions,
}

/// The plugin.
#[derive(Default)]
pub struct AuthPlugin {
    state: Option<Arc<State>>,
}

impl TuskPlugin for AuthPlugin {
    fn name(&self) -> &str {
        "auth"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
        let settings: config::Settings = context.config()?;
        settings.check()?;
        let sessions = session::Sessions::new(&settings.session)?;
        let state = Arc::new(State { settings, sessions });
        ops::register(context, &state)?;
        self.state = Some(state);
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), PluginError> {
        self.state = None;
        Ok(())
    }
}

export_plugin!(AuthPlugin);
