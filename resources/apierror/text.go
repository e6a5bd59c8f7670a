package apierror

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Name trims a resource name and checks it has 1 to max characters (not
// bytes) and no control characters; what names the kind in the message
// ("an app name").
func Name(what, name string, max int) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > max {
		return "", Field("bad_name", "name", fmt.Sprintf("%s has 1 to %d characters", what, max))
	}
	if i := strings.IndexFunc(name, unicode.IsControl); i >= 0 || !utf8.ValidString(name) {
		return "", New(400, "bad_name", fmt.Sprintf("%s may not contain control characters (NUL, newlines, ...) or invalid UTF-8", what),
			map[string]any{"field": "name", "offset": i})
	}
	return name, nil
}

// Description checks a description has at most max characters.
func Description(d string, max int) error {
	if utf8.RuneCountInString(d) > max {
		return Field("bad_description", "description", fmt.Sprintf("a description has at most %d characters", max))
	}
	return nil
}
