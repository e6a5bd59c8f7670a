package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

const (
	beginMark = "<!-- report:begin -->"
	endMark   = "<!-- report:end -->"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}

// report renders the results as the README's report section.
func report(rs []result, f *flatness, dur time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s, %s/%s, %d CPUs, %s per latency measurement; machine load average (1 min) before / after each size: ", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), dur)
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d rules %s / %s", r.Rules, r.LoadBefore, r.LoadAfter)
	}
	b.WriteString(".\n\n")
	b.WriteString("The issue's table, after the change (service over HTTP, embedded database, decision cache off; CPU is the whole process's — service, embedded database and the benchmark's client):\n\n")
	b.WriteString("| rules in force | uncached decision p50 / p99 (in-process) | /authz/check p50 / p99 | /authz/check req/s (4 conns) | one rule write until in force, p50 / p99 (create; update; delete) | CPU per write | import of all rules (CPU) | compile + load of the set | RSS |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %d | %s / %s | %s / %s | %.0f | %s / %s; %s / %s; %s / %s (%d each) | %s | %s (%s) | %s | %.0f MB |\n", r.Rules,
			ms(r.IndexedP50), ms(r.IndexedP99), ms(r.HTTPP50), ms(r.HTTPP99), r.HTTPRate,
			ms(r.Create), ms(r.CreateP99), ms(r.Update), ms(r.UpdateP99), ms(r.Delete), ms(r.DeleteP99), r.Writes,
			ms(r.WriteCPU), ms(r.Import), ms(r.ImportCPU), ms(r.IndexedCompile), r.RSSMiB)
	}
	b.WriteString("\nIndexed against the baseline of the same run (the plain compilation — one Rego body per rule, what stock OPA evaluates when given the generated policy, evaluated in-process by the same OPA version — and the write path before the index, the whole set compiled twice):\n\n")
	b.WriteString("| rules | indexed p50 | plain (OPA) p50 | plain / indexed | allocs/decision indexed / plain | compile + load indexed / plain | one write in-process indexed / plain | agreement (allow + grants) |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %.0f / %.0f | %s / %s | %s / %s | %d of %d differ |\n", r.Rules, ms(r.IndexedP50), ms(r.PlainP50),
			ratio(r.PlainP50, r.IndexedP50), r.IndexedAllocs, r.PlainAllocs, ms(r.IndexedCompile), ms(r.PlainCompile),
			ms(r.IndexedWrite), ms(r.PlainWrite), r.Disagreements, r.Compared)
	}
	b.WriteString("\nThe stock OPA server of the same run (`opa run --server`, go.mod's version, rulekeeper's static policies and data, the plain compilation of the same rules put with `PUT /v1/policies/generated_rules`; `POST /v1/data/rulekeeper/authz/decision` with the same inputs fully described, 4 connections) beside rulekeeper over HTTP:\n\n")
	b.WriteString("| rules | OPA policy PUT (until in force) | rulekeeper import (until in force) | OPA PUT / rulekeeper import | OPA req/s | rulekeeper /authz/check req/s | rulekeeper / OPA | OPA p50 / p99 | OPA RSS / rulekeeper RSS | agreement with rulekeeper (allow + rule grants) |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		if r.OPASkipped != "" {
			fmt.Fprintf(&b, "| %d | not measured (%s) | | | | | | | | |\n", r.Rules, r.OPASkipped)
			continue
		}
		x := "–"
		if r.OPARate > 0 {
			x = fmt.Sprintf("%.2f×", r.HTTPRate/r.OPARate)
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %.0f | %.0f | %s | %s / %s | %.0f MB / %.0f MB | %d of %d differ |\n", r.Rules, ms(r.OPAPut), ms(r.Import),
			ratio(r.OPAPut, r.Import), r.OPARate, r.HTTPRate, x, ms(r.OPAP50), ms(r.OPAP99), r.OPARSSMiB, r.RSSMiB, r.OPADisagreements, r.OPACompared)
	}
	if len(rs) > 1 {
		first, last := rs[0], rs[len(rs)-1]
		fmt.Fprintf(&b, "\nAcross the children above (each size in its own process, minutes apart, so under different load): uncached decision p50 at %d rules / at %d rules = %s indexed, %s plain.\n",
			last.Rules, first.Rules, ratio(last.IndexedP50, first.IndexedP50), ratio(last.PlainP50, first.PlainP50))
	}
	if f != nil {
		fmt.Fprintf(&b, "\nFlatness (target ≤ 1.3×), interleaved in one process: %d pairs of batches of %d uncached decisions, indexed, alternating %d and %d rules; medians per decision:\n\n",
			f.Batches, f.BatchSize, f.Small, f.Large)
		b.WriteString("| rules | thread CPU time | wall time | allocations |\n|---:|---:|---:|---:|\n")
		fmt.Fprintf(&b, "| %d | %s | %s | %.0f |\n", f.Small, ms(f.SmallCPU), ms(f.SmallWall), f.SmallAllocs)
		fmt.Fprintf(&b, "| %d | %s | %s | %.0f |\n", f.Large, ms(f.LargeCPU), ms(f.LargeWall), f.LargeAllocs)
		fmt.Fprintf(&b, "| %d / %d | **%.2f×** (median of paired ratios; %s of medians) | %.2f× (%s) | %.2f× |\n", f.Large, f.Small,
			f.RatioCPU, ratio(f.LargeCPU, f.SmallCPU), f.RatioWall, ratio(f.LargeWall, f.SmallWall), f.LargeAllocs/max(f.SmallAllocs, 1))
	}
	for _, r := range rs {
		if r.HTTPErrors > 0 {
			fmt.Fprintf(&b, "\n%d rules: %d HTTP decisions failed.\n", r.Rules, r.HTTPErrors)
		}
		if r.OPAErrors > 0 {
			fmt.Fprintf(&b, "\n%d rules: %d OPA decisions failed.\n", r.Rules, r.OPAErrors)
		}
	}
	return b.String()
}

// splice replaces the report section of the README at path.
func splice(path, text string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(raw)
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s … %s section", path, beginMark, endMark)
	}
	s = s[:i+len(beginMark)] + "\n" + text + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}
