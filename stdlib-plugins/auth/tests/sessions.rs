//! API keys, signed cookies, server-side sessions (in memory, and in the real Redis on
//! 127.0.0.1:6379) and `@auth.require`, through the real host.
//!
//! Without Redis the Redis test skips with a printed reason, except under `CI=true`, where a
//! missing server fails it.

mod common;

use std::time::Duration;

use common::{error, eval, lit, plugin};
use serde_json::json;

const SESSION_SECRET: &str = "session-signing-secret-0123456789abcdef";

#[test]
fn api_keys_are_random_hashed_and_checked() {
    let mut plugin = plugin(&[]);
    let document = plugin
        .eval(
            "a: @auth.api_key.generate()
b: @auth.api_key.generate({prefix: \"live_\"})
a_ok: @auth.api_key.verify(a.key, a.hash)
a_in_list: @auth.api_key.verify(a.key, [b.hash, a.hash])
b_with_a: @auth.api_key.verify(b.key, a.hash)
rehash: @auth.api_key.hash(a.key) == a.hash
nothing: @auth.api_key.verify(null, a.hash)
",
        )
        .unwrap();
    let key = document["a"]["key"].as_str().unwrap();
    assert!(key.starts_with("tsk_") && key.len() == 4 + 43, "{key}");
    assert_ne!(document["a"]["key"], document["b"]["key"]);
    assert!(document["b"]["key"].as_str().unwrap().starts_with("live_"));
    assert!(document["a"]["hash"].as_str().unwrap().starts_with("sha256:"));
    for (name, expected) in
        [("a_ok", true), ("a_in_list", true), ("b_with_a", false), ("rehash", true), ("nothing", false)]
    {
        assert_eq!(document[name], json!(expected), "{name}");
    }
    let refused = error(&mut plugin, "@auth.api_key.verify(\"k\", \"md5:abc\")");
    assert!(refused.contains("stored hash 1 is not an API-key hash (expected sha256: and 64 hex digits)"), "{refused}");
    let refused = error(&mut plugin, "@auth.api_key.generate({prefix: \"bad prefix\"})");
    assert!(refused.contains("option `prefix` must be at most 32 letters, digits, `_` or `-`"), "{refused}");
}

#[test]
fn signed_cookies_and_set_cookie_headers() {
    let mut plugin = plugin(&[]);
    let secret = lit(SESSION_SECRET);
    let signed = eval(&mut plugin, &format!("@auth.cookie.sign(\"user=42\", {secret})"));
    let signed = signed.as_str().unwrap().to_string();
    assert_eq!(eval(&mut plugin, &format!("@auth.cookie.verify({}, {secret})", lit(&signed))), json!("user=42"));
    let altered = signed.replacen("user=42", "user=43", 1);
    assert_eq!(eval(&mut plugin, &format!("@auth.cookie.verify({}, {secret})", lit(&altered))), json!(null));
    assert_eq!(eval(&mut plugin, &format!("@auth.cookie.verify({}, \"another-secret\")", lit(&signed))), json!(null));
    assert_eq!(
        eval(
            &mut plugin,
            "@auth.cookie.header(\"sid\", \"abc.def\", {max_age: 3600, same_site: \"strict\", domain: \"example.com\"})"
        ),
        json!("sid=abc.def; Path=/; Domain=example.com; Max-Age=3600; HttpOnly; Secure; SameSite=Strict")
    );
    assert_eq!(
        eval(&mut plugin, "@auth.cookie.header(\"t\", \"1\", {secure: false, http_only: false, path: \"/app\"})"),
        json!("t=1; Path=/app; SameSite=Lax")
    );
    let refused = error(&mut plugin, "@auth.cookie.header(\"sid\", \"a;b\")");
    assert!(
        refused.contains("the cookie value may not hold spaces, quotes, commas, semicolons or backslashes"),
        "{refused}"
    );
}

#[test]
fn memory_sessions_live_expire_and_end() {
    let mut plugin = plugin(&[]);
    let cookie = eval(&mut plugin, "@auth.session.create({user: \"ada\", roles: [\"admin\"]})");
    let cookie = lit(cookie.as_str().unwrap());
    assert_eq!(eval(&mut plugin, &format!("@auth.session.get({cookie})")), json!({"user": "ada", "roles": ["admin"]}));
    assert_eq!(eval(&mut plugin, &format!("@auth.session.update({cookie}, {{user: \"ada\", cart: 3}})")), json!(true));
    assert_eq!(eval(&mut plugin, &format!("@auth.session.get({cookie}).cart")), json!(3));
    assert_eq!(eval(&mut plugin, &format!("@auth.session.destroy({cookie})")), json!(true));
    assert_eq!(eval(&mut plugin, &format!("@auth.session.get({cookie})")), json!(null));
    assert_eq!(eval(&mut plugin, &format!("@auth.session.destroy({cookie})")), json!(false));
    assert_eq!(eval(&mut plugin, &format!("@auth.session.update({cookie}, 1)")), json!(false));
    // A short session expires.
    let short = eval(&mut plugin, "@auth.session.create(\"x\", {ttl: 1})");
    let short = lit(short.as_str().unwrap());
    assert_eq!(eval(&mut plugin, &format!("@auth.session.get({short})")), json!("x"));
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(eval(&mut plugin, &format!("@auth.session.get({short})")), json!(null));
    // A cookie with a made-up id is refused before any lookup.
    let refused = error(&mut plugin, "@auth.session.get(\"made-up-id.c2lnbmF0dXJl\")");
    assert!(
        refused.contains("@auth.session.get: the session cookie's signature does not match (forged or altered)"),
        "{refused}"
    );
}

/// The tests' own Redis connection, or `None` (and why) when no server answers.
fn redis_connection() -> Option<redis::Connection> {
    tusk_plugin_testkit::require("Redis on 127.0.0.1:6379", || {
        redis::Client::open("redis://127.0.0.1:6379/")
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
    })
}

#[test]
fn redis_sessions_outlive_the_process_that_made_them() {
    let Some(mut redis) = redis_connection() else { return };
    let prefix = format!("tusk:test:auth:{}:", std::process::id());
    let config = format!(
        "[plugins.auth.session]\nstore = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"\nkey_prefix = \"{prefix}\"\nttl = 120\nsecret = \"{SESSION_SECRET}\"\n"
    );
    let configured = || {
        let mut plugin = tusk_plugin_testkit::PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
        plugin.grant("--allow-net=127.0.0.1:6379").with_user_config(&config).in_process();
        plugin
    };
    let mut first = configured();
    let cookie = eval(&mut first, "@auth.session.create({user: \"ada\", n: 1})");
    let cookie = cookie.as_str().unwrap().to_string();
    let id = cookie.rsplit_once('.').unwrap().0;
    // Stored in Redis as JSON, with the configured lifetime.
    let stored: Option<String> = redis::cmd("GET").arg(format!("{prefix}{id}")).query(&mut redis).unwrap();
    assert_eq!(stored.as_deref(), Some("{\"user\":\"ada\",\"n\":1}"));
    let ttl: i64 = redis::cmd("TTL").arg(format!("{prefix}{id}")).query(&mut redis).unwrap();
    assert!((100..=120).contains(&ttl), "{ttl}");
    // Another plugin instance with the same secret (another process, in real life) reads it.
    let mut second = configured();
    assert_eq!(eval(&mut second, &format!("@auth.session.get({})", lit(&cookie))), json!({"user": "ada", "n": 1}));
    assert_eq!(
        eval(&mut second, &format!("@auth.session.update({}, {{user: \"ada\", n: 2}}, {{ttl: 30}})", lit(&cookie))),
        json!(true)
    );
    let ttl: i64 = redis::cmd("TTL").arg(format!("{prefix}{id}")).query(&mut redis).unwrap();
    assert!((20..=30).contains(&ttl), "{ttl}");
    assert_eq!(eval(&mut first, &format!("@auth.session.get({}).n", lit(&cookie))), json!(2));
    assert_eq!(eval(&mut first, &format!("@auth.session.destroy({})", lit(&cookie))), json!(true));
    let exists: i64 = redis::cmd("EXISTS").arg(format!("{prefix}{id}")).query(&mut redis).unwrap();
    assert_eq!(exists, 0);
    assert_eq!(eval(&mut second, &format!("@auth.session.get({})", lit(&cookie))), json!(null));
    // Without the network grant the store is not reached.
    let mut ungranted = tusk_plugin_testkit::PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    ungranted.with_user_config(&config).in_process();
    let refused = error(&mut ungranted, "@auth.session.create(1)");
    assert!(refused.contains("permission denied: plugin `auth` may not connect to 127.0.0.1:6379"), "{refused}");
}

#[test]
fn require_checks_bearer_tokens_and_session_cookies() {
    let mut plugin = plugin(&[]);
    let secret = lit("require-secret-0123456789abcdef0123456789");
    let document = plugin
        .eval(&format!(
            "$key: {secret}
token: @auth.jwt.sign({{sub: \"ada\", scope: \"read write\"}}, $key)
claims: @auth.require({{method: \"GET\", headers: {{authorization: \"Bearer \" + token}}}}, {{key: $key, scope: \"write\"}})
lower: @auth.require({{headers: {{AUTHORIZATION: \"bearer \" + token}}}}, {{key: $key}}).sub
session: @auth.session.create({{user: \"grace\"}})
by_cookie: @auth.require({{headers: {{Cookie: \"theme=dark; sid=\" + session}}}}, {{session: \"sid\"}})
by_cookies: @auth.require({{cookies: {{sid: session}}}}, {{session: \"sid\"}}).user
"
        ))
        .unwrap();
    assert_eq!(document["claims"]["sub"], json!("ada"));
    assert_eq!(document["lower"], json!("ada"));
    assert_eq!(document["by_cookie"], json!({"user": "grace"}));
    assert_eq!(document["by_cookies"], json!("grace"));
    let token = document["token"].as_str().unwrap();
    let cases = [
        (
            "{headers: {}}".to_string(),
            "{key: \"k\"}",
            "unauthorized: the request has no bearer token (Authorization: Bearer …)",
        ),
        (
            "{headers: {}}".to_string(),
            "{session: \"sid\"}",
            "unauthorized: the request has no bearer token (Authorization: Bearer …) and no `sid` session cookie",
        ),
        (
            "{headers: {Authorization: \"Basic YTpi\"}}".to_string(),
            "{key: \"k\"}",
            "unauthorized: the Authorization scheme is Basic, not Bearer",
        ),
        (
            "{headers: {Authorization: \"Bearer\"}}".to_string(),
            "{key: \"k\"}",
            "unauthorized: the Authorization header is not `Bearer <token>`",
        ),
        (
            format!("{{headers: {{Authorization: \"Bearer {token}\"}}}}"),
            "{key: \"other-secret\"}",
            "unauthorized: invalid signature: the token was altered or signed with another key",
        ),
        (
            format!("{{headers: {{Authorization: \"Bearer {token}\"}}}}"),
            &format!("{{key: {secret}, now: 99999999999}}"),
            "unauthorized: the token expired at",
        ),
        (
            format!("{{headers: {{Authorization: \"Bearer {token}\"}}}}"),
            &format!("{{key: {secret}, scope: [\"read\", \"admin\"]}}"),
            "forbidden: the token does not grant the scope \"admin\"",
        ),
        (
            "{cookies: {sid: \"x.eA\"}}".to_string(),
            "{session: \"sid\"}",
            "unauthorized: the session cookie's signature does not match (forged or altered)",
        ),
        ("\"GET /\"".to_string(), "{}", "the request must be an object"),
    ];
    for (request, options, expected) in cases {
        let refused = error(&mut plugin, &format!("@auth.require({request}, {options})"));
        assert!(refused.contains(&format!("@auth.require: {expected}")), "{request} {options}: {refused}");
    }
    let refused = error(&mut plugin, &format!("@auth.require({{headers: {{Authorization: \"Bearer {token}\"}}}})"));
    assert!(refused.contains("option `key` is required to check bearer tokens"), "{refused}");
}
