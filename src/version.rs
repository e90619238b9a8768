//! Dotted numeric versions (`9.2.22104.00170`), compared part by part as numbers.
//!
//! Missing trailing parts count as zero, so `9.2` equals `9.2.0`. A version has one to
//! [`Version::MAX_PARTS`] parts, each a decimal number that fits in 32 bits; leading zeros
//! are allowed (`00170` is 170).

use std::fmt;

/// A parsed version. Ordering is numeric, part by part.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version([u32; Version::MAX_PARTS]);

/// Why a text is not a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Empty text or an empty part (`9..2`).
    #[error("a version is numbers separated by dots, like `9.2.22104.00170`")]
    Malformed,
    /// More parts than supported.
    #[error("a version has at most {} parts", Version::MAX_PARTS)]
    TooManyParts,
    /// A part too large.
    #[error("version part `{0}` is too large")]
    PartTooLarge(String),
}

impl Version {
    /// Most parts a version may have.
    pub const MAX_PARTS: usize = 6;

    /// The parts, padded with zeros.
    pub fn parts(self) -> [u32; Version::MAX_PARTS] {
        self.0
    }

    /// Parses `9.2.22104.00170`.
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        let mut parts = [0u32; Version::MAX_PARTS];
        let mut n = 0;
        // One pass over the bytes: digits accumulate into the current part, a dot starts
        // the next one.
        let mut value: u64 = 0;
        let mut digits = 0usize;
        let mut part_start = 0;
        for (i, b) in text.bytes().chain(std::iter::once(b'.')).enumerate() {
            match b {
                b'0'..=b'9' => {
                    value = value * 10 + u64::from(b - b'0');
                    digits += 1;
                    if value > u64::from(u32::MAX) {
                        // Keep scanning to report the whole part.
                        value = u64::from(u32::MAX) + 1;
                    }
                }
                b'.' if digits > 0 => {
                    if n == Version::MAX_PARTS {
                        return Err(VersionError::TooManyParts);
                    }
                    parts[n] = u32::try_from(value).map_err(|_| {
                        VersionError::PartTooLarge(text.get(part_start..i).unwrap_or("").to_owned())
                    })?;
                    n += 1;
                    value = 0;
                    digits = 0;
                    part_start = i + 1;
                }
                _ => return Err(VersionError::Malformed),
            }
        }
        Ok(Version(parts))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.0.iter().rposition(|&p| p != 0).unwrap_or(0).max(1);
        for (i, p) in self.0[..=last].iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn compares_numerically_part_by_part() {
        assert!(v("9.2.22104.00170") > v("9.1.0.5805"));
        assert!(v("9.10.0.0") > v("9.2.22104.00170"));
        assert!(v("9.1.0.5805") > v("9.1.0.5804"));
        assert!(v("9.2.22104.00170") == v("9.2.22104.170"));
        assert!(v("9.2") == v("9.2.0.0"));
        assert!(v("10") > v("9.99.99"));
    }

    #[test]
    fn rejects_malformed_versions() {
        for bad in ["", "9.", ".9", "9..1", "9.x", "v9", "9.1-beta", " 9"] {
            assert_eq!(Version::parse(bad), Err(VersionError::Malformed), "{bad}");
        }
        assert_eq!(
            Version::parse("1.2.3.4.5.6.7"),
            Err(VersionError::TooManyParts)
        );
        assert!(matches!(
            Version::parse("99999999999"),
            Err(VersionError::PartTooLarge(_))
        ));
    }

    #[test]
    fn displays_without_trailing_zero_parts() {
        assert_eq!(v("9.2.22104.00170").to_string(), "9.2.22104.170");
        assert_eq!(v("9").to_string(), "9.0");
    }
}
