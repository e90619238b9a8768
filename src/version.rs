//! Dotted numeric versions (`9.2.22104.00170`), compared part by part as numbers and
//! shown as written.
//!
//! Missing trailing parts count as zero, so `9.2` equals `9.2.0`. A version has one to
//! [`Version::MAX_PARTS`] parts, each a decimal number that fits in 32 bits; leading zeros
//! are allowed (`00170` is 170), up to [`Version::MAX_LEADING_ZEROS`] per part. A version
//! remembers how it was written (how many parts, how many leading zeros each), so it
//! prints as `9.2.22104.00170` wherever it is shown, while it compares by value.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// A parsed version. Equality, ordering and hashing are numeric, part by part; the
/// written form only affects how it is shown.
#[derive(Clone, Copy, Default)]
pub struct Version {
    parts: [u32; Version::MAX_PARTS],
    /// How it was written: bits 0..3 hold the number of parts written, then 4 bits per
    /// part hold its leading zeros. 0 for a version not parsed from text.
    written: u32,
}

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
    /// A part with too many leading zeros to be shown as written.
    #[error("version part `{0}` has more than {max} leading zeros", max = Version::MAX_LEADING_ZEROS)]
    TooManyZeros(String),
}

impl Version {
    /// Most parts a version may have.
    pub const MAX_PARTS: usize = 6;

    /// Most leading zeros in one part.
    pub const MAX_LEADING_ZEROS: usize = 15;

    /// The parts, padded with zeros.
    pub fn parts(self) -> [u32; Version::MAX_PARTS] {
        self.parts
    }

    /// Parses `9.2.22104.00170`.
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        let mut parts = [0u32; Version::MAX_PARTS];
        let mut written = 0u32;
        let mut n = 0;
        // One pass over the bytes: digits accumulate into the current part, a dot starts
        // the next one.
        let mut value: u64 = 0;
        let mut digits = 0usize;
        let mut zeros = 0usize;
        let mut part_start = 0;
        for (i, b) in text.bytes().chain(std::iter::once(b'.')).enumerate() {
            match b {
                b'0'..=b'9' => {
                    if value == 0 && b == b'0' {
                        zeros += 1;
                    }
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
                    let part = || text.get(part_start..i).unwrap_or("").to_owned();
                    parts[n] =
                        u32::try_from(value).map_err(|_| VersionError::PartTooLarge(part()))?;
                    // A part that is all zeros is written as `0` plus its leading zeros.
                    let leading = if value == 0 { zeros - 1 } else { zeros };
                    if leading > Version::MAX_LEADING_ZEROS {
                        return Err(VersionError::TooManyZeros(part()));
                    }
                    written |= u32::try_from(leading).unwrap_or(0) << (3 + 4 * n);
                    n += 1;
                    value = 0;
                    digits = 0;
                    zeros = 0;
                    part_start = i + 1;
                }
                _ => return Err(VersionError::Malformed),
            }
        }
        written |= u32::try_from(n).unwrap_or(0);
        Ok(Version { parts, written })
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts.cmp(&other.parts)
    }
}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts.hash(state);
    }
}

impl fmt::Display for Version {
    /// As written (`9.2.22104.00170`); a version not parsed from text shows its parts
    /// without trailing zero parts (`9.2`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = (self.written & 0b111) as usize;
        let shown = if count == 0 {
            self.parts.iter().rposition(|&p| p != 0).unwrap_or(0).max(1) + 1
        } else {
            count.min(Version::MAX_PARTS)
        };
        for (i, p) in self.parts[..shown].iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            let zeros = if count == 0 {
                0
            } else {
                ((self.written >> (3 + 4 * i)) & 0b1111) as usize
            };
            for _ in 0..zeros {
                f.write_str("0")?;
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
    fn displays_as_written_and_compares_by_value() {
        for text in [
            "9.2.22104.00170",
            "9",
            "9.2.0.0",
            "0.00.000",
            "07.1",
            "10.0001",
        ] {
            assert_eq!(v(text).to_string(), text);
        }
        assert_eq!(v("9.2.22104.00170"), v("9.2.22104.170"));
        assert_eq!(v("9.2"), v("9.2.0.0"));
        assert_eq!(Version::default().to_string(), "0.0");
        assert_eq!(
            Version::parse("1.00000000000000000"),
            Err(VersionError::TooManyZeros("00000000000000000".to_owned()))
        );
        let h = std::collections::hash_map::RandomState::new();
        assert_eq!(
            std::hash::BuildHasher::hash_one(&h, v("9.2.0170")),
            std::hash::BuildHasher::hash_one(&h, v("9.2.170"))
        );
    }
}
