// Command rulekeeper is the authorization service and its tools:
//
//	rulekeeper serve [--dev]      run the service
//	rulekeeper token --user NAME  print a dev-mode token
//	rulekeeper version            print the version
//
// Every flag of serve has a RULEKEEPER_* environment variable (the flag
// wins when both are given).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rulekeeper:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `rulekeeper — authorization for an analytics platform

Usage:
  rulekeeper serve [flags]      run the service (see rulekeeper serve -h)
  rulekeeper token [flags]      print a token from a dev-mode server
  rulekeeper license sign [flags]  print a license key signed with the dev key (or --private-key)
  rulekeeper validate FILE.yaml check a rule file offline (exit 1 on errors)
  rulekeeper rules export|import --server URL --token T [FILE]   the rule set as YAML
  rulekeeper version            print the version
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2, errors.New("no command given")}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "token":
		return token(ctx, args[1:], stdout, stderr)
	case "license":
		return license(args[1:], stdout, stderr)
	case "validate":
		return validate(args[1:], stdout, stderr)
	case "rules":
		return rulesCmd(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "rulekeeper", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return exitError{2, fmt.Errorf("unknown command %q", args[0])}
}

// envFlags binds flags to RULEKEEPER_* variables: a variable sets the
// default, an explicit flag overrides it.
type envFlags struct {
	*flag.FlagSet
	vars map[string]string // flag name → variable name
}

func newFlags(name string, stderr io.Writer) *envFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &envFlags{FlagSet: fs, vars: map[string]string{}}
}

func envName(flagName string) string {
	b := []byte("RULEKEEPER_")
	for _, r := range flagName {
		switch {
		case r == '-':
			b = append(b, '_')
		case r >= 'a' && r <= 'z':
			b = append(b, byte(r-'a'+'A'))
		default:
			b = append(b, byte(r))
		}
	}
	return string(b)
}

func (f *envFlags) str(p *string, name, def, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		def = v
	}
	f.StringVar(p, name, def, help+" ($"+envName(name)+")")
}

func (f *envFlags) boolean(p *bool, name string, def bool, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		def = v == "1" || v == "true" || v == "yes"
	}
	f.BoolVar(p, name, def, help+" ($"+envName(name)+")")
}

func (f *envFlags) duration(p *time.Duration, name string, def time.Duration, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			d = -1 // reported by validation
		}
		def = d
	}
	f.DurationVar(p, name, def, help+" ($"+envName(name)+")")
}

func (f *envFlags) integer(p *int, name string, def int, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		if _, err := fmt.Sscan(v, &def); err != nil {
			def = -1 // reported by validation
		}
	}
	f.IntVar(p, name, def, help+" ($"+envName(name)+")")
}
