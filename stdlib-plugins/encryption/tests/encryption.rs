//! The encryption plugin through the real host: its built library is installed in a temporary
//! plugin folder and scripts call it, sandboxed (the test kit's default for a plugin found in an
//! ordinary folder) and in-process (as a trusted first-party plugin runs).
//!
//! The known-answer tests feed the published vectors through scripts: a NIST AES-GCM or
//! RFC 8439 vector becomes a `tsk1:` envelope (nonce || ciphertext || tag, base64url) that
//! `@decrypt` must open to the published plaintext, and the RFC 8032, RFC 4231 and RFC 9106
//! vectors go through `@encryption.sign`, `@encryption.hmac` and `@encryption.derive_key`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{Value as Json, json};
use tusk_plugin_testkit::PluginTest;

/// The bytes 0 to 31, as hex: a key the scripts write inline.
const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn plugin() -> PluginTest {
    PluginTest::for_package(env!("CARGO_MANIFEST_DIR"))
}

fn ok(plugin: &mut PluginTest, source: &str) -> Json {
    plugin.eval_expression(source).unwrap_or_else(|error| panic!("{source}\n{error}"))
}

/// The headline of the rendered diagnostic (operator and message), without its code: R009
/// when the error names an argument, R015 otherwise.
fn error(plugin: &mut PluginTest, source: &str) -> String {
    let rendered = plugin.eval_expression(source).expect_err(source);
    let headline = rendered.lines().next().unwrap_or_default();
    let message = headline.strip_prefix("[R009] Error: ").or_else(|| headline.strip_prefix("[R015] Error: "));
    message.unwrap_or_else(|| panic!("unexpected headline: {headline}")).to_string()
}

