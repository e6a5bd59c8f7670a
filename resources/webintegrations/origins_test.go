package webintegrations_test

import (
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/webintegrations"
)

func TestNormalizeOrigin(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when refused
	}{
		{"https://example.com", "https://example.com"},
		{"HTTPS://Example.COM", "https://example.com"},
		{"https://example.com:443", "https://example.com"},
		{"http://example.com:80", "http://example.com"},
		{"http://example.com:443", "http://example.com:443"},
		{"https://example.com:8443", "https://example.com:8443"},
		{"http://localhost:3000", "http://localhost:3000"},
		{"https://mash-up.sub.example.co.uk", "https://mash-up.sub.example.co.uk"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"https://[2001:DB8::1]", "https://[2001:db8::1]"},

		{"", ""},
		{"example.com", ""},
		{"//example.com", ""},
		{"ftp://example.com", ""},
		{"ws://example.com", ""},
		{"javascript://example.com", ""},
		{"https://", ""},
		{"https://example.com/", ""},
		{"https://example.com/app", ""},
		{"https://example.com?x=1", ""},
		{"https://example.com#top", ""},
		{"https://*.example.com", ""},
		{"*", ""},
		{"https://user:pw@example.com", ""},
		{"https://example.com:", ""},
		{"https://example.com:0", ""},
		{"https://example.com:65536", ""},
		{"https://example.com:08080", ""},
		{"https://example.com:http", ""},
		{"https://exa mple.com", ""},
		{"https://-example.com", ""},
		{"https://example..com", ""},
		{"https://exämple.com", ""},
		{"https://example.com ", ""},
		{"null", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := webintegrations.NormalizeOrigin(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("NormalizeOrigin(%q) = %q, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
