// Command rulekeeper is the authorization service and its tools:
//
//	rulekeeper serve [--dev]                 run the service
//	rulekeeper token --user NAME             print a dev-mode token
//	rulekeeper license keygen [flags]        write a license key pair
//	rulekeeper license sign [flags]          sign a license key
//	rulekeeper validate FILE                 check a rule file offline
//	rulekeeper rules export|import           the rule set of a server as a rule file
//	rulekeeper check --subject --action --resource   ask for one decision
//	rulekeeper preview|impact FILE           what a rule file would grant / change
//	rulekeeper version                       print the version
//
// Every command takes --help (usage, an example, the flags; exit 0). Every
// flag has a RULEKEEPER_* environment variable (the flag wins when both are
// given).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
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
		if errors.Is(err, errHelp) {
			os.Exit(0)
		}
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errQuiet) {
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

// errQuiet ends a command whose output already said why (exit 1).
var errQuiet = errors.New("quiet failure")

func exitCode(err error) int {
	if errors.Is(err, errHelp) {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// commands by name; filled in init to let commandList refer to it.
var commands map[string]*command

func init() {
	commands = map[string]*command{}
	for _, c := range []*command{serveCmd, tokenCmd, licenseSignCmd, licenseKeygenCmd, validateCmd, rulesExportCmd, rulesImportCmd,
		checkCmd, previewCmd, impactCmd, versionCmd} {
		commands[c.name] = c
	}
}

var versionCmd = &command{name: "version", args: "", short: "print the version", summary: "Print the version.", example: "rulekeeper version",
	run: func(_ context.Context, cmd *command, std *stdio, args []string) error {
		fs := newFlags("version", std.err)
		if _, err := cmd.parse(fs, std, args); err != nil {
			return err
		}
		fmt.Fprintln(std.out, "rulekeeper", version)
		return nil
	}}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	std := &stdio{out: stdout, err: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, commandList())
		return exitError{2, errors.New("no command given")}
	}
	switch args[0] {
	case "help", "-h", "--help":
		if len(args) > 1 {
			return run(ctx, append(args[1:], "--help"), stdout, stderr)
		}
		fmt.Fprint(stdout, commandList())
		return nil
	case "--version":
		args[0] = "version"
	}
	if c, ok := commands[args[0]]; ok {
		return c.run(ctx, c, std, args[1:])
	}
	if len(args) > 1 {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c.run(ctx, c, std, args[2:])
		}
	}
	// A group name alone ("rules", "license"): its commands.
	var group []string
	for name := range commands {
		if len(name) > len(args[0]) && name[:len(args[0])+1] == args[0]+" " {
			group = append(group, name)
		}
	}
	if len(group) > 0 {
		sort.Strings(group)
		w, code := stderr, 2
		if len(args) > 1 && (args[1] == "--help" || args[1] == "-h") {
			w, code = stdout, 0
		}
		for _, name := range group {
			fmt.Fprintf(w, "Usage: %s\n", commands[name].usageLine())
		}
		fmt.Fprintf(w, "\nExample:\n  rulekeeper %s --help\n", group[0])
		if code == 0 {
			return nil
		}
		return exitError{2, fmt.Errorf("%s: name one of its commands (rulekeeper %s --help)", args[0], group[0])}
	}
	fmt.Fprint(stderr, commandList())
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
