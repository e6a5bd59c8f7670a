// Package listing writes the answers of rulekeeper's list endpoints:
// {"items": [...], "next": "<cursor>"}. Items is always a JSON array, [] when
// nothing is listed or readable, never null; next is "" on the last page.
package listing

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/resources/apierror"
)

// KnownParams refuses (400 unknown_parameter, naming it and the known
// ones) a query parameter not in known, so that a misspelt filter never
// silently lists everything.
func KnownParams(c fiber.Ctx, known []string) error {
	q := c.Queries()
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !slices.Contains(known, k) {
			return apierror.Field("unknown_parameter", k,
				fmt.Sprintf("unknown query parameter %q; the parameters are %s", k, strings.Join(known, ", ")))
		}
	}
	return nil
}

// JSON writes a page of items and the cursor of the next page.
func JSON[T any](c fiber.Ctx, items []T, next string) error {
	return c.JSON(fiber.Map{"items": Array(items), "next": next})
}

// Array is items, or an empty slice when items is nil, so that it encodes
// as [] rather than null.
func Array[T any](items []T) []T {
	if items == nil {
		return []T{}
	}
	return items
}

// Texts reads the text filters names of the query, in order: each the
// caller's own copy (Fiber's are the request buffer's), at most maxLen
// long (400 bad_<name> beyond).
func Texts(c fiber.Ctx, maxLen int, names ...string) ([]string, error) {
	out := make([]string, len(names))
	for i, k := range names {
		v := c.Query(k)
		if len(v) > maxLen {
			return nil, apierror.Field("bad_"+strings.ToLower(k), k, fmt.Sprintf("%s has at most %d characters", k, maxLen))
		}
		out[i] = strings.Clone(v)
	}
	return out, nil
}

// Time reads the query parameter name as an RFC 3339 time, in UTC (zero
// when absent; 400 bad_<name> when not such a time).
func Time(c fiber.Ctx, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, apierror.Field("bad_"+name, name,
			fmt.Sprintf("%s %q is not an RFC 3339 time such as 2026-01-31T00:00:00Z", name, v))
	}
	return t.UTC(), nil
}
