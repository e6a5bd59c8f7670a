package rules

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokenKind int

const (
	tkEOF    tokenKind = iota
	tkWord             // identifier, keyword or @property
	tkNumber           // a bare number: only legal as a path segment
	tkString           // "..."
	tkLParen           // (
	tkRParen           // )
	tkDot              // .
	tkComma            // ,
	tkEq               // =
	tkNe               // !=
	tkEqCase           // ==
	tkNeCase           // !==
	tkNot              // !
	tkAnd              // &&
	tkOr               // ||
)

var tokenText = map[tokenKind]string{
	tkEOF: "end of condition", tkLParen: "(", tkRParen: ")", tkDot: ".", tkComma: ",",
	tkEq: "=", tkNe: "!=", tkEqCase: "==", tkNeCase: "!==", tkNot: "!", tkAnd: "&&", tkOr: "||",
}

type token struct {
	kind tokenKind
	text string // word text, or the unescaped string value
	pos  Pos
}

func (t token) describe() string {
	switch t.kind {
	case tkWord, tkNumber:
		return fmt.Sprintf("%q", t.text)
	case tkString:
		return "string " + Quote(t.text)
	}
	return fmt.Sprintf("%q", tokenText[t.kind])
}

// keyword reports whether the token is the word kw (case-insensitive).
func (t token) keyword(kw string) bool {
	return t.kind == tkWord && strings.EqualFold(t.text, kw)
}

// syntaxError is the first lexical or syntax error in a condition.
type syntaxError struct {
	pos  Pos
	msg  string
	hint string
}

// lexer turns a condition into tokens. It stops at the first error.
type lexer struct {
	src  string
	off  int
	line int
	col  int
}

func newLexer(src string) *lexer { return &lexer{src: src, line: 1, col: 1} }

func (l *lexer) pos() Pos { return Pos{Offset: l.off, Line: l.line, Column: l.col} }

func (l *lexer) peek() (rune, int) {
	if l.off >= len(l.src) {
		return -1, 0
	}
	return utf8.DecodeRuneInString(l.src[l.off:])
}

func (l *lexer) advance() rune {
	r, n := l.peek()
	if n == 0 {
		return -1
	}
	l.off += n
	if r == '\n' {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	return r
}

func isWordStart(r rune) bool { return r == '_' || r == '@' || unicode.IsLetter(r) }
func isWordPart(r rune) bool {
	return r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// tokens lexes the whole input.
func (l *lexer) tokens() ([]token, *syntaxError) {
	var out []token
	for {
		t, err := l.next()
		if err != nil {
			return out, err
		}
		out = append(out, t)
		if t.kind == tkEOF {
			return out, nil
		}
	}
}

func (l *lexer) next() (token, *syntaxError) {
	for {
		r, _ := l.peek()
		if r == -1 || !unicode.IsSpace(r) {
			break
		}
		l.advance()
	}
	start := l.pos()
	r, _ := l.peek()
	simple := func(k tokenKind, n int) (token, *syntaxError) {
		for range n {
			l.advance()
		}
		return token{kind: k, pos: start}, nil
	}
	rest := l.src[l.off:]
	switch {
	case r == -1:
		return token{kind: tkEOF, pos: start}, nil
	case r == '"':
		return l.string(start)
	case r == '\'' || r == '“' || r == '”':
		return token{}, &syntaxError{pos: start, msg: fmt.Sprintf("unexpected character %q", r),
			hint: `string literals are written in straight double quotes: "Sales"`}
	case strings.HasPrefix(rest, "!=="):
		return simple(tkNeCase, 3)
	case strings.HasPrefix(rest, "!="):
		return simple(tkNe, 2)
	case r == '!':
		return simple(tkNot, 1)
	case strings.HasPrefix(rest, "=="):
		return simple(tkEqCase, 2)
	case r == '=':
		return simple(tkEq, 1)
	case strings.HasPrefix(rest, "&&"):
		return simple(tkAnd, 2)
	case strings.HasPrefix(rest, "||"):
		return simple(tkOr, 2)
	case r == '&':
		return token{}, &syntaxError{pos: start, msg: `unexpected character "&"`, hint: `write "and" or "&&"`}
	case r == '|':
		return token{}, &syntaxError{pos: start, msg: `unexpected character "|"`, hint: `write "or" or "||"`}
	case r == '(':
		return simple(tkLParen, 1)
	case r == ')':
		return simple(tkRParen, 1)
	case r == '.':
		return simple(tkDot, 1)
	case r == ',':
		return simple(tkComma, 1)
	case unicode.IsDigit(r):
		for {
			r, _ := l.peek()
			if r == -1 || !isWordPart(r) {
				break
			}
			l.advance()
		}
		return token{kind: tkNumber, text: l.src[start.Offset:l.off], pos: start}, nil
	case isWordStart(r):
		l.advance()
		for {
			r, _ := l.peek()
			if r == -1 || !isWordPart(r) {
				break
			}
			l.advance()
		}
		text := l.src[start.Offset:l.off]
		if text == "@" {
			return token{}, &syntaxError{pos: start, msg: `"@" must be followed by a property name`,
				hint: "custom properties are written user.@department or resource.@tag"}
		}
		return token{kind: tkWord, text: text, pos: start}, nil
	case r == '<' || r == '>':
		return token{}, &syntaxError{pos: start, msg: fmt.Sprintf("unexpected character %q", r),
			hint: "the operators are =, !=, ==, !==, like and matches"}
	}
	if r == utf8.RuneError {
		return token{}, &syntaxError{pos: start, msg: "invalid UTF-8 in condition"}
	}
	return token{}, &syntaxError{pos: start, msg: fmt.Sprintf("unexpected character %q", r)}
}

// string lexes a double-quoted literal. Escapes: \" \\ \n \r \t; any other
// backslash is kept as written (so "\d+" needs no doubling in a regular
// expression). A literal may not span lines: an unterminated literal is
// reported at its opening quote.
func (l *lexer) string(start Pos) (token, *syntaxError) {
	l.advance() // opening quote
	var b strings.Builder
	for {
		r, _ := l.peek()
		switch r {
		case -1, '\n':
			return token{}, &syntaxError{pos: start, msg: "unterminated string literal",
				hint: `close the string with a double quote (")`}
		case '"':
			l.advance()
			return token{kind: tkString, text: b.String(), pos: start}, nil
		case '\\':
			l.advance()
			e, _ := l.peek()
			switch e {
			case '"', '\\':
				b.WriteRune(e)
				l.advance()
			case 'n':
				b.WriteByte('\n')
				l.advance()
			case 'r':
				b.WriteByte('\r')
				l.advance()
			case 't':
				b.WriteByte('\t')
				l.advance()
			default:
				b.WriteByte('\\') // kept literally; the next rune is read normally
			}
		default:
			if r == utf8.RuneError {
				if _, n := l.peek(); n == 1 {
					return token{}, &syntaxError{pos: l.pos(), msg: "invalid UTF-8 in string literal"}
				}
			}
			b.WriteRune(r)
			l.advance()
		}
	}
}
