package apierror_test

import (
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/apierror"
)

func TestName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"  Sales  ", "Sales", true},
		{"Ünï ✓", "Ünï ✓", true},
		{"", "", false},
		{"   ", "", false},
		{"nul\x00byte", "", false},
		{"new\nline", "", false},
		{"tab\tinside", "", false},
		{"bell\a", "", false},
		{"del\x7f", "", false},
		{"bad\xffutf8", "", false},
		{"0123456789x", "", false}, // over max
	} {
		got, err := apierror.Name("a name", tc.in, 10)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Name(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
