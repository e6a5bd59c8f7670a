package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rulekeeper/rulekeeper/bench/internal/apiclient"
	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/resources/cpuprofile"
	"github.com/rulekeeper/rulekeeper/resources/licenses"
	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/store/embedded"
)

// Options are the knobs of one run.
type Options struct {
	Steps   []int // tenant sizes in users (apps = users, spaces = users / 10)
	Samples int   // timed operations of each kind per step
	DataDir string
	// Deadline is the server's database deadline for decisions and writes
	// (0: the defaults); the baseline needs a long one to answer at all.
	Deadline time.Duration
	Logger   *slog.Logger // progress
	// Trace keeps the database commands of each operation's last sample
	// (Row.Trace).
	Trace bool
	// CPUProfile, when set, is where the CPU profile of the last step's
	// measured requests is written.
	CPUProfile string
}

// Row is the curve at one step: p50 (and max) of each operation.
type Row struct {
	Users, Apps, Spaces int
	Populate            time.Duration // how long the bulk inserts of this step took
	P50                 map[string]time.Duration
	Max                 map[string]time.Duration
	// Commands and Docs: the median database round trips of each
	// operation and the documents they returned (the server's dbCommands
	// and dbDocs); Trace the commands of its last sample (Options.Trace).
	Commands, Docs map[string]int64
	Trace          map[string][]string
	// Scans are the collections any sample of the operation read with a
	// filter the embedded server does not push down (dbScans).
	Scans map[string][]string
	// Calls are the database figures of every sample, in time order.
	Calls map[string][]calls
}

// Ops are the timed operations, in report order.
var Ops = []string{"login", "app create", "space create", "member add", "license assign"}

const groups = 20

