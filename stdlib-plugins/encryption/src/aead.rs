//! AES-256-GCM and ChaCha20-Poly1305, and the `tsk1:` envelope every ciphertext is written in.
//!
//! An envelope is `tsk1:<algorithm>:<payload>`: the format version, the algorithm's id
//! (`aes256gcm`, `chacha20poly1305`, `rsaoaep256`) and the payload in URL-safe base64 without
//! padding. For the AEADs the payload is `nonce (12 bytes) || ciphertext || tag (16 bytes)`,
//! exactly what the algorithm's standard defines, so any implementation can open it given the
//! key and the associated data. The associated data is not stored: the decrypting call must
//! supply the same.
//!
//! Nonces are 96 random bits per message from a ChaCha20 generator per thread, seeded with 256
//! bits from the operating system, reseeded every [`RESEED_AFTER`] nonces and whenever the
//! process id changes (a forked child never repeats its parent's nonces). A nonce is public;
//! what matters is that none repeats under one key, and 96-bit draws from a CSPRNG give the
//! same 2^-32 collision bound after 2^32 messages as draws from the kernel, at a fraction of a
//! system call's cost.
//!
//! Both are aws-lc's, through its C interface ([`crate::evp_aead`]), which seals and opens out of
//! place (the input read where it lies, the output written once); aws-lc picks its assembly at
//! run time by CPU detection. For AES-256-GCM aws-lc has a VAES/VPCLMULQDQ path on 512-bit
//! registers (AVX-512), the one OpenSSL uses, where ring 0.17 stops at 256-bit registers (AVX2):
//! about 1.5 times ring's rate at 64 KiB and 1 MiB on a CPU with AVX-512; without AVX-512 aws-lc
//! falls back to AES-NI with CLMUL. ChaCha20-Poly1305 was ring's until ring's in-place-only
//! interface (a copy of every payload before sealing or opening) was the one cost left.
//!
//! Each thread keeps the cipher's key for the last key it used (the AES key schedule and GHASH
//! powers, or the ChaCha20 key), so that a script encrypting many messages under one key pays
//! the key set-up once, as a Python `AESGCM(key)` object does. The cached key is compared in
//! constant time and wiped when another key replaces it, and when the thread's locals are
//! destroyed: the copy kept for the comparison is zeroized, and aws-lc wipes its context's
//! memory (the key and what it derived from it) as it frees it (see [`CachedKey`]).

use std::cell::RefCell;

use base64::Engine as _;
use chacha20::ChaCha20Rng;
use chacha20::rand_core::{Rng as _, SeedableRng as _};
use zeroize::Zeroize as _;

use crate::bytes::BASE64_URL;
use crate::error::{CryptoError, Result};
use crate::evp_aead::{AeadKey, Output};

/// The envelope's version prefix.
pub(crate) const VERSION: &str = "tsk1";
/// Nonce length of both AEADs (96 bits).
pub(crate) const NONCE_LEN: usize = 12;
/// Tag length of both AEADs (128 bits).
pub(crate) const TAG_LEN: usize = 16;
/// Key length of both AEADs (256 bits).
pub(crate) const KEY_LEN: usize = 32;

