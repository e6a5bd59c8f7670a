// Command rulescale measures decisions, rule writes and memory against the
// number of security rules in force (issue 12), with rules of a realistic
// QMC mix generated from a fixed seed, and writes the report into
// README.md. Each size runs in a child process of its own, so that its
// resident memory is its own. The baseline, measured in the same run, is
// the plain compilation (one Rego body per rule: what OPA evaluates when
// given the generated policy) and the write path before the index (the
// whole set compiled twice per write).
//
//	go run ./bench/rulescale [-sizes 10,1000,10000] [-duration 2s] [-report bench/rulescale/README.md]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/bench/opaserver"
	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/store/embedded"
)

// result is what one size measured.
type result struct {
	Rules int

	// In-process, no decision cache.
	IndexedCompile, PlainCompile time.Duration
	IndexedP50, IndexedP99       time.Duration
	PlainP50, PlainP99           time.Duration
	IndexedAllocs, PlainAllocs   float64
	Disagreements, Compared      int
	// One rule put in force on an engine holding the set: the index's
	// patch, and the path before it (two whole-set compiles).
	IndexedWrite, PlainWrite time.Duration

	// The service over HTTP (embedded database, decision cache off).
	Import, ImportCPU      time.Duration // CPU: the whole process's (service, database, client)
	Writes                 int           // writes of each kind
	Create, Update, Delete time.Duration // medians
	CreateP99, UpdateP99   time.Duration
	DeleteP99              time.Duration
	WriteCPU               time.Duration // the process's CPU time per write
	HTTPP50, HTTPP99       time.Duration
	HTTPRate               float64
	RSSMiB                 float64
	HTTPErrors             int

	// The stock OPA server given the plain compilation (the baseline).
	OPAPut                        time.Duration // PUT /v1/policies until answered
	OPAP50, OPAP99                time.Duration
	OPARate, OPARSSMiB            float64
	OPAErrors                     int
	OPADisagreements, OPACompared int
	OPASkipped                    string // why there is no OPA figure

	LoadBefore, LoadAfter string // /proc/loadavg's 1-minute figure
}

func main() {
	sizes := flag.String("sizes", "10,1000,10000", "rule counts")
	child := flag.Int("child", 0, "internal: measure one size, print JSON")
	dur := flag.Duration("duration", 2*time.Second, "time per latency measurement")
	reportPath := flag.String("report", "", "README whose report section is replaced (empty: print only)")
	flat := flag.String("flat", "10,10000", "the two rule counts whose uncached decisions are measured interleaved in one process (empty: not measured)")
	flatChild := flag.String("child-flat", "", "internal: measure flatness, print JSON")
	opaBin := flag.String("opa", "", "the stock OPA binary of the baseline (empty: go.mod's version, installed; none: no OPA baseline)")
	flag.Parse()
	ctx := context.Background()
	if *child > 0 {
		r, err := measure(ctx, *child, *dur, *opaBin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "rulescale:", err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	if *flatChild != "" {
		a, b, err := twoSizes(*flatChild)
		var f *flatness
		if err == nil {
			f, err = measureFlatness(ctx, a, b, 4**dur)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "rulescale: flatness:", err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(f)
		return
	}
	if *opaBin == "" {
		version, err := opaserver.Version()
		if err == nil {
			fmt.Fprintf(os.Stderr, "rulescale: installing OPA %s...\n", version)
			*opaBin, err = opaserver.Install(ctx, version)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "rulescale: the OPA baseline:", err)
			os.Exit(1)
		}
	}
	var results []result
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fmt.Fprintln(os.Stderr, "rulescale: bad size", s)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "rulescale: %d rules...\n", n)
		cmd := exec.CommandContext(ctx, os.Args[0], "-child", strconv.Itoa(n), "-duration", dur.String(), "-opa", *opaBin)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "rulescale:", n, "rules:", err)
			os.Exit(1)
		}
		var r result
		if err := json.Unmarshal(out, &r); err != nil {
			fmt.Fprintln(os.Stderr, "rulescale:", err)
			os.Exit(1)
		}
		results = append(results, r)
	}
	var flatRes *flatness
	if *flat != "" {
		fmt.Fprintf(os.Stderr, "rulescale: flatness %s...\n", *flat)
		cmd := exec.CommandContext(ctx, os.Args[0], "-child-flat", *flat, "-duration", dur.String())
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err == nil {
			err = json.Unmarshal(out, &flatRes)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "rulescale: flatness:", err)
			os.Exit(1)
		}
	}
	text := report(results, flatRes, *dur)
	fmt.Print(text)
	if *reportPath != "" {
		if err := splice(*reportPath, text); err != nil {
			fmt.Fprintln(os.Stderr, "rulescale:", err)
			os.Exit(1)
		}
	}
}

