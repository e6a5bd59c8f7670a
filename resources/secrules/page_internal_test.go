package secrules

import (
	"fmt"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// TestIDPageWalksEveryRuleOnce: following next from the first page visits
// every rule once, in _id order, as store.Rules.List pages them.
func TestIDPageWalksEveryRuleOnce(t *testing.T) {
	for _, tt := range []struct{ n, limit int }{{0, 3}, {1, 3}, {3, 3}, {7, 3}, {10, 1}, {5, 0}} {
		all := make([]store.Rule, tt.n)
		for i := range all {
			all[i].ID = fmt.Sprintf("r%03d", i)
		}
		var seen []string
		cursor, pages := "", 0
		for {
			items, next, err := idPage(all, store.Page{Limit: tt.limit, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range items {
				seen = append(seen, r.ID)
			}
			if pages++; next == "" || pages > tt.n+1 {
				break
			}
			cursor = next
		}
		if len(seen) != tt.n {
			t.Fatalf("n=%d limit=%d: saw %d rules %v in %d pages", tt.n, tt.limit, len(seen), seen, pages)
		}
		for i, id := range seen {
			if id != all[i].ID {
				t.Fatalf("n=%d limit=%d: rule %d is %s, want %s", tt.n, tt.limit, i, id, all[i].ID)
			}
		}
	}
	if _, _, err := idPage(nil, store.Page{Cursor: "not a cursor"}); err == nil {
		t.Fatal("a bad cursor is accepted")
	}
}
