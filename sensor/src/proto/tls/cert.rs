//! The server's certificate (the first of its chain), parsed with x509-parser, in the
//! forms Suricata's `tls.*` keywords and EVE use.

use sha1::{Digest, Sha1};

/// What the first certificate of a chain says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name: `C=FR, ST=IDF, L=Paris, O=Stamus, CN=SELKS`.
    pub subject: String,
    /// Issuer distinguished name, in the same form.
    pub issuer: String,
    /// Serial number bytes as encoded, in uppercase hex pairs joined by `:`.
    pub serial: String,
    /// SHA-1 of the certificate's DER, in lowercase hex pairs joined by `:`.
    pub fingerprint: String,
    /// Validity bounds, seconds since the Unix epoch.
    pub not_before: i64,
    /// The end of validity.
    pub not_after: i64,
    /// The DNS names of its subjectAltName extension.
    pub alt_names: Vec<String>,
}

fn hex_pairs(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses a DER certificate; `None` when it is not one.
pub fn parse(der: &[u8]) -> Option<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let alt_names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let validity = cert.validity();
    Some(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: hex_pairs(cert.raw_serial(), true),
        fingerprint: hex_pairs(&Sha1::digest(der), false),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        alt_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_certificate_is_refused() {
        assert_eq!(parse(b"not a certificate"), None);
        assert_eq!(parse(&[]), None);
    }
}
