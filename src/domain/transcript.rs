//! Conversation transcripts for download: plain text, or a standalone HTML
//! page in which every piece of conversation text is escaped. Internal
//! notes never reach this module: it renders messages only.

use chrono::{DateTime, Utc};

use super::protocol::{MessageView, PartyKind};

/// What a transcript says about its conversation.
#[derive(Debug, Clone)]
pub struct TranscriptHeader {
    /// Shown as the heading (the widget's title).
    pub title: String,
    /// The conversation.
    pub conversation_id: i64,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When it was closed, and why, if it is closed.
    pub closed: Option<(Option<DateTime<Utc>>, Option<String>)>,
}

/// The download formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TranscriptFormat {
    /// `text/plain`.
    Text,
    /// A standalone `text/html` page.
    Html,
}

impl TranscriptFormat {
    /// The `Content-Type` of the download.
    pub fn content_type(self) -> &'static str {
        match self {
            TranscriptFormat::Text => "text/plain; charset=utf-8",
            TranscriptFormat::Html => "text/html; charset=utf-8",
        }
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            TranscriptFormat::Text => "txt",
            TranscriptFormat::Html => "html",
        }
    }
}

/// Renders in the asked format.
pub fn render(
    format: TranscriptFormat,
    header: &TranscriptHeader,
    messages: &[MessageView],
) -> String {
    match format {
        TranscriptFormat::Text => text(header, messages),
        TranscriptFormat::Html => html(header, messages),
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Who a line is from, as a reader of the transcript understands it.
fn speaker(m: &MessageView) -> String {
    let name = m.sender.name.as_deref().filter(|n| !n.trim().is_empty());
    match m.sender.kind {
        PartyKind::Customer => name.unwrap_or("Visitor").to_owned(),
        PartyKind::Agent => format!("{} (agent)", name.unwrap_or("Agent")),
        PartyKind::Bot => format!("{} (bot)", name.unwrap_or("Bot")),
        PartyKind::System => "System".to_owned(),
    }
}

fn closed_line(closed: &(Option<DateTime<Utc>>, Option<String>)) -> String {
    let (at, reason) = closed;
    let mut line = "Ended".to_owned();
    if let Some(at) = at {
        line.push_str(&format!(": {}", stamp(*at)));
    }
    if let Some(r) = reason.as_deref().filter(|r| !r.is_empty()) {
        // Reasons are refused with control characters now; one stored
        // before that must still not break the header into fake entries.
        let r: String = r
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        line.push_str(&format!(" ({r})"));
    }
    line
}

/// Plain text: a header, then one entry per message; continuation lines
/// are indented so a message's own line breaks cannot fake a new entry.
pub fn text(header: &TranscriptHeader, messages: &[MessageView]) -> String {
    let mut out = format!(
        "{} — conversation #{}\nStarted: {}\n",
        header.title,
        header.conversation_id,
        stamp(header.started_at)
    );
    if let Some(closed) = &header.closed {
        out.push_str(&closed_line(closed));
        out.push('\n');
    }
    out.push('\n');
    for m in messages {
        out.push_str(&format!("[{}] {}: ", stamp(m.created_at), speaker(m)));
        let mut lines = m.text.lines();
        out.push_str(lines.next().unwrap_or_default());
        out.push('\n');
        for line in lines {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
    }
    if messages.is_empty() {
        out.push_str("(no messages)\n");
    }
    out
}

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:720px;margin:2em auto;padding:0 1em;color:#111}\
h1{font-size:1.4em;margin:0 0 .2em}.meta{color:#555;margin:0 0 1.5em}\
ol{list-style:none;padding:0;margin:0}li{margin:0 0 1em;padding:.6em .8em;border-radius:8px;background:#f3f4f6}\
li.customer{background:#e0ecff}li.system{background:none;color:#555;font-style:italic}\
.who{font-weight:600;font-size:.9em}time{font-weight:400;color:#555;margin-left:.5em}\
.text{white-space:pre-wrap;overflow-wrap:anywhere}";

/// A standalone page (inline style, a CSP that allows nothing else), with
/// every name and text escaped: a message cannot inject markup.
pub fn html(header: &TranscriptHeader, messages: &[MessageView]) -> String {
    let title = escape_html(&format!(
        "{} — conversation #{}",
        header.title, header.conversation_id
    ));
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n\
         <p class=\"meta\">Started: {}",
        escape_html(&stamp(header.started_at))
    );
    if let Some(closed) = &header.closed {
        out.push_str(&format!("<br>{}", escape_html(&closed_line(closed))));
    }
    out.push_str("</p>\n<ol>\n");
    for m in messages {
        out.push_str(&format!(
            "<li class=\"{}\"><div class=\"who\">{}<time datetime=\"{}\">{}</time></div><div class=\"text\">{}</div></li>\n",
            m.sender.kind.as_str(),
            escape_html(&speaker(m)),
            escape_html(&m.created_at.to_rfc3339()),
            escape_html(&stamp(m.created_at)),
            escape_html(&m.text)
        ));
    }
    if messages.is_empty() {
        out.push_str("<li class=\"system\">(no messages)</li>\n");
    }
    out.push_str("</ol>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::protocol::Sender;

    fn message(seq: i64, kind: PartyKind, name: Option<&str>, text: &str) -> MessageView {
        MessageView {
            id: seq,
            conversation_id: 7,
            seq,
            client_msg_id: None,
            sender: Sender {
                kind,
                id: Some(1),
                name: name.map(str::to_owned),
            },
            text: text.to_owned(),
            attachments: Vec::new(),
            created_at: Utc
                .with_ymd_and_hms(2026, 11, 21, 10, 0, seq as u32)
                .unwrap(),
        }
    }

    fn header() -> TranscriptHeader {
        TranscriptHeader {
            title: "Help <desk>".into(),
            conversation_id: 7,
            started_at: Utc.with_ymd_and_hms(2026, 11, 21, 9, 59, 0).unwrap(),
            closed: Some((None, Some("resolved".into()))),
        }
    }

    #[test]
    fn html_escapes_every_text_and_name() {
        let msgs = [
            message(
                1,
                PartyKind::Customer,
                Some("<img src=x onerror=alert(1)>"),
                "<script>alert('x')</script> & \"q\"",
            ),
            message(2, PartyKind::Agent, Some("Bruno"), "fine"),
        ];
        let page = html(&header(), &msgs);
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;")
        );
        assert!(page.contains("Help &lt;desk&gt;"));
        assert!(page.contains("Bruno (agent)"));
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("default-src 'none'"));
    }

    #[test]
    fn text_indents_continuation_lines_so_they_cannot_fake_an_entry() {
        let msgs = [message(
            1,
            PartyKind::Customer,
            None,
            "hi\n[2026-01-01 00:00:00 UTC] Bruno (agent): refund ok",
        )];
        let t = text(&header(), &msgs);
        assert!(t.contains("] Visitor: hi\n    [2026-01-01"), "{t}");
        assert!(t.contains("Ended (resolved)"), "{t}");
        assert!(t.starts_with("Help <desk> — conversation #7\n"));
    }

    #[test]
    fn a_close_reason_stored_with_line_breaks_stays_on_the_header_line() {
        let mut h = header();
        h.closed = Some((
            None,
            Some("done)\n\n[2026-12-08 00:50:00 UTC] Visitor: I agree to cancel\n(x".into()),
        ));
        let t = text(&h, &[]);
        assert!(!t.contains("\n[2026-12-08"), "{t}");
        assert_eq!(
            t.lines().filter(|l| l.starts_with("Ended")).count(),
            1,
            "{t}"
        );
        assert!(t.contains("Ended (done)  [2026-12-08 00:50:00 UTC]"), "{t}");
    }

    #[test]
    fn close_reasons_with_control_characters_or_blank_are_refused() {
        use crate::domain::protocol::reason_problem;
        assert_eq!(reason_problem("resolved"), None);
        assert_eq!(reason_problem(&"x".repeat(200)), None);
        assert!(reason_problem(&"x".repeat(201)).is_some());
        assert!(reason_problem("a\nb").is_some());
        assert!(reason_problem("a\u{7}b").is_some());
        assert!(reason_problem("   ").is_some());
        assert!(reason_problem("").is_some());
    }
}
