//! JWT and JWS through the real host: the RFC 7515, 7519 and 8037 examples as known answers,
//! every kind of key, the claims checks, and every way a token must be refused.

mod common;

use common::{error, eval, key, lit, plugin, tsk};
use serde_json::json;

/// RFC 7515 A.1 (also RFC 7519 3.1): HS256 with this symmetric JWK.
const A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const A1_KEY: &str = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
/// The claims of RFC 7515 A.1-A.3, exactly as the examples write them (CR LF and spaces).
const A_PAYLOAD: &str = "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
/// A moment when the examples' tokens were valid (they expire at 1300819380).
const THEN: i64 = 1_300_819_000;

/// RFC 7515 A.2: RS256 with this RSA key; PKCS#1 v1.5 is deterministic, so signing gives
/// exactly this token.
const A2_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

fn a2_key() -> serde_json::Value {
    json!({
        "kty": "RSA",
        "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
        "e": "AQAB",
        "d": "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ",
        "p": "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc",
        "q": "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc",
        "dp": "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0",
        "dq": "h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU",
        "qi": "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U"
    })
}

/// RFC 7515 A.3: ES256 (ECDSA is randomised, so only verification is a known answer).
const A3_TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

fn a3_key() -> serde_json::Value {
    json!({"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
           "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"})
}

/// RFC 7515 A.5: the unsecured JWS.
const A5_TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.";

/// RFC 8037 A.1 and A.4: Ed25519 (deterministic, so signing gives exactly this token).
const ED_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const ED_TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

fn a_claims() -> serde_json::Value {
    json!({"iss": "joe", "exp": 1300819380, "http://example.com/is_root": true})
}

#[test]
fn rfc_7515_a1_and_rfc_7519_hs256_known_answer() {
    let mut plugin = plugin(&[]);
    let jwk = tsk(&json!({"kty": "oct", "k": A1_KEY}));
    assert_eq!(eval(&mut plugin, &format!("@auth.jwt.verify({}, {jwk}, {{now: {THEN}}})", lit(A1_TOKEN))), a_claims());
    // Signing the example's payload and header bytes gives the example's signature.
    let signed = eval(&mut plugin, &format!("@auth.jws.verify({}, {jwk})", lit(A1_TOKEN)));
    assert_eq!(signed["payload"], json!(A_PAYLOAD));
    assert_eq!(signed["header"], json!({"typ": "JWT", "alg": "HS256"}));
    // Today the example has long expired.
    let expired = error(&mut plugin, &format!("@auth.jwt.verify({}, {jwk})", lit(A1_TOKEN)));
    assert!(expired.contains("@auth.jwt.verify: the token expired at 2011-03-22T18:43:00Z ("), "{expired}");
}

#[test]
fn rfc_7515_a2_rs256_signs_exactly_and_verifies() {
    let mut plugin = plugin(&[]);
    let private = tsk(&a2_key());
    assert_eq!(eval(&mut plugin, &format!("@auth.jws.sign({}, {private})", lit(A_PAYLOAD))), json!(A2_TOKEN));
    let public = tsk(&json!({"kty": "RSA", "n": a2_key()["n"], "e": "AQAB"}));
    assert_eq!(
        eval(&mut plugin, &format!("@auth.jwt.verify({}, {public}, {{now: {THEN}}})", lit(A2_TOKEN))),
        a_claims()
    );
    // The public JWK the plugin derives from the private one is the RFC's public key.
    let derived = eval(&mut plugin, &format!("@auth.jwk({private}, {{kid: \"a2\"}})"));
    assert_eq!((&derived["n"], &derived["e"], &derived["kid"]), (&a2_key()["n"], &json!("AQAB"), &json!("a2")));
    assert!(derived.get("d").is_none(), "{derived}");
}

