//! Values of the agent inbox: tag names and colours, macro titles and
//! bodies, and the search text of the conversation list. Each has a private
//! field and a `parse`, like the values in [`super::values`].

use super::ValidationError;

fn err(msg: impl Into<String>) -> ValidationError {
    ValidationError(msg.into())
}

/// A tag such as `billing`, `vip` or `bug report`: trimmed, lower-cased (so
/// `VIP` and `vip` are one tag), 1–40 characters of letters, digits, spaces
/// and `-_:.`. Inner runs of spaces become one, so a tag reads the same in
/// every list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagName(String);

impl TagName {
    /// Longest name accepted.
    pub const MAX_LEN: usize = 40;

    /// Validates and normalises a tag name.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        let n = s.chars().count();
        if n == 0 || n > Self::MAX_LEN {
            return Err(err(format!(
                "tag name must be 1 to {} characters",
                Self::MAX_LEN
            )));
        }
        if !s
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "-_:.".contains(c))
        {
            return Err(err(
                "tag name may contain only letters, digits, spaces and - _ : .",
            ));
        }
        Ok(TagName(s))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display colour `#rrggbb`, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Color(String);

impl Color {
    /// Validates a colour.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim().to_lowercase();
        let hex = s.strip_prefix('#').unwrap_or("");
        if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(Color(s))
        } else {
            Err(err("colour must be #rrggbb"))
        }
    }

    /// The colour.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A macro's title, what agents type after `/` to find it: trimmed, 1–80
/// characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroTitle(String);

impl MacroTitle {
    /// Longest title accepted.
    pub const MAX_LEN: usize = 80;

    /// Validates a title.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        let n = s.chars().count();
        if n == 0 || n > Self::MAX_LEN {
            return Err(err(format!(
                "title must be 1 to {} characters",
                Self::MAX_LEN
            )));
        }
        if s.chars().any(char::is_control) {
            return Err(err("title must not contain control characters"));
        }
        Ok(MacroTitle(s.to_owned()))
    }

    /// The title.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text a macro inserts: 1–4000 characters (a message's limit, since it
/// becomes one), not blank, trimmed; newlines and tabs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroContent(String);

impl MacroContent {
    /// Longest content accepted: the message limit.
    pub const MAX_LEN: usize = crate::domain::protocol::MAX_TEXT_CHARS;

    /// Validates macro content.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        let n = s.chars().count();
        if n == 0 || n > Self::MAX_LEN {
            return Err(err(format!(
                "content must be 1 to {} characters",
                Self::MAX_LEN
            )));
        }
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(err(
                "content must not contain control characters other than newlines and tabs",
            ));
        }
        Ok(MacroContent(s.to_owned()))
    }

    /// The content.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text to search for (`q`): trimmed, 1–100 characters, compared
/// case-insensitively, so it is kept lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    /// Longest search accepted.
    pub const MAX_LEN: usize = 100;

    /// Validates a search; `None` for a blank one (no filter).
    pub fn parse(raw: &str) -> Result<Option<Self>, ValidationError> {
        let s = raw.trim();
        if s.is_empty() {
            return Ok(None);
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(err(format!(
                "search must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        if s.chars().any(char::is_control) {
            return Err(err("search must not contain control characters"));
        }
        Ok(Some(SearchText(s.to_lowercase())))
    }

    /// A `LIKE` pattern matching the text anywhere, with `\` escaping the
    /// wildcards a user typed (so `50%` finds "50%", not "50 anything").
    pub fn like_pattern(&self) -> String {
        let mut p = String::with_capacity(self.0.len() + 2);
        p.push('%');
        for c in self.0.chars() {
            if matches!(c, '%' | '_' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push('%');
        p
    }

    /// The lower-cased text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tag_names_are_folded_and_squeezed() {
        assert_eq!(TagName::parse("  VIP ").unwrap().as_str(), "vip");
        assert_eq!(
            TagName::parse("Bug   Report").unwrap().as_str(),
            "bug report"
        );
        assert_eq!(TagName::parse("língua:pt").unwrap().as_str(), "língua:pt");
        for bad in ["", "   ", "<b>", "a/b", "semi;colon", &"x".repeat(41)] {
            assert!(TagName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TagName::parse(&"x".repeat(40)).is_ok());
    }

    #[test]
    fn colours_are_six_hex_digits() {
        assert_eq!(Color::parse("#FF8800").unwrap().as_str(), "#ff8800");
        for bad in ["", "ff8800", "#ff880", "#gg8800", "red"] {
            assert!(Color::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn macro_titles_and_contents_are_bounded() {
        assert_eq!(
            MacroTitle::parse("  Refund policy ").unwrap().as_str(),
            "Refund policy"
        );
        assert!(MacroTitle::parse("").is_err());
        assert!(MacroTitle::parse("a\u{7}b").is_err());
        assert!(MacroTitle::parse(&"t".repeat(81)).is_err());
        assert_eq!(
            MacroContent::parse(" Hi!\n\tThanks ").unwrap().as_str(),
            "Hi!\n\tThanks"
        );
        assert!(MacroContent::parse(" \n ").is_err());
        assert!(MacroContent::parse("a\u{0}").is_err());
        assert!(MacroContent::parse(&"c".repeat(4000)).is_ok());
        assert!(MacroContent::parse(&"c".repeat(4001)).is_err());
    }

    #[test]
    fn a_search_escapes_like_wildcards() {
        assert_eq!(SearchText::parse("  ").unwrap(), None);
        let s = SearchText::parse("Ana_50%").unwrap().unwrap();
        assert_eq!(s.as_str(), "ana_50%");
        assert_eq!(s.like_pattern(), "%ana\\_50\\%%");
        assert!(SearchText::parse(&"q".repeat(101)).is_err());
    }
}
