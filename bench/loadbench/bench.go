package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rulekeeper/rulekeeper/bench/opaserver"
	"github.com/rulekeeper/rulekeeper/idp"
)

// bench is one run of the load benchmark.
type bench struct {
	cfg    config
	root   string // module root
	tmp    string // data, policies, binaries, logs
	log    *slog.Logger
	stdout io.Writer
	pin    *pinning // with -pin
}

// start starts a server under test: with -pin on the servers' CPU (and
// checks that every thread of it is there), else as is.
func (b *bench) start(ctx context.Context, name, bin string, args []string, url, health, logPath string) (*opaserver.Process, error) {
	if b.pin == nil {
		return opaserver.Start(ctx, name, bin, args, url, health, logPath)
	}
	var p *opaserver.Process
	err := startOn(b.pin.Servers, func() (err error) {
		p, err = opaserver.Start(ctx, name, bin, args, url, health, logPath)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := checkPinned(name, p.PID(), b.pin.Servers); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func (b *bench) run(ctx context.Context) error {
	began := time.Now()
	rep := &report{Date: began.UTC(), Conns: b.cfg.Conns, Duration: b.cfg.Duration, Warmup: b.cfg.Warmup, Rounds: b.cfg.Rounds}
	rep.Machine, rep.LoadStart = machine(), loadAverage()
	if b.cfg.Pin {
		var allowed unix.CPUSet
		if err := unix.SchedGetaffinity(0, &allowed); err != nil {
			return fmt.Errorf("-pin: %w", err)
		}
		pin, err := planPin(allowed)
		if err != nil {
			return err
		}
		b.pin, rep.Pin = &pin, &pin
	}
	rep.Revision = revision(ctx, b.root)
	version, err := opaserver.Version()
	if err != nil {
		return err
	}
	rep.OPAVersion = version

	// Binaries: rulekeeper from this checkout, OPA from go.mod's version.
	b.log.Info("building rulekeeper and OPA", "opa", version)
	rkBin, opaBin := b.cfg.Rulekeeper, b.cfg.OPA
	var wg sync.WaitGroup
	var rkErr, opaErr error
	if rkBin == "" {
		wg.Go(func() { rkBin, rkErr = buildRulekeeper(ctx, b.root, b.tmp, b.cfg.PGO) })
	}
	if opaBin == "" {
		wg.Go(func() { opaBin, opaErr = opaserver.Install(ctx, version) })
	}
	wg.Wait()
	if rkErr != nil {
		return fmt.Errorf("build rulekeeper: %w", rkErr)
	}
	if opaErr != nil {
		return fmt.Errorf("install OPA %s: %w", version, opaErr)
	}

	// The tenant and the workload, prepared in-process.
	b.log.Info("preparing the tenant", "subjects", b.cfg.Subjects)
	dataDir := filepath.Join(b.tmp, "data")
	w, err := prepare(ctx, dataDir, b.cfg.Subjects, b.log)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	rep.Workload, rep.Costs, rep.Logins, rep.Subjects = w.Profile, w.Costs, w.Logins, len(w.SubjectIDs)
	b.log.Info("workload ready", "profile", w.Profile, "apps", strings.Join(w.Apps, ", "))
	policyDir := filepath.Join(b.tmp, "policies")
	if err := opaserver.WritePolicies(policyDir, w.RulesModule); err != nil {
		return err
	}

	// The two servers, each a child process on a loopback port.
	rkAddr, err := opaserver.FreeAddr()
	if err != nil {
		return err
	}
	var caches []string // the same for the log-on servers
	if b.cfg.NoDecisionCache {
		caches = append(caches, "--no-decision-cache")
	}
	if b.cfg.NoEntityCache {
		caches = append(caches, "--no-entity-cache")
	}
	profile := func(name string) []string { // serve --cpu-profile, with -cpu-profile
		if b.cfg.CPUProfile == "" {
			return nil
		}
		return []string{"--cpu-profile", filepath.Join(b.cfg.CPUProfile, name+".prof")}
	}
	rkArgs := append(append([]string{"serve", "--dev", "--addr", rkAddr, "--data-dir", dataDir, "--log-level", "warn"}, caches...), profile("rulekeeper")...)
	rep.Caches = cachesText(b.cfg.NoDecisionCache, b.cfg.NoEntityCache)
	rk, err := b.start(ctx, "rulekeeper", rkBin, rkArgs,
		"http://"+rkAddr, "/readyz", filepath.Join(b.tmp, "rulekeeper.log"))
	if err != nil {
		return err
	}
	defer rk.Stop()
	// The same server with the decision log on, one per mode, each on a
	// copy of the data.
	var logs []*logServer
	for _, mode := range b.cfg.LogModes {
		logData := filepath.Join(b.tmp, "data-decision-log-"+mode)
		if err := os.CopyFS(logData, os.DirFS(dataDir)); err != nil {
			return fmt.Errorf("copy the data for the decision log server: %w", err)
		}
		addr, err := opaserver.FreeAddr()
		if err != nil {
			return err
		}
		p, err := b.start(ctx, "rulekeeper+log-"+mode, rkBin,
			append([]string{"serve", "--dev", "--addr", addr, "--data-dir", logData, "--log-level", "warn",
				"--decision-log", mode, "--decision-log-sample", b.cfg.DecisionLogSample}, slices.Concat(caches, profile("rulekeeper+log-"+mode))...),
			"http://"+addr, "/readyz", filepath.Join(b.tmp, "rulekeeper-decision-log-"+mode+".log"))
		if err != nil {
			return err
		}
		defer p.Stop()
		logs = append(logs, &logServer{mode: mode, proc: p})
	}
	rep.DecisionLog, rep.DecisionLogSample = b.cfg.DecisionLog, b.cfg.DecisionLogSample
	// The baseline binary, with the same flags, on its own copy.
	var base *logServer
	if b.cfg.Baseline != "" {
		baseData := filepath.Join(b.tmp, "data-baseline")
		if err := os.CopyFS(baseData, os.DirFS(dataDir)); err != nil {
			return fmt.Errorf("copy the data for the baseline server: %w", err)
		}
		addr, err := opaserver.FreeAddr()
		if err != nil {
			return err
		}
		p, err := b.start(ctx, "rulekeeper-baseline", b.cfg.Baseline,
			append([]string{"serve", "--dev", "--addr", addr, "--data-dir", baseData, "--log-level", "warn"}, caches...),
			"http://"+addr, "/readyz", filepath.Join(b.tmp, "rulekeeper-baseline.log"))
		if err != nil {
			return err
		}
		defer p.Stop()
		base = &logServer{mode: "baseline", proc: p}
		rep.BaselineBinary = b.cfg.Baseline
	}
	opaAddr, err := opaserver.FreeAddr()
	if err != nil {
		return err
	}
	opa, err := b.start(ctx, "opa", opaBin,
		[]string{"run", "--server", "--addr", opaAddr, "--log-level", "error", "--skip-version-check", policyDir},
		"http://"+opaAddr, "/health", filepath.Join(b.tmp, "opa.log"))
	if err != nil {
		return err
	}
	defer opa.Stop()
	if err := checkOPAData(ctx, opa.URL); err != nil {
		return err
	}

	credential := w.APIKey
	if b.cfg.Auth == "token" {
		if credential, err = idp.FetchDevToken(ctx, rk.URL, "admin", []string{"Admins"}, ""); err != nil {
			return err
		}
	}
	rep.Auth = b.cfg.Auth
	rkT := &target{name: "rulekeeper", url: rk.URL + "/authz/check", body: rulekeeperBody,
		header: http.Header{"Authorization": {"Bearer " + credential}, "Content-Type": {"application/json"}}}
	opaT := &target{name: "opa", url: opa.URL + "/v1/data/rulekeeper/authz/decision", body: opaBody,
		header: http.Header{"Content-Type": {"application/json"}}}
	st := stream{seed: b.cfg.Seed, subjects: len(w.SubjectIDs), picks: w.Picks}
	for _, l := range append(logs[:len(logs):len(logs)], base) {
		if l == nil {
			continue
		}
		cred := w.APIKey
		if b.cfg.Auth == "token" {
			if cred, err = idp.FetchDevToken(ctx, l.proc.URL, "admin", []string{"Admins"}, ""); err != nil {
				return err
			}
		}
		name := "rulekeeper+log-" + l.mode
		if l == base {
			name = "rulekeeper-baseline"
		}
		l.target = &target{name: name, url: l.proc.URL + "/authz/check", body: rulekeeperBody,
			header: http.Header{"Authorization": {"Bearer " + cred}, "Content-Type": {"application/json"}}}
	}
	// Both servers must give the same answers, or the comparison is void.
	if b.cfg.Check > 0 {
		b.log.Info("comparing answers", "sample", b.cfg.Check)
		sample := st
		sample.seed = st.seed + 1
		rep.Agreement, err = compare(ctx, rkT, opaT, w, sample, b.cfg.Client, b.cfg.Check, b.cfg.Conns)
		if err != nil {
			return fmt.Errorf("compare answers: %w", err)
		}
		if a := rep.Agreement; a.AllowAgree != a.Sample {
			return fmt.Errorf("the servers disagree on %d of %d decisions, e.g.\n  %s",
				a.Sample-a.AllowAgree, a.Sample, strings.Join(a.Examples, "\n  "))
		}
	}

	if b.pin != nil {
		undo, err := pinSelf(b.pin.Generator)
		if err != nil {
			return err
		}
		defer func() {
			if err := undo(); err != nil {
				b.log.Warn("unpin the load generator", "error", err.Error())
			}
		}()
		if err := checkPinned("the load generator", os.Getpid(), b.pin.Generator); err != nil {
			return err
		}
	}
	if b.cfg.GeneratorProfile != "" {
		f, err := os.Create(b.cfg.GeneratorProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// Alternating rounds, so that a change in the machine's background load
	// touches both servers alike. With decision logs, the servers' order
	// rotates from round to round (off, stdout, mongo, OPA; then stdout,
	// mongo, OPA, off; …) so that each takes every place in turn.
	off := &logServer{mode: "off", proc: rk, target: rkT}
	var opaWins []*window
	var opaCPU time.Duration // the OPA server's CPU over its measured windows
	opaS := &logServer{target: opaT}
	others := logs[:len(logs):len(logs)] // the log-on servers and the baseline
	if base != nil {
		others = append(others, base)
	}
	for r := range b.cfg.Rounds {
		order := []*logServer{off, opaS}
		if r%2 == 1 {
			order = []*logServer{opaS, off}
		}
		if len(others) > 0 {
			all := append(append([]*logServer{off}, others...), opaS)
			order = append(all[r%len(all):], all[:r%len(all)]...)
		}
		for _, s := range order {
			b.log.Info("load", "round", r+1, "server", s.target.name, "warmup", b.cfg.Warmup, "duration", b.cfg.Duration)
			var before counters
			var cpuMark time.Duration
			proc := s.proc
			if proc == nil {
				proc = opa
			}
			var waitMark, genWaitMark time.Duration
			atWarm := func() {
				if s.proc != nil {
					before = scrape(ctx, s.proc.URL)
				}
				cpuMark = cpuOf(proc)
				waitMark, genWaitMark = runQueueWait(proc.PID()), runQueueWait(os.Getpid())
			}
			win, err := drive(ctx, s.target, w, st, b.cfg.Client, b.cfg.Conns, b.cfg.Warmup, b.cfg.Duration, b.cfg.MaxRequests, atWarm)
			if err != nil {
				return err
			}
			s.wait = append(s.wait, runQueueWait(proc.PID())-waitMark)
			s.genWait = append(s.genWait, runQueueWait(os.Getpid())-genWaitMark)
			if s.proc == nil {
				opaWins = append(opaWins, win)
				opaCPU += cpuOf(opa) - cpuMark
				s.wins, s.cpu = append(s.wins, win), append(s.cpu, cpuOf(opa)-cpuMark)
			} else {
				s.cpu = append(s.cpu, cpuOf(s.proc)-cpuMark)
				s.counters.add(scrape(ctx, s.proc.URL).minus(before))
				s.wins = append(s.wins, win)
			}
			for _, c := range append([]*logServer{off, {proc: opa}}, others...) {
				if err := c.proc.Alive(); err != nil {
					return err
				}
			}
		}
	}
	if b.pin != nil {
		// Still where they were put, every thread (made since too).
		procs := []*logServer{off, {proc: opa, target: opaT}}
		for _, c := range append(procs, others...) {
			if err := checkPinned(c.target.name, c.proc.PID(), b.pin.Servers); err != nil {
				return err
			}
		}
		if err := checkPinned("the load generator", os.Getpid(), b.pin.Generator); err != nil {
			return err
		}
	}
	rep.RK, rep.OPA = summarize("rulekeeper", off.wins), summarize("OPA server", opaWins)
	rep.Busy = []busy{busyOf("rulekeeper", off)}
	if base != nil {
		rep.Busy = append(rep.Busy, busyOf("rulekeeper baseline", base))
	}
	rep.Busy = append(rep.Busy, busyOf("OPA server", opaS))
	rep.Cache = off.counters
	rep.RKCPU, rep.OPACPU = perRequest(sum(off.cpu), rep.RK.Requests), perRequest(opaCPU, rep.OPA.Requests)
	rep.Client = b.cfg.Client
	rep.RKGen, rep.OPAGen = perRequest(genCPU(off.wins), rep.RK.Requests), perRequest(genCPU(opaWins), rep.OPA.Requests)
	rep.Off = off.rounds()
	for _, l := range logs {
		rep.Logs = append(rep.Logs, logReport{Mode: l.mode, Summary: summarize("rulekeeper, decision log "+l.mode, l.wins),
			Counters: l.counters, Rounds: l.rounds()})
	}
	if base != nil {
		rep.Baseline = &logReport{Mode: "baseline", Summary: summarize("rulekeeper baseline", base.wins),
			Counters: base.counters, Rounds: base.rounds()}
		rep.OPARounds = opaS.rounds()
	}
	rep.LoadEnd = loadAverage()
	rep.Took = time.Since(began).Round(time.Second)

	text := rep.markdown()
	fmt.Fprintln(b.stdout, text)
	if !b.cfg.NoReport {
		if err := writeReport(b.cfg.Report, text); err != nil {
			return err
		}
		b.log.Info("report written", "file", b.cfg.Report)
	}
	for _, l := range rep.Logs {
		if l.Summary.Errors > 0 {
			return fmt.Errorf("requests failed during the load of rulekeeper with the decision log %s: %d (%s)", l.Mode, l.Summary.Errors, l.Summary.FirstErr)
		}
	}
	if rep.Baseline != nil && rep.Baseline.Summary.Errors > 0 {
		return fmt.Errorf("requests failed during the load of the baseline rulekeeper: %d (%s)", rep.Baseline.Summary.Errors, rep.Baseline.Summary.FirstErr)
	}
	if rep.RK.Errors > 0 || rep.OPA.Errors > 0 {
		return fmt.Errorf("requests failed during the load: rulekeeper %d (%s), OPA %d (%s)",
			rep.RK.Errors, rep.RK.FirstErr, rep.OPA.Errors, rep.OPA.FirstErr)
	}
	if b.cfg.Strict && !rep.targetsMet() {
		return fmt.Errorf("a target was missed")
	}
	return nil
}

// logServer is a rulekeeper of the rounds (the log off, or on in mode)
// with what its measured windows gave; proc nil: the OPA server.
type logServer struct {
	mode   string
	proc   *opaserver.Process
	target *target
	wins   []*window
	cpu    []time.Duration // the server's CPU time in each window
	// wait and genWait are the time the server's threads and the
	// generator's waited on a run queue in each window (runQueueWait).
	wait, genWait []time.Duration
	counters      counters // over all its measured windows
}

// rounds are the server's figures window by window.
func (l *logServer) rounds() []roundFigures {
	out := make([]roundFigures, len(l.wins))
	for i, w := range l.wins {
		out[i] = roundFigures{Throughput: float64(w.Requests) / w.Elapsed.Seconds()}
		if w.Requests > 0 {
			out[i].CPUPerRequest = float64(l.cpu[i].Microseconds()) / float64(w.Requests)
			out[i].GenPerRequest = float64(w.GenCPU.Microseconds()) / float64(w.Requests)
		}
	}
	return out
}

// busyOf is how busy a server and the generator were over wins, in which
// the server used cpu.
func busyOf(name string, l *logServer) busy {
	var elapsed time.Duration
	for _, w := range l.wins {
		elapsed += w.Elapsed
	}
	per := func(d time.Duration) float64 { return ratio(d.Seconds(), elapsed.Seconds()) }
	return busy{Server: name, ServerCores: per(sum(l.cpu)), GeneratorCores: per(genCPU(l.wins)),
		ServerWait: per(sum(l.wait)), GeneratorWait: per(sum(l.genWait))}
}

// runQueueWait is the time the threads of process pid have spent waiting
// on a run queue, runnable but not running (the second field of
// /proc/<pid>/task/<tid>/schedstat), summed over its threads; 0 when it
// cannot be read. With the CPU time it tells a server that was idle from
// one that was kept off the CPU by other work on the machine.
func runQueueWait(pid int) time.Duration {
	tids, err := threads(pid)
	if err != nil {
		return 0
	}
	var t time.Duration
	for _, tid := range tids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid))
		if err != nil {
			continue // the thread has exited
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			if ns, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				t += time.Duration(ns)
			}
		}
	}
	return t
}

// checkOPAData makes sure the data documents landed at data.rulekeeper.
func checkOPAData(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/data/rulekeeper/vocabulary/environments", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"hub"`)) {
		return fmt.Errorf("OPA has no data.rulekeeper.vocabulary (status %d): %s", resp.StatusCode, truncate(string(body), 300))
	}
	return nil
}