#[test]
fn rfc_7515_a3_es256_verifies_and_signs() {
    let mut plugin = plugin(&[]);
    let mut public = a3_key();
    public.as_object_mut().unwrap().remove("d");
    let public = tsk(&public);
    assert_eq!(
        eval(&mut plugin, &format!("@auth.jwt.verify({}, {public}, {{now: {THEN}}})", lit(A3_TOKEN))),
        a_claims()
    );
    let token = eval(&mut plugin, &format!("@auth.jwt.sign({{sub: \"ada\"}}, {})", tsk(&a3_key())));
    let token = token.as_str().unwrap();
    assert_eq!(eval(&mut plugin, &format!("@auth.jwt.decode({}).header.alg", lit(token))), json!("ES256"));
    assert_eq!(eval(&mut plugin, &format!("@auth.jwt.verify({}, {public}).sub", lit(token))), json!("ada"));
}

#[test]
fn rfc_8037_ed25519_signs_exactly_and_verifies() {
    let mut plugin = plugin(&[]);
    let private = tsk(&json!({"kty": "OKP", "crv": "Ed25519", "d": ED_D, "x": ED_X}));
    let public = tsk(&json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X}));
    assert_eq!(
        eval(&mut plugin, &format!("@auth.jws.sign(\"Example of Ed25519 signing\", {private})")),
        json!(ED_TOKEN)
    );
    assert_eq!(
        eval(&mut plugin, &format!("@auth.jws.verify({}, {public})", lit(ED_TOKEN))),
        json!({"header": {"alg": "EdDSA"}, "payload": "Example of Ed25519 signing"})
    );
    // One changed byte of the payload (the `E` of `Example` as `F`).
    let tampered = ED_TOKEN.replacen(".RXhh", ".Rnhh", 1);
    let refused = error(&mut plugin, &format!("@auth.jws.verify({}, {public})", lit(&tampered)));
    assert!(refused.contains("invalid signature: the token was altered or signed with another key"), "{refused}");
}

#[test]
fn alg_none_is_refused() {
    let mut plugin = plugin(&[]);
    for key in [lit("any secret at all"), tsk(&json!({"kty": "oct", "k": A1_KEY}))] {
        let refused = error(&mut plugin, &format!("@auth.jwt.verify({}, {key}, {{now: {THEN}}})", lit(A5_TOKEN)));
        assert!(refused.contains("@auth.jwt.verify: unsigned tokens (alg \"none\") are never accepted"), "{refused}");
    }
    // Not even when the signature part is filled in, nor when a script asks for it.
    let refused = error(
        &mut plugin,
        &format!("@auth.jwt.verify({}, \"s\", {{algorithms: [\"none\"]}})", lit(&format!("{A5_TOKEN}AAAA"))),
    );
    assert!(refused.contains("unsigned tokens (alg \"none\") are never accepted"), "{refused}");
    let refused = error(&mut plugin, "@auth.jwt.sign({sub: \"x\"}, \"s\", {algorithm: \"none\"})");
    assert!(refused.contains("unsigned tokens (alg \"none\") are never accepted"), "{refused}");
}

