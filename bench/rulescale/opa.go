package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/bench/opaserver"
)

// measureOPA is the baseline of the stock OPA server given the same rules:
// it starts `opa run --server` over rulekeeper's static policies and data,
// puts the plain compilation of rs (the generated module, one Rego body
// per rule) with PUT /v1/policies/... (timed until OPA answers, which
// means compiled and in force), checks its answers against engine's on
// the first inputs, then drives POST /v1/data/rulekeeper/authz/decision
// with the same inputs as the in-process measurement, 4 connections for
// dur.
func measureOPA(ctx context.Context, r *result, bin string, rs []rules.Rule, engine *authz.Engine, ins []*authz.Input, dur time.Duration) error {
	dir, err := os.MkdirTemp("", "rulescale-opa-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := opaserver.WritePolicies(filepath.Join(dir, "policies"), ""); err != nil {
		return err
	}
	addr, err := opaserver.FreeAddr()
	if err != nil {
		return err
	}
	opa, err := opaserver.Start(ctx, "opa", bin,
		[]string{"run", "--server", "--addr", addr, "--log-level", "error", "--skip-version-check", filepath.Join(dir, "policies")},
		"http://"+addr, "/health", filepath.Join(dir, "opa.log"))
	if err != nil {
		return err
	}
	defer opa.Stop()
	module, diags := rules.CompileModule(rs, nil)
	if rules.HasErrors(diags) {
		return fmt.Errorf("plain compilation: %v", diags[0])
	}
	hc := &http.Client{Timeout: 10 * time.Minute}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, opa.URL+"/v1/policies/generated_rules", strings.NewReader(module))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain")
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("OPA policy PUT: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.OPAPut = time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("OPA policy PUT: %d %s", resp.StatusCode, truncate(string(body), 400))
	}

	bodies := make([][]byte, len(ins))
	for i, in := range ins {
		if bodies[i], err = opaserver.RequestJSON(in); err != nil {
			return err
		}
	}
	url := opa.URL + "/v1/data/rulekeeper/authz/decision"
	ask := func(c *http.Client, b []byte) (authz.Decision, error) {
		resp, err := c.Post(url, "application/json", bytes.NewReader(b))
		if err != nil {
			return authz.Decision{}, err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return authz.Decision{}, err
		}
		var out struct{ Result *authz.Decision }
		if resp.StatusCode != http.StatusOK {
			return authz.Decision{}, fmt.Errorf("OPA answered %d: %s", resp.StatusCode, truncate(string(raw), 300))
		}
		if err := json.Unmarshal(raw, &out); err != nil || out.Result == nil {
			return authz.Decision{}, fmt.Errorf("OPA's answer has no result (%v): %s", err, truncate(string(raw), 300))
		}
		return *out.Result, nil
	}
	// Agreement: OPA's allow and granting rules are rulekeeper's.
	k := min(100, len(ins))
	for i, in := range ins[:k] {
		got, err := ask(hc, bodies[i])
		if err != nil {
			return err
		}
		want, err := engine.Evaluate(ctx, in)
		if err != nil {
			return err
		}
		if got.Allow != want.Allow || !slices.Equal(ruleGrants(got), ruleGrants(want)) {
			r.OPADisagreements++
		}
	}
	r.OPACompared = k

	lat, errs := drive(dur, func(hc *http.Client, i int) error {
		_, err := ask(hc, bodies[i%len(bodies)])
		return err
	})
	r.OPAP50, r.OPAP99, r.OPARate, r.OPAErrors = Percentile(lat, .5), Percentile(lat, .99), float64(len(lat))/dur.Seconds(), errs
	r.OPARSSMiB = rssOf(opa.PID())
	return opa.Alive()
}

// ruleGrants are the ids of the security rules among d's grants, sorted.
func ruleGrants(d authz.Decision) []string {
	var ids []string
	for _, g := range d.Grants {
		if g.Kind == "rule" {
			ids = append(ids, g.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// rssOf is the resident memory of process pid in MiB (0 when unknown).
func rssOf(pid int) float64 {
	return statusRSS("/proc/" + strconv.Itoa(pid) + "/status")
}
