package decisionlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/rulekeeper/rulekeeper/authz"
)

// mask is the list of input paths erased from every entry.
type mask [][]string

// roots are the input's top-level fields, where a mask path starts.
var roots = []string{"subject", "action", "resource", "context"}

// ParseMask checks mask paths: dotted paths into the input, starting at
// subject, action, resource or context ("subject.email",
// "resource.attributes.ssn"); an "input." prefix or OPA's pointer form
// ("/input/subject/email") is accepted too.
func ParseMask(paths []string) (mask, error) {
	var m mask
	for _, p := range paths {
		orig := p
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		var parts []string
		if strings.HasPrefix(p, "/") {
			parts = strings.Split(strings.TrimPrefix(p, "/"), "/")
		} else {
			parts = strings.Split(p, ".")
		}
		if parts[0] == "input" {
			parts = parts[1:]
		}
		if len(parts) == 0 || !contains(roots, parts[0]) {
			return nil, fmt.Errorf("mask path %q: it starts with subject, action, resource or context (e.g. subject.email)", orig)
		}
		for _, s := range parts {
			if s == "" {
				return nil, fmt.Errorf("mask path %q has an empty step", orig)
			}
		}
		m = append(m, parts)
	}
	return m, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// apply erases the mask's paths from the input document raw, as OPA's
// default mask rule does (the field is removed, and its JSON pointer listed
// under erased); a path that is not in the input is left out of erased.
func (m mask) apply(raw []byte) ([]byte, []string, error) {
	var doc map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		return nil, nil, err
	}
	var erased []string
	for _, path := range m {
		obj := doc
		for i, step := range path {
			if i == len(path)-1 {
				if _, ok := obj[step]; ok {
					delete(obj, step)
					erased = append(erased, "/input/"+strings.Join(path, "/"))
				}
				break
			}
			next, ok := obj[step].(map[string]any)
			if !ok {
				break
			}
			obj = next
		}
	}
	if len(erased) == 0 {
		return raw, nil, nil
	}
	out, err := json.Marshal(doc)
	return out, erased, err
}

// clearIndexed empties the indexed fields of enc that the mask erases, so
// that the database does not keep beside the entry what the entry hides.
func (m mask) clearIndexed(enc *Encoded) {
	for _, p := range m {
		switch strings.Join(p, ".") {
		case "subject", "subject.id":
			enc.SubjectID = ""
		case "resource":
			enc.ResourceType, enc.ResourceID = "", ""
		case "resource.id":
			enc.ResourceID = ""
		case "resource.type":
			enc.ResourceType = ""
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, authz.ErrNotFound) }
