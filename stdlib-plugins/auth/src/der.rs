//! Just enough DER to turn a private JWK into the PKCS#1 / PKCS#8 bytes jsonwebtoken signs
//! with (it reads private keys only from PEM or DER).

fn length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|byte| *byte == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    length(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

fn sequence(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A non-negative INTEGER from big-endian magnitude bytes.
fn unsigned(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|byte| *byte == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|byte| byte & 0x80 != 0) {
        content.push(0);
    }
    content.extend(trimmed);
    tlv(0x02, &content)
}

fn small(value: u8) -> Vec<u8> {
    tlv(0x02, &[value])
}

fn octets(content: &[u8]) -> Vec<u8> {
    tlv(0x04, content)
}

const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// PKCS#1 RSAPrivateKey: n, e, d, p, q, dp, dq, qi.
pub(crate) fn rsa_private_key(parts: &[Vec<u8>; 8]) -> Vec<u8> {
    let mut fields = vec![small(0)];
    fields.extend(parts.iter().map(|part| unsigned(part)));
    sequence(&fields)
}

/// PKCS#8 of an EC private scalar on P-256 (`p384` false) or P-384.
pub(crate) fn ec_private_key(d: &[u8], p384: bool) -> Vec<u8> {
    let curve = if p384 { OID_P384 } else { OID_P256 };
    let inner = sequence(&[small(1), octets(d)]);
    sequence(&[small(0), sequence(&[OID_EC_PUBLIC_KEY.to_vec(), curve.to_vec()]), octets(&inner)])
}

/// PKCS#8 of an Ed25519 private key (its 32-byte seed).
pub(crate) fn ed25519_private_key(seed: &[u8]) -> Vec<u8> {
    sequence(&[small(0), sequence(&[OID_ED25519.to_vec()]), octets(&octets(seed))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_pkcs8_is_the_standard_prefix_and_seed() {
        let seed = [7u8; 32];
        let der = ed25519_private_key(&seed);
        let mut expected =
            vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        expected.extend(seed);
        assert_eq!(der, expected);
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(unsigned(&[0, 0, 0x7f]), vec![0x02, 0x01, 0x7f]);
        assert_eq!(unsigned(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(unsigned(&[]), vec![0x02, 0x01, 0x00]);
        let long = tlv(0x04, &[0u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }
}
