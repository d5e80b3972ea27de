//! Making untrusted message bodies safe for a terminal.
//!
//! Text from the network may contain control characters and escape
//! sequences (ESC [ … , OSC, BEL, …). Nothing of that may reach the
//! terminal: control characters are shown escaped (`\u{1b}`, `\n`, `\t`),
//! and a body that is not valid UTF-8 is shown as hex.

/// A one-line preview of `body` of at most `max_chars` characters (an ellipsis
/// `…` marks truncation). UTF-8 text keeps printable characters and escapes
/// every control character (C0, DEL, C1) and Unicode bidi/format controls;
/// anything else is rendered as `hex:` followed by the first bytes in hex.
pub fn preview(body: &[u8], max_chars: usize) -> String {
    let mut out = String::new();
    let mut n = 0usize;
    match std::str::from_utf8(body) {
        Ok(text) => {
            for c in text.chars() {
                let piece: String = if is_unsafe(c) {
                    c.escape_default().collect()
                } else {
                    c.to_string()
                };
                let len = piece.chars().count();
                if n + len > max_chars {
                    out.push('…');
                    return out;
                }
                n += len;
                out.push_str(&piece);
            }
        }
        Err(_) => {
            out.push_str("hex:");
            n = 4;
            for b in body {
                if n + 2 > max_chars {
                    out.push('…');
                    return out;
                }
                out.push_str(&format!("{b:02x}"));
                n += 2;
            }
        }
    }
    out
}

fn is_unsafe(c: char) -> bool {
    c.is_control()
        // bidi overrides/isolates and zero-width format characters can reorder
        // or hide text on screen
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_sequences() {
        let p = preview(b"hi\x1b[2J\x1b]0;pwned\x07\r\nend\t", 100);
        assert_eq!(p, "hi\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\r\\nend\\t");
        assert!(!p.chars().any(|c| c.is_control()));
        assert_eq!(
            preview("a\u{202e}b\u{9b}c".as_bytes(), 100),
            "a\\u{202e}b\\u{9b}c"
        );
    }

    #[test]
    fn binary_is_hex_and_truncated() {
        assert_eq!(preview(&[0xff, 0x00, 0x10], 100), "hex:ff0010");
        assert_eq!(preview(&[0xff; 10], 10), "hex:ffffff…");
        assert_eq!(preview("héllo wörld".as_bytes(), 5), "héllo…");
        assert_eq!(preview(b"", 5), "");
    }
}
