// Package jsonwrite appends JSON strings byte for byte as encoding/json
// writes them, for the hand-written encoders on hot paths (the decision
// log's entries, the answer of POST /authz/check) that must not differ
// from what encoding/json would have sent.
package jsonwrite

import "unicode/utf8"

const hex = "0123456789abcdef"

// String appends s quoted as an encoding/json Encoder with
// SetEscapeHTML(false) does: control characters escaped (\b, \f, \n, \r,
// \t or \u00XX), invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func String(b []byte, s string) []byte { return appendString(b, s, false) }

// HTMLString appends s quoted as json.Marshal does: String's escapes and
// <, > and & as \u003c, \u003e and \u0026.
func HTMLString(b []byte, s string) []byte { return appendString(b, s, true) }

func appendString(b []byte, s string, html bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!html || (c != '<' && c != '>' && c != '&')) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
