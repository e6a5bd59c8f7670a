package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// command is one subcommand: its usage line, what it does, an example, and
// how it runs.
type command struct {
	name    string // "rules import"
	args    string // what follows the name, e.g. "[flags] [FILE]"
	short   string // one line for the command list
	summary string
	example string
	run     func(ctx context.Context, cmd *command, std *stdio, args []string) error
}

// stdio are the command's output streams.
type stdio struct{ out, err io.Writer }

// errHelp ends a command after its help was printed: exit 0.
var errHelp = errors.New("help shown")

func (c *command) usageLine() string { return "rulekeeper " + c.name + " " + c.args }

// help prints the command's usage, summary, example and flags.
func (c *command) help(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\nExample:\n", c.usageLine(), c.summary)
	for _, l := range strings.Split(strings.TrimRight(c.example, "\n"), "\n") {
		fmt.Fprintln(w, "  "+l)
	}
	if fs != nil {
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nFlags:")
			fs.SetOutput(w)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
	}
}

// parse reads flags and positional arguments in any order; --help prints
// the help on stdout (errHelp); a bad flag is a usage error (exit 2).
func (c *command) parse(fs *envFlags, std *stdio, args []string) ([]string, error) {
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.help(std.out, fs.FlagSet)
				return nil, errHelp
			}
			return nil, c.usageError("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		if args = fs.Args(); args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	return pos, nil
}

// parseFile is parse for commands that need a FILE argument.
func (c *command) parseFile(fs *envFlags, std *stdio, args []string) ([]string, error) {
	pos, err := c.parse(fs, std, args)
	if err == nil && len(pos) == 0 {
		err = c.usageError("FILE is required (- for standard input)")
	}
	return pos, err
}

// usageError is a mistake in the command line: exit 2, with the usage line.
func (c *command) usageError(format string, a ...any) error {
	return exitError{2, fmt.Errorf("%s: %s\nusage: %s (rulekeeper %s --help shows an example)", c.name, fmt.Sprintf(format, a...), c.usageLine(), c.name)}
}

// client calls a rulekeeper server's API as one caller.
type client struct {
	server, token string
	cmd           *command
}

// serverFlags adds --server and --token to fs.
func serverFlags(fs *envFlags, cl *client) {
	fs.str(&cl.server, "server", "http://127.0.0.1:8080", "base URL of rulekeeper")
	fs.str(&cl.token, "token", "", "bearer token or API key (a tenant admin's for rules, preview, impact); dev mode: $(rulekeeper token --user admin)")
}

// ready says which required flag is missing.
func (cl *client) ready() error {
	if strings.TrimSpace(cl.token) == "" {
		return cl.cmd.usageError("--token is required (or set RULEKEEPER_TOKEN): a tenant admin's token or API key; in dev mode: --token \"$(rulekeeper token --user admin)\"")
	}
	return nil
}

// apiError is an error answer of the server.
type apiError struct {
	Status  int            `json:"-"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the server answered %d %s: %s", e.Status, e.Code, e.Message)
	// A rule file's problems, one per line.
	if ps, ok := e.Details["problems"].([]any); ok && len(ps) > 1 {
		for _, p := range ps {
			if m, ok := p.(map[string]any); ok {
				fmt.Fprintf(&b, "\n  line %v, column %v: %v %v: %v", m["line"], m["column"], m["rule"], m["field"], m["message"])
			}
		}
	}
	return b.String()
}

// call sends body (nil, []byte sent as is, or a value sent as JSON) and
// decodes a JSON answer into out (when not nil); raw answers the bytes.
func (cl *client) call(ctx context.Context, method, path string, body any, out any) (raw []byte, err error) {
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/yaml"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(cl.server, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	tok := strings.TrimPrefix(strings.TrimSpace(cl.token), "Bearer ")
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach rulekeeper at %s (is it running? --server): %w", cl.server, err)
	}
	defer res.Body.Close()
	raw, err = io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 300 {
		e := &apiError{Status: res.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Code == "" {
			e.Code, e.Message = http.StatusText(res.StatusCode), strings.TrimSpace(string(raw))
		}
		return nil, e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, path, err)
		}
	}
	return raw, nil
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// commandList is the top-level usage.
func commandList() string {
	var b strings.Builder
	b.WriteString("rulekeeper — authorization for an analytics platform\n\nUsage: rulekeeper COMMAND [flags] [args]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(&b, "  %-15s %s\n", n, c.short)
	}
	b.WriteString("\nEvery command takes --help, which shows its flags and an example.\n" +
		"Commands that call a server take --server (default http://127.0.0.1:8080) and --token\n" +
		"($RULEKEEPER_SERVER, $RULEKEEPER_TOKEN); those that print results take --json for scripts.\n\n" +
		"Example:\n  rulekeeper serve --dev &\n  export RULEKEEPER_TOKEN=$(rulekeeper token --user admin)\n" +
		"  rulekeeper check --subject bob --action read --resource app:ID\n")
	return b.String()
}

func jsonUnmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }
