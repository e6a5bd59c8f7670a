package webintegrations

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/resources/apierror"
)

// HeaderID is the request header that names the web integration a browser
// request comes through (Qlik's qlik-web-integration-id).
const HeaderID = "X-Web-Integration-ID"

// What an admitted origin may send and read.
const (
	allowMethods  = "GET, POST, PUT, PATCH, DELETE"
	allowHeaders  = "Authorization, Content-Type, X-Request-ID, " + HeaderID
	exposeHeaders = "X-Request-ID"
	maxAgeSeconds = "60"
)

// CORS admits browser origins through web integrations (seed 000 §1.9:
// "Qlik Sense Enterprise confirms that the request derives from a
// whitelisted domain and then approves the request, else not"). Mount it
// before authentication: preflights carry no credentials.
//
//   - A request with an Origin and an X-Web-Integration-ID header gets
//     Access-Control-Allow-Origin (that origin), Allow-Credentials and
//     Vary: Origin only when that integration lists the origin; otherwise
//     it gets no CORS headers, and the browser keeps the answer from the
//     page.
//   - A preflight (OPTIONS with Origin and Access-Control-Request-Method)
//     is answered here: 204 with the allowed methods and headers when the
//     integration lists the origin, 403 with the error body when not.
//     Browsers never send a custom header's value in a preflight (they
//     only name it in Access-Control-Request-Headers), so a preflight
//     without X-Web-Integration-ID is admitted when any integration lists
//     the origin; the request that follows carries the header and is
//     checked against its integration.
//   - Requests without an Origin, or without the header and not a
//     preflight (the console itself), pass untouched.
func CORS(cache *Cache, logger *slog.Logger) fiber.Handler {
	return func(c fiber.Ctx) error {
		// Most requests (services, the console on its own origin) send
		// no Origin: one look at the header in place, no copy of it and
		// no look for the others.
		if len(c.Request().Header.Peek(fiber.HeaderOrigin)) == 0 {
			return c.Next()
		}
		origin := c.Get(fiber.HeaderOrigin)
		preflight := c.Method() == fiber.MethodOptions && c.Get(fiber.HeaderAccessControlRequestMethod) != ""
		id := strings.TrimSpace(c.Get(HeaderID))
		if origin == "" || (id == "" && !preflight) {
			return c.Next()
		}
		allowed := false
		norm, err := NormalizeOrigin(origin)
		if err == nil {
			if allowed, err = cache.Allows(c.Context(), id, norm); err != nil {
				if preflight {
					return fmt.Errorf("web integrations: %w", err)
				}
				// Fail closed: the request goes on without CORS headers.
				logger.ErrorContext(c.Context(), "web integrations", "error", err.Error())
				allowed = false
			}
		}
		if preflight && !allowed {
			details := map[string]any{"origin": origin}
			msg := fmt.Sprintf("the origin %s is not listed by any web integration", origin)
			if id != "" {
				details["webIntegrationId"] = id
				msg = fmt.Sprintf("the web integration %q does not list the origin %s", id, origin)
			}
			return apierror.New(http.StatusForbidden, "origin_not_allowed", msg, details)
		}
		if !allowed {
			return c.Next()
		}
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Set(fiber.HeaderAccessControlAllowCredentials, "true")
		c.Vary(fiber.HeaderOrigin)
		if preflight {
			c.Vary(fiber.HeaderAccessControlRequestMethod, fiber.HeaderAccessControlRequestHeaders)
			c.Set(fiber.HeaderAccessControlAllowMethods, allowMethods)
			c.Set(fiber.HeaderAccessControlAllowHeaders, allowHeaders)
			c.Set(fiber.HeaderAccessControlMaxAge, maxAgeSeconds)
			return c.SendStatus(http.StatusNoContent)
		}
		c.Set(fiber.HeaderAccessControlExposeHeaders, exposeHeaders)
		return c.Next()
	}
}