// twoSizes parses "a,b".
func twoSizes(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, ",")
	x, err1 := strconv.Atoi(strings.TrimSpace(a))
	y, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("want two rule counts a,b, not %q", s)
	}
	return x, y, nil
}

func measure(ctx context.Context, n int, dur time.Duration, opaBin string) (*result, error) {
	r := &result{Rules: n, LoadBefore: loadAvg()}
	defer func() { r.LoadAfter = loadAvg() }()
	rs := Rules(n, 1)
	if err := measureService(ctx, r, rs, dur); err != nil {
		return nil, err
	}
	ins := Inputs(1000, n, 2)

	indexed, err := Engine(ctx)
	if err != nil {
		return nil, err
	}
	ix, t, err := LoadIndexed(ctx, indexed, 1, rs)
	if err != nil {
		return nil, err
	}
	r.IndexedCompile = t
	lat, allocs, err := latencies(ctx, indexed, ins, dur)
	if err != nil {
		return nil, err
	}
	r.IndexedP50, r.IndexedP99, r.IndexedAllocs = Percentile(lat, .5), Percentile(lat, .99), allocs
	extra := rules.Rule{ID: "extra", Name: "extra", ResourceFilter: "App_*", Condition: `user.group = "Extra"`, Actions: []string{"read"}, Context: "hub"}
	start := time.Now()
	patches, changed, _ := ix.Put(extra)
	if changed {
		err = indexed.LoadIndexed(ctx, 2, ix.Module(), ix.Data())
	} else {
		err = indexed.Patch(ctx, 2, patches)
	}
	if err != nil {
		return nil, err
	}
	r.IndexedWrite = time.Since(start)

	plain, err := Engine(ctx)
	if err != nil {
		return nil, err
	}
	if r.PlainCompile, err = LoadPlain(ctx, plain, 1, rs); err != nil {
		return nil, err
	}
	k := min(1000, len(ins))
	i, _, err := Agree(ctx, indexed, plain, ins[:k])
	if err != nil {
		return nil, err
	}
	// Agree stops at the first difference; count them all.
	r.Compared = k
	if i >= 0 {
		for _, in := range ins[:k] {
			a, _ := indexed.Evaluate(ctx, in)
			b, _ := plain.Evaluate(ctx, in)
			if a.Allow != b.Allow || !slices.Equal(a.Grants, b.Grants) {
				r.Disagreements++
			}
		}
	}
	lat, allocs, err = latencies(ctx, plain, ins, dur)
	if err != nil {
		return nil, err
	}
	r.PlainP50, r.PlainP99, r.PlainAllocs = Percentile(lat, .5), Percentile(lat, .99), allocs
	if opaBin == "none" {
		r.OPASkipped = "-opa none"
	} else if err := measureOPA(ctx, r, opaBin, rs, plain, ins, dur); err != nil {
		return nil, fmt.Errorf("the stock OPA server: %w", err)
	}
	// The write path before the index: check (compile the whole set) then
	// load (compile it again).
	start = time.Now()
	all := append(slices.Clone(rs), extra)
	for range 2 {
		module, _ := rules.CompileModule(all, nil)
		if err := plain.Load(ctx, 3, module); err != nil {
			return nil, err
		}
	}
	r.PlainWrite = time.Since(start)
	return r, nil
}

