//! Hashes (SHA-2, SHA-3, BLAKE3) and HMAC.

use hmac::{Hmac, KeyInit, Mac, SimpleHmac};
use sha2::Digest;
use subtle::ConstantTimeEq;

use crate::error::{CryptoError, Result};

/// A hash function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
    Sha3_256,
    Sha3_384,
    Sha3_512,
    Blake3,
}

/// The names of [`HashAlg::parse`], for messages.
pub(crate) const HASH_NAMES: &str = "sha256, sha384, sha512, sha3_256, sha3_384, sha3_512 and blake3";
/// The names HMAC takes.
pub(crate) const HMAC_NAMES: &str = "sha256, sha384, sha512, sha3_256, sha3_384 and sha3_512";

impl HashAlg {
    /// A name as scripts write it: case, `-` and `_` do not matter (`SHA-256`, `sha3_256`).
    pub(crate) fn parse(name: &str) -> Option<HashAlg> {
        Some(match normalize(name).as_str() {
            "sha256" => HashAlg::Sha256,
            "sha384" => HashAlg::Sha384,
            "sha512" => HashAlg::Sha512,
            "sha3256" => HashAlg::Sha3_256,
            "sha3384" => HashAlg::Sha3_384,
            "sha3512" => HashAlg::Sha3_512,
            "blake3" => HashAlg::Blake3,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
            HashAlg::Sha3_256 => "sha3_256",
            HashAlg::Sha3_384 => "sha3_384",
            HashAlg::Sha3_512 => "sha3_512",
            HashAlg::Blake3 => "blake3",
        }
    }

    /// The digest length in bytes.
    pub(crate) fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 | HashAlg::Sha3_256 | HashAlg::Blake3 => 32,
            HashAlg::Sha384 | HashAlg::Sha3_384 => 48,
            HashAlg::Sha512 | HashAlg::Sha3_512 => 64,
        }
    }

    /// The digest of `data`.
    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
            HashAlg::Sha3_256 => sha3::Sha3_256::digest(data).to_vec(),
            HashAlg::Sha3_384 => sha3::Sha3_384::digest(data).to_vec(),
            HashAlg::Sha3_512 => sha3::Sha3_512::digest(data).to_vec(),
            HashAlg::Blake3 => blake3::hash(data).as_bytes().to_vec(),
        }
    }

    /// HMAC of `data` under `key`; BLAKE3 has its own keyed mode (32-byte keys) and is not
    /// offered as HMAC.
    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
        fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length (longer ones are hashed first): this cannot fail.
            let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Ok(match self {
            HashAlg::Sha256 => run::<Hmac<sha2::Sha256>>(key, data),
            HashAlg::Sha384 => run::<Hmac<sha2::Sha384>>(key, data),
            HashAlg::Sha512 => run::<Hmac<sha2::Sha512>>(key, data),
            HashAlg::Sha3_256 => run::<SimpleHmac<sha3::Sha3_256>>(key, data),
            HashAlg::Sha3_384 => run::<SimpleHmac<sha3::Sha3_384>>(key, data),
            HashAlg::Sha3_512 => run::<SimpleHmac<sha3::Sha3_512>>(key, data),
            HashAlg::Blake3 => {
                return Err(CryptoError::UnknownAlgorithm {
                    operator: "@encryption.hmac",
                    known: HMAC_NAMES,
                    argument: 0,
                });
            }
        })
    }
}

/// Lower case without `-` and `_`.
pub(crate) fn normalize(name: &str) -> String {
    name.chars().filter(|c| *c != '-' && *c != '_').map(|c| c.to_ascii_lowercase()).collect()
}

/// Equality of two byte strings in time that depends on their lengths only.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::{hex_decode, hex_encode};

    fn hex(text: &str) -> Vec<u8> {
        hex_decode(text).unwrap()
    }

    #[test]
    fn digests_of_known_inputs() {
        let cases = [
            (HashAlg::Sha256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                HashAlg::Sha512,
                "abc",
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
            (HashAlg::Sha3_256, "", "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"),
            (HashAlg::Sha3_256, "abc", "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"),
            (HashAlg::Blake3, "", "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"),
        ];
        for (alg, input, expected) in cases {
            assert_eq!(hex_encode(&alg.digest(input.as_bytes())), expected, "{alg:?}");
            assert_eq!(alg.digest(b"").len(), alg.output_len());
        }
    }

    /// RFC 4231 test cases 1, 2, 3, 4, 6 and 7 (case 5 is a truncated MAC), HMAC-SHA-256 and
    /// HMAC-SHA-512.
    #[test]
    fn hmac_matches_rfc_4231() {
        let long_key = "aa".repeat(131);
        let cases: [(String, Vec<u8>, &str, &str); 6] = [
            (
                "0b".repeat(20),
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
            ),
            (
                hex_encode(b"Jefe"),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
            (
                "aa".repeat(20),
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
                "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
            ),
            (
                "0102030405060708090a0b0c0d0e0f10111213141516171819".to_string(),
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
                "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
            ),
            (
                long_key.clone(),
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
            ),
            (
                long_key,
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
                "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
            ),
        ];
        for (key, data, sha256, sha512) in cases {
            assert_eq!(hex_encode(&HashAlg::Sha256.hmac(&hex(&key), &data).unwrap()), sha256, "key {key}");
            assert_eq!(hex_encode(&HashAlg::Sha512.hmac(&hex(&key), &data).unwrap()), sha512, "key {key}");
        }
    }

    #[test]
    fn names_ignore_case_and_separators() {
        assert_eq!(HashAlg::parse("SHA-256"), Some(HashAlg::Sha256));
        assert_eq!(HashAlg::parse("sha3_512"), Some(HashAlg::Sha3_512));
        assert_eq!(HashAlg::parse("md5"), None);
        assert!(constant_time_eq(b"ab", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }
}
