package identity

import (
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/idp"
)

// TestSecretSumIsTheStoredHash: the key of the verified API keys is the
// hash the store keeps, before hex.
func TestSecretSumIsTheStoredHash(t *testing.T) {
	for _, secret := range []string{"", "rk_a", "rk_" + strings.Repeat("x9", 40)} {
		sum := secretSum(secret)
		if got, want := hex.EncodeToString(sum[:]), idp.HashAPIKeySecret(secret); got != want {
			t.Errorf("%q: %s, want %s", secret, got, want)
		}
	}
}

// TestAuthorizationIsTheHeader: read in place, authorization
// answers the header as c.Get does.
func TestAuthorizationIsTheHeader(t *testing.T) {
	app := fiber.New()
	app.Get("/", func(c fiber.Ctx) error {
		if got, want := authorization(c), c.Get(fiber.HeaderAuthorization); got != want {
			t.Errorf("authorization %q, header %q", got, want)
		}
		return nil
	})
	for _, h := range []string{"", "Bearer rk_abc", "bearer rk_abc", "BEARER rk_", "Bearer  rk_abc", "Bearer eyJhbGciOi.x.y",
		"Basic cms6eA==", "Bearer", "rk_abc", "Bearer rk_abc "} {
		req := httptest.NewRequest("GET", "/", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		if _, err := app.Test(req); err != nil {
			t.Fatal(err)
		}
	}
}
