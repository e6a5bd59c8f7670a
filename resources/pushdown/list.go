// Package pushdown translates the planner's filters (authz.Filter: a read
// decision asked with the resource unknown) into MongoDB filters and pages
// readable items: the database returns only what the filter selects, and
// what the filter cannot express is decided item by item.
package pushdown

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Metrics counts plans and the items decided one by one.
type Metrics struct {
	plans    *prometheus.CounterVec
	fallback *prometheus.CounterVec
	bounded  *prometheus.CounterVec
}

// NewMetrics registers the counters with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		plans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rulekeeper_pushdown_plans_total",
			Help: "List queries planned, by resource type and whether the filter was exact.",
		}, []string{"resource", "exact"}),
		fallback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rulekeeper_pushdown_fallback_items_total",
			Help: "Items decided one by one because the filter was not exact, by resource type.",
		}, []string{"resource"}),
		bounded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rulekeeper_pushdown_bounded_pages_total",
			Help: "Pages answered short because they reached the bound of items decided one by one (Query.MaxDecisions), by resource type.",
		}, []string{"resource"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.plans, m.fallback, m.bounded} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// Query asks List for one page of readable items.
type Query[T any] struct {
	// Resource labels the metrics ("app", "space", ...).
	Resource string
	// Filter is the plan: the condition an item must meet to be readable.
	Filter *authz.Filter
	// Fields maps Filter's fields to the collection's.
	Fields Fields
	// Fetch returns up to limit documents matching filter with an _id
	// greater than after ("" : from the start), in _id order; fewer than
	// limit means there are no more (the store's Scan methods).
	Fetch func(ctx context.Context, filter bson.D, after string, limit int) ([]T, error)
	// ID is an item's _id.
	ID func(*T) string
	// Allowed decides one item; used when Filter is not exact.
	Allowed func(ctx context.Context, item *T) (bool, error)
	// Limit is the page size (≤ 0: store.DefaultPageSize; at most
	// store.MaxPageSize) and Cursor the store cursor of the page before.
	Limit  int
	Cursor string
	// Batch is how many documents a query fetches when items are decided
	// one by one (≤ 0 or more: store.MaxPageSize; few large queries, as a
	// query may cost a pass over the collection on the embedded database).
	Batch   int
	Metrics *Metrics // nil: not counted
	// Local, when set, may answer an exact filter from a copy of the
	// collection kept in this process (store.Apps.Match: the embedded
	// server, which filters nothing but _id itself): up to limit items
	// after the _id after for which keep holds, in _id order; served is
	// false when there is no copy. View is the policy's view of an item,
	// which the filter is evaluated on (authz.Filter.Match).
	Local func(ctx context.Context, keep func(*T) (bool, error), after string, limit int) (items []T, served bool, err error)
	View  func(*T) *authz.Resource
	// MaxDecisions bounds the items decided one by one (q.Allowed) for
	// one page (≤ 0: DefaultMaxDecisions). Past it List answers the items
	// found so far — possibly fewer than Limit, possibly none — with the
	// cursor of the last item decided, so that the next request resumes
	// there: a page is short, never wrong, and the list is complete once
	// the cursor is "".
	MaxDecisions int
}

// DefaultMaxDecisions is Query.MaxDecisions when unset: a page never
// costs more than this many decisions (about a second at the engine's
// speed on 2 cores).
const DefaultMaxDecisions = 1000

// List returns one page of the items q.Filter selects, in _id order, and
// the cursor of the next page ("" on the last page). When the filter
// translates exactly it is one query; otherwise the superset filter is
// scanned and every item it selects is decided by q.Allowed until the page
// is full, the collection ends or MaxDecisions items were decided (then
// the page is short and its cursor resumes after the last one). A filter
// inexact only because the database may read a regular expression
// differently (MongoRegex) is evaluated in Go on q.View instead, exactly,
// without decisions: on the in-process catalog (Local) when there is one,
// else on the superset the database returns. A decision error ends the
// list with that error: nothing undecided is ever returned.
func List[T any](ctx context.Context, q Query[T]) (items []T, next string, err error) {
	if q.Fetch == nil || q.ID == nil {
		return nil, "", errors.New("pushdown: a query needs Fetch and ID")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultPageSize
	}
	limit = min(limit, store.MaxPageSize)
	after := ""
	if q.Cursor != "" {
		if after, err = store.DecodeCursor(q.Cursor); err != nil {
			return nil, "", err
		}
	}
	c, exact, regexOnly, err := translateFull(q.Filter, q.Fields)
	if err != nil {
		return nil, "", err
	}
	// goExact: the filter, evaluated in Go on the policy's view of an
	// item, is exact even where the database query is a superset.
	goExact := exact || (regexOnly && q.View != nil)
	if q.Metrics != nil {
		q.Metrics.plans.WithLabelValues(q.Resource, strconv.FormatBool(goExact)).Inc()
	}
	if c.none {
		return []T{}, "", nil
	}
	if !goExact && q.Allowed == nil {
		return nil, "", errors.New("pushdown: an inexact filter needs Allowed")
	}
	var run func(*authz.Resource) bool
	if goExact && q.View != nil {
		if run, err = q.Filter.Compile(); err != nil {
			return nil, "", err
		}
	}
	if goExact && q.Local != nil && q.View != nil {
		got, served, err := q.Local(ctx, func(it *T) (bool, error) { return run(q.View(it)), nil }, after, limit+1)
		if err != nil {
			return nil, "", err
		}
		if served {
			if len(got) > limit {
				return got[:limit], store.EncodeCursor(q.ID(&got[limit-1])), nil
			}
			return got, "", nil
		}
	}
	filter := c.bson()
	batch := limit + 1
	if !exact {
		batch = q.Batch
		if batch <= 0 {
			batch = store.MaxPageSize
		}
	}
	batch = min(batch, store.MaxPageSize)
	maxDecisions := q.MaxDecisions
	if maxDecisions <= 0 {
		maxDecisions = DefaultMaxDecisions
	}
	var fallback prometheus.Counter
	if !goExact && q.Metrics != nil {
		fallback = q.Metrics.fallback.WithLabelValues(q.Resource)
	}
	// Collect limit+1 selected items: the one past the page says whether
	// there is a next page.
	items = make([]T, 0, min(limit+1, batch))
	decided := 0
	for len(items) <= limit {
		got, err := q.Fetch(ctx, filter, after, batch)
		if err != nil {
			return nil, "", err
		}
		for i := range got {
			if len(items) > limit {
				break
			}
			switch {
			case exact:
			case run != nil:
				if !run(q.View(&got[i])) {
					after = q.ID(&got[i])
					continue
				}
			default:
				if decided == maxDecisions {
					// The bound: a short page (maybe empty) whose cursor
					// resumes after the last item decided.
					if q.Metrics != nil {
						q.Metrics.bounded.WithLabelValues(q.Resource).Inc()
					}
					return items, store.EncodeCursor(after), nil
				}
				decided++
				if fallback != nil {
					fallback.Inc()
				}
				ok, err := q.Allowed(ctx, &got[i])
				if err != nil {
					return nil, "", fmt.Errorf("pushdown: decide %s %q: %w", q.Resource, q.ID(&got[i]), err)
				}
				if !ok {
					after = q.ID(&got[i])
					continue
				}
			}
			after = q.ID(&got[i])
			items = append(items, got[i])
		}
		if len(got) < batch {
			break
		}
	}
	if len(items) > limit {
		items = items[:limit]
		next = store.EncodeCursor(q.ID(&items[limit-1]))
	}
	return items, next, nil
}
