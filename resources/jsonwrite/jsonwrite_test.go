package jsonwrite_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/jsonwrite"
)

var seeds = []string{"", "plain", "<&>", "\"\\\n\r\t\b\f\x01\x1f\x7f", "é\u2028\u2029\xff\xfe", "😀\x80 end"}

// encoded is s as encoding/json writes it, with or without HTML escaping.
func encoded(t *testing.T, s string, html bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func TestStrings(t *testing.T) {
	for _, s := range seeds {
		if got, want := string(jsonwrite.String(nil, s)), encoded(t, s, false); got != want {
			t.Errorf("String(%q) = %s, want %s", s, got, want)
		}
		if got, want := string(jsonwrite.HTMLString(nil, s)), encoded(t, s, true); got != want {
			t.Errorf("HTMLString(%q) = %s, want %s", s, got, want)
		}
	}
}

// FuzzStrings: both quotings are encoding/json's bytes.
func FuzzStrings(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(jsonwrite.String(nil, s)), encoded(t, s, false); got != want {
			t.Fatalf("String(%q) = %s, want %s", s, got, want)
		}
		if got, want := string(jsonwrite.HTMLString(nil, s)), encoded(t, s, true); got != want {
			t.Fatalf("HTMLString(%q) = %s, want %s", s, got, want)
		}
	})
}

func ExampleHTMLString() {
	b := []byte(`{"name":`)
	b = jsonwrite.HTMLString(b, "<Sales & Finance>")
	b = append(b, '}')
	fmt.Println(string(b))
	// Output: {"name":"\u003cSales \u0026 Finance\u003e"}
}
