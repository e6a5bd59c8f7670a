package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

type grant struct{ Kind, ID, Name string }

// resolve turns a name into an id by listing path (users, apps, spaces) as
// the caller; a value no item is named stays as it is (an id).
func (cl *client) resolve(ctx context.Context, path, query, value string) string {
	cursor := ""
	for range 20 {
		q := url.Values{"limit": {"100"}}
		if query != "" {
			q.Set("q", value)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Items []struct{ ID, Name string }
			Next  string
		}
		if _, err := cl.call(ctx, "GET", path+"?"+q.Encode(), nil, &page); err != nil {
			return value
		}
		var ids []string
		for _, it := range page.Items {
			if it.ID == value {
				return value
			}
			if strings.EqualFold(it.Name, value) {
				ids = append(ids, it.ID)
			}
		}
		if len(ids) == 1 {
			return ids[0]
		}
		if page.Next == "" || len(ids) > 1 {
			return value
		}
		cursor = page.Next
	}
	return value
}

var checkCmd = &command{name: "check", short: "ask the server for one decision and what decided it",
	args: "--subject USER --action ACTION --resource TYPE:ID [flags]",
	summary: "Ask the server for one decision and say what decided it. USER is a user's id or name; an app or a\n" +
		"space may be named by its name when the token's user can list it. Exit 0 when allowed, 1 when denied,\n" +
		"2 on errors. The token is a tenant admin's (or an AuthzClient's), or the subject's own.",
	example: "rulekeeper check --token \"$ADMIN\" --subject bob --action delete --resource app:$Q4\n" +
		"#   deny: bob may not delete app \"<id>\" (no_grant: no table row, role, ownership or rule grants it)",
	run: func(ctx context.Context, cmd *command, std *stdio, args []string) error {
		cl := &client{cmd: cmd}
		var subject, action, resource, env string
		var asJSON bool
		fs := newFlags("check", std.err)
		serverFlags(fs, cl)
		fs.StringVar(&subject, "subject", "", "the user asking: id or name (required)")
		fs.StringVar(&action, "action", "", "the action, e.g. read, update, delete (required)")
		fs.StringVar(&resource, "resource", "", "TYPE:ID or TYPE:NAME, e.g. app:Q4 report (required)")
		fs.StringVar(&env, "environment", "hub", "hub or console")
		fs.BoolVar(&asJSON, "json", false, "print the decision as JSON")
		pos, err := cmd.parse(fs, std, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return cmd.usageError("unexpected argument %q", pos[0])
		}
		for _, f := range []struct{ name, v string }{{"--subject", subject}, {"--action", action}, {"--resource", resource}} {
			if strings.TrimSpace(f.v) == "" {
				return cmd.usageError("%s is required", f.name)
			}
		}
		typ, rid, ok := strings.Cut(resource, ":")
		if !ok || typ == "" || rid == "" {
			return cmd.usageError("--resource %q: want TYPE:ID, e.g. app:0f3c…", resource)
		}
		if err := cl.ready(); err != nil {
			return exitError{2, err}
		}
		uid := cl.resolve(ctx, "/api/v1/users", "q", subject)
		switch typ {
		case "app", "space":
			rid = cl.resolve(ctx, "/api/v1/"+typ+"s", "", rid)
		}
		body := map[string]any{"subject": map[string]any{"id": uid}, "action": action,
			"resource": map[string]any{"type": typ, "id": rid}, "context": map[string]any{"environment": env}}
		var dec struct {
			Allow    bool
			Grants   []grant
			Denies   []struct{ Kind, Reason string }
			Revision int64
		}
		raw, err := cl.call(ctx, "POST", "/authz/check", body, &dec)
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == 404 {
			return exitError{2, fmt.Errorf("%w\n(names of users, apps and spaces resolve among what the token's user may list; otherwise give its id)", err)}
		}
		if err != nil {
			return exitError{2, err}
		}
		if asJSON {
			_, _ = std.out.Write(append(raw, '\n'))
		} else {
			who, what := subject, fmt.Sprintf("%s %q", typ, strings.TrimPrefix(resource, typ+":"))
			if dec.Allow {
				fmt.Fprintf(std.out, "allow: %s may %s %s\n", who, action, what)
				for _, g := range dec.Grants {
					fmt.Fprintf(std.out, "  granted by %s %s (%s)\n", g.Kind, g.ID, g.Name)
				}
			} else {
				var why []string
				for _, d := range dec.Denies {
					why = append(why, d.Kind+" "+d.Reason)
				}
				if len(why) == 0 {
					why = []string{"no_grant: no table row, role, ownership or rule grants it"}
				}
				fmt.Fprintf(std.out, "deny: %s may not %s %s (%s)\n", who, action, what, strings.Join(why, "; "))
			}
		}
		if !dec.Allow {
			return exitError{1, errQuiet}
		}
		return nil
	}}

