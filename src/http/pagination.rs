//! Keyset cursors: opaque to clients, an id underneath, so pages stay stable
//! while rows are added.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;

/// Default page size.
pub const DEFAULT_LIMIT: u64 = 50;
/// Largest page size.
pub const MAX_LIMIT: u64 = 200;

/// One page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items, in order.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Encodes the last id of a page.
pub fn encode(last_id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{last_id}"))
}

/// Decodes a cursor given by a client.
pub fn decode(cursor: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::field("cursor", "is not a cursor this server issued");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix("id:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)
}

/// Validates a requested page size.
pub fn limit(requested: Option<u64>) -> Result<u64, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// Builds a page from `limit + 1` fetched rows: the extra row only proves a
/// next page exists.
pub fn page<R, T>(
    mut rows: Vec<R>,
    limit: u64,
    id: impl Fn(&R) -> i64,
    map: impl FnMut(R) -> T,
) -> Page<T> {
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| encode(id(r)))
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(map).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode(&encode(42)).unwrap(), 42);
        assert!(decode("nope!").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("id:x")).is_err());
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_exist() {
        let p = page(vec![1i64, 2, 3], 2, |r| *r, |r| r);
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(decode(p.next_cursor.as_deref().unwrap()).unwrap(), 2);
        let p = page(vec![1i64, 2], 2, |r| *r, |r| r);
        assert!(p.next_cursor.is_none());
    }
}
