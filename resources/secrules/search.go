package secrules

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// ruleOrders are the sort keys of GET /rules?sort=.
var ruleOrders = map[string]func(a, b *store.Rule) int{
	"name":           func(a, b *store.Rule) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) },
	"resourceFilter": func(a, b *store.Rule) int { return cmp.Compare(a.ResourceFilter, b.ResourceFilter) },
	"context":        func(a, b *store.Rule) int { return cmp.Compare(a.Context, b.Context) },
	"type":           func(a, b *store.Rule) int { return cmp.Compare(a.Type, b.Type) },
	"disabled": func(a, b *store.Rule) int {
		return cmp.Compare(strconv.FormatBool(a.Disabled), strconv.FormatBool(b.Disabled))
	},
	"updatedAt": func(a, b *store.Rule) int { return a.UpdatedAt.Compare(b.UpdatedAt) },
}

// searchText is a rule's text fields, lower-cased, as ?q= searches them.
func searchText(r *store.Rule) string {
	return strings.ToLower(strings.Join([]string{r.ID, r.Name, r.Description, r.ResourceFilter, r.Condition,
		strings.Join(r.Actions, " "), r.Context, r.Type}, "\n"))
}

// matches reports whether text contains every word (lower-cased).
func matches(text string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

// listCache keeps the rule set read for searches, with each rule's search
// text, until the rules revision moves (every rule write bumps it, on any
// replica): a search then costs one _id lookup, not a decode of the whole
// collection. The slices are shared and never modified.
//
// The set is read by one background fill at a time, bounded by
// fillTimeout rather than by the request's deadline: at 10,000 rules on a
// loaded machine the read can outlast a read's 2 s deadline, and a fill
// cut short by every request's deadline would never complete. A request
// that cannot wait answers 503 and the fill goes on for the next one.
type listCache struct {
	mu      sync.Mutex
	rev     int64
	valid   bool
	all     []store.Rule
	text    []string
	filling chan struct{} // closed when the running fill ends; nil: none runs
	fillErr error         // of the last fill, when it failed
}

const fillTimeout = time.Minute

func (lc *listCache) rules(ctx context.Context, s *store.Store) ([]store.Rule, []string, error) {
	rev, err := s.Rules.Revision(ctx)
	if err != nil {
		return nil, nil, err
	}
	for started := false; ; {
		lc.mu.Lock()
		if lc.valid && lc.rev >= rev {
			all, text := lc.all, lc.text
			lc.mu.Unlock()
			return all, text, nil
		}
		if lc.filling == nil {
			if started && lc.fillErr != nil {
				// The fill this request waited for failed.
				err := lc.fillErr
				lc.mu.Unlock()
				return nil, nil, err
			}
			lc.filling = make(chan struct{})
			go lc.fill(context.WithoutCancel(ctx), s, lc.filling)
		}
		started = true
		wait := lc.filling
		lc.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// fill reads the rule set and its revision (the revision first: a write
// between the two reads leaves the cache at the older revision, and the
// next request reads again).
func (lc *listCache) fill(ctx context.Context, s *store.Store, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, fillTimeout)
	defer cancel()
	rev, err := s.Rules.Revision(ctx)
	var all []store.Rule
	if err == nil {
		all, err = s.Rules.All(ctx)
	}
	var text []string
	if err == nil {
		text = make([]string, len(all))
		for i := range all {
			text[i] = searchText(&all[i])
		}
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.fillErr = err
	if err == nil && (!lc.valid || rev >= lc.rev) {
		lc.rev, lc.valid, lc.all, lc.text = rev, true, all, text
	}
	lc.filling = nil
	close(done)
}

// search serves GET /rules with ?q= (words, all must occur), ?sort= (a
// key of ruleOrders, default name), ?order=asc|desc and offset paging
// (?offset=, ?limit=): {items, total, offset}. The rule set is read once
// (a tenant has at most some ten thousand rules) and filtered in memory,
// since the embedded database decodes the whole collection for any filter
// but _id anyway.
func (h *Handlers) search(c fiber.Ctx) error {
	sortKey := cmp.Or(c.Query("sort"), "name")
	less, ok := ruleOrders[sortKey]
	if !ok {
		keys := make([]string, 0, len(ruleOrders))
		for k := range ruleOrders {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return apierror.Field("bad_sort", "sort", "sort is one of "+strings.Join(keys, ", "))
	}
	order := cmp.Or(c.Query("order"), "asc")
	if order != "asc" && order != "desc" {
		return apierror.Field("bad_order", "order", "order is asc or desc")
	}
	offset, err := queryInt(c, "offset", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", store.DefaultPageSize, 1, store.MaxPageSize)
	if err != nil {
		return err
	}
	all, text, err := h.listCache.rules(c.Context(), h.Store)
	if err != nil {
		return err
	}
	words := strings.Fields(strings.ToLower(c.Query("q")))
	hits := make([]*store.Rule, 0, len(all))
	for i := range all { // pointers into the shared slice: read only
		if matches(text[i], words) {
			hits = append(hits, &all[i])
		}
	}
	slices.SortStableFunc(hits, func(a, b *store.Rule) int {
		n := cmp.Or(less(a, b), cmp.Compare(a.ID, b.ID))
		if order == "desc" {
			return -n
		}
		return n
	})
	items := make([]*store.Rule, 0, limit)
	for i := offset; i < len(hits) && len(items) < limit; i++ {
		items = append(items, hits[i])
	}
	return c.JSON(fiber.Map{"items": items, "total": len(hits), "offset": offset, "next": ""})
}

func queryInt(c fiber.Ctx, name string, def, lo, hi int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, apierror.Field("bad_"+name, name, fmt.Sprintf("%s is a number from %d to %d", name, lo, hi))
	}
	return n, nil
}
