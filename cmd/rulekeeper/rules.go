package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/resources/rulefile"
)

// readInput reads FILE, or standard input for "-" or no argument.
func readInput(c *command, pos []string) (name string, data []byte, err error) {
	switch len(pos) {
	case 0:
		name = "-"
	case 1:
		name = pos[0]
	default:
		return "", nil, c.usageError("one FILE at most, got %d", len(pos))
	}
	if name == "-" {
		data, err = io.ReadAll(os.Stdin)
		return "standard input", data, err
	}
	data, err = os.ReadFile(name)
	return name, data, err
}

// checkFile parses and validates a rule file against vocab (the built-in
// types, or the server's, which include the external types registered
// there); problems are printed as FILE:LINE:COLUMN lines (or JSON) and
// make the error.
func checkFile(std *stdio, name string, data []byte, vocab *rules.Vocabulary, asJSON bool) (*rulefile.File, error) {
	f, err := rulefile.Parse(data)
	var ps rulefile.Problems
	if err != nil {
		var ok bool
		if ps, ok = err.(rulefile.Problems); !ok {
			return nil, err
		}
	} else {
		ps = f.Validate(vocab)
	}
	if asJSON {
		if ps == nil {
			ps = rulefile.Problems{}
		}
		n := 0
		if f != nil {
			n = len(f.Entries)
		}
		_ = printJSON(std.out, map[string]any{"file": name, "valid": !ps.HasErrors(), "rules": n, "problems": ps})
	} else {
		for _, p := range ps {
			fmt.Fprintf(std.out, "%s:%s\n", name, strings.Replace(strings.Replace(p.String(), "line ", "", 1), ", column ", ":", 1))
		}
	}
	if ps.HasErrors() {
		if asJSON {
			return nil, errQuiet
		}
		errs := 0
		for _, p := range ps {
			if p.Severity != rules.SeverityWarning {
				errs++
			}
		}
		return nil, fmt.Errorf("%s: %d error(s)", name, errs)
	}
	return f, nil
}

// vocabulary is the rule language's vocabulary in force on the server:
// the built-in resource types and the external ones registered there
// (rules on those, such as an export's, are valid only against it).
func (cl *client) vocabulary(ctx context.Context) (*rules.Vocabulary, error) {
	var v rules.Vocabulary
	if _, err := cl.call(ctx, "GET", "/api/v1/rules/vocabulary", nil, &v); err != nil {
		return nil, fmt.Errorf("reading the server's resource types: %w", err)
	}
	return &v, nil
}

var validateCmd = &command{name: "validate", short: "check a rule file offline",
	args: "[--server URL --token T] [--json] FILE",
	summary: "Check a rule file offline: its format and every rule's filter, condition, actions and context,\n" +
		"with the file's line and column for each problem. Exit 1 on errors. FILE - reads standard input.\n" +
		"Offline, only the built-in resource types are known; with --token the file is checked against the\n" +
		"server's types too (the external types registered there, e.g. a ticket's actions).",
	example: "rulekeeper validate rules.yaml\n#   rules.yaml: 3 rules, valid\n#   rules.yaml:4:56: rule \"Sales reads Q apps\": condition: unterminated string\n" +
		"rulekeeper validate --token \"$ADMIN\" ticket-rules.yaml   # rules on types registered on the server",
	run: func(ctx context.Context, cmd *command, std *stdio, args []string) error {
		cl := &client{cmd: cmd}
		var asJSON bool
		fs := newFlags("validate", std.err)
		fs.str(&cl.server, "server", "http://127.0.0.1:8080", "base URL of rulekeeper (only with --token)")
		fs.str(&cl.token, "token", "", "check against the server's resource types (external ones included); empty: offline, built-in types only")
		fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
		pos, err := cmd.parseFile(fs, std, args)
		if err != nil {
			return err
		}
		name, data, err := readInput(cmd, pos)
		if err != nil {
			return err
		}
		vocab := rules.DefaultVocabulary()
		if strings.TrimSpace(cl.token) != "" {
			if vocab, err = cl.vocabulary(ctx); err != nil {
				return err
			}
		}
		f, err := checkFile(std, name, data, vocab, asJSON)
		if err != nil {
			return err
		}
		if !asJSON {
			fmt.Fprintf(std.out, "%s: %d rules, valid\n", name, len(f.Entries))
		}
		return nil
	}}

var rulesExportCmd = &command{name: "rules export", short: "print the server's rule set as a rule file",
	args:    "[--server URL] --token T [--out FILE]",
	summary: "Print the server's whole rule set as a rule file (YAML); `rules import` of it changes nothing.",
	example: "rulekeeper rules export --token \"$ADMIN\" > rules.yaml",
	run: func(ctx context.Context, cmd *command, std *stdio, args []string) error {
		cl := &client{cmd: cmd}
		var out string
		fs := newFlags("rules export", std.err)
		serverFlags(fs, cl)
		fs.StringVar(&out, "out", "", "write to FILE instead of standard output")
		pos, err := cmd.parse(fs, std, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return cmd.usageError("unexpected argument %q (use --out FILE)", pos[0])
		}
		if err := cl.ready(); err != nil {
			return err
		}
		raw, err := cl.call(ctx, "GET", "/api/v1/rules/export", nil, nil)
		if err != nil {
			return err
		}
		if out != "" {
			return os.WriteFile(out, raw, 0o644)
		}
		_, err = std.out.Write(raw)
		return err
	}}

