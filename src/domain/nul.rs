//! The NUL character is refused in every input. PostgreSQL stores no NUL in
//! `text` or `jsonb`, so a NUL that got through failed its statement there
//! with an internal error (and in a group commit, failed the whole group
//! until it was retried alone); SQLite would store it and every other
//! reader would then meet it. Refusing it at the edge keeps both backends
//! alike and the error the client's.

use serde_json::Value;

/// The only way JSON spells a NUL: raw control characters are not allowed
/// inside JSON strings, and the escape's hex digits have no case.
const NUL_ESCAPE: &[u8] = br"\u0000";

/// Whether the JSON text `raw` could hold a NUL: a cheap scan that every
/// input passes, before the exact [`holds_nul`] on the few that might.
pub fn may_hold_nul(raw: &[u8]) -> bool {
    raw.windows(NUL_ESCAPE.len()).any(|w| w == NUL_ESCAPE)
}

/// Whether any string in `value`, object keys included, holds a NUL.
pub fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Whether the JSON text `raw` holds a NUL in any string. Text that is not
/// JSON holds none as far as this is concerned: its parser refuses it.
pub fn json_holds_nul(raw: &[u8]) -> bool {
    may_hold_nul(raw)
        && serde_json::from_slice::<Value>(raw)
            .map(|v| holds_nul(&v))
            .unwrap_or(false)
}

/// Whether a percent-encoded URL part (path or query) decodes to a NUL.
/// Escapes never overlap, so `%00` appears in the text exactly when one
/// decodes to NUL (`%2500` is a literal "%00").
pub fn url_holds_nul(raw: &str) -> bool {
    raw.contains("%00")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_a_nul_escape_in_any_string_or_key_and_nowhere_else() {
        for holds in [
            r#"{"text":"a\u0000b"}"#,
            r#"{"a":["x",{"b":"\u0000"}]}"#,
            r#"{"k\u0000":1}"#,
            r#"["\\\u0000"]"#,
        ] {
            assert!(json_holds_nul(holds.as_bytes()), "{holds}");
        }
        for clean in [
            r#"{"text":"a\\u0000b"}"#,
            r#"{"text":"plain","n":0}"#,
            r#"{"text":"\u0001"}"#,
            "not json \\u0000",
        ] {
            assert!(!json_holds_nul(clean.as_bytes()), "{clean}");
        }
    }

    #[test]
    fn a_url_holds_nul_only_where_an_escape_decodes_to_it() {
        assert!(url_holds_nul("q=a%00b"));
        assert!(url_holds_nul("/api/v1/tags/%00"));
        assert!(!url_holds_nul("q=%2500"));
        assert!(!url_holds_nul("q=100%25"));
    }

    proptest! {
        /// The cheap scan never lets through a value the exact walk would
        /// refuse: whatever strings serde_json writes, a NUL among them is
        /// found.
        #[test]
        fn any_serialised_string_with_a_nul_is_found(
            parts in proptest::collection::vec(".{0,8}", 1..4),
            key in ".{0,4}",
        ) {
            let text = parts.join("\0");
            let value = serde_json::json!({ key.clone(): [text.clone()] });
            let raw = serde_json::to_vec(&value).unwrap_or_default();
            let expected = text.contains('\0') || key.contains('\0');
            prop_assert_eq!(json_holds_nul(&raw), expected);
        }
    }
}
