//! The AEADs (AES-256-GCM and ChaCha20-Poly1305) through aws-lc's C interface (`EVP_AEAD_CTX`),
//! sealing and opening out of place: the cipher reads its input where it lies (the script's
//! argument) and writes its output once into memory nothing was written to before (the script's
//! new byte string, or a `Vec`'s spare capacity), as OpenSSL does for Python's `cryptography`.
//! aws-lc-rs, the safe wrapper, takes only initialised output slices, and ring (which this
//! plugin used for ChaCha20-Poly1305 before) seals and opens only in place: either way the
//! input would first be copied into the output (or the output zeroed), a second pass over every
//! byte. One context type serves both algorithms; the algorithm is chosen when the context is
//! made. This is the crate's one module with `unsafe`; each call's pointers come from live
//! slices whose lengths are checked against what aws-lc writes.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::Once;

use aws_lc_sys::{
    CRYPTO_library_init, EVP_AEAD, EVP_AEAD_CTX, EVP_AEAD_CTX_free, EVP_AEAD_CTX_new, EVP_AEAD_CTX_open,
    EVP_AEAD_CTX_seal, EVP_AEAD_key_length, EVP_AEAD_max_overhead, EVP_AEAD_nonce_length, EVP_aead_aes_256_gcm,
    EVP_aead_chacha20_poly1305,
};
use tusk_plugin_sdk::UninitBytes;

use crate::aead::{Aead, KEY_LEN, NONCE_LEN, TAG_LEN};

/// Where a cipher writes: a written front, then room not yet initialised.
pub(crate) trait Output {
    /// Makes room for at least `additional` more bytes where the output can grow.
    fn reserve(&mut self, additional: usize);
    /// Appends `bytes` after the written front.
    fn push(&mut self, bytes: &[u8]);
    /// The room after the written front.
    fn spare(&mut self) -> &mut [MaybeUninit<u8>];
    /// Takes `count` more bytes of the room into the written front.
    ///
    /// # Safety
    ///
    /// The first `count` bytes of [`Output::spare`] have been written.
    unsafe fn grow(&mut self, count: usize);
}

impl Output for Vec<u8> {
    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional);
    }

    fn push(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn spare(&mut self) -> &mut [MaybeUninit<u8>] {
        self.spare_capacity_mut()
    }

    unsafe fn grow(&mut self, count: usize) {
        // SAFETY: the caller wrote the first `count` bytes of the spare capacity.
        unsafe { self.set_len(self.len() + count) }
    }
}

impl Output for UninitBytes<'_> {
    fn reserve(&mut self, _: usize) {
        // A host byte string has the capacity it was made with; a cipher checks the room.
    }

    fn push(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn spare(&mut self) -> &mut [MaybeUninit<u8>] {
        self.spare_capacity_mut()
    }

    unsafe fn grow(&mut self, count: usize) {
        // SAFETY: the caller wrote the first `count` bytes of the spare room, which ends at the
        // capacity.
        unsafe { self.set_len(self.len() + count) }
    }
}

static LIBRARY: Once = Once::new();

/// A key set up in aws-lc for one AEAD (for AES-256-GCM its key schedule and GHASH table, for
/// ChaCha20-Poly1305 the key itself), with 16-byte tags. aws-lc wipes the context's memory
/// (`EVP_AEAD_CTX_free` frees it through `OPENSSL_free`, which cleanses the whole allocation).
pub(crate) struct AeadKey {
    context: NonNull<EVP_AEAD_CTX>,
}

impl AeadKey {
    /// The key of `aead`, or `None` when aws-lc cannot allocate its context or its algorithm
    /// does not have the key, nonce and tag lengths of the envelope (which never happens for
    /// these two; checked so that a change in aws-lc cannot make `run`'s lengths wrong).
    pub(crate) fn new(aead: Aead, key: &[u8; KEY_LEN]) -> Option<AeadKey> {
        // SAFETY: aws-lc's initialisation takes no arguments; `Once` runs it before any other
        // call of this module.
        LIBRARY.call_once(|| unsafe { CRYPTO_library_init() });
        // SAFETY: both functions take no arguments and return a pointer to a static, immutable
        // description of the algorithm, valid for the life of the process.
        let algorithm: *const EVP_AEAD = unsafe {
            match aead {
                Aead::Aes256Gcm => EVP_aead_aes_256_gcm(),
                Aead::ChaCha20Poly1305 => EVP_aead_chacha20_poly1305(),
            }
        };
        // SAFETY: `algorithm` is one of the static descriptions above; the functions only read it.
        let lengths = unsafe {
            (EVP_AEAD_key_length(algorithm), EVP_AEAD_nonce_length(algorithm), EVP_AEAD_max_overhead(algorithm))
        };
        if lengths != (KEY_LEN, NONCE_LEN, TAG_LEN) {
            return None;
        }
        // SAFETY: `algorithm` is a static description; `key` is `KEY_LEN` readable bytes, the
        // key length it takes, which aws-lc copies into the new context.
        let context = unsafe { EVP_AEAD_CTX_new(algorithm, key.as_ptr(), KEY_LEN, TAG_LEN) };
        NonNull::new(context).map(|context| AeadKey { context })
    }