/// An authenticated cipher with a 256-bit key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Aead {
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl Aead {
    /// The id in envelopes.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Aead::Aes256Gcm => "aes256gcm",
            Aead::ChaCha20Poly1305 => "chacha20poly1305",
        }
    }

    /// The name scripts use.
    pub(crate) fn script_name(self) -> &'static str {
        match self {
            Aead::Aes256Gcm => "aes_256_gcm",
            Aead::ChaCha20Poly1305 => "chacha20_poly1305",
        }
    }

    /// Decrypts `nonce || ciphertext || tag` and returns the plaintext, written once into a new
    /// buffer.
    pub(crate) fn open(self, key: &[u8], aad: &[u8], payload: Vec<u8>) -> Result<Vec<u8>> {
        if payload.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::MalformedCiphertext(format!(
                "the ciphertext is cut short: a {} payload has at least {} bytes (nonce and tag), this one {}",
                self.script_name(),
                NONCE_LEN + TAG_LEN,
                payload.len()
            )));
        }
        let mut plaintext = Vec::with_capacity(payload.len() - NONCE_LEN - TAG_LEN);
        self.open_into(key, aad, &payload, &mut plaintext)?;
        Ok(plaintext)
    }

    /// `nonce || ciphertext || tag` of `plaintext` under `nonce` (for known-answer tests and
    /// [`Aead::encrypt`]), in a buffer of exactly that length.
    pub(crate) fn seal_with_nonce(
        self,
        key: &[u8],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let mut buffer = Vec::with_capacity(sealed_len(plaintext.len())?);
        self.seal_into(key, nonce, aad, plaintext, &mut buffer)?;
        Ok(buffer)
    }

    /// Appends `nonce || ciphertext || tag` of `plaintext` to `out`, which has room for
    /// [`sealed_len`] bytes: the cipher reads the plaintext where it lies and writes the
    /// ciphertext once (no copy, nothing zeroed first).
    pub(crate) fn seal_into(
        self,
        key: &[u8],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut impl Output,
    ) -> Result<()> {
        // Only a message beyond the algorithm's limit (64 GiB for AES-GCM, 256 GiB for
        // ChaCha20-Poly1305) fails here; the room is what `sealed_len` says.
        let too_long = || CryptoError::OutOfRange("the data is too long for one message".into(), 1);
        out.push(nonce);
        with_key(self, key, |cipher| cipher.seal(nonce, aad, plaintext, out).then_some(()).ok_or_else(too_long))?
    }

    /// [`Aead::seal_into`] under a fresh random nonce.
    pub(crate) fn seal_fresh(self, key: &[u8], aad: &[u8], plaintext: &[u8], out: &mut impl Output) -> Result<()> {
        self.seal_into(key, &fresh_nonce()?, aad, plaintext, out)
    }

    /// The length of the plaintext in `sealed` (`nonce || ciphertext || tag`), or the error of
    /// a payload too short to hold a nonce and a tag.
    pub(crate) fn opened_len(self, sealed: &[u8]) -> Result<usize> {
        sealed.len().checked_sub(NONCE_LEN + TAG_LEN).ok_or_else(|| {
            CryptoError::MalformedCiphertext(format!(
                "the sealed data is cut short: {} sealed data has at least {} bytes (nonce and tag), this has {}",
                self.script_name(),
                NONCE_LEN + TAG_LEN,
                sealed.len()
            ))
        })
    }

    /// Appends the plaintext of `sealed` (`nonce || ciphertext || tag`, borrowed) to `out`, which
    /// has room for [`Aead::opened_len`] bytes, written once from the ciphertext where it lies.
    /// On a tag mismatch the result is [`CryptoError::DecryptionFailed`] and `out` gains
    /// nothing (aws-lc zeroes what it decrypted into the room).
    pub(crate) fn open_into(self, key: &[u8], aad: &[u8], sealed: &[u8], out: &mut impl Output) -> Result<()> {
        self.opened_len(sealed)?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[..NONCE_LEN]);
        let opened = with_key(self, key, |cipher| cipher.open(&nonce, aad, &sealed[NONCE_LEN..], out))?;
        if opened { Ok(()) } else { Err(CryptoError::DecryptionFailed) }
    }

    /// The envelope of `plaintext` under a fresh random nonce.
    pub(crate) fn encrypt(self, key: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<String> {
        let nonce = fresh_nonce()?;
        let payload = self.seal_with_nonce(key, &nonce, aad, plaintext)?;
        Ok(envelope(self.id(), &payload))
    }
}

/// The length of `nonce || ciphertext || tag` for `plaintext_len` bytes of plaintext.
pub(crate) fn sealed_len(plaintext_len: usize) -> Result<usize> {
    plaintext_len
        .checked_add(NONCE_LEN + TAG_LEN)
        .ok_or_else(|| CryptoError::OutOfRange("the data is too long for one message".into(), 1))
}

/// Nonces drawn from one seed before the generator is seeded again from the OS.
pub(crate) const RESEED_AFTER: u32 = 1 << 20;

/// The nonce generator of a thread.
struct NonceSource {
    rng: ChaCha20Rng,
    pid: u32,
    left: u32,
}

/// The last key a thread used, and the cipher set up under it.
struct CachedKey {
    aead: Aead,
    key: [u8; KEY_LEN],
    cipher: AeadKey,
}

