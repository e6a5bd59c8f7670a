package apierror_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// TestFromMapsEveryErrorOnce: *Error as is, Fiber errors by status, store
// sentinels (also wrapped) to 404/409/400, anything else to a 500 that
// says nothing of the cause.
func TestFromMapsEveryErrorOnce(t *testing.T) {
	own := apierror.Field("bad_x", "x", "x is wrong")
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		field  string
	}{
		{"an *Error as is", own, 400, "bad_x", "x"},
		{"a wrapped *Error", fmt.Errorf("context: %w", own), 400, "bad_x", "x"},
		{"not found", fmt.Errorf("app a1: %w", store.ErrNotFound), 404, "not_found", ""},
		{"conflict", fmt.Errorf("name taken: %w", store.ErrConflict), 409, "conflict", ""},
		{"bad cursor", store.ErrBadCursor, 400, "bad_cursor", "cursor"},
		{"fiber 413", fiber.ErrRequestEntityTooLarge, 413, "body_too_large", ""},
		{"fiber 404", fiber.ErrNotFound, 404, "route_not_found", ""},
		{"fiber 405", fiber.ErrMethodNotAllowed, 405, "method_not_allowed", ""},
		{"fiber 415", fiber.ErrUnsupportedMediaType, 415, "unsupported_media_type", ""},
		{"fiber 429", fiber.ErrTooManyRequests, 429, "too_many_requests", ""},
		{"fiber 503", fiber.ErrServiceUnavailable, 503, "unavailable", ""},
		{"fiber 502", fiber.ErrBadGateway, 502, "internal", ""},
		{"fiber 400", fiber.ErrBadRequest, 400, "bad_request", ""},
		{"anything else", errors.New("mongo: secret connection string"), 500, "internal", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := apierror.From(tt.err)
			if e.Status != tt.status || e.Code != tt.code {
				t.Fatalf("From(%v) = %d %s, want %d %s", tt.err, e.Status, e.Code, tt.status, tt.code)
			}
			if e.Details == nil {
				t.Fatal("details is nil: the body would say null")
			}
			if tt.field != "" && e.Details["field"] != tt.field {
				t.Fatalf("details %v, want field %s", e.Details, tt.field)
			}
			if tt.status == 500 && strings.Contains(e.Message, "secret") {
				t.Fatalf("a 500 repeats its cause: %q", e.Message)
			}
		})
	}
}

func TestConstructors(t *testing.T) {
	tests := []struct {
		name   string
		err    *apierror.Error
		status int
		code   string
	}{
		{"New without details", apierror.New(418, "teapot", "short and stout", nil), 418, "teapot"},
		{"Field", apierror.Field("bad_limit", "limit", "limit is a number"), 400, "bad_limit"},
		{"Forbidden", apierror.Forbidden("you may not", map[string]any{"reason": "no_grant"}), 403, "forbidden"},
		{"Unauthorized", apierror.Unauthorized("missing_credentials", "sign in"), 401, "missing_credentials"},
		{"NotFound", apierror.NotFound("app", "a1"), 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err.Status != tt.status || tt.err.Code != tt.code || tt.err.Details == nil {
				t.Fatalf("%+v", tt.err)
			}
			if !strings.Contains(tt.err.Error(), fmt.Sprint(tt.status)) || !strings.Contains(tt.err.Error(), tt.code) {
				t.Fatalf("Error() = %q", tt.err.Error())
			}
		})
	}
	nf := apierror.NotFound("app", "a1")
	if nf.Details["resource"] != "app" || nf.Details["id"] != "a1" || !strings.Contains(nf.Message, `"a1"`) {
		t.Fatalf("NotFound: %+v", nf)
	}
}

