// Package apierror is rulekeeper's HTTP error contract: every 4xx and 5xx
// body is {"code", "message", "details"}. Handlers return *Error values (or
// store sentinels, mapped here once) and Fiber's error handler writes them.
package apierror

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Error is an HTTP error with a machine-readable code.
type Error struct {
	Status  int            `json:"-"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// New builds an error; details may be nil.
func New(status int, code, message string, details map[string]any) *Error {
	if details == nil {
		details = map[string]any{}
	}
	return &Error{Status: status, Code: code, Message: message, Details: details}
}

// Field is a 400 naming the offending field.
func Field(code, field, message string) *Error {
	return New(http.StatusBadRequest, code, message, map[string]any{"field": field})
}

// Forbidden is a 403 with the explanation of the decision that refused.
func Forbidden(message string, details map[string]any) *Error {
	return New(http.StatusForbidden, "forbidden", message, details)
}

// Unauthorized is a 401.
func Unauthorized(code, message string) *Error {
	return New(http.StatusUnauthorized, code, message, nil)
}

// NotFound is a 404 for a resource kind and id.
func NotFound(kind, id string) *Error {
	return New(http.StatusNotFound, "not_found", fmt.Sprintf("%s %q does not exist", kind, id),
		map[string]any{"resource": kind, "id": id})
}

// From turns any error into an *Error: *Error as is, Fiber errors by their
// status, store sentinels to 404/409/400, anything else to a 500 that says
// nothing of the cause (which is logged instead).
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		if fe.Code == http.StatusRequestEntityTooLarge {
			// Refused by the HTTP server before routing: the body is
			// above the larger of the server's two limits.
			return TooLarge(-1, -1, "--body-limit, or --bulk-body-limit for bulk writes")
		}
		return New(fe.Code, codeForStatus(fe.Code), fe.Message, nil)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return New(http.StatusNotFound, "not_found", err.Error(), nil)
	case errors.Is(err, store.ErrConflict):
		return New(http.StatusConflict, "conflict", err.Error(), nil)
	case errors.Is(err, store.ErrBadCursor):
		return Field("bad_cursor", "cursor", "the cursor is not one this server issued")
	case store.Unavailable(err):
		return Unavailable()
	}
	return New(http.StatusInternalServerError, "internal", "the server failed to answer; the request was not applied", nil)
}

// TooLarge is the 413 of a body of size bytes above limit bytes, which
// flag raises (-1: unknown).
func TooLarge(size, limit int, flag string) *Error {
	details := map[string]any{"flag": flag}
	accepts := "this server accepts"
	if limit >= 0 {
		details["limitBytes"] = limit
		accepts = fmt.Sprintf("the %d bytes this server accepts for this request", limit)
	}
	if size >= 0 {
		details["sizeBytes"] = size
	}
	return New(http.StatusRequestEntityTooLarge, "body_too_large",
		fmt.Sprintf("the request body is larger than %s (raise %s)", accepts, flag), details)
}

// RetryAfter is the Retry-After (seconds) of a database_unavailable answer.
const RetryAfter = "1"

// Unavailable is the 503 of a request whose database work did not finish
// within its deadline: a decision so answered is never an allow, and a
// write may or may not have been applied (retry it with the same
// Idempotency-Key).
func Unavailable() *Error {
	return New(http.StatusServiceUnavailable, "database_unavailable",
		"the database did not answer in time; retry later", map[string]any{"retryAfterSeconds": 1})
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	case http.StatusNotFound:
		return "route_not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusTooManyRequests:
		return "too_many_requests"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "bad_request"
}

// Handler is the Fiber error handler: the one place errors become HTTP.
// 5xx causes are logged with the request id; their bodies stay generic.
func Handler(logger *slog.Logger) fiber.ErrorHandler {
	return func(c fiber.Ctx, err error) error {
		e := From(err)
		if e.Status >= 500 {
			logger.ErrorContext(c.Context(), "request failed",
				"error", err.Error(), "method", c.Method(), "path", c.Path(),
				"requestId", c.GetRespHeader(fiber.HeaderXRequestID))
		}
		if e.Code == "database_unavailable" {
			c.Set(fiber.HeaderRetryAfter, RetryAfter)
		}
		if e.Status == http.StatusUnauthorized {
			// RFC 6750 §3; AuthZEN §11.3 asks for it on every 401.
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="rulekeeper"`)
		}
		return c.Status(e.Status).JSON(e)
	}
}
