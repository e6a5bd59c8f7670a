// Package listing writes the answers of rulekeeper's list endpoints:
// {"items": [...], "next": "<cursor>"}. Items is always a JSON array, [] when
// nothing is listed or readable, never null; next is "" on the last page.
package listing

import "github.com/gofiber/fiber/v3"

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