#[test]
fn algorithm_confusion_is_refused() {
    let mut plugin = plugin(&[]);
    let public_pem =
        std::fs::read_to_string(format!("{}/tests/keys/rsa_public.pem", env!("CARGO_MANIFEST_DIR"))).unwrap();
    // The attacker's token: HS256 with the (public) PEM text as the HMAC secret, made here
    // with a symmetric JWK whose bytes are the PEM.
    let attacker_key = tsk(&json!({"kty": "oct", "k": base64_url(public_pem.as_bytes())}));
    let forged = eval(&mut plugin, &format!("@auth.jwt.sign({{sub: \"admin\"}}, {attacker_key})"));
    let forged = lit(forged.as_str().unwrap());
    let public = key("rsa_public.pem");
    let refused = error(&mut plugin, &format!("@auth.jwt.verify({forged}, {public})"));
    assert!(
        refused.contains("the token's algorithm HS256 does not fit the key: an RSA key verifies only RS256, RS384, RS512, PS256, PS384, PS512; refused (algorithm confusion)"),
        "{refused}"
    );
    // Allowing HS256 explicitly does not make a PEM an HMAC secret.
    let refused = error(&mut plugin, &format!("@auth.jwt.verify({forged}, {public}, {{algorithms: [\"HS256\"]}})"));
    assert!(refused.contains("refused (algorithm confusion)"), "{refused}");
    let refused = error(&mut plugin, &format!("@auth.jwt.sign({{sub: \"x\"}}, {public}, {{algorithm: \"HS256\"}})"));
    assert!(refused.contains("a PEM key cannot be an HMAC secret"), "{refused}");
    // And the other way: an RS256 token against an HMAC secret.
    let rs = eval(&mut plugin, &format!("@auth.jwt.sign({{sub: \"x\"}}, {})", key("rsa_private.pem")));
    let refused = error(&mut plugin, &format!("@auth.jwt.verify({}, \"a secret\")", lit(rs.as_str().unwrap())));
    assert!(
        refused.contains(
            "the token's algorithm RS256 does not fit the key: an HMAC secret verifies only HS256, HS384, HS512"
        ),
        "{refused}"
    );
    // An algorithm outside the allowed list.
    let refused = error(
        &mut plugin,
        &format!("@auth.jwt.verify({}, {public}, {{algorithms: [\"PS256\"]}})", lit(rs.as_str().unwrap())),
    );
    assert!(refused.contains("the token's algorithm RS256 is not among the allowed ones (PS256)"), "{refused}");
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn every_algorithm_round_trips_with_pem_and_jwk_keys() {
    let mut plugin = plugin(&[]);
    let secret = lit("a-long-enough-secret-for-hmac-sha-512-0123456789abcdef0123456789");
    let cases = [
        ("HS256", secret.clone(), secret.clone()),
        ("HS384", secret.clone(), secret.clone()),
        ("HS512", secret.clone(), secret.clone()),
        ("RS256", key("rsa_private.pem"), key("rsa_public.pem")),
        ("RS512", key("rsa_private.pem"), key("rsa_public.pem")),
        ("PS256", key("rsa_private.pem"), key("rsa_public.pem")),
        ("ES256", key("ec_private.pem"), key("ec_public.pem")),
        ("EdDSA", key("ed_private.pem"), key("ed_public.pem")),
    ];
    for (alg, private, public) in cases {
        let token = eval(
            &mut plugin,
            &format!("@auth.jwt.sign({{sub: \"ada\", n: [1, 2]}}, {private}, {{algorithm: \"{alg}\"}})"),
        );
        let token = lit(token.as_str().unwrap());
        assert_eq!(eval(&mut plugin, &format!("@auth.jwt.decode({token}).header")), json!({"typ": "JWT", "alg": alg}));
        let claims = eval(&mut plugin, &format!("@auth.jwt.verify({token}, {public})"));
        assert_eq!((&claims["sub"], &claims["n"]), (&json!("ada"), &json!([1, 2])), "{alg}");
        // A private key verifies too (through its public part).
        assert_eq!(eval(&mut plugin, &format!("@auth.jwt.verify({token}, {private}).sub")), json!("ada"), "{alg}");
        // Through a JWK published from the key.
        if !alg.starts_with("HS") {
            let jwk = eval(&mut plugin, &format!("@auth.jwk({public}, {{kid: \"k1\"}})"));
            assert_eq!(
                eval(&mut plugin, &format!("@auth.jwt.verify({token}, {}).sub", tsk(&jwk))),
                json!("ada"),
                "{alg}"
            );
        }
    }
    // Without an algorithm, a PEM key signs with its natural one.
    assert_eq!(
        eval(&mut plugin, &format!("@auth.jwt.decode(@auth.jwt.sign({{}}, {})).header.alg", key("ed_private.pem"))),
        json!("EdDSA")
    );
    assert_eq!(
        eval(&mut plugin, &format!("@auth.jwt.decode(@auth.jwt.sign({{}}, {})).header.alg", key("ec_private.pem"))),
        json!("ES256")
    );
    let refused =
        error(&mut plugin, &format!("@auth.jwt.sign({{}}, {}, {{algorithm: \"ES256\"}})", key("rsa_private.pem")));
    assert!(refused.contains("the PEM is not a private EC key"), "{refused}");
    let refused = error(&mut plugin, "@auth.jwt.sign({}, \"s\", {algorithm: \"ES512\"})");
    assert!(refused.contains("unsupported algorithm \"ES512\" (supported: HS256,"), "{refused}");
}

#[test]
fn a_jwks_document_picks_the_key_by_kid() {
    let mut plugin = plugin(&[]);
    let jwks = format!(
        "{{keys: [@auth.jwk({}, {{kid: \"rsa-1\"}}), @auth.jwk({}, {{kid: \"ed-1\"}}), {{kty: \"RSA\", use: \"enc\", n: \"AQAB\", e: \"AQAB\", kid: \"enc-1\"}}]}}",
        key("rsa_public.pem"),
        key("ed_public.pem")
    );
    let document = plugin
        .eval(&format!(
            "jwks: {jwks}
ed: @auth.jwt.verify(@auth.jwt.sign({{sub: \"e\"}}, {}, {{kid: \"ed-1\"}}), jwks).sub
rsa: @auth.jwt.verify(@auth.jwt.sign({{sub: \"r\"}}, {}, {{kid: \"rsa-1\"}}), jwks).sub
unknown: @auth.jwt.check(@auth.jwt.sign({{sub: \"r\"}}, {}, {{kid: \"rsa-9\"}}), jwks).error
wrong: @auth.jwt.check(@auth.jwt.sign({{sub: \"r\"}}, {}, {{kid: \"ed-1\"}}), jwks).error
",
            key("ed_private.pem"),
            key("rsa_private.pem"),
            key("rsa_private.pem"),
            key("rsa_private.pem")
        ))
        .unwrap();
    assert_eq!((&document["ed"], &document["rsa"]), (&json!("e"), &json!("r")));
    assert_eq!(
        document["unknown"],
        json!("no key has the token's key id \"rsa-9\" (the keys' ids: \"rsa-1\", \"ed-1\")")
    );
    assert_eq!(
        document["wrong"],
        json!(
            "the token's algorithm RS256 does not fit the key: an Ed25519 key verifies only EdDSA; refused (algorithm confusion)"
        )
    );
    assert_eq!(document["jwks"]["keys"][1]["kty"], json!("OKP"));
}

#[test]
fn claims_are_checked_with_precise_errors() {
    let mut plugin = plugin(&[]);
    let s = lit("claims-secret-0123456789abcdef0123456789");
    let sign = |claims: &str, options: &str| format!("@auth.jwt.sign({claims}, {s}, {options})");
    let check = |plugin: &mut tusk_plugin_testkit::PluginTest, token: String, options: &str| {
        eval(plugin, &format!("@auth.jwt.check({token}, {s}, {options})"))
    };
    let now = 1_700_000_000;
    // Expired: with and without leeway.
    let token = sign("{sub: \"a\"}", &format!("{{now: {now}, expires_in: 60}}"));
    assert_eq!(
        check(&mut plugin, token.clone(), &format!("{{now: {}, leeway: 0}}", now + 61))["error"],
        json!("the token expired at 2023-11-14T22:14:20Z (1 s ago, leeway 0 s)")
    );
    assert_eq!(check(&mut plugin, token.clone(), &format!("{{now: {}, leeway: 5}}", now + 61))["valid"], json!(true));
    assert_eq!(
        check(&mut plugin, token, &format!("{{now: {}, leeway: 0}}", now + 60))["error"],
        json!("the token expired at 2023-11-14T22:14:20Z (0 s ago, leeway 0 s)")
    );
    // Not yet valid.
    let token = sign("{sub: \"a\"}", &format!("{{now: {now}, not_before: 3600}}"));
    assert_eq!(
        check(&mut plugin, token.clone(), &format!("{{now: {now}, leeway: 60}}"))["error"],
        json!("the token is not valid before 2023-11-14T23:13:20Z (in 3600 s, leeway 60 s)")
    );
    assert_eq!(check(&mut plugin, token, &format!("{{now: {}, leeway: 60}}", now + 3540))["valid"], json!(true));
    // Audience.
    let token = sign("{sub: \"a\"}", "{audience: [\"billing\", \"reports\"]}");
    assert_eq!(check(&mut plugin, token.clone(), "{audience: \"reports\"}")["valid"], json!(true));
    assert_eq!(
        check(&mut plugin, token.clone(), "{audience: \"admin\"}")["error"],
        json!("wrong audience: the token is for \"billing\", \"reports\", not for \"admin\"")
    );
    assert_eq!(
        check(&mut plugin, token, "{}")["error"],
        json!("the token is meant for the audience \"billing\", \"reports\"; pass `audience` to accept it")
    );
    // Issuer and subject.
    let token = sign("{sub: \"a\"}", "{issuer: \"https://id.example\"}");
    assert_eq!(check(&mut plugin, token.clone(), "{issuer: [\"https://id.example\", \"x\"]}")["valid"], json!(true));
    assert_eq!(
        check(&mut plugin, token.clone(), "{issuer: \"https://evil.example\"}")["error"],
        json!("the token's issuer \"https://id.example\" is not the expected \"https://evil.example\"")
    );
    assert_eq!(
        check(&mut plugin, token, "{subject: \"b\"}")["error"],
        json!("the token's subject \"a\" is not the expected \"b\"")
    );
    // Required claims: exp by default.
    let token = sign("{sub: \"a\"}", "{expires_in: null}");
    assert_eq!(
        check(&mut plugin, token.clone(), "{}")["error"],
        json!("the token has no `exp` claim, which is required")
    );
    assert_eq!(check(&mut plugin, token, "{require: []}")["valid"], json!(true));
    // A claim of the wrong type.
    let token = sign("{sub: \"a\", exp: \"tomorrow\"}", "{}");
    let refused = check(&mut plugin, token, "{}")["error"].as_str().unwrap().to_string();
    assert!(refused.contains("`exp` claim"), "{refused}");
    // Signing adds iat and a one-hour exp by default.
    let claims =
        eval(&mut plugin, &format!("@auth.jwt.decode({}).claims", sign("{sub: \"a\"}", &format!("{{now: {now}}}"))));
    assert_eq!(claims, json!({"sub": "a", "iat": now, "exp": now + 3600}));
}

#[test]
fn tampered_and_malformed_tokens_are_refused() {
    let mut plugin = plugin(&[]);
    let secret = lit("tamper-secret-0123456789abcdef0123456789");
    let token = eval(&mut plugin, &format!("@auth.jwt.sign({{sub: \"ada\", role: \"user\"}}, {secret})"));
    let token = token.as_str().unwrap().to_string();
    let parts: Vec<&str> = token.split('.').collect();
    // The claims rewritten to role admin, the signature kept.
    let claims = String::from_utf8(base64_decode(parts[1])).unwrap().replace("\"user\"", "\"admin\"");
    let forged = format!("{}.{}.{}", parts[0], base64_url(claims.as_bytes()), parts[2]);
    let cases = [
        (forged, "invalid signature: the token was altered or signed with another key"),
        (format!("{}.{}.{}", parts[0], parts[1], flip(parts[2], 10)), "invalid signature"),
        (
            format!("{}.{}.{}x", parts[0], parts[1], &parts[2][..parts[2].len() - 1]),
            "malformed token: a part is not base64url",
        ),
        (
            format!("{}.{}", parts[0], parts[1]),
            "malformed token: a JWT has three base64url parts separated by dots, this one has 2",
        ),
        ("not a token".to_string(), "malformed token: not a JWT"),
        (format!("!!.{}.{}", parts[1], parts[2]), "malformed token: the header is not base64url"),
        (
            format!("{}.{}.{}", base64_url(b"[1]"), parts[1], parts[2]),
            "malformed token: the header is not a JSON object",
        ),
        (
            format!("{}.{}.{}", base64_url(b"{\"alg\":\"HS257\"}"), parts[1], parts[2]),
            "unsupported algorithm \"HS257\"",
        ),
        (
            "a.b.c.d.e".to_string(),
            "malformed token: this is an encrypted JWT (JWE, five parts), which is not supported",
        ),
    ];
    for (bad, expected) in cases {
        let refused = error(&mut plugin, &format!("validate_token({}, {secret})", lit(&bad)));
        assert!(refused.contains(&format!("validate_token: {expected}")), "{bad}: {refused}");
    }
    // Signed with another secret.
    let refused = error(&mut plugin, &format!("validate_token({}, \"another-secret\")", lit(&token)));
    assert!(
        refused.contains("validate_token: invalid signature: the token was altered or signed with another key"),
        "{refused}"
    );
}

/// `text` with its character at `index` replaced by another base64url character.
fn flip(text: &str, index: usize) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    chars[index] = if chars[index] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).unwrap()
}

#[test]
fn secrets_never_appear_in_errors() {
    let mut plugin = plugin(&[]);
    let secret = "S3CRET-hmac-value-never-shown-0123456789";
    let other = "0THER-hmac-value-never-shown-0123456789";
    let token = eval(&mut plugin, &format!("generate_token({{sub: \"a\"}}, {})", lit(secret)));
    let token = lit(token.as_str().unwrap());
    let private_pem =
        std::fs::read_to_string(format!("{}/tests/keys/rsa_private.pem", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let middle_of_pem = private_pem.lines().nth(5).unwrap().to_string();
    let broken_pem = private_pem.replace(&middle_of_pem, &format!("{}!!", &middle_of_pem[2..]));
    let errors = vec![
        error(&mut plugin, &format!("validate_token({token}, {})", lit(other))),
        error(&mut plugin, &format!("validate_token({token}, {}, {{audience: \"x\", bogus: 1}})", lit(secret))),
        error(&mut plugin, &format!("@auth.jwt.sign({{}}, {})", lit(&broken_pem))),
        error(&mut plugin, &format!("@auth.jwt.verify({token}, {})", lit(&broken_pem))),
        error(&mut plugin, &format!("@auth.jwt.sign(\"not claims\", {})", lit(secret))),
        error(&mut plugin, &format!("@auth.jwk({})", lit(secret))),
        error(&mut plugin, &format!("@auth.jwk({{kty: \"oct\", k: {}}})", lit(&base64_url(secret.as_bytes())))),
        error(
            &mut plugin,
            &format!(
                "@auth.jwt.sign({{}}, {{kty: \"OKP\", crv: \"Ed25519\", d: {}}})",
                lit(&base64_url(secret.as_bytes()))
            ),
        ),
        error(&mut plugin, &format!("@auth.session.get({})", lit(&format!("{secret}.{other}")))),
        error(&mut plugin, &format!("@auth.api_key.verify({}, {})", lit(secret), lit(other))),
    ];
    // The message only: the rendered error goes on with the source excerpt, which shows the
    // script's own text (secrets written into a script show there, as in any error).
    let mut errors: Vec<String> = errors.iter().map(|rendered| rendered.lines().next().unwrap().to_string()).collect();
    errors.push(eval(&mut plugin, &format!("@auth.jwt.check({token}, {})", lit(other))).to_string());
    for message in &errors {
        for hidden in [secret, other, &middle_of_pem, &middle_of_pem[2..], &base64_url(secret.as_bytes())] {
            assert!(!message.contains(hidden), "a secret in: {message}");
        }
    }
    assert!(errors[2].contains("the PEM is not a private RSA, EC or Ed25519 key"), "{}", errors[2]);
    assert!(errors[5].contains("an HMAC secret has no public part to publish"), "{}", errors[5]);
    assert!(errors[6].contains("an HMAC secret has no public part to publish"), "{}", errors[6]);
    assert!(errors[7].contains("the Ed25519 JWK's `d` must be 32 bytes"), "{}", errors[7]);
}

#[test]
fn the_seed_forms_work_as_written() {
    let mut plugin = plugin(&[]);
    let document = plugin
        .eval(
            "token: @auth(\"jwt\", {user_id: 123, role: \"admin\"}, \"my-secret-key\")
claims: validate_token(token, \"my-secret-key\")
again: generate_token({user_id: 7}, \"my-secret-key\", {expires_in: 120, issuer: \"tusk\"})
verified: @auth(\"verify\", again, \"my-secret-key\", {issuer: \"tusk\"})
oauth: @auth(\"oauth2\", \"authorize_url\", {client_id: \"app\", auth_url: \"https://id.example/authorize\", scopes: [\"read\"]})
key: @auth(\"api_key\", \"generate\")
ok: @auth(\"api_key\", \"verify\", key.key, key.hash)
",
        )
        .unwrap();
    assert_eq!((&document["claims"]["user_id"], &document["claims"]["role"]), (&json!(123), &json!("admin")));
    assert_eq!(document["verified"]["iss"], json!("tusk"));
    assert_eq!(document["verified"]["exp"].as_i64().unwrap() - document["verified"]["iat"].as_i64().unwrap(), 120);
    let url = document["oauth"]["url"].as_str().unwrap();
    assert!(url.starts_with("https://id.example/authorize?response_type=code&client_id=app&state="), "{url}");
    assert!(url.contains("&code_challenge_method=S256") && url.contains("&scope=read"), "{url}");
    assert!(document["key"]["key"].as_str().unwrap().starts_with("tsk_"));
    assert_eq!(document["ok"], json!(true));
    let unknown = error(&mut plugin, "@auth(\"saml\", 1)");
    assert!(unknown.contains("invalid operation: @auth has no operation `saml`"), "{unknown}");
    let unknown = error(&mut plugin, "@auth(\"oauth2\", \"implicit\", {})");
    assert!(unknown.contains("invalid operation: @auth(\"oauth2\") has no action `implicit`"), "{unknown}");
    let missing = error(&mut plugin, "@auth(\"jwt\", {a: 1})");
    assert!(missing.contains("missing argument: key (argument 3 of @auth(\"jwt\"))"), "{missing}");
}

#[test]
fn sandboxed_signing_verification_and_random_keys() {
    // Not in-process: the plugin runs in the sandboxed runner, as an untrusted plugin would.
    let mut plugin = tusk_plugin_testkit::PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    let document = plugin
        .eval(&format!(
            "token: @auth.jwt.sign({{sub: \"ada\"}}, {})
claims: @auth.jwt.verify(token, {})
key: @auth.api_key.generate({{prefix: \"live_\"}})
valid: @auth.api_key.verify(key.key, key.hash)
ed: @auth.jws.sign(\"Example of Ed25519 signing\", {})
",
            key("ed_private.pem"),
            key("ed_public.pem"),
            tsk(&json!({"kty": "OKP", "crv": "Ed25519", "d": ED_D, "x": ED_X}))
        ))
        .unwrap();
    assert_eq!(document["claims"]["sub"], json!("ada"));
    assert_eq!(document["valid"], json!(true));
    assert_eq!(document["key"]["key"].as_str().unwrap().len(), "live_".len() + 43);
    assert_eq!(document["ed"], json!(ED_TOKEN));
}

#[test]
fn the_manifest_and_symbol_examples_run() {
    let mut plugin = plugin(&[]);
    assert_eq!(plugin.run_examples(), Vec::<String>::new());
}