impl Drop for CachedKey {
    fn drop(&mut self) {
        // The copy kept for the comparison; `cipher` (dropped after this) is aws-lc's context,
        // which aws-lc cleanses as it frees it.
        self.key.zeroize();
    }
}

thread_local! {
    static NONCES: RefCell<Option<NonceSource>> = const { RefCell::new(None) };
    static KEY: RefCell<Option<CachedKey>> = const { RefCell::new(None) };
}

/// 96 fresh random bits.
fn fresh_nonce() -> Result<[u8; NONCE_LEN]> {
    NONCES.with(|cell| {
        let mut slot = cell.borrow_mut();
        let pid = std::process::id();
        let source = match slot.as_mut() {
            Some(source) if source.pid == pid && source.left > 0 => source,
            _ => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|_| CryptoError::Random)?;
                let rng = ChaCha20Rng::from_seed(seed);
                seed.zeroize();
                slot.insert(NonceSource { rng, pid, left: RESEED_AFTER })
            }
        };
        source.left -= 1;
        let mut nonce = [0u8; NONCE_LEN];
        source.rng.fill_bytes(&mut nonce);
        Ok(nonce)
    })
}

/// Runs `f` with the cipher of `aead` under `key` (the thread's cached one when the key is the
/// last one).
fn with_key<T>(aead: Aead, key: &[u8], f: impl FnOnce(&AeadKey) -> T) -> Result<T> {
    let key: [u8; KEY_LEN] =
        key.try_into().map_err(|_| CryptoError::BadKey(format!("the key must be {KEY_LEN} bytes"), 2))?;
    KEY.with(|cell| {
        let mut slot = cell.borrow_mut();
        let cached = match slot.as_ref() {
            Some(cached) if cached.aead == aead && crate::digest::constant_time_eq(&cached.key, &key) => cached,
            _ => {
                let cipher = AeadKey::new(aead, &key)
                    .ok_or_else(|| CryptoError::Internal(format!("{} refused a 32-byte key", aead.script_name())))?;
                // Replacing the old entry drops (and wipes) it.
                slot.insert(CachedKey { aead, key, cipher })
            }
        };
        Ok(f(&cached.cipher))
    })
}

/// `tsk1:<id>:<payload as URL-safe base64>`, the base64 written straight into the string's
/// one buffer.
pub(crate) fn envelope(id: &str, payload: &[u8]) -> String {
    let prefix_len = VERSION.len() + 1 + id.len() + 1;
    // `None` only past `usize::MAX`, which a slice's 4/3 cannot reach.
    let encoded_len = base64::encoded_len(payload.len(), false).expect("base64 length of a slice");
    let mut out = Vec::with_capacity(prefix_len + encoded_len);
    out.extend_from_slice(VERSION.as_bytes());
    out.push(b':');
    out.extend_from_slice(id.as_bytes());
    out.push(b':');
    out.resize(prefix_len + encoded_len, 0);
    let written = BASE64_URL.encode_slice(payload, &mut out[prefix_len..]).expect("the tail has the encoded length");
    debug_assert_eq!(written, encoded_len);
    // The prefix is ASCII (constants of this crate) and the rest base64, ASCII by its alphabet,
    // so the check (a fast ASCII scan) never fails.
    String::from_utf8(out).expect("an envelope is ASCII")
}

