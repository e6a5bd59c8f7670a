// Package dbcalls counts the database round trips of one unit of work (an
// HTTP request): the commands the MongoDB driver sends with a context that
// carries a Counter, and the documents their replies return. The store
// installs Monitor on its client; the server gives every request a Counter
// and logs the figures with the request (dbCommands, dbDocs), so a request
// whose cost grows with the tenant shows in its log line and in tests that
// compare the counts at two tenant sizes.
package dbcalls

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// Counter holds the counts of one unit of work. Safe for concurrent use.
type Counter struct {
	commands, docs atomic.Int64
	// Trace, set before use, keeps a line per command (tests, profiling).
	Trace bool
	mu    sync.Mutex
	lines []string
	open  map[int64]int // request id → index in lines
	scans []string
}

type key struct{}

// With returns ctx carrying c: the commands sent with it (and with contexts
// derived from it) are counted in c.
func With(ctx context.Context, c *Counter) context.Context {
	return context.WithValue(ctx, key{}, c)
}

// Start returns ctx carrying a new Counter (its Trace set to trace), and
// the Counter: With of a new Counter in one allocation instead of two.
func Start(ctx context.Context, trace bool) (context.Context, *Counter) {
	cc := new(Context)
	return cc, cc.Init(ctx, trace)
}

// Context is a context carrying its own Counter: what Start allocates,
// for a type that holds a request's other state too, so that one
// allocation serves them all (the server's per-request scope). Init it
// before use; it must not be copied after.
type Context struct {
	context.Context
	c Counter
}

// Init makes cc parent carrying cc's Counter (its Trace set to trace),
// and returns the Counter.
func (cc *Context) Init(parent context.Context, trace bool) *Counter {
	cc.Context = parent
	cc.c.Trace = trace
	return &cc.c
}

// Value is the Counter for Of, else parent's value of k.
func (cc *Context) Value(k any) any {
	if _, ok := k.(key); ok {
		return &cc.c
	}
	return cc.Context.Value(k)
}

// Without returns ctx without a Counter: work started for a request that
// runs on without it (a background refresh it does not wait for) is not
// counted as the request's.
func Without(ctx context.Context) context.Context {
	if Of(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, key{}, (*Counter)(nil))
}

// Of returns the Counter of ctx, nil when there is none.
func Of(ctx context.Context) *Counter {
	c, _ := ctx.Value(key{}).(*Counter)
	return c
}

// Commands is the number of commands sent.
func (c *Counter) Commands() int64 { return c.commands.Load() }

// Docs is the number of documents the replies returned (cursor batches,
// findAndModify values).
func (c *Counter) Docs() int64 { return c.docs.Load() }

// Scans are the collections read (or written) with a filter other than
// {_id: <string or ObjectID>} alone, once per command: the embedded
// FerretDB (v1.24, SQLite) pushes only that filter down and decodes the
// whole collection for any other, so on it their cost grows with the
// collection. (A MongoDB server answers most of them from an index.)
func (c *Counter) Scans() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.scans...)
}

// Lines are the traced commands ("find users {...} → 3 docs"), when Trace.
func (c *Counter) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// Monitor is the command monitor that feeds the Counters of the contexts
// commands are sent with; commands without one cost a context lookup.
func Monitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Started: func(ctx context.Context, e *event.CommandStartedEvent) {
			c := Of(ctx)
			if c == nil {
				return
			}
			c.commands.Add(1)
			coll, scan := scans(e)
			if !scan && !c.Trace {
				return
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if scan {
				c.scans = append(c.scans, coll)
			}
			if c.Trace {
				if c.open == nil {
					c.open = map[int64]int{}
				}
				c.open[e.RequestID] = len(c.lines)
				line := describe(e)
				if scan {
					line += " (scan)"
				}
				c.lines = append(c.lines, line)
			}
		},
		Succeeded: func(ctx context.Context, e *event.CommandSucceededEvent) {
			c := Of(ctx)
			if c == nil {
				return
			}
			n := returned(e.Reply)
			c.docs.Add(n)
			if c.Trace {
				c.mu.Lock()
				if i, ok := c.open[e.RequestID]; ok {
					c.lines[i] += fmt.Sprintf(" → %d docs", n)
					delete(c.open, e.RequestID)
				}
				c.mu.Unlock()
			}
		},
	}
}

