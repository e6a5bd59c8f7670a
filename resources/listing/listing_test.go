package listing_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/resources/listing"
)

func TestJSONAnswersAnArray(t *testing.T) {
	type item struct {
		ID string `json:"id"`
	}
	tests := []struct {
		name  string
		items []item
		next  string
		want  string
	}{
		{"nil is an empty array", nil, "", `{"items":[],"next":""}`},
		{"empty is an empty array", []item{}, "", `{"items":[],"next":""}`},
		{"items and a cursor", []item{{"a"}, {"b"}}, "c1", `{"items":[{"id":"a"},{"id":"b"}],"next":"c1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := fiber.New()
			app.Get("/", func(c fiber.Ctx) error { return listing.JSON(c, tt.items, tt.next) })
			res, err := app.Test(httptest.NewRequest("GET", "/", nil))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			var got any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if gb, _ := json.Marshal(got); string(gb) != mustCanon(t, tt.want) {
				t.Fatalf("got %s, want %s", body, tt.want)
			}
		})
	}
}

func mustCanon(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestArray(t *testing.T) {
	if b, _ := json.Marshal(listing.Array[string](nil)); string(b) != "[]" {
		t.Fatalf("Array(nil) encodes as %s", b)
	}
	in := []int{1, 2}
	if got := listing.Array(in); &got[0] != &in[0] {
		t.Fatal("Array copies a non-nil slice")
	}
}