// Run starts rulekeeper in-process in dev mode on the embedded database,
// applies a license key with room for the largest step, then for each step
// bulk-inserts users (with license assignments), apps and spaces up to the
// step's size and times Samples of each operation through the HTTP API.
func Run(ctx context.Context, o Options) ([]Row, error) {
	reqs := &requestLog{trace: o.Trace}
	svc, err := service.Start(ctx, service.Config{Embedded: embedded.Starter,
		Addr: "127.0.0.1:0", DataDir: o.DataDir, Dev: true, BodyLimit: 1 << 20, Logger: slog.New(reqs),
		DecisionTimeout: o.Deadline, WriteTimeout: o.Deadline,
	})
	if err != nil {
		return nil, fmt.Errorf("start rulekeeper in-process: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = svc.Shutdown(sctx)
	}()
	c := &client{Base: svc.URL(), HTTP: &http.Client{Timeout: 60 * time.Second}}
	admin, err := idp.FetchDevToken(ctx, c.Base, "admin", []string{"Admins"}, "")
	if err != nil {
		return nil, err
	}
	top := slices.Max(o.Steps)
	_, priv := licenses.DevKeyPair()
	terms := licenses.DevTerms(time.Now())
	seats := 2*top + 10*o.Samples*len(o.Steps)
	terms.Professional, terms.Analyzer = seats, seats
	terms.CapacityMinutes, terms.SharedSpacesUnlimited = 100*seats, true
	raw, err := licenses.Sign(priv, terms)
	if err != nil {
		return nil, err
	}
	if err := c.Do(ctx, admin, "PUT", "/api/v1/licenses/key", map[string]string{"key": raw}, nil, http.StatusOK); err != nil {
		return nil, fmt.Errorf("apply the bench license key: %w", err)
	}
	p := &populator{st: svc.Store, keyID: terms.KeyID, rng: rand.New(rand.NewPCG(1, 2))}
	if err := p.groups(ctx); err != nil {
		return nil, err
	}
	var rows []Row
	for si, n := range o.Steps {
		start := time.Now()
		if err := p.grow(ctx, n, n, n/10); err != nil {
			return rows, fmt.Errorf("populate step %d: %w", n, err)
		}
		row := Row{Users: p.users, Apps: p.apps, Spaces: p.spaces, Populate: time.Since(start),
			P50: map[string]time.Duration{}, Max: map[string]time.Duration{},
			Commands: map[string]int64{}, Docs: map[string]int64{}, Trace: map[string][]string{}, Scans: map[string][]string{}, Calls: map[string][]calls{}}
		o.Logger.Info("populated", "users", p.users, "apps", p.apps, "spaces", p.spaces, "took", row.Populate.Round(time.Millisecond))
		// Untimed requests let the snapshots catch up with the bulk
		// inserts (a full build each, in the background: requests answer
		// 503 until it is done), as a replica does once after them.
		t0 := time.Now()
		if err := svc.Store.Follower.CatchUp(ctx); err != nil {
			return rows, fmt.Errorf("catch up after the bulk load: %w", err)
		}
		for {
			err := c.Do(ctx, admin, "GET", "/api/v1/users/me", nil, nil, http.StatusOK)
			if err == nil {
				break
			}
			if time.Since(t0) > 5*time.Minute {
				return rows, err
			}
			time.Sleep(500 * time.Millisecond)
		}
		o.Logger.Info("snapshots rebuilt", "took", time.Since(t0).Round(time.Millisecond))
		stop := func() error { return nil }
		if o.CPUProfile != "" && si == len(o.Steps)-1 {
			if stop, err = cpuprofile.Start(o.CPUProfile); err != nil {
				return rows, err
			}
		}
		settle := func() error { return svc.Store.Follower.CatchUp(ctx) }
		times, err := measure(ctx, c, reqs, settle, admin, p, si, o.Samples)
		if perr := stop(); err == nil {
			err = perr
		}
		if err != nil {
			return rows, err
		}
		for op, ts := range times {
			for _, x := range ts {
				row.Calls[op] = append(row.Calls[op], x.calls)
			}
			slices.SortFunc(ts, func(a, b sample) int { return int(a.took - b.took) })
			row.P50[op], row.Max[op] = ts[len(ts)/2].took, ts[len(ts)-1].took
			row.Commands[op] = median(ts, func(s sample) int64 { return s.Commands })
			row.Docs[op] = median(ts, func(s sample) int64 { return s.Docs })
			row.Trace[op] = ts[len(ts)-1].Trace
			for _, x := range ts {
				for _, coll := range x.Scans {
					if !slices.Contains(row.Scans[op], coll) {
						row.Scans[op] = append(row.Scans[op], coll)
					}
				}
			}
		}
		rows = append(rows, row)
		o.Logger.Info("measured", "users", p.users, "p50", fmtRow(row))
	}
	return rows, nil
}

// sample is one timed operation with its database figures.
type sample struct {
	took time.Duration
	calls
}

func median(ss []sample, f func(sample) int64) int64 {
	v := make([]int64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// measure times Samples operations of each kind, one at a time. Before
// each, settle (untimed) applies the change log entries the previous
// operation left, as the background tail of a server does between
// requests: each operation pays for its own catch-ups only, so its round
// trips do not depend on which operation ran before it.
func measure(ctx context.Context, c *client, reqs *requestLog, settle func() error, admin string, p *populator, step, samples int) (map[string][]sample, error) {
	out := map[string][]sample{}
	timed := func(op string, f func() error) error {
		if err := settle(); err != nil {
			return err
		}
		t0 := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		out[op] = append(out[op], sample{took: time.Since(t0), calls: reqs.Last()})
		return nil
	}
	var spaceIDs []string
	for i := range samples {
		// Login: the first request of a new user's token creates the user
		// and runs the dynamic license assignment.
		name := fmt.Sprintf("grow-s%d-%03d", step, i)
		tok, err := idp.FetchDevToken(ctx, c.Base, name, []string{fmt.Sprintf("G%02d", i%groups)}, "")
		if err != nil {
			return nil, err
		}
		if err := timed("login", func() error { return c.Do(ctx, tok, "GET", "/api/v1/users/me", nil, nil, http.StatusOK) }); err != nil {
			return nil, err
		}
		if err := timed("app create", func() error {
			return c.Do(ctx, admin, "POST", "/api/v1/apps", map[string]any{"name": name + " app"}, nil, http.StatusCreated)
		}); err != nil {
			return nil, err
		}
		var sp struct {
			ID string `json:"id"`
		}
		if err := timed("space create", func() error {
			return c.Do(ctx, admin, "POST", "/api/v1/spaces", map[string]any{"name": name + " space", "type": "shared"}, &sp, http.StatusCreated)
		}); err != nil {
			return nil, err
		}
		spaceIDs = append(spaceIDs, sp.ID)
		member := p.userID(p.rng.IntN(p.users))
		if err := timed("member add", func() error {
			return c.Do(ctx, admin, "POST", "/api/v1/spaces/"+spaceIDs[i/2]+"/members",
				map[string]any{"type": "user", "id": member, "roles": []string{"canview"}}, nil, http.StatusCreated)
		}); err != nil {
			return nil, err
		}
		// A bulk user that was left without an assignment.
		unassigned := p.unassigned[0]
		p.unassigned = p.unassigned[1:]
		if err := timed("license assign", func() error {
			return c.Do(ctx, admin, "POST", "/api/v1/licenses/assignments",
				map[string]any{"userId": unassigned, "type": store.LicenseAnalyzer}, nil, http.StatusCreated)
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func fmtRow(r Row) string {
	var b strings.Builder
	for _, op := range Ops {
		fmt.Fprintf(&b, "%s=%s ", op, r.P50[op].Round(10*time.Microsecond))
	}
	return strings.TrimSpace(b.String())
}

type client = apiclient.Client