// returned counts the documents of a reply.
func returned(reply bson.Raw) int64 {
	for _, path := range [][]string{{"cursor", "firstBatch"}, {"cursor", "nextBatch"}} {
		if v, err := reply.LookupErr(path...); err == nil {
			if arr, ok := v.ArrayOK(); ok {
				vals, _ := arr.Values()
				return int64(len(vals))
			}
		}
	}
	if v, err := reply.LookupErr("value"); err == nil && v.Type != bson.TypeNull {
		return 1 // findAndModify
	}
	return 0
}

// scans reports whether the command reads a collection with a filter the
// embedded server does not push down (see Counter.Scans), and which.
func scans(e *event.CommandStartedEvent) (coll string, scan bool) {
	var filters []bson.RawValue
	switch e.CommandName {
	case "find", "count", "distinct", "findAndModify", "findandmodify", "aggregate":
		for _, f := range []string{"filter", "query"} {
			if v, err := e.Command.LookupErr(f); err == nil {
				filters = append(filters, v)
			}
		}
		if len(filters) == 0 {
			filters = append(filters, bson.RawValue{}) // no filter: everything
		}
	case "update", "delete":
		list := map[string]string{"update": "updates", "delete": "deletes"}[e.CommandName]
		if v, err := e.Command.LookupErr(list); err == nil {
			vals, _ := v.Array().Values()
			for _, x := range vals {
				if d, ok := x.DocumentOK(); ok {
					q, _ := d.LookupErr("q")
					filters = append(filters, q)
				}
			}
		}
	default:
		return "", false
	}
	if v, err := e.Command.LookupErr(e.CommandName); err == nil {
		coll, _ = v.StringValueOK()
	}
	for _, f := range filters {
		if !byID(f) {
			return coll, true
		}
	}
	return coll, false
}

// byID reports whether filter is {_id: <string or ObjectID>} alone.
func byID(filter bson.RawValue) bool {
	d, ok := filter.DocumentOK()
	if !ok {
		return false
	}
	elems, err := d.Elements()
	if err != nil || len(elems) != 1 || elems[0].Key() != "_id" {
		return false
	}
	t := elems[0].Value().Type
	return t == bson.TypeString || t == bson.TypeObjectID
}

// describe is a trace line: the command, its collection and the field
// names of its filter (no values: lines may be logged).
func describe(e *event.CommandStartedEvent) string {
	coll := ""
	if v, err := e.Command.LookupErr(e.CommandName); err == nil {
		coll, _ = v.StringValueOK()
	}
	s := e.CommandName + " " + coll
	for _, f := range []string{"filter", "query"} {
		if v, err := e.Command.LookupErr(f); err == nil {
			s += " " + keys(v)
		}
	}
	for _, f := range []string{"updates", "deletes"} {
		if v, err := e.Command.LookupErr(f); err == nil {
			if arr, ok := v.ArrayOK(); ok {
				if el, err := arr.IndexErr(0); err == nil {
					if d, ok := el.DocumentOK(); ok {
						if q, err := d.LookupErr("q"); err == nil {
							s += " " + keys(q)
						}
					}
				}
			}
		}
	}
	return s
}

// keys renders a filter's field names, recursively: {_id,$or:[{a},{b}]}.
func keys(v bson.RawValue) string {
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		elems, _ := v.Document().Elements()
		var b strings.Builder
		b.WriteByte('{')
		for i, el := range elems {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(el.Key())
			if sub := keys(el.Value()); sub != "" {
				b.WriteByte(':')
				b.WriteString(sub)
			}
		}
		b.WriteByte('}')
		return b.String()
	case bson.TypeArray:
		vals, _ := v.Array().Values()
		parts := make([]string, 0, len(vals))
		for _, x := range vals {
			if k := keys(x); k != "" {
				parts = append(parts, k)
			}
		}
		if len(parts) == 0 {
			return ""
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return ""
}
