package decisionlog

import (
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

// tree is the mask as the appender walks it (nil: no mask).
func (m mask) tree() *maskNode {
	if len(m) == 0 {
		return nil
	}
	root := &maskNode{}
	for _, path := range m {
		n := root
		for _, step := range path {
			if n.next == nil {
				n.next = map[string]*maskNode{}
			}
			c := n.next[step]
			if c == nil {
				c = &maskNode{}
				n.next[step] = c
			}
			n = c
		}
		n.erase = true
	}
	return root
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