    /// Appends the ciphertext of `plaintext` and its tag to `out` (`plaintext.len() + TAG_LEN`
    /// bytes, written once into its room); false, `out` unchanged, when the room is too small
    /// or the message is beyond the algorithm's limit (64 GiB for AES-GCM, 256 GiB for
    /// ChaCha20-Poly1305).
    pub(crate) fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8], out: &mut impl Output) -> bool {
        let Some(needed) = plaintext.len().checked_add(TAG_LEN) else { return false };
        self.run(EVP_AEAD_CTX_seal, nonce, aad, plaintext, needed, out)
    }

    /// Appends the plaintext of `sealed` (`ciphertext || tag`) to `out` when the tag is right
    /// under `nonce` and `aad` (true); false, `out`'s written front unchanged (aws-lc zeroes what
    /// it wrote into the room), when it is not, or when the room is too small.
    pub(crate) fn open(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], sealed: &[u8], out: &mut impl Output) -> bool {
        let Some(needed) = sealed.len().checked_sub(TAG_LEN) else { return false };
        self.run(EVP_AEAD_CTX_open, nonce, aad, sealed, needed, out)
    }

    /// Runs aws-lc's `seal` or `open` (`operation`) over `input`, writing exactly `needed` bytes
    /// into `out`'s room; false, nothing taken into `out`, when the room is short or aws-lc
    /// refuses.
    fn run(
        &self,
        operation: AeadOperation,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        needed: usize,
        out: &mut impl Output,
    ) -> bool {
        out.reserve(needed);
        let room = out.spare();
        if room.len() < needed {
            return false;
        }
        let mut written = 0usize;
        // SAFETY: the context is live (freed only by `drop`); `room` is `needed` or more
        // writable bytes that cannot overlap the input (`input` is a shared borrow, `room` part
        // of the exclusively borrowed `out`; aws-lc would refuse overlapping buffers anyway), and
        // aws-lc writes at most `needed` (the `max_out_len` given; on failure it zeroes those
        // bytes); the nonce, input and associated data are readable for the lengths passed.
        let done = unsafe {
            operation(
                self.context.as_ptr(),
                room.as_mut_ptr().cast::<u8>(),
                &mut written,
                needed,
                nonce.as_ptr(),
                NONCE_LEN,
                input.as_ptr(),
                input.len(),
                aad.as_ptr(),
                aad.len(),
            )
        };
        if done != 1 || written != needed {
            return false;
        }
        // SAFETY: aws-lc wrote `written` bytes at the front of the room.
        unsafe { out.grow(written) };
        true
    }
}

/// `EVP_AEAD_CTX_seal` and `EVP_AEAD_CTX_open`, which share their signature: the context, the
/// output, its written length and room, then the nonce, the input and the associated data.
type AeadOperation = unsafe extern "C" fn(
    *const EVP_AEAD_CTX,
    *mut u8,
    *mut usize,
    usize,
    *const u8,
    usize,
    *const u8,
    usize,
    *const u8,
    usize,
) -> std::os::raw::c_int;

impl Drop for AeadKey {
    fn drop(&mut self) {
        // SAFETY: the context came from `EVP_AEAD_CTX_new` and is freed once, here (the type is
        // neither `Clone` nor `Copy`). Freeing it cleanses its memory, key included.
        unsafe { EVP_AEAD_CTX_free(self.context.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_appends_and_a_wrong_tag_or_a_cut_adds_nothing() {
        for aead in [Aead::Aes256Gcm, Aead::ChaCha20Poly1305] {
            let key = AeadKey::new(aead, &[3; KEY_LEN]).unwrap();
            let nonce = [4; NONCE_LEN];
            let mut sealed = Vec::new();
            assert!(key.seal(&nonce, b"ad", b"hello", &mut sealed));
            assert_eq!(sealed.len(), 5 + TAG_LEN);
            let mut opened = b"front".to_vec();
            assert!(key.open(&nonce, b"ad", &sealed, &mut opened));
            assert_eq!(opened, b"fronthello");
            let mut opened = b"front".to_vec();
            assert!(!key.open(&nonce, b"da", &sealed, &mut opened));
            assert_eq!(opened, b"front");
            assert!(!key.open(&nonce, b"ad", &sealed[..TAG_LEN - 1], &mut opened));
            assert_eq!(opened, b"front");
        }
    }

    #[test]
    fn the_two_algorithms_differ_under_one_key() {
        let nonce = [5; NONCE_LEN];
        let mut aes = Vec::new();
        let mut chacha = Vec::new();
        assert!(AeadKey::new(Aead::Aes256Gcm, &[6; KEY_LEN]).unwrap().seal(&nonce, b"", b"same", &mut aes));
        assert!(AeadKey::new(Aead::ChaCha20Poly1305, &[6; KEY_LEN]).unwrap().seal(&nonce, b"", b"same", &mut chacha));
        assert_ne!(aes, chacha);
    }
}
