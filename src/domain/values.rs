//! Validated value types. Each has a private field and a `parse` that is the
//! only way in, so a value that exists is a value that is valid.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// Why a submitted value was refused; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String);

fn err(msg: impl Into<String>) -> ValidationError {
    ValidationError(msg.into())
}

/// Text a person sees as a name: trimmed, non-empty, bounded, and free of
/// control characters and angle brackets (names end up in many UIs; markup
/// in them is never legitimate).
fn clean_name(raw: &str, what: &str, max: usize) -> Result<String, ValidationError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(err(format!("{what} must not be empty")));
    }
    if s.chars().count() > max {
        return Err(err(format!("{what} must be at most {max} characters")));
    }
    if s.chars().any(|c| c.is_control() || c == '<' || c == '>') {
        return Err(err(format!(
            "{what} must not contain control characters or '<' '>'"
        )));
    }
    Ok(s.to_owned())
}

/// A syntactically valid e-mail address, stored lower-case so logins are
/// case-insensitive and uniqueness holds across spellings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Longest address accepted (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    /// Validates and normalises an address.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim().to_lowercase();
        if s.len() > Self::MAX_LEN {
            return Err(err("email is too long"));
        }
        if !email_address::EmailAddress::is_valid(&s) || !s.contains('@') {
            return Err(err("email is not a valid e-mail address"));
        }
        Ok(Email(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password: 8 to 128 characters (NIST SP 800-63B: length over
/// composition rules; the upper bound keeps hashing cost bounded).
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    /// Shortest password accepted.
    pub const MIN_LEN: usize = 8;
    /// Longest password accepted.
    pub const MAX_LEN: usize = 128;

    /// Checks the length rules.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let n = raw.chars().count();
        if n < Self::MIN_LEN {
            return Err(err(format!(
                "password must be at least {} characters",
                Self::MIN_LEN
            )));
        }
        if n > Self::MAX_LEN {
            return Err(err(format!(
                "password must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        Ok(Password(SecretString::from(raw.to_owned())))
    }

    /// The plain text, for hashing only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// A person's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Longest name accepted.
    pub const MAX_LEN: usize = 100;

    /// Trims and validates a name.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        clean_name(raw, "name", Self::MAX_LEN).map(DisplayName)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A team's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamName(String);

impl TeamName {
    /// Longest name accepted.
    pub const MAX_LEN: usize = 80;

    /// Trims and validates a team name.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        clean_name(raw, "name", Self::MAX_LEN).map(TeamName)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A skill such as `billing` or `language:es`: lower-case ASCII letters,
/// digits and `:_-.`, so rules and UIs can match it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SkillName(String);

impl SkillName {
    /// Longest name accepted.
    pub const MAX_LEN: usize = 64;

    /// Validates a skill name (case-folded to lower case).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(err(format!(
                "skill name must be 1 to {} characters",
                Self::MAX_LEN
            )));
        }
        let ok = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ":_-.".contains(c));
        if !ok {
            return Err(err(
                "skill name may contain only a-z, 0-9 and the characters : _ - .",
            ));
        }
        Ok(SkillName(s))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How well an agent masters a skill, or the least a conversation needs: 1–5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SkillLevel(u8);

impl SkillLevel {
    /// Validates a level.
    pub fn parse(raw: i64) -> Result<Self, ValidationError> {
        if (1..=5).contains(&raw) {
            Ok(SkillLevel(raw as u8))
        } else {
            Err(err("skill level must be between 1 and 5"))
        }
    }

    /// The level.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// How many conversations an agent handles at once: 1–50 (0 would make an
/// agent that can never be routed to; use `away` for that).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Capacity(u16);

impl Capacity {
    /// The default for a new agent.
    pub const DEFAULT: Capacity = Capacity(3);
    /// The largest capacity accepted.
    pub const MAX: i64 = 50;

    /// Validates a capacity.
    pub fn parse(raw: i64) -> Result<Self, ValidationError> {
        if (1..=Self::MAX).contains(&raw) {
            Ok(Capacity(raw as u16))
        } else {
            Err(err(format!("capacity must be between 1 and {}", Self::MAX)))
        }
    }

    /// The capacity.
    pub fn get(self) -> u16 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ana@Example.COM ").unwrap().as_str(),
            "ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "a b@example.com",
            "<x>@y.z",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn passwords_have_length_bounds() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn names_refuse_markup_control_and_blank() {
        assert_eq!(
            DisplayName::parse("  Ana Lima ").unwrap().as_str(),
            "Ana Lima"
        );
        for bad in ["", "   ", "<script>", "a\u{0}b", "tab\there"] {
            assert!(DisplayName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(101)).is_err());
        assert!(TeamName::parse(&"t".repeat(81)).is_err());
    }

    #[test]
    fn skill_names_are_a_small_alphabet() {
        assert_eq!(
            SkillName::parse("Language:ES").unwrap().as_str(),
            "language:es"
        );
        for bad in ["", "has space", "émoji", "a/b", &"x".repeat(65)] {
            assert!(SkillName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn levels_and_capacities_are_bounded() {
        assert!(SkillLevel::parse(0).is_err());
        assert_eq!(SkillLevel::parse(5).unwrap().get(), 5);
        assert!(SkillLevel::parse(6).is_err());
        assert!(Capacity::parse(0).is_err());
        assert_eq!(Capacity::parse(50).unwrap().get(), 50);
        assert!(Capacity::parse(51).is_err());
        assert!(Capacity::parse(-1).is_err());
    }
}