/// The whole rendered diagnostic (headline, hint).
fn rendered_error(plugin: &mut PluginTest, source: &str) -> String {
    plugin.eval_expression(source).expect_err(source)
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// Whether the loaded plugin runs in the sandboxed runner (a separate process).
fn sandboxed(plugin: &mut PluginTest) -> bool {
    let host = plugin.engine().plugins().expect("plugins are enabled").clone();
    let loaded = host.loaded();
    let encryption = loaded.iter().find(|p| p.name == "encryption").expect("the plugin is loaded");
    encryption.sandboxed().is_some()
}

#[test]
fn the_examples_of_the_manifest_and_the_docs_pass() {
    let mut plugin = plugin();
    assert_eq!(plugin.run_examples(), Vec::<String>::new());
}

#[test]
fn the_seed_surface_round_trips_sandboxed() {
    let mut plugin = plugin();
    for algorithm in ["aes_256_gcm", "chacha20_poly1305"] {
        let source = format!(r#"@decrypt("{algorithm}", @encrypt("{algorithm}", "héllo, wörld", "{KEY}"), "{KEY}")"#);
        assert_eq!(ok(&mut plugin, &source), json!("héllo, wörld"), "{algorithm}");
    }
    assert!(sandboxed(&mut plugin), "the test kit's default engine runs the plugin in the sandbox");
    let envelope = ok(&mut plugin, &format!(r#"@encrypt("aes_256_gcm", "hello", "{KEY}")"#));
    let envelope = envelope.as_str().unwrap();
    assert!(envelope.starts_with("tsk1:aes256gcm:"), "{envelope}");
    // 12-byte nonce, 5 bytes of ciphertext, 16-byte tag.
    let payload = URL_SAFE_NO_PAD.decode(&envelope["tsk1:aes256gcm:".len()..]).unwrap();
    assert_eq!(payload.len(), 12 + 5 + 16);
    // A fresh nonce every time: the same plaintext never encrypts the same way twice.
    assert_eq!(
        ok(&mut plugin, &format!(r#"@encrypt("aes_256_gcm", "x", "{KEY}") == @encrypt("aes_256_gcm", "x", "{KEY}")"#)),
        json!(false)
    );
    assert_eq!(
        ok(&mut plugin, r#"@encrypt("hash", "abc")"#),
        json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    // With a key, "hash" is HMAC-SHA-256 (RFC 4231 test case 2).
    assert_eq!(
        ok(&mut plugin, r#"@encrypt("hash", "what do ya want for nothing?", "Jefe")"#),
        json!("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    );
    assert_eq!(
        ok(&mut plugin, r#"[hash("abc"), verify("abc", hash("abc")), verify("abd", hash("abc"))]"#),
        json!(["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", true, false])
    );
    assert_eq!(
        error(&mut plugin, r#"@encrypt("rot13", "data", "key")"#),
        "@encrypt: invalid algorithm: not one that @encrypt knows (the value given is not repeated here)"
    );
}

#[test]
fn the_same_calls_work_in_process() {
    let mut plugin = plugin();
    plugin.in_process();
    let source = format!(
        r#"@encryption.decrypt(@encryption.encrypt("aes_256_gcm", "in-process", "{KEY}", {{aad: "id=7"}}), "{KEY}", {{aad: "id=7"}})"#
    );
    assert_eq!(ok(&mut plugin, &source), json!("in-process"));
    assert!(!sandboxed(&mut plugin), "a trusted plugin runs in-process");
    assert_eq!(ok(&mut plugin, r#"verify("hunter2", hash("hunter2", "argon2id"))"#), json!(true));
}

/// NIST CAVP `gcmEncryptExtIV256.rsp` vectors: key, IV, plaintext, AAD, ciphertext, tag.
const NIST_AES_256_GCM: &[[&str; 6]] = &[
    [
        "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
        "516c33929df5a3284ff463d7",
        "",
        "",
        "",
        "bdc1ac884d332457a1d2664f168c76f0",
    ],
    [
        "7da3bccaffb3464178ca7c722379836db50ce0bfb47640b9572163865332e486",
        "c04fd2e701c3dc62b68738b3",
        "fd671cab1ee21f0df6bb610bf94f0e69",
        "fec0311013202e4ffdc4204926ae0ddf",
        "6be61b17b7f7d494a7cdf270562f37ba",
        "5e702a38323fe1160b780d17adad3e96",
    ],
    [
        "55f9171a03c21e09e3a5fd771e56bffb775ebb190319f3dc214c4b19f72e5482",
        "14f3bf95a08e8f52eb46fbf9",
        "af6b17fd67bc1173b063fc6f0941483cee9cbbbbed3a4dcff55a74b0c9535b977efa640e5b1a30faa859fd3daa8dd780cc94a0",
        "bac1ddefd111d471e75f0efb0f8127b4da923ecc788a5c91e3e2f65e2943e4caf42f54896604af19ed0b4d8697d45ab9",
        "3ae8678089522371fe4bd4da99ffd83a32988e0728aa3a4970ded1fe73bc30c2eb1fe24c0ff5ab549ac7e567d7036628fd718d",
        "cf59603e05f4ed1d2da04e19399b8512",
    ],
];

#[test]
fn nist_aes_gcm_vectors_decrypt_through_a_script() {
    let mut plugin = plugin();
    for [key, iv, plaintext, aad, ciphertext, tag] in NIST_AES_256_GCM {
        let envelope =
            format!("tsk1:aes256gcm:{}", URL_SAFE_NO_PAD.encode([hex(iv), hex(ciphertext), hex(tag)].concat()));
        let source = format!(r#"@decrypt("aes_256_gcm", "{envelope}", "{key}", {{aad: "{aad}", encoding: "hex"}})"#);
        assert_eq!(ok(&mut plugin, &source), json!(plaintext), "key {key}");
        // One bit of the tag changed: refused.
        let mut changed = hex(tag);
        changed[15] ^= 0x80;
        let envelope =
            format!("tsk1:aes256gcm:{}", URL_SAFE_NO_PAD.encode([hex(iv), hex(ciphertext), changed].concat()));
        let source = format!(r#"@decrypt("aes_256_gcm", "{envelope}", "{key}", {{aad: "{aad}", encoding: "hex"}})"#);
        assert_eq!(
            error(&mut plugin, &source),
            "@decrypt: decryption failed: the key is wrong, the ciphertext was changed or cut, or the associated data differs"
        );
    }
}

/// Envelopes sealed by the plugin before its AEADs moved to ring (RustCrypto's `aes-gcm` and
/// `chacha20poly1305` 0.11, through `@encrypt`'s own code with its random nonces), under [`KEY`]:
/// the algorithm, the associated data, the plaintext and the envelope. They must keep opening.
const ENVELOPES_BEFORE_RING: &[[&str; 4]] = &[
    [
        "aes_256_gcm",
        "",
        "sealed before ring",
        "tsk1:aes256gcm:RBNQYFxpDgP_QRViAapTzuzPUAMKvuAkbzv1M3oeYJhozG0wGWJTwTBLmrYiCA",
    ],
    ["aes_256_gcm", "id=7", "", "tsk1:aes256gcm:tQAop5AaUCjWpxLvML2CSOMerT9QjiL2Ui1YGQ"],
    [
        "aes_256_gcm",
        "v1",
        "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
        concat!(
            "tsk1:aes256gcm:Fp_Q8s6kF9sDmR-1drz61JSL7LGCrfRlb59VyV8EVmu8FIybXe8zkhbpvqNM2Ros_aSx3-CKH1_xv63lK5Fdjk",
            "MOL_n0U8vJfzwSnxkSJ-Sozx5eL6EJuME_kGaGPwyJuaK-oI6O2e3lk0NDVQGhPmPpr1Jn40CX67XHgm7CsYo"
        ),
    ],
    [
        "chacha20_poly1305",
        "",
        "sealed before ring",
        "tsk1:chacha20poly1305:YMJau8989p_oXYK_0Z5c6vf87HathK18Wq6FJwC6_Y1ltVOR5ZZAW557tmd78A",
    ],
    ["chacha20_poly1305", "id=7", "", "tsk1:chacha20poly1305:uBIcFAk5t0CQDzukDo58bOKbOBS467MNDEpnwQ"],
    [
        "chacha20_poly1305",
        "v1",
        "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
        concat!(
            "tsk1:chacha20poly1305:Ium5D30ZRI4x4etP_1oIqw10IGID4Uhn6RspQ-oaG_HNGgrn0ASvYgvaf4nXlBsH5Hx77wzQ6Yp70JS",
            "wPTzIQE6BDHIqlvljhFg8iIuS2gZyDZugb15raYG4jkBeuVRN2NPG4mVvrA8T6rsRkAoAsr6hS-QadUAzqlmZMXICsdw"
        ),
    ],
];

/// ChaCha20-Poly1305 envelopes sealed by the plugin while that AEAD was ring's (main at
/// dcfe347, `tusk get` of `@encrypt` under [`KEY`]), before it moved to aws-lc's
/// `EVP_AEAD_CTX`: the algorithm, the associated data, the plaintext and the envelope. The
/// third crosses several 64-byte ChaCha20 blocks.
const ENVELOPES_BY_RING: &[[&str; 4]] = &[
    [
        "chacha20_poly1305",
        "",
        "sealed by ring",
        "tsk1:chacha20poly1305:IfHvRFs4P76hFeKHjNSJR_rFII_jTmYSAmS8-Syjbf3kBBuMKX2RSjyu",
    ],
    ["chacha20_poly1305", "id=7", "", "tsk1:chacha20poly1305:aFWQiAmFndrJc_vgxRexrquFv5JDs2WAFmTKFA"],
    [
        "chacha20_poly1305",
        "v2",
        concat!(
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        ),
        concat!(
            "tsk1:chacha20poly1305:cDXxAtIPFt00W0ZRhbobY_BBp2Zx4lsPQ6zI4GxvPyJyCMsNd__TgAx4JzRpi1euOV5B2IuYD5",
            "4KoeqCE-SAF-YJwYxsRilKdchhb2kaP7_Ae5bW9hfHCQe3xMYWfQAUXncoxcj9NBo20U-jwsmOJhAhHirNR_7yWV67yvOH3r",
            "qABVW7dUKVe-BwV-INYArlVx1kCX7pNDS0gnLH2hx1fEQ0nqwwSpqtADpRHFr7-l_dqAxuJB9bycwfah4SCTg8xt078arRq_",
            "QoY8EcEuCC8Qcbu0NouIzyey-HPDVgl1sRMUKGPfgqspQ02_CNnuK4f_Kz5ksX6MTBiwLlZ2DBzxWKlhT4gNtnAE1PMfXJQU",
            "ffw03cZZJddTWUOVjmy34jDB_nQf6dZ9yLp7M3",
        ),
    ],
];

#[test]
fn envelopes_sealed_by_earlier_versions_still_open() {
    let mut plugin = plugin();
    for [algorithm, aad, plaintext, envelope] in ENVELOPES_BEFORE_RING.iter().chain(ENVELOPES_BY_RING) {
        let seed = format!(r#"@decrypt("{algorithm}", "{envelope}", "{KEY}", {{aad: "{aad}"}})"#);
        assert_eq!(ok(&mut plugin, &seed), json!(plaintext), "{envelope}");
        let named = format!(r#"@encryption.decrypt("{envelope}", "{KEY}", {{aad: "{aad}"}})"#);
        assert_eq!(ok(&mut plugin, &named), json!(plaintext), "{envelope}");
        let wrong_aad = format!(r#"@decrypt("{algorithm}", "{envelope}", "{KEY}", {{aad: "{aad}x"}})"#);
        assert_eq!(
            error(&mut plugin, &wrong_aad),
            "@decrypt: decryption failed: the key is wrong, the ciphertext was changed or cut, or the associated data differs"
        );
    }
}

#[test]
fn rfc_8439_chacha20_poly1305_decrypts_through_a_script() {
    let mut plugin = plugin();
    let ciphertext = concat!(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b",
        "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc",
        "3ff4def08e4b7a9de576d26586cec64b6116"
    );
    let payload = [hex("070000004041424344454647"), hex(ciphertext), hex("1ae10b594f09e26a7e902ecbd0600691")].concat();
    let envelope = format!("tsk1:chacha20poly1305:{}", URL_SAFE_NO_PAD.encode(payload));
    let key = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
    // The AAD (50515253c0c1c2c3c4c5c6c7) is binary, so the call writes it in base64.
    let aad = base64::engine::general_purpose::STANDARD.encode(hex("50515253c0c1c2c3c4c5c6c7"));
    let source = format!(r#"@encryption.decrypt("{envelope}", "{key}", {{aad: "{aad}", encoding: "base64"}})"#);
    let plaintext = ok(&mut plugin, &source);
    let plaintext = base64::engine::general_purpose::STANDARD.decode(plaintext.as_str().unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(plaintext).unwrap(),
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."
    );
}

#[test]
fn rfc_8032_ed25519_signs_and_verifies_through_a_script() {
    let mut plugin = plugin();
    let vectors = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];
    for (secret, public, message, signature) in vectors {
        let source =
            format!(r#"@encryption.sign("ed25519", "{message}", "{secret}", {{encoding: "hex", output: "hex"}})"#);
        assert_eq!(ok(&mut plugin, &source), json!(signature));
        let source = format!(
            r#"@encryption.verify_signature("ed25519", "{message}", "{signature}", "{public}", {{encoding: "hex"}})"#
        );
        assert_eq!(ok(&mut plugin, &source), json!(true));
        let source = format!(
            r#"@encryption.verify_signature("ed25519", "{message}00", "{signature}", "{public}", {{encoding: "hex"}})"#
        );
        assert_eq!(ok(&mut plugin, &source), json!(false));
    }
    // Generated PEM keys: sign with the private key, verify with the public one (and the
    // public key derived from the private one is the same).
    let source = r#"{
        pair: @encryption.generate_key("ed25519"),
        signature: @encryption.sign("ed25519", "release 1.2", pair.private_key),
        good: @encryption.verify_signature("ed25519", "release 1.2", signature, pair.public_key),
        bad: @encryption.verify_signature("ed25519", "release 1.3", signature, pair.public_key),
        same: @encryption.public_key(pair.private_key) == pair.public_key
    }"#;
    let result = ok(&mut plugin, &format!("{source}.good"));
    assert_eq!(result, json!(true));
    assert_eq!(ok(&mut plugin, &format!("[{source}.bad, {source}.same]")), json!([false, true]));
}

#[test]
fn rfc_4231_hmac_through_a_script() {
    let mut plugin = plugin();
    let cases = [
        (
            r#"@encryption.hmac("sha256", "Hi There", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", {key_encoding: "hex"})"#,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            r#"@encryption.hmac("sha512", "what do ya want for nothing?", "Jefe")"#,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
        (
            r#"@encryption.hmac("SHA-256", "Test Using Larger Than Block-Size Key - Hash Key First", "LONGKEY", {key_encoding: "hex"})"#,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
    ];
    for (source, expected) in cases {
        let source = source.replace("LONGKEY", &"aa".repeat(131));
        assert_eq!(ok(&mut plugin, &source), json!(expected), "{source}");
    }
    assert_eq!(
        ok(
            &mut plugin,
            r#"[@encryption.verify_hmac("sha256", "what do ya want for nothing?", "Jefe", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
                @encryption.verify_hmac("sha256", "what do ya want for nothing!", "Jefe", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")]"#
        ),
        json!([true, false])
    );
}

#[test]
fn rfc_9106_argon2id_and_reference_phc_strings() {
    let mut plugin = plugin();
    // RFC 9106 §5.3: password 32 × 01, salt 16 × 02, secret 8 × 03, associated data 12 × 04.
    let source = format!(
        r#"@encryption.derive_key("{}", "{}", {{secret: "{}", associated_data: "{}", memory_kib: 32, iterations: 3, parallelism: 4, length: 32, encoding: "hex", output: "hex"}})"#,
        "01".repeat(32),
        "02".repeat(16),
        "03".repeat(8),
        "04".repeat(12)
    );
    assert_eq!(ok(&mut plugin, &source), json!("0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"));
    // A hash of "password" made by the Argon2 reference implementation (salt "somesalt").
    let reference = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
    assert_eq!(
        ok(
            &mut plugin,
            &format!(r#"[verify("password", "{reference}"), @encryption.password_verify("passwort", "{reference}")]"#)
        ),
        json!([true, false])
    );
    let stored = ok(&mut plugin, r#"@encryption.password_hash("s3cret!", {memory_kib: 1024, iterations: 1})"#);
    let stored = stored.as_str().unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{stored}");
    assert_eq!(
        ok(&mut plugin, &format!(r#"[verify("s3cret!", "{stored}"), verify("s3cret?", "{stored}")]"#)),
        json!([true, false])
    );
}

#[test]
fn rsa_oaep_and_pss_with_generated_keys() {
    let mut plugin = plugin();
    plugin.with_user_config("[plugins.encryption]\nrsa_decryption = true\n");
    let source = r#"{
        pair: @encryption.generate_key("rsa_2048"),
        sealed: @encrypt("rsa_2048", "a wrapped key", pair.public_key),
        opened: @decrypt("rsa_2048", sealed, pair.private_key),
        labelled: @encryption.decrypt(@encryption.encrypt("rsa_oaep", "x", pair.public_key, {aad: "k1"}), pair.private_key, {aad: "k1"}),
        signature: @encryption.sign("rsa_pss", "release", pair.private_key),
        good: @encryption.verify_signature("rsa_pss", "release", signature, pair.public_key),
        bad: @encryption.verify_signature("rsa_pss", "Release", signature, pair.public_key),
        prefix: len(sealed) > 300 && sealed != "" ? "tsk1:rsaoaep256:" : "short"
    }"#;
    let result = plugin.eval(&format!("result: {source}")).unwrap_or_else(|error| panic!("{error}"));
    let result = &result["result"];
    assert!(result["pair"]["private_key"].as_str().unwrap().starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(result["pair"]["public_key"].as_str().unwrap().starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert!(result["sealed"].as_str().unwrap().starts_with("tsk1:rsaoaep256:"));
    assert_eq!(result["opened"], json!("a wrapped key"));
    assert_eq!(result["labelled"], json!("x"));
    assert_eq!(result["good"], json!(true));
    assert_eq!(result["bad"], json!(false));
    let public = result["pair"]["public_key"].as_str().unwrap().to_string();
    let private = result["pair"]["private_key"].as_str().unwrap().to_string();
    let sealed = result["sealed"].as_str().unwrap().to_string();

    // 190 bytes fit one OAEP-SHA-256 block of a 2048-bit key; 191 do not.
    let long = "x".repeat(191);
    assert_eq!(
        error(&mut plugin, &format!(r#"@encrypt("rsa_2048", "{long}", "{public}")"#)),
        "@encrypt: RSA-OAEP with this 2048-bit key encrypts at most 190 bytes, and the data is 191 bytes"
    );
    // Another label: refused like a tampered ciphertext.
    assert_eq!(
        error(&mut plugin, &format!(r#"@decrypt("rsa_2048", "{sealed}", "{private}", {{aad: "other"}})"#)),
        "@decrypt: decryption failed: the key is wrong, the ciphertext was changed or cut, or the associated data differs"
    );
    // A 1024-bit key is refused, for encryption and signatures alike.
    let mut rng = getrandom::SysRng;
    let small = rsa::PrivateKey::new(&mut rng, 1024).unwrap().to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    assert_eq!(
        error(&mut plugin, &format!(r#"@encrypt("rsa_2048", "x", "{small}")"#)),
        "@encrypt: RSA keys must have at least 2048 bits; this one has 1024"
    );
    assert_eq!(
        error(&mut plugin, &format!(r#"@encryption.sign("rsa_pss", "x", "{small}")"#)),
        "@encryption.sign: RSA keys must have at least 2048 bits; this one has 1024"
    );

    // Without the configuration switch, RSA decryption is refused (encryption still works).
    let mut plain = self::plugin();
    let rendered = rendered_error(&mut plain, &format!(r#"@decrypt("rsa_2048", "{sealed}", "{private}")"#));
    assert_eq!(
        rendered.lines().next().unwrap(),
        "[R015] Error: @decrypt: permission denied: RSA decryption is disabled"
    );
    assert!(rendered.contains("rsa_decryption = true"), "{rendered}");
    assert!(
        ok(&mut plain, &format!(r#"@encrypt("rsa_2048", "x", "{public}")"#))
            .as_str()
            .unwrap()
            .starts_with("tsk1:rsaoaep256:")
    );
}

#[test]
fn wrong_keys_tampering_and_truncation_are_clear_errors() {
    let mut plugin = plugin();
    let envelope = ok(&mut plugin, &format!(r#"@encrypt("aes_256_gcm", "attack at dawn", "{KEY}", {{aad: "v1"}})"#));
    let envelope = envelope.as_str().unwrap().to_string();
    let other_key = "ff".repeat(32);
    let failed =
        "decryption failed: the key is wrong, the ciphertext was changed or cut, or the associated data differs";
    // A changed character in the middle of the payload.
    let mut tampered = envelope.clone().into_bytes();
    let middle = "tsk1:aes256gcm:".len() + 20;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let cut = &envelope[..envelope.len() - 4];
    let short = &envelope[.."tsk1:aes256gcm:".len() + 20];
    let cases = [
        (format!(r#"@decrypt("aes_256_gcm", "{envelope}", "{other_key}", {{aad: "v1"}})"#), format!("@decrypt: {failed}")),
        (format!(r#"@decrypt("aes_256_gcm", "{envelope}", "{KEY}")"#), format!("@decrypt: {failed}")),
        (format!(r#"@decrypt("aes_256_gcm", "{tampered}", "{KEY}", {{aad: "v1"}})"#), format!("@decrypt: {failed}")),
        (format!(r#"@decrypt("aes_256_gcm", "{cut}", "{KEY}", {{aad: "v1"}})"#), format!("@decrypt: {failed}")),
        (
            format!(r#"@decrypt("aes_256_gcm", "{short}", "{KEY}")"#),
            "@decrypt: the ciphertext is cut short: a aes_256_gcm payload has at least 28 bytes (nonce and tag), this one 15".to_string(),
        ),
        (
            format!(r#"@decrypt("chacha20_poly1305", "{envelope}", "{KEY}")"#),
            "@decrypt: invalid operation: the ciphertext was made with aes_256_gcm, not chacha20_poly1305".to_string(),
        ),
        (
            format!(r#"@decrypt("hash", "{envelope}", "{KEY}")"#),
            "@decrypt: invalid operation: a hash cannot be decrypted; check a value against it with verify(data, hash)".to_string(),
        ),
        (
            format!(r#"@encryption.decrypt("not a ciphertext", "{KEY}")"#),
            "@encryption.decrypt: the ciphertext is not one this plugin made (it has fewer than three `:`-separated parts); it looks like tsk1:<algorithm>:<base64>".to_string(),
        ),
        (
            format!(r#"@encryption.decrypt("tsk9:aes256gcm:AAAA", "{KEY}")"#),
            "@encryption.decrypt: the ciphertext's format version is tsk9, and this plugin reads tsk1".to_string(),
        ),
        (
            r#"@encrypt("aes_256_gcm", "x", "too short")"#.to_string(),
            "@encrypt: the key must be 32 bytes written as base64 or as 64 hex digits; this one is neither".to_string(),
        ),
        (
            r#"@encrypt("aes_256_gcm", "x", "c2VjcmV0")"#.to_string(),
            "@encrypt: the key must be 32 bytes, written as base64 or as 64 hex digits; this one is 6 bytes".to_string(),
        ),
        (
            format!(r#"@encrypt("aes_256_gcm", 42, "{KEY}")"#),
            "@encrypt: data must be a string or bytes, found int".to_string(),
        ),
        (
            r#"@encrypt("aes_256_gcm", "x")"#.to_string(),
            "@encrypt: missing argument: key (the call is @encrypt(algorithm, data, key[, options]))".to_string(),
        ),
        (
            format!(r#"@encrypt("aes_256_gcm", "x", "{KEY}", {{nonce: "0"}})"#),
            "@encrypt: @encrypt has no option `nonce`; its options are aad, encoding, key_encoding".to_string(),
        ),
        (
            format!(r#"@decrypt("aes_256_gcm", @encrypt("aes_256_gcm", "//79", "{KEY}", {{encoding: "base64"}}), "{KEY}")"#),
            "@decrypt: the plaintext is binary, not UTF-8 text".to_string(),
        ),
        (
            r#"verify("abc", "1234")"#.to_string(),
            "verify: the expected hash is not a sha256 digest (64 hex digits or base64 of 32 bytes) nor an Argon2 PHC string".to_string(),
        ),
        (
            r#"@encryption.hash("md5", "abc")"#.to_string(),
            "@encryption.hash: invalid algorithm: not one that @encryption.hash knows (the value given is not repeated here)".to_string(),
        ),
        (
            r#"@encryption.sign("ed25519", "x", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")"#.to_string(),
            "@encryption.sign: signing needs the private key, and a public key was given".to_string(),
        ),
        (
            r#"@encryption.random_bytes(2000000)"#.to_string(),
            "@encryption.random_bytes: count must be at most 1048576, and is 2000000".to_string(),
        ),
        (
            r#"@encryption.password_hash("pw", {memory_kib: 4})"#.to_string(),
            "@encryption.password_hash: memory_kib must be 8 to 1048576, and is 4".to_string(),
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(error(&mut plugin, &source), expected, "{source}");
    }
    // And a correct call still works after all those errors.
    let source = format!(r#"@decrypt("aes_256_gcm", "{envelope}", "{KEY}", {{aad: "v1"}})"#);
    assert_eq!(ok(&mut plugin, &source), json!("attack at dawn"));
}

#[test]
fn secrets_never_appear_in_errors() {
    let mut plugin = plugin();
    // Distinctive markers for a key, a plaintext and a password.
    let key_marker = "K3YMARKERzz";
    let text_marker = "PLAINTEXTMARKER";
    let password_marker = "PASSWORDMARKER";
    let bad_key = format!("{key_marker}-not-base64!");
    let envelope = ok(&mut plugin, &format!(r#"@encrypt("aes_256_gcm", "{text_marker}", "{KEY}")"#));
    let envelope = envelope.as_str().unwrap().to_string();
    let sources = [
        format!(r#"@encrypt("aes_256_gcm", "{text_marker}", "{bad_key}")"#),
        format!(
            r#"@encrypt("chacha20_poly1305", "{text_marker}", "{key_marker}{key_marker}{key_marker}{key_marker}")"#
        ),
        // Arguments in the wrong order: the plaintext lands where the algorithm goes.
        format!(r#"@encrypt("{text_marker} with spaces", "aes_256_gcm", "{KEY}")"#),
        format!(r#"@encrypt("{text_marker}", "aes_256_gcm", "{KEY}")"#),
        format!(r#"@encrypt("{}", "aes_256_gcm", "{KEY}")"#, text_marker.repeat(3)),
        format!(r#"@decrypt("aes_256_gcm", "{envelope}", "{bad_key}")"#),
        format!(r#"@decrypt("aes_256_gcm", "{envelope}", "{}")"#, "ab".repeat(32)),
        format!(
            r#"@encrypt("rsa_2048", "{text_marker}", "-----BEGIN PUBLIC KEY-----\n{key_marker}\n-----END PUBLIC KEY-----")"#
        ),
        format!(r#"@encryption.sign("ed25519", "{text_marker}", "{bad_key}")"#),
        format!(
            r#"@encryption.sign("rsa_pss", "{text_marker}", "-----BEGIN PRIVATE KEY-----\n{key_marker}\n-----END PRIVATE KEY-----")"#
        ),
        format!(r#"@encryption.hmac("sha256", "{text_marker}", "{key_marker}zz", {{key_encoding: "hex"}})"#),
        format!(r#"@encryption.hmac("{text_marker}", "data", "{key_marker}")"#),
        format!(r#"@encryption.password_verify("{password_marker}", "{key_marker}")"#),
        format!(r#"verify("{password_marker}", "$argon2id$v=19$m=65536,t=2,p=1${key_marker}")"#),
        format!(r#"@encryption.derive_key("{password_marker}", "salt")"#),
        format!(r#"@encryption.generate_key("{key_marker}-{text_marker}")"#),
        format!(r#"@encrypt("aes_256_gcm", "{text_marker}!", "{KEY}", {{encoding: "hex"}})"#),
    ];
    for source in &sources {
        let rendered = plugin.eval_expression(source).expect_err(source);
        // The headline and the hint: the source line the renderer quotes is the script itself.
        let message: String = rendered
            .lines()
            .filter(|line| line.contains("Error:") || line.contains("Help:"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!message.is_empty(), "{rendered}");
        for marker in [key_marker, text_marker, password_marker, KEY] {
            assert!(!message.contains(marker), "{source}\n{message}");
        }
    }
}

#[test]
fn keys_tokens_and_random_bytes_have_their_sizes() {
    let mut plugin = plugin();
    let result = ok(
        &mut plugin,
        r#"[len(@encryption.random_bytes(32, "hex")), len(@encryption.random_bytes(30)), len(@encryption.random_token()), len(@encryption.random_token(12)),
            len(@encryption.generate_key("chacha20_poly1305")), @encryption.random_token() == @encryption.random_token()]"#,
    );
    assert_eq!(result, json!([64, 40, 43, 16, 44, false]));
    // A generated key works with the cipher it was made for.
    let source = r#"{ key: @encryption.generate_key("aes_256_gcm"), out: @decrypt("aes_256_gcm", @encrypt("aes_256_gcm", "k", key), key) }.out"#;
    assert_eq!(ok(&mut plugin, source), json!("k"));
    // A key derived from a password works too.
    let source = r#"{ key: @encryption.derive_key("correct horse", "salt-1234", {memory_kib: 64, iterations: 1}), out: @encryption.decrypt(@encrypt("aes_256_gcm", "k", key), key) }.out"#;
    assert_eq!(ok(&mut plugin, source), json!("k"));
}

#[test]
fn every_hash_algorithm_by_every_spelling() {
    let mut plugin = plugin();
    let cases = [
        (r#"hash("abc", "sha256")"#, json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")),
        (
            r#"hash("abc", "sha384")"#,
            json!("cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
        ),
        (r#"hash("abc", "SHA3-256")"#, json!("3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532")),
        (
            r#"@encryption.hash("sha3_512", "abc")"#,
            json!(
                "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0"
            ),
        ),
        (
            r#"@encryption.hash("blake3", "abc", {output: "base64"})"#,
            json!("ZDezrDhGUTP/tjt1JzqNtUjFWEZdedsD/TWcbNW9nYU="),
        ),
        (
            r#"hash("616263", "sha256", {encoding: "hex"})"#,
            json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ),
        (r#"verify("abc", "9fEZ+g5XrWg5zc0IkCgnoHEgts9JDjSvjxIUTcDc7EU=", "sha3_256")"#, json!(false)),
        (r#"verify("abc", "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")"#, json!(true)),
        // Options in the optional algorithm's place.
        (r#"hash("abc", {output: "base64"})"#, json!("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")),
        (r#"verify("616263", hash("abc"), {encoding: "hex"})"#, json!(true)),
    ];
    for (source, expected) in cases {
        assert_eq!(ok(&mut plugin, source), expected, "{source}");
    }
}

/// `@encryption.seal` and `@encryption.open` with the NIST vectors, bytes in and out, in both
/// modes: the sealed layout is the standard `nonce || ciphertext || tag`.
#[test]
fn nist_aes_gcm_vectors_open_as_bytes_in_both_modes() {
    for trusted in [false, true] {
        let mut plugin = plugin();
        if trusted {
            plugin.in_process();
        }
        for [key, iv, plaintext, aad, ciphertext, tag] in NIST_AES_256_GCM {
            let sealed = format!("{iv}{ciphertext}{tag}");
            let source = format!(
                r#"hex(@encryption.open("aes_256_gcm", from_hex("{sealed}"), from_hex("{key}"), {{aad: from_hex("{aad}")}}))"#
            );
            assert_eq!(ok(&mut plugin, &source), json!(plaintext), "key {key}");
            // The key and the aad as text, the plaintext as hex text.
            let source = format!(
                r#"@encryption.open("aes_256_gcm", from_hex("{sealed}"), "{key}", {{aad: "{aad}", encoding: "hex", output: "hex"}})"#
            );
            assert_eq!(ok(&mut plugin, &source), json!(plaintext), "key {key}");
            let mut changed = hex(&sealed);
            changed[3] ^= 0x01;
            let changed: String = changed.iter().map(|byte| format!("{byte:02x}")).collect();
            let source = format!(
                r#"@encryption.open("aes_256_gcm", from_hex("{changed}"), from_hex("{key}"), {{aad: from_hex("{aad}")}})"#
            );
            assert_eq!(
                error(&mut plugin, &source),
                "@encryption.open: decryption failed: the key is wrong, the ciphertext was changed or cut, or the associated data differs"
            );
        }
        assert_eq!(sandboxed(&mut plugin), !trusted);
    }
}

#[test]
fn sealed_bytes_round_trip_and_are_the_envelope_s_payload() {
    let mut plugin = plugin();
    for algorithm in ["aes_256_gcm", "chacha20_poly1305"] {
        // Bytes in (data, key, aad), bytes out.
        let source = format!(
            r#"hex(@encryption.open("{algorithm}", @encryption.seal("{algorithm}", bytes([0, 1, 255]), from_hex("{KEY}"), {{aad: bytes([9])}}), from_hex("{KEY}"), {{aad: bytes([9])}}))"#
        );
        assert_eq!(ok(&mut plugin, &source), json!("0001ff"), "{algorithm}");
        let source = format!(r#"len(@encryption.seal("{algorithm}", "hello", "{KEY}"))"#);
        assert_eq!(ok(&mut plugin, &source), json!(12 + 5 + 16), "{algorithm}");
        // The sealed bytes (base64 in the document) are what an envelope carries.
        let sealed =
            ok(&mut plugin, &format!(r#"@encryption.seal("{algorithm}", "same layout", "{KEY}", {{aad: "a"}})"#));
        let sealed = base64::engine::general_purpose::STANDARD.decode(sealed.as_str().unwrap()).unwrap();
        let id = if algorithm == "aes_256_gcm" { "aes256gcm" } else { "chacha20poly1305" };
        let envelope = format!("tsk1:{id}:{}", URL_SAFE_NO_PAD.encode(&sealed));
        let source = format!(r#"@decrypt("{algorithm}", "{envelope}", "{KEY}", {{aad: "a"}})"#);
        assert_eq!(ok(&mut plugin, &source), json!("same layout"), "{algorithm}");
        // Empty data: nonce and tag only.
        let source = format!(
            r#"len(@encryption.open("{algorithm}", @encryption.seal("{algorithm}", bytes(""), "{KEY}"), "{KEY}"))"#
        );
        assert_eq!(ok(&mut plugin, &source), json!(0), "{algorithm}");
        // Past the ciphers' wide block loops: sealed straight into the new byte string and
        // opened back, byte for byte.
        let data = "bytes(map(range(0, 70001), i => i % 251))";
        let source = format!(
            r#"@encryption.open("{algorithm}", @encryption.seal("{algorithm}", {data}, "{KEY}"), "{KEY}") == {data}"#
        );
        assert_eq!(ok(&mut plugin, &source), json!(true), "{algorithm}");
    }
    // Byte strings as data and keys of the envelope operators, the hashes and the MACs.
    let source = format!(
        r#"@decrypt("aes_256_gcm", @encrypt("aes_256_gcm", bytes("bytes in"), from_hex("{KEY}")), from_hex("{KEY}"))"#
    );
    assert_eq!(ok(&mut plugin, &source), json!("bytes in"));
    assert_eq!(
        ok(&mut plugin, r#"hash(bytes("abc"))"#),
        json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(
        ok(&mut plugin, r#"hex(hash("abc", {output: "bytes"}))"#),
        json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(
        ok(
            &mut plugin,
            r#"hex(@encryption.hmac("sha256", bytes("what do ya want for nothing?"), bytes("Jefe"), {output: "bytes"}))"#
        ),
        json!("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    );
}

#[test]
fn sealed_bytes_that_are_cut_changed_or_of_the_wrong_kind_are_clear_errors() {
    let mut plugin = plugin();
    for len in [0, 1, 27] {
        let source = format!(r#"@encryption.open("aes_256_gcm", bytes(map(range({len}), i => 0)), "{KEY}")"#);
        assert_eq!(
            error(&mut plugin, &source),
            format!(
                "@encryption.open: the sealed data is cut short: aes_256_gcm sealed data has at least 28 bytes (nonce and tag), this has {len}"
            )
        );
    }
    let sealed = format!(r#"@encryption.seal("aes_256_gcm", "attack at dawn", "{KEY}")"#);
    let failed = "@encryption.open: decryption failed: the key is wrong, the ciphertext was changed or cut, or the associated data differs";
    // One byte dropped, the wrong key, other associated data, the other algorithm.
    let shorter = format!(
        "s: {sealed}\nr: @encryption.open(\"aes_256_gcm\", bytes(map(range(len(s) - 1), i => s[i])), \"{KEY}\")\n"
    );
    let rendered = plugin.eval(&shorter).expect_err("a cut sealed value");
    assert!(rendered.contains(failed.trim_start_matches("@encryption.open: ")), "{rendered}");
    let other_key = KEY.replace("1f", "1e");
    assert_eq!(error(&mut plugin, &format!(r#"@encryption.open("aes_256_gcm", {sealed}, "{other_key}")"#)), failed);
    assert_eq!(
        error(&mut plugin, &format!(r#"@encryption.open("aes_256_gcm", {sealed}, "{KEY}", {{aad: "x"}})"#)),
        failed
    );
    assert_eq!(error(&mut plugin, &format!(r#"@encryption.open("chacha20_poly1305", {sealed}, "{KEY}")"#)), failed);
    assert_eq!(
        error(&mut plugin, &format!(r#"@encryption.open("aes_256_gcm", "not bytes", "{KEY}")"#)),
        "@encryption.open: sealed must be bytes (what @encryption.seal returns), found string"
    );
    assert_eq!(
        error(&mut plugin, r#"@encryption.seal("aes_256_gcm", "x", bytes([1, 2, 3]))"#),
        "@encryption.seal: the key must be 32 bytes; this byte string has 3"
    );
    assert_eq!(
        error(&mut plugin, &format!(r#"@encryption.seal("rsa_2048", "x", "{KEY}")"#)),
        "@encryption.seal: invalid algorithm: not one that @encryption.seal knows (the value given is not repeated here)"
    );
    assert_eq!(
        error(&mut plugin, &format!(r#"@encryption.seal("aes_256_gcm", 5, "{KEY}")"#)),
        "@encryption.seal: data must be a string or bytes, found int"
    );
}

/// RFC 8439 §2.8.2's AEAD vector (key, nonce, AAD, ciphertext, tag), opened through
/// `@encryption.open`, bytes in and out, in both modes; one changed byte and one byte cut are
/// the usual errors.
#[test]
fn rfc_8439_vector_opens_as_bytes_in_both_modes() {
    let key = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
    let aad = "50515253c0c1c2c3c4c5c6c7";
    let sealed = concat!(
        "070000004041424344454647",
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b",
        "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc",
        "3ff4def08e4b7a9de576d26586cec64b6116",
        "1ae10b594f09e26a7e902ecbd0600691"
    );
    let plaintext = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let failed = "@encryption.open: decryption failed: the key is wrong, the ciphertext was changed or cut, or the associated data differs";
    for trusted in [false, true] {
        let mut plugin = plugin();
        if trusted {
            plugin.in_process();
        }
        let source = format!(
            r#"utf8(@encryption.open("chacha20_poly1305", from_hex("{sealed}"), from_hex("{key}"), {{aad: from_hex("{aad}")}}))"#
        );
        assert_eq!(ok(&mut plugin, &source), json!(plaintext));
        // Sealing under the vector's nonce is not reachable from a script (nonces are fresh), but
        // the tag and the ciphertext must come out of any changed byte as a refusal.
        for index in [0, 12, 60, sealed.len() / 2 - 1] {
            let mut changed = hex(sealed);
            changed[index] ^= 0x01;
            let changed: String = changed.iter().map(|byte| format!("{byte:02x}")).collect();
            let source = format!(
                r#"@encryption.open("chacha20_poly1305", from_hex("{changed}"), from_hex("{key}"), {{aad: from_hex("{aad}")}})"#
            );
            assert_eq!(error(&mut plugin, &source), failed, "byte {index}");
        }
        let cut = &sealed[..sealed.len() - 2];
        let source = format!(
            r#"@encryption.open("chacha20_poly1305", from_hex("{cut}"), from_hex("{key}"), {{aad: from_hex("{aad}")}})"#
        );
        assert_eq!(error(&mut plugin, &source), failed);
        let source =
            format!(r#"@encryption.open("chacha20_poly1305", from_hex("{}"), from_hex("{key}"))"#, &sealed[..54]);
        assert_eq!(
            error(&mut plugin, &source),
            "@encryption.open: the sealed data is cut short: chacha20_poly1305 sealed data has at least 28 bytes (nonce and tag), this has 27"
        );
        assert_eq!(sandboxed(&mut plugin), !trusted);
    }
}

/// ChaCha20-Poly1305 (and AES-256-GCM alongside) sealed and opened back at 0, 1, 64 and 65536
/// bytes, as raw bytes and as envelopes, in both modes.
#[test]
fn aeads_round_trip_at_every_size_in_both_modes() {
    for trusted in [false, true] {
        let mut plugin = plugin();
        if trusted {
            plugin.in_process();
        }
        for algorithm in ["chacha20_poly1305", "aes_256_gcm"] {
            for size in [0, 1, 64, 65536] {
                // Random bytes (built by the plugin, not by a slow script loop in a debug build).
                let data = if size == 0 {
                    "bytes(\"\")".to_string()
                } else {
                    format!(r#"from_hex(@encryption.random_bytes({size}, "hex"))"#)
                };
                let source = format!(
                    r#"s: {data}
sealed: @encryption.seal("{algorithm}", s, "{KEY}", {{aad: "r"}})
r: [len(sealed), @encryption.open("{algorithm}", sealed, "{KEY}", {{aad: "r"}}) == s, @encryption.decrypt(@encryption.encrypt("{algorithm}", s, "{KEY}"), "{KEY}", {{encoding: "hex"}}) == hex(s)]
"#
                );
                let result = plugin.eval(&source).unwrap_or_else(|error| panic!("{algorithm} {size}: {error}"));
                assert_eq!(result["r"], json!([12 + size + 16, true, true]), "{algorithm} {size}");
            }
        }
    }
}
