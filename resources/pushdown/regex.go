package pushdown

import (
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxRegexLen bounds a translated pattern: a class such as \pL expands to
// hundreds of ranges, which the database would parse for every query.
const maxRegexLen = 2048

// MongoRegex rewrites an RE2 pattern (the planner's FilterRegex, matched
// case-sensitively by Go) into a pattern MongoDB's PCRE (UTF-8 mode) and
// the embedded FerretDB read exactly alike, or answers false when the
// pattern uses a construct where they may differ.
//
// The pattern is parsed with regexp/syntax and written back from the
// parse tree, never copied: every character is an escape \x{h} (case
// folding expanded into a class of the case variants, so no (?i) is
// left for PCRE's own folding), classes are explicit ranges, . is [^\n]
// or (?s:.), ^ and $ outside (?m) are \A and \z (PCRE's $ also matches
// before a final newline), groups do not capture. Allowed: literals,
// classes (Perl, POSIX, Unicode, negated; at most maxRegexLen when
// written), alternation, concatenation, repetition (* + ? {n,m}, greedy
// or not: whether a match exists does not depend on it), text anchors.
// Refused: (?m) line anchors (PCRE's ^ does not match after a final
// newline), \b and \B (RE2's are ASCII-only), empty classes, classes
// ending on a surrogate code point, and anything longer than maxRegexLen.
func MongoRegex(pattern string) (string, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	if !writeRegex(&b, re) || b.Len() > maxRegexLen {
		return "", false
	}
	return b.String(), true
}

func writeRegex(b *strings.Builder, re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch:
		// nothing to write: a quantifier wraps what it repeats
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 && unicode.SimpleFold(r) != r {
				b.WriteByte('[')
				for f := r; ; {
					writeRune(b, f)
					if f = unicode.SimpleFold(f); f == r {
						break
					}
				}
				b.WriteByte(']')
			} else {
				writeRune(b, r)
			}
		}
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return false
		}
		b.WriteByte('[')
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if surrogate(lo) || surrogate(hi) {
				return false
			}
			writeRune(b, lo)
			if hi != lo {
				b.WriteByte('-')
				writeRune(b, hi)
			}
		}
		b.WriteByte(']')
	case syntax.OpAnyCharNotNL:
		b.WriteString(`[^\n]`)
	case syntax.OpAnyChar:
		b.WriteString(`(?s:.)`)
	case syntax.OpBeginText:
		b.WriteString(`\A`)
	case syntax.OpEndText:
		b.WriteString(`\z`)
	case syntax.OpCapture:
		b.WriteString("(?:")
		if !writeRegex(b, re.Sub[0]) {
			return false
		}
		b.WriteByte(')')
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		sub := re.Sub[0]
		atom := sub.Op == syntax.OpCharClass || sub.Op == syntax.OpAnyChar || sub.Op == syntax.OpAnyCharNotNL ||
			sub.Op == syntax.OpCapture || sub.Op == syntax.OpAlternate || sub.Op == syntax.OpLiteral && len(sub.Rune) == 1
		if !atom {
			b.WriteString("(?:")
		}
		if !writeRegex(b, sub) {
			return false
		}
		if !atom {
			b.WriteByte(')')
		}
		switch re.Op {
		case syntax.OpStar:
			b.WriteByte('*')
		case syntax.OpPlus:
			b.WriteByte('+')
		case syntax.OpQuest:
			b.WriteByte('?')
		default:
			switch {
			case re.Max == re.Min:
				fmt.Fprintf(b, "{%d}", re.Min)
			case re.Max < 0:
				fmt.Fprintf(b, "{%d,}", re.Min)
			default:
				fmt.Fprintf(b, "{%d,%d}", re.Min, re.Max)
			}
		}
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !writeRegex(b, s) {
				return false
			}
		}
	case syntax.OpAlternate:
		b.WriteString("(?:")
		for i, s := range re.Sub {
			if i > 0 {
				b.WriteByte('|')
			}
			if !writeRegex(b, s) {
				return false
			}
		}
		b.WriteByte(')')
	default:
		// OpBeginLine, OpEndLine, OpWordBoundary, OpNoWordBoundary,
		// OpNoMatch and anything newer.
		return false
	}
	return b.Len() <= maxRegexLen
}

// writeRune writes r so that no regex dialect reads it as syntax: ASCII
// letters and digits as they are, everything else as \x{h}.
func writeRune(b *strings.Builder, r rune) {
	if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
		b.WriteRune(r)
		return
	}
	fmt.Fprintf(b, `\x{%x}`, r)
}

func surrogate(r rune) bool { return r >= 0xd800 && r <= 0xdfff }
