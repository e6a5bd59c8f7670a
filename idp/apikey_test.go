package idp_test

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"testing"

	"github.com/rulekeeper/rulekeeper/idp"
)

func TestAPIKeySecret(t *testing.T) {
	format := regexp.MustCompile(`^rk_[A-Za-z0-9_-]{43}$`) // 32 bytes, base64url
	hexHash := regexp.MustCompile(`^[0-9a-f]{64}$`)
	seen := map[string]bool{}
	for range 1000 {
		secret, hash, err := idp.NewAPIKeySecret()
		if err != nil {
			t.Fatal(err)
		}
		if !format.MatchString(secret) || !hexHash.MatchString(hash) {
			t.Fatalf("secret %q hash %q", secret, hash)
		}
		if seen[secret] || seen[hash] {
			t.Fatalf("duplicate %q", secret)
		}
		seen[secret], seen[hash] = true, true
		sum := sha256.Sum256([]byte(secret))
		if hash != hex.EncodeToString(sum[:]) || idp.HashAPIKeySecret(secret) != hash {
			t.Fatalf("hash of %q is %q", secret, hash)
		}
		if !idp.LooksLikeAPIKey(secret) {
			t.Fatalf("LooksLikeAPIKey(%q) = false", secret)
		}
	}
}

func TestLooksLikeAPIKey(t *testing.T) {
	for token, want := range map[string]bool{
		"rk_abc":                  true,
		"eyJhbGciOiJSUzI1NiJ9.e.": false,
		"":                        false,
		"RK_abc":                  false,
		"xrk_abc":                 false,
	} {
		if got := idp.LooksLikeAPIKey(token); got != want {
			t.Errorf("LooksLikeAPIKey(%q) = %v", token, got)
		}
	}
}

func TestEqualHash(t *testing.T) {
	s1, h1, _ := idp.NewAPIKeySecret()
	_, h2, _ := idp.NewAPIKeySecret()
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"same", h1, idp.HashAPIKeySecret(s1), true},
		{"different", h1, h2, false},
		{"prefix", h1, h1[:32], false},
		{"secret is not its hash", h1, s1, false},
		{"empty", "", "", false},
		{"one empty", h1, "", false},
	}
	for _, tt := range tests {
		if got := idp.EqualHash(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: EqualHash = %v", tt.name, got)
		}
	}
}