// latencies is Latencies with the allocations per decision.
func latencies(ctx context.Context, e *authz.Engine, ins []*authz.Input, dur time.Duration) ([]time.Duration, float64, error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	lat, err := Latencies(ctx, e, ins, dur)
	runtime.ReadMemStats(&after)
	if err != nil {
		return nil, 0, err
	}
	return lat, float64(after.Mallocs-before.Mallocs) / float64(len(lat)), nil
}

// client calls the service as one user.
type client struct {
	base, token string
	http        *http.Client
}

func (c *client) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, truncate(string(raw), 400))
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(raw, out)
	}
	return resp.StatusCode, nil
}

// profile writes a CPU profile of a phase to
// $RULESCALE_PROFILE/<phase>-<rules>.pprof when that directory is set; it
// returns the function that stops it.
func profile(phase string, n int) func() {
	dir := os.Getenv("RULESCALE_PROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s/%s-%d.pprof", dir, phase, n))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rulescale: profile:", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// heapProfile writes the live heap to $RULESCALE_PROFILE/heap-<rules>.pprof
// when that directory is set.
func heapProfile(n int) {
	dir := os.Getenv("RULESCALE_PROFILE")
	if dir == "" {
		return
	}
	f, err := os.Create(fmt.Sprintf("%s/heap-%d.pprof", dir, n))
	if err == nil {
		runtime.GC()
		err = pprof.WriteHeapProfile(f)
		_ = f.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rulescale: heap profile:", err)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func measureService(ctx context.Context, r *result, rs []rules.Rule, dur time.Duration) (err error) {
	dir, err := os.MkdirTemp("", "rulescale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	svc, err := service.Start(ctx, service.Config{Addr: "127.0.0.1:0", DataDir: dir, Embedded: embedded.Starter, Dev: true, BodyLimit: 64 << 20,
		NoDecisionCache: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if serr := svc.Shutdown(sctx); serr != nil && err == nil {
			err = serr
		}
	}()
	tok, err := idp.FetchDevToken(ctx, svc.URL(), "admin", []string{"Admins"}, "")
	if err != nil {
		return err
	}
	c := &client{base: svc.URL(), token: tok, http: &http.Client{Timeout: 10 * time.Minute}}

	// rules.Rule marshals to a rule file's JSON form.
	file := struct {
		Rules []rules.Rule `json:"rules"`
	}{rs}
	stopProfile := profile("import", len(rs))
	start, cpu := time.Now(), processCPU()
	if _, err := c.do(ctx, "POST", "/api/v1/rules/import", file, nil); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	r.Import, r.ImportCPU = time.Since(start), processCPU()-cpu
	stopProfile()

	var creates, updates, deletes []time.Duration
	r.Writes = writes
	stopProfile = profile("writes", len(rs))
	cpu = processCPU()
	for i := range writes {
		body := map[string]any{"name": fmt.Sprintf("bench write %d", i), "resourceFilter": "App_*",
			"condition": fmt.Sprintf(`user.group = "W%d"`, i), "actions": []string{"read"}, "context": "hub"}
		var created struct {
			ID string `json:"id"`
		}
		t := time.Now()
		if _, err := c.do(ctx, "POST", "/api/v1/rules", body, &created); err != nil {
			return err
		}
		creates = append(creates, time.Since(t))
		body["condition"] = fmt.Sprintf(`user.group = "W%d" and resource.name like "P*"`, i)
		t = time.Now()
		if _, err := c.do(ctx, "PUT", "/api/v1/rules/"+created.ID, body, nil); err != nil {
			return err
		}
		updates = append(updates, time.Since(t))
		t = time.Now()
		if _, err := c.do(ctx, "DELETE", "/api/v1/rules/"+created.ID, nil, nil); err != nil {
			return err
		}
		deletes = append(deletes, time.Since(t))
	}
	r.WriteCPU = (processCPU() - cpu) / time.Duration(3*writes)
	stopProfile()
	heapProfile(len(rs))
	inOrder := func(ds []time.Duration) string {
		var b strings.Builder
		for _, d := range ds {
			fmt.Fprintf(&b, " %v", d.Round(time.Millisecond))
		}
		return b.String()
	}
	order := fmt.Sprintf("creates%s; updates%s; deletes%s", inOrder(creates), inOrder(updates), inOrder(deletes))
	for _, ds := range [][]time.Duration{creates, updates, deletes} {
		slices.Sort(ds)
	}
	r.Create, r.Update, r.Delete = Percentile(creates, .5), Percentile(updates, .5), Percentile(deletes, .5)
	r.CreateP99, r.UpdateP99, r.DeleteP99 = Percentile(creates, .99), Percentile(updates, .99), Percentile(deletes, .99)
	if os.Getenv("RULESCALE_STOP_AFTER_WRITES") != "" {
		fmt.Fprintf(os.Stderr, "rulescale: %d rules: import %v (CPU %v); writes p50 / p99 create %v / %v, update %v / %v, delete %v / %v; CPU per write %v; load %s / %s\n  in order: %s\n",
			len(rs), r.Import.Round(time.Millisecond), r.ImportCPU.Round(time.Millisecond), r.Create.Round(time.Millisecond), r.CreateP99.Round(time.Millisecond),
			r.Update.Round(time.Millisecond), r.UpdateP99.Round(time.Millisecond), r.Delete.Round(time.Millisecond), r.DeleteP99.Round(time.Millisecond),
			r.WriteCPU.Round(100*time.Microsecond), r.LoadBefore, loadAvg(), order)
		return fmt.Errorf("stopped after the writes (RULESCALE_STOP_AFTER_WRITES)")
	}

	// Decisions over HTTP: stored users (logged in with the groups,
	// names and emails of the inputs, hydrated by the server) asking about
	// resources described in full, 4 connections for dur.
	ins := Inputs(1000, len(rs), 2)
	const users = 40
	ids := make([]string, users)
	for u := range users {
		s := ins[u].Subject
		ut, err := idp.FetchDevToken(ctx, svc.URL(), s.Name, s.Groups, s.Email)
		if err != nil {
			return err
		}
		uc := &client{base: c.base, token: ut, http: c.http}
		var me struct {
			ID string `json:"id"`
		}
		if _, err := uc.do(ctx, "GET", "/api/v1/users/me", nil, &me); err != nil {
			return fmt.Errorf("login: %w", err)
		}
		ids[u] = me.ID
	}
	bodies := make([][]byte, len(ins))
	for i, in := range ins {
		res := in.Resource
		res.ID, res.SpaceID = "", "" // not stored: described in full
		if res.Owner == in.Subject.ID {
			res.Owner = ids[i%users]
		}
		bodies[i], _ = json.Marshal(map[string]any{"subject": map[string]string{"id": ids[i%users]}, "action": in.Action, "resource": res,
			"context": map[string]string{"environment": in.Environment}})
	}
	lat, errs := drive(dur, func(hc *http.Client, i int) error {
		req, _ := http.NewRequestWithContext(ctx, "POST", c.base+"/authz/check", bytes.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	r.HTTPP50, r.HTTPP99, r.HTTPRate, r.HTTPErrors = Percentile(lat, .5), Percentile(lat, .99), float64(len(lat))/dur.Seconds(), errs
	r.RSSMiB = vmRSS()
	return nil
}

// drive calls ask with 4 connections (a client each) for dur, worker w
// asking inputs w, w+4, …, and returns the sorted latencies of the calls
// that succeeded and the number that failed.
func drive(dur time.Duration, ask func(hc *http.Client, i int) error) ([]time.Duration, int) {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			hc := &http.Client{Timeout: 30 * time.Second}
			var mine []time.Duration
			bad := 0
			for i := w; time.Now().Before(end); i += 4 {
				t := time.Now()
				if err := ask(hc, i); err != nil {
					bad++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	return lat, errs
}

// writes is how many rules are created, updated and deleted through the
// API at each size (p99 of 15 is the slowest).
const writes = 15

// loadAvg is the machine's 1-minute load average.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func vmRSS() float64 { return statusRSS("/proc/self/status") }

// statusRSS reads VmRSS from a /proc status file, in MiB.
func statusRSS(path string) float64 {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
