// Package listing writes the answers of rulekeeper's list endpoints:
// {"items": [...], "next": "<cursor>"}. Items is always a JSON array, [] when
// nothing is listed or readable, never null; next is "" on the last page.
package listing

import (
	"fmt"
	"slices"
	"sort"
	"strings"

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