// importResult is the server's answer to an import.
type importResult struct {
	DryRun    bool   `json:"dryRun"`
	Mode      string `json:"mode"`
	Created   int    `json:"created"`
	Updated   int    `json:"updated"`
	Deleted   int    `json:"deleted"`
	Unchanged int    `json:"unchanged"`
	Changes   []struct {
		Op, ID, Name string
		Fields       []string
	} `json:"changes"`
	Impact   *impactResult `json:"impact"`
	Revision int64         `json:"revision"`
}

// loadFile reads the rule file named by pos and checks it first against
// the server's vocabulary (problems with the file's positions), once the
// server flags are complete.
func (cl *client) loadFile(ctx context.Context, std *stdio, pos []string) (string, []byte, *rulefile.File, error) {
	name, data, err := readInput(cl.cmd, pos)
	if err != nil {
		return "", nil, nil, err
	}
	if err := cl.ready(); err != nil {
		return "", nil, nil, err
	}
	vocab, err := cl.vocabulary(ctx)
	if err != nil {
		return "", nil, nil, err
	}
	f, err := checkFile(std, name, data, vocab, false)
	return name, data, f, err
}

// importFile loads a rule file and posts it to the import endpoint.
func (cl *client) importFile(ctx context.Context, std *stdio, pos []string, replace, dryRun bool) (string, *importResult, []byte, error) {
	name, data, _, err := cl.loadFile(ctx, std, pos)
	if err != nil {
		return "", nil, nil, err
	}
	q := url.Values{}
	if replace {
		q.Set("mode", "replace")
	}
	if dryRun {
		q.Set("dryRun", "true")
	}
	path := "/api/v1/rules/import"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var res importResult
	raw, err := cl.call(ctx, "POST", path, data, &res)
	if err != nil {
		return "", nil, nil, err
	}
	return name, &res, raw, nil
}

// print says what an import did (or a dry run would do) for people.
func (res *importResult) print(w io.Writer, name string) {
	verb := "imported"
	if res.DryRun {
		verb = "dry run (nothing written) of"
	}
	fmt.Fprintf(w, "%s %s (%s): %d created, %d updated, %d deleted, %d unchanged", verb, name, res.Mode,
		res.Created, res.Updated, res.Deleted, res.Unchanged)
	if !res.DryRun {
		fmt.Fprintf(w, " (rules revision %d)", res.Revision)
	}
	fmt.Fprintln(w)
	for _, c := range res.Changes {
		line := fmt.Sprintf("  %-6s %q (%s)", c.Op, c.Name, c.ID)
		if len(c.Fields) > 0 {
			line += ": " + strings.Join(c.Fields, ", ")
		}
		fmt.Fprintln(w, line)
	}
	if res.Impact != nil {
		printImpact(w, res.Impact)
	}
}

var rulesImportCmd = &command{name: "rules import", short: "apply a rule file (upsert, --replace, --dry-run with its impact)",
	args: "[--server URL] --token T [--replace] [--dry-run] [--json] [FILE]",
	summary: "Apply a rule file to the server (FILE, or standard input). Rules are matched by id, else by name:\n" +
		"new ones are created, changed ones updated, unchanged ones (read-only defaults included) left alone.\n" +
		"--replace also deletes the stored rules the file does not hold. --dry-run prints the changes and the\n" +
		"access they would gain and lose, and writes nothing. All or nothing: a file with errors changes nothing.",
	example: "rulekeeper rules export --token \"$ADMIN\" > rules.yaml   # edit it, then:\n" +
		"rulekeeper rules import --token \"$ADMIN\" --dry-run rules.yaml\n" +
		"rulekeeper rules import --token \"$ADMIN\" rules.yaml\n" +
		"#   imported rules.yaml: 0 created, 1 updated, 0 deleted, 4 unchanged (rules revision 7)",
	run: func(ctx context.Context, cmd *command, std *stdio, args []string) error {
		cl := &client{cmd: cmd}
		var replace, dryRun, asJSON bool
		fs := newFlags("rules import", std.err)
		serverFlags(fs, cl)
		fs.BoolVar(&replace, "replace", false, "make the stored rule set equal to the file (deletes rules the file does not hold)")
		fs.BoolVar(&dryRun, "dry-run", false, "show the changes and their impact; write nothing")
		fs.BoolVar(&asJSON, "json", false, "print the server's answer as JSON")
		pos, err := cmd.parse(fs, std, args)
		if err != nil {
			return err
		}
		name, res, raw, err := cl.importFile(ctx, std, pos, replace, dryRun)
		if err != nil {
			return err
		}
		if asJSON {
			_, err := std.out.Write(append(raw, '\n'))
			return err
		}
		res.print(std.out, name)
		return nil
	}}
