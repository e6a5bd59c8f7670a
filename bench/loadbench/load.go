package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// stream is the sequence of decisions: element n is a pseudo-random
// (subject, item) pair that depends only on the seed and n, so every
// server sees the same sequence.
type stream struct {
	seed     uint64
	subjects int
	picks    []int // item indices, repeated by weight
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (s stream) at(n uint64) (subject, item int) {
	h := splitmix64(s.seed*0x100000001b3 ^ n)
	return int((h & 0xffffffff) % uint64(s.subjects)), s.picks[(h>>32)%uint64(len(s.picks))]
}

// target is one server as the load generator sees it.
type target struct {
	name   string
	url    string // full URL of the decision endpoint
	header http.Header
	// body appends the body of decision (subject s, item i) to dst.
	body func(dst []byte, w *workload, s, i int) []byte
	next atomic.Uint64 // position in the stream, continued across rounds
}

// window is one measured run of a server.
type window struct {
	Requests  int           // completed in the measured window
	Errors    int           // transport errors or non-200 answers in the window
	Elapsed   time.Duration // length of the measured window
	Latencies []int64       // ns, one per measured request
	FirstErr  string
	// GenCPU is the load generator's own CPU time (this process, user +
	// system) over the measured window.
	GenCPU time.Duration
}

// drive sends the stream to t on conns connections: warm-up, then the
// measured window. atWarm runs when the warm-up ends.
func drive(ctx context.Context, t *target, w *workload, st stream, kind string, conns int, warm, dur time.Duration, maxRequests int, atWarm func()) (*window, error) {
	begin := time.Now()
	measureFrom := begin.Add(warm)
	end := measureFrom.Add(dur)
	ctx, cancel := context.WithDeadline(ctx, end.Add(15*time.Second))
	defer cancel()
	var budget atomic.Int64
	budget.Store(int64(maxRequests))
	type result struct {
		lat      []int64
		errs     int
		firstErr string
	}
	results := make([]result, conns)
	var wg sync.WaitGroup
	for k := range conns {
		wg.Go(func() {
			c := newClient(kind)
			defer c.close()
			var buf []byte
			r := &results[k]
			r.lat = make([]int64, 0, 1<<16)
			for ctx.Err() == nil {
				n := t.next.Add(1) - 1
				s, i := st.at(n)
				buf = t.body(buf[:0], w, s, i)
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				status, _, err := c.post(ctx, t, buf, false)
				t1 := time.Now()
				measured := !t0.Before(measureFrom) && !t1.After(end)
				if err != nil || status != http.StatusOK {
					if measured || err != nil {
						r.errs++
						if r.firstErr == "" {
							r.firstErr = fmt.Sprintf("status %d, error %v", status, err)
						}
					}
					if err != nil && ctx.Err() != nil {
						return
					}
					continue
				}
				if measured {
					r.lat = append(r.lat, t1.Sub(t0).Nanoseconds())
					if budget.Add(-1) <= 0 {
						return
					}
				}
			}
		})
	}
	var genMark time.Duration
	select {
	case <-time.After(time.Until(measureFrom)):
		genMark = selfCPU()
		if atWarm != nil {
			atWarm()
		}
	case <-ctx.Done():
	}
	wg.Wait()
	genCPU := selfCPU() - genMark
	stopped := time.Now()
	if stopped.After(end) {
		stopped = end
	}
	if err := ctx.Err(); err != nil && time.Now().Before(end) {
		return nil, err
	}
	win := &window{Elapsed: stopped.Sub(measureFrom), GenCPU: genCPU}
	for _, r := range results {
		win.Latencies = append(win.Latencies, r.lat...)
		win.Errors += r.errs
		if win.FirstErr == "" {
			win.FirstErr = r.firstErr
		}
	}
	win.Requests = len(win.Latencies)
	return win, nil
}

// summary is a server's figures over all its windows.
type summary struct {
	Name       string
	Requests   int
	Errors     int
	Elapsed    time.Duration
	Throughput float64 // requests per second
	P50, P90   time.Duration
	P99, P999  time.Duration
	Max        time.Duration
	FirstErr   string
}

func summarize(name string, wins []*window) summary {
	s := summary{Name: name}
	var lat []int64
	for _, w := range wins {
		s.Requests += w.Requests
		s.Errors += w.Errors
		s.Elapsed += w.Elapsed
		lat = append(lat, w.Latencies...)
		if s.FirstErr == "" {
			s.FirstErr = w.FirstErr
		}
	}
	if s.Elapsed > 0 {
		s.Throughput = float64(s.Requests) / s.Elapsed.Seconds()
	}
	slices.Sort(lat)
	s.P50, s.P90 = percentile(lat, 50), percentile(lat, 90)
	s.P99, s.P999 = percentile(lat, 99), percentile(lat, 99.9)
	if len(lat) > 0 {
		s.Max = time.Duration(lat[len(lat)-1])
	}
	return s
}

// percentile of sorted latencies (nearest rank).
func percentile(sorted []int64, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return time.Duration(sorted[rank])
}

// verdict is one decision as either server explains it.
type verdict struct {
	Allow  bool
	Grants []string // kind/id, sorted
	Denies []string // reasons, sorted
}

func (v verdict) explanation() string {
	return fmt.Sprint(v.Grants, v.Denies)
}

// parseVerdict reads {allow, grants, denies}, at the top level
// (rulekeeper) or under "result" (OPA's data API).
func parseVerdict(b []byte, underResult bool) (verdict, error) {
	type decision struct {
		Allow  *bool `json:"allow"`
		Grants []struct {
			Kind string `json:"kind"`
			ID   string `json:"id"`
		} `json:"grants"`
		Denies []struct {
			Reason string `json:"reason"`
		} `json:"denies"`
	}
	var d decision
	if underResult {
		var wrap struct {
			Result *decision `json:"result"`
		}
		if err := json.Unmarshal(b, &wrap); err != nil {
			return verdict{}, err
		}
		if wrap.Result == nil {
			return verdict{}, fmt.Errorf("no result (undefined decision): %s", truncate(string(b), 200))
		}
		d = *wrap.Result
	} else if err := json.Unmarshal(b, &d); err != nil {
		return verdict{}, err
	}
	if d.Allow == nil {
		return verdict{}, fmt.Errorf("no allow in %s", truncate(string(b), 200))
	}
	v := verdict{Allow: *d.Allow, Grants: []string{}, Denies: []string{}}
	for _, g := range d.Grants {
		v.Grants = append(v.Grants, g.Kind+"/"+g.ID)
	}
	for _, d := range d.Denies {
		v.Denies = append(v.Denies, d.Reason)
	}
	slices.Sort(v.Grants)
	slices.Sort(v.Denies)
	return v, nil
}

// agreement is the outcome of asking both servers the same decisions.
type agreement struct {
	Sample       int
	Allowed      int // by rulekeeper
	AllowAgree   int
	ExplainAgree int
	Examples     []string // first disagreements
}

// compare asks both servers n decisions of the stream (its own seed, so
// they are not the measured ones) and compares their answers.
func compare(ctx context.Context, rk, opa *target, w *workload, st stream, kind string, n, conns int) (agreement, error) {
	var (
		mu sync.Mutex
		a  = agreement{Sample: n}
	)
	err := parallelClients(ctx, kind, conns, n, func(c loadClient, k int) error {
		s, i := st.at(uint64(k))
		ask := func(t *target, underResult bool) (verdict, error) {
			status, b, err := c.post(ctx, t, t.body(nil, w, s, i), true)
			if err != nil {
				return verdict{}, err
			}
			if status != http.StatusOK {
				return verdict{}, fmt.Errorf("%s answered %d: %s", t.name, status, truncate(string(b), 300))
			}
			return parseVerdict(b, underResult)
		}
		vr, err := ask(rk, false)
		if err != nil {
			return err
		}
		vo, err := ask(opa, true)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if vr.Allow {
			a.Allowed++
		}
		if vr.Allow == vo.Allow {
			a.AllowAgree++
		}
		if vr.Allow == vo.Allow && vr.explanation() == vo.explanation() {
			a.ExplainAgree++
		} else if len(a.Examples) < 5 {
			a.Examples = append(a.Examples, fmt.Sprintf("subject %s, %s: rulekeeper %v %s, OPA %v %s",
				w.SubjectIDs[s], w.Items[i].Label, vr.Allow, vr.explanation(), vo.Allow, vo.explanation()))
		}
		return nil
	})
	return a, err
}

// parallelClients is parallel with one keep-alive client per worker.
func parallelClients(ctx context.Context, kind string, workers, n int, f func(c loadClient, k int) error) error {
	clients := make(chan loadClient, workers)
	for range workers {
		c := newClient(kind)
		defer c.close()
		clients <- c
	}
	return parallel(ctx, workers, n, func(k int) error {
		c := <-clients
		defer func() { clients <- c }()
		return f(c, k)
	})
}
