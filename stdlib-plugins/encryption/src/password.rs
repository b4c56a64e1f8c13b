//! Argon2id: password hashes as PHC strings (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) and keys
//! derived from passwords.

use argon2::{
    Algorithm, Argon2, AssociatedData, ParamsBuilder, PasswordHash, PasswordHasher, PasswordVerifier, Version,
};
use serde::Deserialize;

use crate::error::{CryptoError, Result};

/// The most memory one hash may use, in KiB (1 GiB): a stored hash with a larger cost could
/// make a verify call exhaust the machine.
pub(crate) const MAX_MEMORY_KIB: u32 = 1 << 20;
/// The most passes.
pub(crate) const MAX_ITERATIONS: u32 = 64;
/// The most lanes.
pub(crate) const MAX_PARALLELISM: u32 = 64;

/// Argon2id costs: memory in KiB, passes, lanes. The defaults are OWASP's first recommendation
/// for Argon2id (19 MiB, 2 passes, 1 lane), which is also the argon2 crate's default.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Costs {
    pub(crate) memory_kib: u32,
    pub(crate) iterations: u32,
    pub(crate) parallelism: u32,
}

impl Default for Costs {
    fn default() -> Costs {
        Costs { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

impl Costs {
    /// Checks the costs against Argon2's own minimums and this plugin's maximums.
    pub(crate) fn check(self, argument: usize) -> Result<Costs> {
        let out_of_range = |what: &str, value: u32, min: u32, max: u32| {
            CryptoError::OutOfRange(format!("{what} must be {min} to {max}, and is {value}"), argument)
        };
        if !(1..=MAX_PARALLELISM).contains(&self.parallelism) {
            return Err(out_of_range("parallelism", self.parallelism, 1, MAX_PARALLELISM));
        }
        let min_memory = 8 * self.parallelism;
        if !(min_memory..=MAX_MEMORY_KIB).contains(&self.memory_kib) {
            return Err(out_of_range("memory_kib", self.memory_kib, min_memory, MAX_MEMORY_KIB));
        }
        if !(1..=MAX_ITERATIONS).contains(&self.iterations) {
            return Err(out_of_range("iterations", self.iterations, 1, MAX_ITERATIONS));
        }
        Ok(self)
    }
}

/// Inputs of a key derivation besides the password and salt.
#[derive(Debug, Default)]
pub(crate) struct Derivation<'a> {
    pub(crate) costs: Costs,
    pub(crate) length: usize,
    /// Argon2's secret input K (a pepper).
    pub(crate) secret: &'a [u8],
    /// Argon2's associated data X.
    pub(crate) associated_data: &'a [u8],
}

fn params(costs: Costs, length: Option<usize>, associated_data: &[u8], argument: usize) -> Result<argon2::Params> {
    let mut builder = ParamsBuilder::new();
    builder.m_cost(costs.memory_kib).t_cost(costs.iterations).p_cost(costs.parallelism);
    if let Some(length) = length {
        builder.output_len(length);
    }
    if !associated_data.is_empty() {
        let data = AssociatedData::new(associated_data)
            .map_err(|_| CryptoError::OutOfRange("associated_data is at most 32 bytes".into(), argument))?;
        builder.data(data);
    }
    builder.build().map_err(|error| CryptoError::OutOfRange(format!("Argon2 parameters: {error}"), argument))
}

/// A PHC string of `password` with a fresh 16-byte salt.
pub(crate) fn hash(password: &[u8], costs: Costs) -> Result<String> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params(costs.check(1)?, None, &[], 1)?);
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| CryptoError::Random)?;
    let hash = argon
        .hash_password_with_salt(password, &salt)
        .map_err(|_| CryptoError::Internal("Argon2 hashing failed".into()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored` (Argon2id, Argon2i or Argon2d, any costs
/// within this plugin's maximums).
pub(crate) fn verify(password: &[u8], stored: &str, argument: usize) -> Result<bool> {
    let bad =
        |why: &str| CryptoError::BadHash(format!("the stored hash is not an Argon2 PHC string ({why})"), argument);
    let parsed = PasswordHash::new(stored.trim())
        .map_err(|_| bad("it does not parse as $argon2id$v=19$m=…,t=…,p=…$salt$hash"))?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(bad("its algorithm is not argon2id, argon2i or argon2d"));
    }
    let cost = |name: &str| parsed.params.get_decimal(name);
    let costs = Costs {
        memory_kib: cost("m").ok_or_else(|| bad("it has no m= cost"))?,
        iterations: cost("t").ok_or_else(|| bad("it has no t= cost"))?,
        parallelism: cost("p").ok_or_else(|| bad("it has no p= cost"))?,
    };
    costs.check(argument)?;
    match Argon2::default().verify_password(password, &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(_) => Err(bad("its parameters are not valid Argon2")),
    }
}

/// `length` bytes derived from `password` and `salt` with Argon2id.
pub(crate) fn derive(password: &[u8], salt: &[u8], derivation: &Derivation<'_>, argument: usize) -> Result<Vec<u8>> {
    if salt.len() < 8 {
        return Err(CryptoError::OutOfRange(format!("the salt must be at least 8 bytes, and is {}", salt.len()), 1));
    }
    if !(4..=1024).contains(&derivation.length) {
        return Err(CryptoError::OutOfRange(
            format!("length must be 4 to 1024 bytes, and is {}", derivation.length),
            argument,
        ));
    }
    let params =
        params(derivation.costs.check(argument)?, Some(derivation.length), derivation.associated_data, argument)?;
    let argon = if derivation.secret.is_empty() {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    } else {
        Argon2::new_with_secret(derivation.secret, Algorithm::Argon2id, Version::V0x13, params)
            .map_err(|_| CryptoError::OutOfRange("the secret is too long".into(), argument))?
    };
    let mut out = vec![0u8; derivation.length];
    argon
        .hash_password_into(password, salt, &mut out)
        .map_err(|error| CryptoError::OutOfRange(format!("Argon2: {error}"), argument))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::hex_encode;

    /// RFC 9106 §5.3 (Argon2id, version 0x13): password 32 × 01, salt 16 × 02, secret 8 × 03,
    /// associated data 12 × 04, 32 KiB, 3 passes, 4 lanes, 32-byte tag.
    #[test]
    fn argon2id_matches_rfc_9106() {
        let derivation = Derivation {
            costs: Costs { memory_kib: 32, iterations: 3, parallelism: 4 },
            length: 32,
            secret: &[0x03; 8],
            associated_data: &[0x04; 12],
        };
        let tag = derive(&[0x01; 32], &[0x02; 16], &derivation, 2).unwrap();
        assert_eq!(hex_encode(&tag), "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
    }

    #[test]
    fn hashes_verify_and_wrong_passwords_do_not() {
        let costs = Costs { memory_kib: 64, iterations: 1, parallelism: 1 };
        let stored = hash(b"correct horse", costs).unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{stored}");
        assert!(verify(b"correct horse", &stored, 1).unwrap());
        assert!(!verify(b"battery staple", &stored, 1).unwrap());
        assert_eq!(
            verify(b"x", "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", 1)
                .unwrap_err()
                .to_string(),
            "memory_kib must be 8 to 1048576, and is 4194304"
        );
        assert_eq!(
            verify(b"x", "5f4dcc3b5aa765d61d8327deb882cf99", 1).unwrap_err().to_string(),
            "the stored hash is not an Argon2 PHC string (it does not parse as $argon2id$v=19$m=…,t=…,p=…$salt$hash)"
        );
    }
}