// counters are rulekeeper's cache lookups, from /metrics.
type counters struct {
	DecisionHit, DecisionMiss float64
	EntityHit, EntityMiss     float64
	// Rebuilds of the in-memory snapshots (space and user indexes,
	// license state), all kinds together.
	Rebuilds float64
	// The decision log's entries written and dropped (any reason).
	LogWritten, LogDropped float64
}

func (c *counters) add(o counters) {
	c.DecisionHit += o.DecisionHit
	c.DecisionMiss += o.DecisionMiss
	c.EntityHit += o.EntityHit
	c.EntityMiss += o.EntityMiss
	c.Rebuilds += o.Rebuilds
	c.LogWritten += o.LogWritten
	c.LogDropped += o.LogDropped
}

func (c counters) minus(o counters) counters {
	return counters{c.DecisionHit - o.DecisionHit, c.DecisionMiss - o.DecisionMiss, c.EntityHit - o.EntityHit, c.EntityMiss - o.EntityMiss,
		c.Rebuilds - o.Rebuilds, c.LogWritten - o.LogWritten, c.LogDropped - o.LogDropped}
}

// scrape reads the cache counters; a failed scrape reads zeros.
func scrape(ctx context.Context, base string) counters {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return counters{}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return counters{}
	}
	defer resp.Body.Close()
	return parseCounters(resp.Body)
}

func parseCounters(r io.Reader) counters {
	var c counters
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		if strings.HasPrefix(name, "rulekeeper_snapshot_builds_total{") {
			c.Rebuilds += v
			continue
		}
		if strings.HasPrefix(name, "rulekeeper_decision_log_dropped_total{") {
			c.LogDropped += v
			continue
		}
		switch name {
		case `rulekeeper_decision_cache_total{result="hit"}`:
			c.DecisionHit = v
		case `rulekeeper_decision_cache_total{result="miss"}`:
			c.DecisionMiss = v
		case `rulekeeper_entity_cache_total{result="hit"}`:
			c.EntityHit = v
		case `rulekeeper_entity_cache_total{result="miss"}`:
			c.EntityMiss = v
		case `rulekeeper_decision_log_written_total`:
			c.LogWritten = v
		}
	}
	return c
}

// genCPU is the load generator's CPU over wins.
func genCPU(wins []*window) time.Duration {
	var t time.Duration
	for _, w := range wins {
		t += w.GenCPU
	}
	return t
}

// sum of ds.
func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

// perRequest is cpu in µs per request (0 for none).
func perRequest(cpu time.Duration, requests int) float64 {
	if requests == 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(requests)
}
