package rulefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"unicode/utf8"
)

// A rule file that is JSON (the API's clients send it) is read with
// encoding/json, several times cheaper than the YAML parser for
// ten thousand rules. The fast path reads only files whose every rule and
// field is plainly well formed — the shapes Parse accepts, string fields
// as strings or null, actions a list of strings, disabled a boolean, no
// key given twice; anything else (and every problem) is left to the YAML
// parser, which reads JSON too and says what is wrong and where. A file
// read this way keeps its text: Validate reads it again with the YAML
// parser when it has something to report, so that problems point at the
// field's text exactly as they do for YAML.

// errNotPlain: the JSON fast path declines the file (the YAML parser reads it).
var errNotPlain = errors.New("not a plain JSON rule file")

// isJSON tells whether data starts (after white space) like a JSON object
// or array.
func isJSON(data []byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n")
	return len(data) > 0 && (data[0] == '{' || data[0] == '[') && utf8.Valid(data)
}

// jsonFile reads a plain JSON rule file, or declines it (errNotPlain).
func jsonFile(data []byte) (*File, error) {
	p := &jsonParser{dec: json.NewDecoder(bytes.NewReader(data)), data: data, line: 1}
	f, err := p.file()
	if err != nil {
		return nil, errNotPlain
	}
	if _, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errNotPlain // a second value: the YAML parser says so
	}
	f.src = data
	return f, nil
}

type jsonParser struct {
	dec  *json.Decoder
	data []byte
	// The line and column (characters before off on its line) of offset
	// off: positions are computed as the decoder moves forward.
	line, col, off int
}

// pos is the 1-based line and column (in characters, as the YAML parser
// counts) of the byte at offset at, which is at or after the last one
// asked: one pass over the file for all rules, also when it is one line.
func (p *jsonParser) pos(at int) (int, int) {
	for ; p.off < at; p.off++ {
		switch b := p.data[p.off]; {
		case b == '\n':
			p.line, p.col = p.line+1, 0
		case b&0xC0 != 0x80: // not a continuation byte: a character starts
			p.col++
		}
	}
	return p.line, p.col + 1
}

func (p *jsonParser) delim(want json.Delim) error {
	t, err := p.dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return errNotPlain
	}
	return nil
}

func (p *jsonParser) file() (*File, error) {
	// The opening delimiter: its offset is where the decoder stands after
	// it, less one.
	t, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := t.(json.Delim)
	if !ok {
		return nil, errNotPlain
	}
	f := &File{}
	switch d {
	case '[':
		return f, p.list(f)
	case '{':
	default:
		return nil, errNotPlain
	}
	// An object: `rules` (and `$schema`), or one rule. A rule has
	// neither key, so the first key tells (a rule that has one later is
	// not plain: the YAML parser says what is wrong).
	start := int(p.dec.InputOffset()) - 1
	if !p.dec.More() {
		return nil, errNotPlain // {}: a rule without fields, said by Validate
	}
	t, err = p.dec.Token()
	if err != nil {
		return nil, err
	}
	k, _ := t.(string)
	if k != "rules" && k != "$schema" {
		e, err := p.entry(start, 1, k)
		if err != nil {
			return nil, err
		}
		f.Entries = append(f.Entries, e)
		return f, nil
	}
	hasRules := false
	for {
		switch k {
		case "rules":
			if hasRules {
				return nil, errNotPlain // given twice
			}
			hasRules = true
			t, err := p.dec.Token()
			if err != nil {
				return nil, err
			}
			if t != nil {
				if d, ok := t.(json.Delim); !ok || d != '[' {
					return nil, errNotPlain
				}
				if err := p.list(f); err != nil {
					return nil, err
				}
			}
		case "$schema":
			var skip json.RawMessage
			if err := p.dec.Decode(&skip); err != nil {
				return nil, err
			}
		default:
			return nil, errNotPlain
		}
		if !p.dec.More() {
			break
		}
		t, err := p.dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ = t.(string)
	}
	if !hasRules {
		return nil, errNotPlain
	}
	return f, p.delim('}')
}

// list reads the rules of a list whose '[' was read, up to its ']'.
func (p *jsonParser) list(f *File) error {
	for i := 1; p.dec.More(); i++ {
		// The decoder stands after the previous value (or '['): the rule
		// starts at the next '{'.
		at := int(p.dec.InputOffset())
		for at < len(p.data) && p.data[at] != '{' {
			switch p.data[at] {
			case ' ', '\t', '\r', '\n', ',':
				at++
			default:
				return errNotPlain // not a mapping: the YAML parser says so
			}
		}
		if err := p.delim('{'); err != nil {
			return err
		}
		e, err := p.entry(at, i, "")
		if err != nil {
			return err
		}
		f.Entries = append(f.Entries, e)
	}
	return p.delim(']')
}

// entry reads one rule whose '{' at offset start was read, up to its '}';
// first, when not "", is its first key, read already.
func (p *jsonParser) entry(start, index int, first string) (Entry, error) {
	e := Entry{Index: index}
	e.Line, e.Column = p.pos(start)
	r := &e.Rule
	for first != "" || p.dec.More() {
		k := first
		if first == "" {
			t, err := p.dec.Token()
			if err != nil {
				return e, err
			}
			k, _ = t.(string)
		}
		first = ""
		bit := fieldBit(k)
		if bit == 0 {
			return e, errNotPlain // unknown: the YAML parser suggests the field meant
		}
		if e.given&bit != 0 {
			return e, errNotPlain // given twice
		}
		e.given |= bit
		if slices.Contains(readOnlyFields, k) {
			var skip json.RawMessage
			if err := p.dec.Decode(&skip); err != nil {
				return e, err
			}
			continue
		}
		t, err := p.dec.Token()
		if err != nil {
			return e, err
		}
		switch k {
		case "actions":
			if t == nil {
				r.Actions = []string{}
				continue
			}
			if d, ok := t.(json.Delim); !ok || d != '[' {
				return e, errNotPlain
			}
			r.Actions = []string{}
			for p.dec.More() {
				t, err := p.dec.Token()
				if err != nil {
					return e, err
				}
				a, ok := t.(string)
				if !ok {
					return e, errNotPlain
				}
				r.Actions = append(r.Actions, a)
			}
			if err := p.delim(']'); err != nil {
				return e, err
			}
		case "disabled":
			b, ok := t.(bool)
			if !ok {
				return e, errNotPlain
			}
			r.Disabled = b
		default:
			var s string
			if t != nil {
				var ok bool
				if s, ok = t.(string); !ok {
					return e, errNotPlain
				}
			}
			if !setString(r, k, s) {
				return e, errNotPlain
			}
		}
	}
	if err := p.delim('}'); err != nil {
		return e, err
	}
	withDefaults(r)
	return e, nil
}

// fieldBit is the bit of a rule's field (or of a read-only field the
// file may give) in Entry.given; 0 for any other key.
func fieldBit(k string) uint16 {
	if i := slices.Index(fields, k); i >= 0 {
		return 1 << i
	}
	if i := slices.Index(readOnlyFields, k); i >= 0 {
		return 1 << (len(fields) + i)
	}
	return 0
}