/// An envelope taken apart: the algorithm id and the payload bytes.
pub(crate) fn parse_envelope(text: &str) -> Result<(&str, Vec<u8>)> {
    let malformed = |why: &str| {
        CryptoError::MalformedCiphertext(format!(
            "the ciphertext is not one this plugin made ({why}); it looks like tsk1:<algorithm>:<base64>"
        ))
    };
    let mut parts = text.trim().splitn(3, ':');
    let (Some(version), Some(id), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("it has fewer than three `:`-separated parts"));
    };
    if version != VERSION {
        return Err(if version.starts_with("tsk") && version.len() <= 8 {
            CryptoError::MalformedCiphertext(format!(
                "the ciphertext's format version is {version}, and this plugin reads {VERSION}"
            ))
        } else {
            malformed("it does not start with tsk1:")
        });
    }
    let payload = BASE64_URL.decode(payload).map_err(|_| malformed("its payload is not URL-safe base64"))?;
    Ok((id, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::hex_decode;

    fn hex(text: &str) -> Vec<u8> {
        hex_decode(text).unwrap()
    }

    /// NIST CAVP `gcmEncryptExtIV256.rsp` (AES-256, 96-bit IV, 128-bit tag): key, IV,
    /// plaintext, AAD, ciphertext, tag.
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
            "03ccb7dbc7b8425465c2c3fc39ed0593929ffd02a45ff583bd89b79c6f646fe9",
            "fd119985533bd5520b301d12",
            "",
            "98e68c10bf4b5ae62d434928fc6405147c6301417303ef3a703dcfd2c0c339a4d0a89bd29fe61fecf1066ab06d7a5c31a48ffbfed22f749b17e9bd0dc1c6f8fbd6fd4587184db964d5456132106d782338c3f117ec05229b0899",
            "",
            "cf54e7141349b66f248154427810c87a",
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
    fn aes_256_gcm_matches_the_nist_vectors() {
        for [key, iv, plaintext, aad, ciphertext, tag] in NIST_AES_256_GCM {
            let nonce: [u8; NONCE_LEN] = hex(iv).try_into().unwrap();
            let sealed = Aead::Aes256Gcm.seal_with_nonce(&hex(key), &nonce, &hex(aad), &hex(plaintext)).unwrap();
            let expected = [hex(iv), hex(ciphertext), hex(tag)].concat();
            assert_eq!(sealed, expected, "key {key}");
            // Sealed after bytes already written (as into the script's byte strings), and opened
            // the same way: appended, the front untouched.
            let mut into = vec![0xaa];
            Aead::Aes256Gcm.seal_into(&hex(key), &nonce, &hex(aad), &hex(plaintext), &mut into).unwrap();
            assert_eq!(into, [&[0xaa][..], &expected].concat(), "key {key}");
            let mut opened = vec![0xbb];
            Aead::Aes256Gcm.open_into(&hex(key), &hex(aad), &expected, &mut opened).unwrap();
            assert_eq!(opened, [&[0xbb][..], &hex(plaintext)].concat());
            assert_eq!(Aead::Aes256Gcm.open(&hex(key), &hex(aad), expected).unwrap(), hex(plaintext));
        }
    }

    /// RFC 8439 §2.8.2.
    #[test]
    fn chacha20_poly1305_matches_rfc_8439() {
        let key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        let nonce: [u8; NONCE_LEN] = hex("070000004041424344454647").try_into().unwrap();
        let aad = hex("50515253c0c1c2c3c4c5c6c7");
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let ciphertext = hex(concat!(
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b",
            "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc",
            "3ff4def08e4b7a9de576d26586cec64b6116"
        ));
        let tag = hex("1ae10b594f09e26a7e902ecbd0600691");
        let sealed = Aead::ChaCha20Poly1305.seal_with_nonce(&key, &nonce, &aad, plaintext).unwrap();
        assert_eq!(sealed, [nonce.to_vec(), ciphertext, tag].concat());
        let mut into = vec![0xaa];
        Aead::ChaCha20Poly1305.seal_into(&key, &nonce, &aad, plaintext, &mut into).unwrap();
        assert_eq!(into, [&[0xaa][..], &sealed].concat());
        let mut opened = vec![0xbb];
        Aead::ChaCha20Poly1305.open_into(&key, &aad, &sealed, &mut opened).unwrap();
        assert_eq!(opened, [&[0xbb][..], &plaintext[..]].concat());
        assert_eq!(Aead::ChaCha20Poly1305.open(&key, &aad, sealed.clone()).unwrap(), plaintext);
    }

    #[test]
    fn every_changed_byte_and_every_cut_is_refused() {
        let key = [7u8; KEY_LEN];
        for aead in [Aead::Aes256Gcm, Aead::ChaCha20Poly1305] {
            let sealed = aead.seal_with_nonce(&key, &[1; NONCE_LEN], b"ad", b"attack at dawn").unwrap();
            for index in 0..sealed.len() {
                let mut changed = sealed.clone();
                changed[index] ^= 0x01;
                assert!(matches!(aead.open(&key, b"ad", changed), Err(CryptoError::DecryptionFailed)), "{index}");
            }
            for len in 0..sealed.len() {
                assert!(aead.open(&key, b"ad", sealed[..len].to_vec()).is_err(), "{len}");
            }
            // The same from borrowed bytes into a separate buffer.
            for index in 0..sealed.len() {
                let mut changed = sealed.clone();
                changed[index] ^= 0x80;
                let mut out = Vec::with_capacity(aead.opened_len(&changed).unwrap());
                assert!(matches!(aead.open_into(&key, b"ad", &changed, &mut out), Err(CryptoError::DecryptionFailed)));
                // No unauthenticated plaintext is left: aws-lc adds nothing (it decrypts into the
                // room and zeroes it).
                assert!(out.is_empty(), "{index}");
            }
            for len in 0..NONCE_LEN + TAG_LEN {
                let Err(CryptoError::MalformedCiphertext(message)) = aead.opened_len(&sealed[..len]) else {
                    panic!("{len} bytes opened")
                };
                assert!(
                    message.contains(&format!("has at least 28 bytes (nonce and tag), this has {len}")),
                    "{message}"
                );
            }
            assert!(matches!(aead.open(&key, b"da", sealed.clone()), Err(CryptoError::DecryptionFailed)));
            assert!(matches!(aead.open(&[8u8; KEY_LEN], b"ad", sealed.clone()), Err(CryptoError::DecryptionFailed)));
        }
    }

    #[test]
    fn the_cached_cipher_follows_the_key_and_the_algorithm() {
        let (a, b) = ([1u8; KEY_LEN], [2u8; KEY_LEN]);
        let nonce = [9u8; NONCE_LEN];
        let under_a = Aead::Aes256Gcm.seal_with_nonce(&a, &nonce, b"", b"x").unwrap();
        let under_b = Aead::Aes256Gcm.seal_with_nonce(&b, &nonce, b"", b"x").unwrap();
        let chacha_a = Aead::ChaCha20Poly1305.seal_with_nonce(&a, &nonce, b"", b"x").unwrap();
        assert_ne!(under_a, under_b);
        assert_ne!(under_a, chacha_a);
        assert_eq!(Aead::Aes256Gcm.open(&a, b"", under_a.clone()).unwrap(), b"x");
        assert!(Aead::Aes256Gcm.open(&b, b"", under_a.clone()).is_err());
        assert!(Aead::Aes256Gcm.open(&a, b"", chacha_a.clone()).is_err());
        assert_eq!(Aead::ChaCha20Poly1305.open(&a, b"", chacha_a.clone()).unwrap(), b"x");
        assert_eq!(Aead::Aes256Gcm.seal_with_nonce(&a, &nonce, b"", b"x").unwrap(), under_a);
    }

    #[test]
    fn nonces_do_not_repeat() {
        let nonces: std::collections::HashSet<[u8; NONCE_LEN]> = (0..20_000).map(|_| fresh_nonce().unwrap()).collect();
        assert_eq!(nonces.len(), 20_000);
        // Another thread has its own generator, seeded apart.
        let other: Vec<[u8; NONCE_LEN]> =
            std::thread::spawn(|| (0..1000).map(|_| fresh_nonce().unwrap()).collect()).join().unwrap();
        assert!(other.iter().all(|nonce| !nonces.contains(nonce)));
    }

    #[test]
    fn envelopes_round_trip_and_say_what_is_wrong() {
        let text = envelope("aes256gcm", &[0xfb, 0xff]);
        assert_eq!(text, "tsk1:aes256gcm:-_8");
        assert_eq!(parse_envelope(&text).unwrap(), ("aes256gcm", vec![0xfb, 0xff]));
        let error = |text: &str| parse_envelope(text).unwrap_err().to_string();
        assert_eq!(error("tsk2:aes256gcm:AAAA"), "the ciphertext's format version is tsk2, and this plugin reads tsk1");
        assert_eq!(
            error("hello"),
            "the ciphertext is not one this plugin made (it has fewer than three `:`-separated parts); it looks like tsk1:<algorithm>:<base64>"
        );
        assert_eq!(
            error("tsk1:aes256gcm:***"),
            "the ciphertext is not one this plugin made (its payload is not URL-safe base64); it looks like tsk1:<algorithm>:<base64>"
        );
    }
}