// impactResult is the impact of a change set as the server answers it.
type impactResult struct {
	Gained  []impactItem `json:"gained"`
	Lost    []impactItem `json:"lost"`
	Summary struct {
		Gained, Lost int
		Truncated    bool
	} `json:"summary"`
}

type impactItem struct {
	UserID, UserName, ResourceType, ResourceID, ResourceName, Action, Environment string
	Rules                                                                         []grant
}

func (it impactItem) String() string {
	user, res := it.UserName, it.ResourceName
	if user == "" {
		user = it.UserID
	}
	if res == "" {
		res = it.ResourceID
	}
	var rs []string
	for _, r := range it.Rules {
		rs = append(rs, fmt.Sprintf("%q", r.Name))
	}
	s := fmt.Sprintf("%s may %s %s %q (%s)", user, it.Action, it.ResourceType, res, it.Environment)
	if len(rs) > 0 {
		s += " — rule " + strings.Join(rs, ", ")
	}
	return s
}

func printImpact(w io.Writer, im *impactResult) {
	fmt.Fprintf(w, "impact: %d gained, %d lost\n", im.Summary.Gained, im.Summary.Lost)
	for _, it := range im.Gained {
		fmt.Fprintf(w, "  + %s\n", it)
	}
	for _, it := range im.Lost {
		fmt.Fprintf(w, "  - %s\n", it)
	}
	if im.Summary.Truncated {
		fmt.Fprintln(w, "  (lists truncated; the counts are complete)")
	}
}

// protection is one --protect pattern: USER:ACTION:TYPE[/RESOURCE], each
// part a name, an id or *.
type protection struct{ user, action, typ, resource, raw string }

func parseProtect(s string) (protection, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return protection{}, fmt.Errorf("--protect %q: want USER:ACTION:TYPE[/RESOURCE], e.g. bob:read:app/Q4 report or *:read:theme", s)
	}
	typ, res, _ := strings.Cut(parts[2], "/")
	if res == "" {
		res = "*"
	}
	return protection{user: parts[0], action: parts[1], typ: typ, resource: res, raw: s}, nil
}