// TestHandlerWritesTheContract: every error body is {code, message,
// details}; a 5xx is logged with its cause (and the request id) while its
// body stays generic.
func TestHandlerWritesTheContract(t *testing.T) {
	var logs bytes.Buffer
	app := fiber.New(fiber.Config{ErrorHandler: apierror.Handler(slog.New(slog.NewJSONHandler(&logs, nil)))})
	app.Get("/missing", func(fiber.Ctx) error { return fmt.Errorf("load: %w", store.ErrNotFound) })
	app.Get("/broken", func(c fiber.Ctx) error {
		c.Set(fiber.HeaderXRequestID, "req-7")
		return errors.New("disk on fire")
	})
	app.Get("/field", func(fiber.Ctx) error { return apierror.Field("bad_limit", "limit", "limit is 1 to 500") })
	tests := []struct {
		path   string
		status int
		code   string
	}{
		{"/missing", 404, "not_found"},
		{"/broken", 500, "internal"},
		{"/field", 400, "bad_limit"},
		{"/no-such-route", 404, "route_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, err := app.Test(httptest.NewRequest("GET", tt.path, nil))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(res.Body)
			var body map[string]json.RawMessage
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			var code string
			_ = json.Unmarshal(body["code"], &code)
			if res.StatusCode != tt.status || code != tt.code || len(body) != 3 || body["message"] == nil || string(body["details"])[0] != '{' {
				t.Fatalf("%d %s, want %d with code %s and exactly code, message, details", res.StatusCode, raw, tt.status, tt.code)
			}
			if res.Header.Get("Content-Type") != fiber.MIMEApplicationJSON && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("content type %q", res.Header.Get("Content-Type"))
			}
			if tt.status == 500 && strings.Contains(string(raw), "fire") {
				t.Fatalf("the 500 body names its cause: %s", raw)
			}
		})
	}
	if !strings.Contains(logs.String(), "disk on fire") || !strings.Contains(logs.String(), "req-7") {
		t.Fatalf("the 500 was not logged with its cause and request id: %s", logs.String())
	}
	if strings.Contains(logs.String(), "bad_limit") || strings.Contains(logs.String(), "not_found") {
		t.Fatalf("4xx errors are logged: %s", logs.String())
	}
}

// TestDecodeJSON: strict decoding, and every failure a 400 naming where.
func TestDecodeJSON(t *testing.T) {
	type body struct {
		Name  string   `json:"name"`
		Limit int      `json:"limit"`
		Tags  []string `json:"tags"`
		Inner struct {
			On bool `json:"on"`
		} `json:"inner"`
	}
	tests := []struct {
		name  string
		in    string
		code  string // "" when it decodes
		field string
	}{
		{"valid", `{"name":"a","limit":3,"tags":["x"],"inner":{"on":true}}`, "", ""},
		{"empty", ``, "empty_body", "body"},
		{"blank", " \n\t", "empty_body", "body"},
		{"syntax error", `{"name": }`, "malformed_json", "body"},
		{"raw text instead of JSON", `rk-license-key`, "malformed_json", "body"},
		{"cut short", `{"name": "a"`, "malformed_json", "body"},
		{"two values", `{"name":"a"} {"name":"b"}`, "malformed_json", "body"},
		{"unknown field", `{"name":"a","nmae":"b"}`, "unknown_field", "nmae"},
		{"number for a string", `{"name":3}`, "wrong_type", "name"},
		{"string for a number", `{"limit":"3"}`, "wrong_type", "limit"},
		{"object for an array", `{"tags":{}}`, "wrong_type", "tags"},
		{"nested wrong type", `{"inner":{"on":"yes"}}`, "wrong_type", "inner.on"},
		{"array for the body", `[1]`, "wrong_type", "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v body
			err := apierror.DecodeJSON([]byte(tt.in), &v)
			if tt.code == "" {
				if err != nil || v.Name != "a" || v.Limit != 3 || len(v.Tags) != 1 || !v.Inner.On {
					t.Fatalf("%v %+v", err, v)
				}
				return
			}
			var e *apierror.Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != tt.code || e.Details["field"] != tt.field {
				t.Fatalf("DecodeJSON(%q) = %v (%+v), want 400 %s naming %s", tt.in, err, e, tt.code, tt.field)
			}
		})
	}
	var v body
	err := apierror.DecodeJSON([]byte(`{"name": x}`), &v)
	var e *apierror.Error
	if !errors.As(err, &e) || e.Details["offset"] != int64(10) || !strings.Contains(e.Message, "byte 10") {
		t.Fatalf("the syntax error does not give its offset: %+v", e)
	}
}

func TestNameAndDescription(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string // "" when refused
	}{
		{"  Sales  ", 10, "Sales"},
		{"", 10, ""},
		{"   ", 10, ""},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, ""},
		// Characters, not bytes: ten letters with umlauts are twenty bytes.
		{"ÄÖÜäöüÄÖÜä", 10, "ÄÖÜäöüÄÖÜä"},
		{"ÄÖÜäöüÄÖÜäö", 10, ""},
	}
	for _, tt := range tests {
		got, err := apierror.Name("a space name", tt.in, tt.max)
		if tt.want == "" {
			var e *apierror.Error
			if !errors.As(err, &e) || e.Code != "bad_name" || e.Details["field"] != "name" || !strings.Contains(e.Message, "a space name has 1 to 10 characters") {
				t.Errorf("Name(%q) = %q, %v; want a bad_name refusal", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Name(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if err := apierror.Description(strings.Repeat("é", 5), 5); err != nil {
		t.Errorf("a description of 5 characters (10 bytes) refused at 5: %v", err)
	}
	var e *apierror.Error
	if err := apierror.Description("abcdef", 5); !errors.As(err, &e) || e.Code != "bad_description" || e.Details["field"] != "description" {
		t.Errorf("a description of 6 characters accepted at 5: %v", err)
	}
}
