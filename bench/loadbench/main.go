// Command loadbench compares rulekeeper's decision endpoint with a stock OPA
// server evaluating the same policy on the same stream of decisions.
//
// It prepares a dev-mode tenant with 1,000 extra users (logins, licenses,
// space memberships, a few apps) on the embedded database, computes for
// every (subject, resource) the fully hydrated policy input exactly as
// rulekeeper's engine does, then starts two child processes:
//
//   - rulekeeper (`serve --dev` on the prepared data directory), asked
//     `POST /authz/check` by id with an API key of the tenant admin;
//   - OPA (the version in go.mod, `opa run --server`) loaded with the
//     policies/ files, asked `POST /v1/data/rulekeeper/authz/decision`
//     with the hydrated input.
//
// A Go load generator (16 connections by default, one keep-alive connection
// per goroutine; fasthttp's client with reused requests and responses, or
// net/http's with -client nethttp) drives both with the same pseudo-random
// stream, in alternating rounds, and prints throughput, p50 and p99 of each
// and their ratios, each server's CPU per request and the generator's own; before that a sample of decisions is asked of both and their
// answers compared. The report is also written to bench/README.md.
//
//	go run ./bench/loadbench [-duration 10s] [-warmup 3s] [-rounds 2] [-conns 16] [-no-decision-cache [-no-entity-cache]]
//
// With -decision-log stdout, mongo or stdout,mongo one more rulekeeper per
// mode joins the rounds, each on its own copy of the prepared data, with
// that decision log on; the report compares each with the first (log off),
// round by round — the cost of the decision log, measured in the same run.
//
// With -pin every server under test runs on one CPU and the load generator
// (this process) on another (pin.go); by default all share the machine's
// CPUs.
//
// Everything listens on 127.0.0.1 only, and the run is bounded in time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// config is what the flags set.
type config struct {
	Subjects    int
	Conns       int
	Duration    time.Duration
	Warmup      time.Duration
	Rounds      int
	Check       int
	Seed        uint64
	OPA         string
	Rulekeeper  string
	Report      string
	NoReport    bool
	Keep        bool
	Strict      bool
	MaxRequests int
	Auth        string
	// DecisionLog, when set, adds a rulekeeper per mode listed
	// (--decision-log=stdout, mongo; on a copy of the data each) to the
	// rounds, to measure the log's cost.
	DecisionLog       string
	LogModes          []string
	DecisionLogSample string
	// NoDecisionCache and NoEntityCache start rulekeeper without them.
	NoDecisionCache, NoEntityCache bool
	// CPUProfile, when set, is a directory where every rulekeeper of
	// this checkout writes a CPU profile of its whole run (serve
	// --cpu-profile), named after the server: rulekeeper.prof,
	// rulekeeper+log-mongo.prof, …
	CPUProfile string
	// Client is the load generator's HTTP client: fasthttp (the default)
	// or nethttp.
	Client string
	// GeneratorProfile, when set, is a file where the load generator
	// (this process) writes a CPU profile of the rounds.
	GeneratorProfile string
	// PGO is go build's -pgo for the rulekeeper this checkout builds:
	// the profile of the release build (make build), or off.
	PGO string
	// Baseline, when set, is another rulekeeper binary (e.g. built from
	// main) added to the rounds on a copy of the data, with the same
	// flags: before and after measured in one run.
	Baseline string
	// Pin runs every server under test on one CPU and the load generator
	// on another (pin.go); false: all share the machine's CPUs.
	Pin bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "loadbench:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Subjects, "subjects", 1000, "distinct subjects (users logged in before the run)")
	fs.IntVar(&cfg.Conns, "conns", 16, "concurrent connections (one goroutine and keep-alive connection each)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured time per server and round")
	fs.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "unmeasured load before each measured window")
	fs.IntVar(&cfg.Rounds, "rounds", 2, "alternating rounds (rulekeeper then OPA, OPA then rulekeeper, …)")
	fs.IntVar(&cfg.Check, "check", 1000, "decisions asked of both servers and compared before the load")
	fs.Uint64Var(&cfg.Seed, "seed", 6, "seed of the decision stream")
	fs.StringVar(&cfg.OPA, "opa", "", "OPA binary (default: go install github.com/open-policy-agent/opa@<go.mod version> into the user cache)")
	fs.StringVar(&cfg.PGO, "pgo", "cmd/rulekeeper/rulekeeper.pgo", "go build -pgo of the rulekeeper built from this checkout (the release build's profile, as make build; off: without)")
	fs.StringVar(&cfg.Rulekeeper, "rulekeeper", "", "rulekeeper binary (default: go build ./cmd/rulekeeper into a temporary directory)")
	fs.StringVar(&cfg.Report, "report", "", "README whose \"Latest report\" section is replaced (default: bench/README.md of the module)")
	fs.BoolVar(&cfg.NoReport, "no-report", false, "print the report only")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the temporary directory (data, logs) for inspection")
	fs.BoolVar(&cfg.Strict, "strict", false, "exit with an error when a target is missed")
	fs.IntVar(&cfg.MaxRequests, "max-requests", 5_000_000, "upper bound of requests per server and round")
	fs.StringVar(&cfg.Auth, "auth", "apikey", "how rulekeeper's caller authenticates: apikey (the tenant admin's API key) or token (the admin's dev OIDC token)")
	fs.StringVar(&cfg.DecisionLog, "decision-log", "", "also measure a rulekeeper with --decision-log=MODE for each MODE listed (stdout, mongo or stdout,mongo), in the same rotating rounds (the cost of the decision log)")
	fs.StringVar(&cfg.DecisionLogSample, "decision-log-sample", "1", "--decision-log-sample of those rulekeepers")
	fs.BoolVar(&cfg.NoDecisionCache, "no-decision-cache", false, "start rulekeeper with --no-decision-cache: every request a full evaluation, as on the OPA side")
	fs.StringVar(&cfg.Baseline, "baseline", "", "also measure this rulekeeper binary (e.g. built from main), on a copy of the data with the same flags, in the same rotating rounds: before and after in one run")
	fs.BoolVar(&cfg.NoEntityCache, "no-entity-cache", false, "start rulekeeper with --no-entity-cache as well: every request hydrated from the store snapshots")
	fs.StringVar(&cfg.Client, "client", clientFast, "the load generator's HTTP client, the same for every server: fasthttp (reused requests and responses, the cheapest) or nethttp (net/http's client, as before)")
	fs.StringVar(&cfg.GeneratorProfile, "generator-profile", "", "file where the load generator writes a CPU profile of its rounds (what the generator costs per request)")
	fs.BoolVar(&cfg.Pin, "pin", false, "run each server under test on one CPU and the load generator on another (CPU affinity; every server gets the same CPU, one loaded at a time), so that the generator's CPU is not taken from the server's; default: all share the machine's CPUs")
	fs.StringVar(&cfg.CPUProfile, "cpu-profile", "", "directory where each rulekeeper writes a CPU profile of its run (serve --cpu-profile; compare two with go tool pprof -diff_base)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case cfg.Subjects < 1 || cfg.Subjects > 10_000:
		return fmt.Errorf("-subjects: between 1 and 10000")
	case cfg.Conns < 1 || cfg.Conns > 256:
		return fmt.Errorf("-conns: between 1 and 256")
	case cfg.Duration <= 0 || cfg.Duration > 10*time.Minute || cfg.Warmup < 0 || cfg.Warmup > 5*time.Minute:
		return fmt.Errorf("-duration: (0, 10m], -warmup: [0, 5m]")
	case cfg.Rounds < 1 || cfg.Rounds > 20:
		return fmt.Errorf("-rounds: between 1 and 20")
	case !validLogModes(&cfg):
		return fmt.Errorf("-decision-log: stdout, mongo or stdout,mongo")
	case cfg.Client != clientFast && cfg.Client != clientNetHTTP:
		return fmt.Errorf("-client: fasthttp or nethttp")
	case cfg.Auth != "apikey" && cfg.Auth != "token":
		return fmt.Errorf("-auth: apikey or token")
	case cfg.Check < 0 || cfg.MaxRequests < 1:
		return fmt.Errorf("-check must not be negative and -max-requests must be positive")
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if cfg.Report == "" {
		cfg.Report = filepath.Join(root, "bench", "README.md")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	tmp, err := os.MkdirTemp("", "rulekeeper-loadbench-*")
	if err != nil {
		return err
	}
	if cfg.Keep {
		log.Info("keeping the temporary directory", "dir", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	b := &bench{cfg: cfg, root: root, tmp: tmp, log: log, stdout: stdout}
	return b.run(ctx)
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod here or above: run from the rulekeeper checkout (go run ./bench/loadbench)")
		}
		dir = parent
	}
}

// validLogModes splits -decision-log into cfg.LogModes: stdout and mongo,
// each at most once.
func validLogModes(cfg *config) bool {
	cfg.LogModes = nil
	if cfg.DecisionLog == "" {
		return true
	}
	for m := range strings.SplitSeq(cfg.DecisionLog, ",") {
		m = strings.TrimSpace(m)
		if (m != "stdout" && m != "mongo") || slices.Contains(cfg.LogModes, m) {
			return false
		}
		cfg.LogModes = append(cfg.LogModes, m)
	}
	return true
}