func (p protection) matches(it impactItem) bool {
	is := func(pat string, vals ...string) bool {
		if pat == "*" {
			return true
		}
		for _, v := range vals {
			if strings.EqualFold(pat, v) {
				return true
			}
		}
		return false
	}
	return is(p.user, it.UserID, it.UserName) && is(p.action, it.Action) && is(p.typ, it.ResourceType) &&
		is(p.resource, it.ResourceID, it.ResourceName)
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

var impactCmd = &command{name: "impact", short: "what importing a rule file would change; exit 1 when protected access is lost",
	args: "[--server URL] --token T [--replace] [--protect USER:ACTION:TYPE[/RESOURCE]]... [--json] FILE",
	summary: "Validate a rule file and show what importing it would change: the rules created, updated and deleted,\n" +
		"and the access gained and lost, per user and resource. Nothing is written. For CI: exit 1 when the\n" +
		"file has errors or would remove access that a --protect pattern names (each part a name, an id or *).",
	example: "rulekeeper impact --token \"$ADMIN\" --protect 'bob:read:app/Q4 report' --protect '*:read:theme' rules.yaml\n" +
		"#   impact: 0 gained, 1 lost\n#     - bob may read app \"Q4 report\" (hub) — rule \"Sales reads Q apps\"\n" +
		"#   protected access lost (bob:read:app/Q4 report): bob may read app \"Q4 report\" (hub)",
	run: func(ctx context.Context, cmd *command, std *stdio, args []string) error {
		cl := &client{cmd: cmd}
		var replace, asJSON bool
		var protect listFlag
		fs := newFlags("impact", std.err)
		serverFlags(fs, cl)
		fs.BoolVar(&replace, "replace", false, "compare with the file as the whole rule set (rules import --replace)")
		fs.Var(&protect, "protect", "access that must not be lost: USER:ACTION:TYPE[/RESOURCE] (repeatable)")
		fs.BoolVar(&asJSON, "json", false, "print the server's answer as JSON")
		pos, err := cmd.parseFile(fs, std, args)
		if err != nil {
			return err
		}
		var pats []protection
		for _, s := range protect {
			p, err := parseProtect(s)
			if err != nil {
				return cmd.usageError("%v", err)
			}
			pats = append(pats, p)
		}
		name, res, raw, err := cl.importFile(ctx, std, pos, replace, true)
		if err != nil {
			return err
		}
		if asJSON {
			_, _ = std.out.Write(append(raw, '\n'))
		} else {
			res.print(std.out, name)
		}
		if res.Impact == nil {
			return nil
		}
		broken := 0
		for _, it := range res.Impact.Lost {
			for _, p := range pats {
				if p.matches(it) {
					broken++
					fmt.Fprintf(std.err, "protected access lost (%s): %s\n", p.raw, it)
					break
				}
			}
		}
		if broken > 0 {
			return fmt.Errorf("%s would remove %d protected access(es)", name, broken)
		}
		return nil
	}}

var previewCmd = &command{name: "preview", short: "what each rule of a file would grant on the server today",
	args: "[--server URL] --token T [--limit N] [--json] FILE",
	summary: "Validate a rule file and show, for each of its rules, what it would grant on the server today:\n" +
		"the (user, action, resource) it grants, which of those are new, and how many a gate still refuses.",
	example: "rulekeeper preview --token \"$ADMIN\" rules.yaml\n" +
		"#   rule \"Sales reads Q apps\": grants 2 (2 new) to 1 users on 2 resources; 0 refused by a gate\n" +
		"#     alice may read app \"Q2 draft\" (hub) new",
	run: func(ctx context.Context, cmd *command, std *stdio, args []string) error {
		cl := &client{cmd: cmd}
		var asJSON bool
		var limit int
		fs := newFlags("preview", std.err)
		serverFlags(fs, cl)
		fs.IntVar(&limit, "limit", 20, "items shown per rule (1-1000)")
		fs.BoolVar(&asJSON, "json", false, "print the server's answers as JSON (one per rule)")
		pos, err := cmd.parseFile(fs, std, args)
		if err != nil {
			return err
		}
		if limit < 1 || limit > 1000 {
			return cmd.usageError("--limit is from 1 to 1000")
		}
		_, _, f, err := cl.loadFile(ctx, std, pos)
		if err != nil {
			return err
		}
		var all []any
		for _, e := range f.Entries {
			r := e.Rule
			body := map[string]any{"rule": map[string]any{"name": r.Name, "description": r.Description,
				"resourceFilter": r.ResourceFilter, "condition": r.Condition, "actions": r.Actions, "context": r.Context}}
			var res struct {
				Items []struct {
					impactItem
					New bool
				}
				Counts struct{ Granted, New, Gated, Users, Resources int }
			}
			raw, err := cl.call(ctx, "POST", fmt.Sprintf("/api/v1/rules/preview?limit=%d", limit), body, &res)
			if err != nil {
				return fmt.Errorf("rule %s: %w", e.Label(), err)
			}
			if asJSON {
				var v any
				_ = jsonUnmarshal(raw, &v)
				all = append(all, map[string]any{"rule": r.Name, "preview": v})
				continue
			}
			fmt.Fprintf(std.out, "rule %s: grants %d (%d new) to %d users on %d resources; %d refused by a gate\n",
				e.Label(), res.Counts.Granted, res.Counts.New, res.Counts.Users, res.Counts.Resources, res.Counts.Gated)
			for _, it := range res.Items {
				line := "    " + it.impactItem.String()
				if it.New {
					line += " new"
				}
				fmt.Fprintln(std.out, line)
			}
			if res.Counts.Granted > len(res.Items) {
				fmt.Fprintf(std.out, "    … %d more (--limit)\n", res.Counts.Granted-len(res.Items))
			}
		}
		if asJSON {
			return printJSON(std.out, all)
		}
		return nil
	}}
