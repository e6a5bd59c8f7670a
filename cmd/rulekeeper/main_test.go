package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// binary is the rulekeeper the tests run as a separate process: this test
// binary itself, which acts as rulekeeper when asCLI is set in its
// environment (no second link of the same packages).
var binary string

const asCLI = "RULEKEEPER_TEST_AS_CLI=1"

func TestMain(m *testing.M) {
	if slices.Contains(os.Environ(), asCLI) {
		main()
		os.Exit(0)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = exe
	storetest.Main(m)
}

// result is one run of the binary.
type result struct {
	code        int
	out, errout string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.errout)
}

// rk runs the built binary with args (and stdin when given), without the
// caller's RULEKEEPER_* variables.
func rk(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{asCLI}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "RULEKEEPER_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func TestEveryCommandsHelp(t *testing.T) {
	t.Parallel()
	for name, c := range commands {
		if c.short == "" || !strings.Contains(commandList(), c.short) {
			t.Errorf("%s: no line in the command list", name)
		}
		t.Run(name, func(t *testing.T) {
			r := rk(t, "", append(strings.Fields(name), "--help")...)
			if r.code != 0 || !strings.Contains(r.out, "Usage: rulekeeper "+name) || !strings.Contains(r.out, "Example:\n  ") || !strings.Contains(r.out[strings.Index(r.out, "Example:"):], "rulekeeper "+name) {
				t.Fatalf("%s --help: %v", name, r)
			}
		})
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"rules", "--help"}, {"license", "--help"}, {"help", "rules", "import"}} {
		if r := rk(t, "", args...); r.code != 0 || !strings.Contains(r.out, "Usage: rulekeeper") || !strings.Contains(r.out, "Example:") {
			t.Fatalf("%v: %v", args, r)
		}
	}
}

func TestErrorsNameTheMissingFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"rules", "import", "testdata/good.yaml"}, 2, "--token is required"},
		{[]string{"rules", "export"}, 2, "--token is required"},
		{[]string{"impact", "--token", "x"}, 2, "FILE is required"},
		{[]string{"check", "--action", "read", "--resource", "app:1", "--token", "x"}, 2, "--subject is required"},
		{[]string{"check", "--subject", "bob", "--action", "read", "--resource", "app", "--token", "x"}, 2, "want TYPE:ID"},
		{[]string{"token"}, 2, "--user is required"},
		{[]string{"validate"}, 2, "FILE is required"},
		{[]string{"serve", "--log-level", "loud"}, 2, "--log-level"},
		{[]string{"serve", "--decision-log", "kafka"}, 2, "--decision-log \"kafka\": want off, stdout or mongo"},
		{[]string{"serve", "--decision-log", "stdout", "--decision-log-sample", "0"}, 2, "--decision-log-sample"},
		{[]string{"serve", "--decision-log-sample", "lots"}, 2, "--decision-log-sample"},
		{[]string{"serve", "--decision-log-mask", "email"}, 2, "--decision-log-mask: mask path \"email\""},
		{[]string{"rules", "import", "--nosuch"}, 2, "flag provided but not defined: -nosuch"},
		{[]string{"fly"}, 2, `unknown command "fly"`},
		{[]string{"impact", "--token", "x", "--protect", "bob", "f.yaml"}, 2, "USER:ACTION:TYPE"},
	}
	for _, tt := range tests {
		r := rk(t, "", tt.args...)
		if r.code != tt.code || !strings.Contains(r.errout, tt.want) || !strings.Contains(r.errout+r.out, "rulekeeper") {
			t.Fatalf("%v: want exit %d and %q, got %v", tt.args, tt.code, tt.want, r)
		}
	}
}

func TestValidateCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		code  int
		want  string
		stdin string
	}{
		{"testdata/good.yaml", 0, "testdata/good.yaml: 1 rules, valid", ""},
		{"testdata/one-rule.yaml", 0, "1 rules, valid", ""},
		{"testdata/bad.yaml", 1, `testdata/bad.yaml:5:60: rule "Sales reads Q apps": condition: unterminated string`, ""},
		{"testdata/missing.yaml", 1, "no such file", ""},
		{"-", 1, `standard input:1:1: rule #1: nme: unknown field "nme" — did you mean "name"?`, "nme: x\nresourceFilter: App_*\nactions: [read]\n"},
	}
	for _, tt := range tests {
		r := rk(t, tt.stdin, "validate", tt.file)
		if r.code != tt.code || !strings.Contains(r.out+r.errout, tt.want) {
			t.Fatalf("%s: want exit %d and %q, got %v", tt.file, tt.code, tt.want, r)
		}
		if strings.Contains(r.out+r.errout, "secrules.") || strings.Contains(r.out+r.errout, "in type") {
			t.Fatalf("a Go type in %v", r)
		}
	}
	r := rk(t, "", "validate", "--json", "testdata/bad.yaml")
	var v struct {
		Valid    bool
		Problems []struct{ Line, Column int }
	}
	if r.code != 1 || json.Unmarshal([]byte(r.out), &v) != nil || v.Valid || len(v.Problems) != 1 || v.Problems[0].Line != 5 {
		t.Fatalf("validate --json: %v", r)
	}
}

// The tools against a real server: export | import is an identity, import
// is an upsert with a dry run and an impact, check decides, impact guards
// protected access.
func TestRulesToolsAgainstAServer(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	srv, admin := "--server="+d.URL(), "--token="+d.Token("admin")

	exported := rk(t, "", "rules", "export", srv, admin)
	if exported.code != 0 || !strings.Contains(exported.out, "rules:") {
		t.Fatalf("export: %v", exported)
	}
	r := rk(t, exported.out, "rules", "import", srv, admin)
	if r.code != 0 || !strings.Contains(r.out, "0 created, 0 updated, 0 deleted, 4 unchanged") {
		t.Fatalf("import of the export: %v", r)
	}
	if again := rk(t, "", "rules", "export", srv, admin); again.out != exported.out {
		t.Fatalf("export | import is not an identity:\n%s\n---\n%s", exported.out, again.out)
	}

	// A dry run shows the change and its impact, with names, and writes nothing.
	r = rk(t, "", "rules", "import", srv, admin, "--dry-run", "testdata/one-rule.yaml")
	if r.code != 0 || !strings.Contains(r.out, "1 created") || !strings.Contains(r.out, `create "Sales reads Q apps"`) ||
		!strings.Contains(r.out, `+ alice may read app "Q2 draft" (hub) — rule "Sales reads Q apps"`) {
		t.Fatalf("dry run: %v", r)
	}
	if now := rk(t, "", "rules", "export", srv, admin); now.out != exported.out {
		t.Fatal("the dry run wrote")
	}
	draft := "--resource=app:" + d.Apps["Q2 draft"].ID // carol's personal app: the admin may not list it by name
	if r := rk(t, "", "check", srv, admin, "--subject", "alice", "--action", "read", draft); r.code != 1 || !strings.Contains(r.out, "deny: alice may not read") {
		t.Fatalf("check before the import: %v", r)
	}
	var res struct{ Created, Revision int }
	r = rk(t, "", "rules", "import", srv, admin, "--json", "testdata/one-rule.yaml")
	if r.code != 0 || json.Unmarshal([]byte(r.out), &res) != nil || res.Created != 1 || res.Revision == 0 {
		t.Fatalf("import --json: %v", r)
	}
	// The same file again: matched by name, unchanged.
	if r := rk(t, "", "rules", "import", srv, admin, "testdata/one-rule.yaml"); !strings.Contains(r.out, "0 created, 0 updated, 0 deleted, 1 unchanged") {
		t.Fatalf("second import: %v", r)
	}
	r = rk(t, "", "check", srv, admin, "--subject", "alice", "--action", "read", draft)
	if r.code != 0 || !strings.Contains(r.out, "allow: alice may read app") || !strings.Contains(r.out, "Sales reads Q apps") {
		t.Fatalf("check after the import: %v", r)
	}
	if r := rk(t, "", "check", srv, admin, "--subject", "bob", "--action", "read", "--resource", "app:"+d.Apps["Q4 report"].ID); r.code != 0 || !strings.Contains(r.out, "allow: bob may read app") {
		t.Fatalf("check by user name: %v", r)
	}
	if r := rk(t, "", "check", srv, admin, "--subject", "bob", "--action", "read", "--resource", "app:Q4 report"); r.code != 2 || !strings.Contains(r.errout, "otherwise give its id") {
		t.Fatalf("an app the admin cannot see, by name: %v", r)
	}
	r = rk(t, "", "check", srv, admin, "--json", "--subject", d.Users["bob"].ID, "--action", "delete", "--resource", "app:"+d.Apps["Q4 report"].ID)
	var dec struct{ Allow bool }
	if r.code != 1 || json.Unmarshal([]byte(r.out), &dec) != nil || dec.Allow {
		t.Fatalf("check --json of a denial: %v", r)
	}

	// Going back to the exported set would remove alice's access: impact
	// shows it, and fails when that access is protected.
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, []byte(exported.out), 0o644); err != nil {
		t.Fatal(err)
	}
	r = rk(t, "", "impact", srv, admin, "--replace", file)
	if r.code != 0 || !strings.Contains(r.out, `delete "Sales reads Q apps"`) || !strings.Contains(r.out, `- alice may read app "Q2 draft"`) {
		t.Fatalf("impact: %v", r)
	}
	r = rk(t, "", "impact", srv, admin, "--replace", "--protect", "*:read:theme", "--protect", "alice:read:app/Q2 draft", file)
	if r.code != 1 || !strings.Contains(r.errout, `protected access lost (alice:read:app/Q2 draft): alice may read app "Q2 draft"`) {
		t.Fatalf("impact --protect: %v", r)
	}
	if r := rk(t, "", "impact", srv, admin, "--replace", "--protect", "bob:read:app", file); r.code != 0 {
		t.Fatalf("impact with an unaffected protection: %v", r)
	}
	r = rk(t, "", "preview", srv, admin, "testdata/one-rule.yaml")
	if r.code != 0 || !strings.Contains(r.out, `rule "Sales reads Q apps": grants`) || !strings.Contains(r.out, `alice may read app "Q2 draft"`) {
		t.Fatalf("preview: %v", r)
	}
	// --replace with the export restores it exactly.
	if r := rk(t, "", "rules", "import", srv, admin, "--replace", file); r.code != 0 || !strings.Contains(r.out, "1 deleted") {
		t.Fatalf("import --replace: %v", r)
	}
	if now := rk(t, "", "rules", "export", srv, admin); now.out != exported.out {
		t.Fatalf("after --replace:\n%s", now.out)
	}
	// Errors of the server come back readable.
	if r := rk(t, "", "rules", "export", srv, "--token=nonsense"); r.code != 1 || !strings.Contains(r.errout, "the server answered 401") {
		t.Fatalf("bad token: %v", r)
	}

	// Rules on a type registered on the server: the tools check a file
	// against the server's types, so an export still imports back.
	if s := d.Call("admin", "POST", "/api/v1/types", map[string]any{"name": "ticket", "actions": []any{map[string]any{"name": "edit"}}}, nil); s != 201 {
		t.Fatalf("register a type: %d", s)
	}
	if s := d.Call("admin", "POST", "/api/v1/rules", map[string]any{"name": "Owners edit their tickets", "resourceFilter": "Ticket_*",
		"condition": "resource.owner = user", "actions": []string{"edit"}}, nil); s != 201 {
		t.Fatalf("a rule on the type: %d", s)
	}
	exported = rk(t, "", "rules", "export", srv, admin)
	if r := rk(t, exported.out, "rules", "import", srv, admin); r.code != 0 || !strings.Contains(r.out, "0 created, 0 updated, 0 deleted, 5 unchanged") {
		t.Fatalf("import of an export with a rule on an external type: %v", r)
	}
	if err := os.WriteFile(file, []byte(exported.out), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"impact", srv, admin, "--replace", "--protect", "*:*:*", file}, {"preview", srv, admin, file}, {"validate", srv, admin, file}} {
		if r := rk(t, "", args...); r.code != 0 || strings.Contains(r.out+r.errout, "unknown action") {
			t.Fatalf("%s of an export with a rule on an external type: %v", args[0], r)
		}
	}
	// A file with errors fails impact and preview (exit 1), with the problem
	// at its line and column, before anything is asked of the server.
	for _, c := range []string{"impact", "preview"} {
		if r := rk(t, "", c, srv, admin, "testdata/bad.yaml"); r.code != 1 || !strings.Contains(r.out, "testdata/bad.yaml:5:60:") {
			t.Fatalf("%s of a bad file: %v", c, r)
		}
	}
	// Offline only the built-in types are known: the rule's action is not.
	if r := rk(t, "", "validate", file); r.code != 1 || !strings.Contains(r.out, `actions: unknown action "edit"`) || !strings.Contains(r.errout, "1 error(s)") {
		t.Fatalf("validate offline: %v", r)
	}
}

func TestServeRefusesAnUnreachableMongoQuickly(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"serve", "--mongo-uri", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--oidc-issuer", "http://127.0.0.1:1", "--oidc-client-id", "x"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("err = %v", err)
	}
}

// The README's walk-through works as written, and again: every ```sh block
// not marked `<!-- readme-test: skip -->` runs, in order, in one bash with
// curl and jq, against a fresh dev-mode server, twice.
func TestREADMEWalkThrough(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs jq)", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	d := servicetest.Dev(t)
	tmp := t.TempDir()
	host := strings.TrimPrefix(d.URL(), "http://")
	script := "set -eo pipefail\n" + strings.NewReplacer(
		"localhost:8080", host, "bin/rulekeeper", binary, "/tmp/", tmp+"/",
	).Replace(readmeBlocks(string(readme)))
	for run := 1; run <= 2; run++ {
		cmd := exec.Command("bash", "-c", script)
		cmd.Env = append(os.Environ(), asCLI, "RULEKEEPER_SERVER="+d.URL(), "RULEKEEPER_TOKEN=")
		out, err := cmd.CombinedOutput()
		text := string(out)
		if err != nil {
			t.Fatalf("run %d of the README: %v\n%s", run, err, text)
		}
		for _, want := range []string{
			`{"allow":true,"grants":[{"kind":"table","id":"shared.app.open"`,
			`deny: bob may not delete app`,
			`"reason":"analyzer_license"`,
			`"next":""`,
			`"line":1,"column":45`,
			`1 created, 0 updated, 0 deleted, 0 unchanged`,
			`+ alice may read app "Q2 draft" (hub) — rule "Sales reads Q apps"`,
			`["alice","update","Q2 draft",true]`,
			`protected access lost (alice:read:app/Q2 draft)`,
			`bob read Q4 report: true Open an app (Can view)`,
			`(replace): 0 created, 0 updated, 1 deleted`,
			`/ticket-rules.yaml: 2 rules, valid`,
			`{"id":"T-17","version":`,
			`unknown action \"read\" for resource type \"ticket\"; it has close, delete, edit, view`,
			`{"externalId":"idp|zoe","active":true,"department":["Support"]}`,
			`["erin","analyzer_capacity"]`,
			`{"professional":{"consumed":3,"total":5},"analyzer":{"consumed":2,"total":20}}`,
		} {
			if !strings.Contains(text, want) {
				t.Fatalf("run %d of the README lacks %q:\n%s", run, want, text)
			}
		}
		for _, bad := range []string{"space_name_taken", "route_not_found", "not_found", "null", "bad_", "invalid_"} {
			if strings.Contains(text, bad) {
				t.Fatalf("run %d of the README says %q:\n%s", run, bad, text)
			}
		}
	}
}

// readmeBlocks joins the README's ```sh blocks, leaving out those after a
// `<!-- readme-test: skip -->` line.
func readmeBlocks(readme string) string {
	run, _ := readmeSplit(readme)
	return run
}

// readmeSplit answers the README's ```sh blocks to run, joined, and the
// skipped ones.
func readmeSplit(readme string) (run string, skipped []string) {
	var b strings.Builder
	lines := strings.Split(readme, "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] != "```sh" {
			continue
		}
		skip := i > 0 && strings.TrimSpace(lines[i-1]) == "<!-- readme-test: skip -->"
		var block strings.Builder
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			block.WriteString(lines[i] + "\n")
		}
		if skip {
			skipped = append(skipped, block.String())
		} else {
			b.WriteString(block.String())
		}
	}
	return b.String(), skipped
}

// Only the blocks that cannot run against the test's server are skipped:
// `make run` (it starts a server) and the decision log listing (it needs
// --decision-log=mongo). Every other command of the README is run by
// TestREADMEWalkThrough, twice.
func TestREADMESkipsOnlyWhatCannotRun(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	run, skipped := readmeSplit(string(readme))
	for _, b := range skipped {
		if !strings.HasPrefix(b, "make run") && !strings.Contains(b, "/api/v1/decisions?") {
			t.Errorf("a README block is skipped by TestREADMEWalkThrough; make it re-runnable instead:\n%s", b)
		}
	}
	for _, cmd := range []string{"rules export", "rules import", "--dry-run", "--replace", "validate", "check", "impact", "/api/v1/rules/preview",
		"/api/v1/audit", "/api/v1/licenses/key", "cursor=", "license sign"} {
		if !strings.Contains(run, cmd) {
			t.Errorf("the walk-through no longer runs %q", cmd)
		}
	}
}

// `make run` says it is compiling before the first (minutes long) build.
func TestMakeRunSaysItCompiles(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	out, err := exec.Command("make", "-n", "-C", "../..", "run").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	text := string(out)
	say, build := strings.Index(text, "compiling bin/rulekeeper"), strings.Index(text, " build ")
	if say < 0 || build < 0 || say > build {
		t.Fatalf("make run does not say it compiles before building:\n%s", text)
	}
}

// The README's "In production" section names only flags, files, values
// and variables that exist: a renamed flag or chart value fails here.
func TestInProductionNamesExist(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section, _, _ := strings.Cut(string(readme)[strings.Index(string(readme), "## In production"):][3:], "\n## ")
	flags := map[string]bool{"build-arg": true, "from-literal": true, "from-file": true, "data-binary": true, "replSet": true} // docker, kubectl, curl, mongod
	serveEnv := map[string]bool{}
	for _, c := range [][]string{{"serve"}, {"license", "keygen"}, {"license", "sign"}} {
		r := rk(t, "", append(c, "--help")...)
		for _, m := range regexp.MustCompile(`(?m)^  -([a-z][a-z-]*)`).FindAllStringSubmatch(r.out, -1) {
			flags[m[1]] = true
		}
		if c[0] == "serve" {
			for _, m := range regexp.MustCompile(`\$(RULEKEEPER_[A-Z_]+)`).FindAllStringSubmatch(r.out, -1) {
				serveEnv[m[1]] = true
			}
		}
	}
	for _, m := range regexp.MustCompile(`--([a-zA-Z][a-zA-Z-]*)`).FindAllStringSubmatch(section, -1) {
		if !flags[m[1]] {
			t.Errorf("In production names --%s, which no command has", m[1])
		}
	}
	for _, m := range regexp.MustCompile("`rulekeeper ([a-z]+(?: [a-z]+)?)").FindAllStringSubmatch(section, -1) {
		if _, ok := commands[m[1]]; !ok {
			if _, ok := commands[strings.Fields(m[1])[0]]; !ok {
				t.Errorf("In production names the command %q, which does not exist", m[1])
			}
		}
	}
	for _, path := range []string{"deploy/helm/rulekeeper", "deploy/rulekeeper.yaml", "deploy/helm/rulekeeper/values-production.yaml", "Dockerfile"} {
		if !strings.Contains(section, strings.TrimPrefix(path, "deploy/helm/rulekeeper/")) {
			t.Errorf("In production no longer names %s", path)
		}
		if _, err := os.Stat("../../" + path); err != nil {
			t.Errorf("In production names %s: %v", path, err)
		}
	}
	values, err := os.ReadFile("../../deploy/helm/rulekeeper/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^serviceMonitor:\n  enabled:`).Match(values) || !strings.Contains(section, "serviceMonitor.enabled") {
		t.Error("In production names serviceMonitor.enabled, which values.yaml lacks")
	}
	// Every variable the chart sets is one serve reads (the chart's own
	// test decodes the objects, but a misspelt variable is valid YAML).
	tpl, err := os.ReadFile("../../deploy/helm/rulekeeper/templates/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`RULEKEEPER_[A-Z_]+`).FindAllString(string(tpl), -1)
	if len(vars) < 5 || len(serveEnv) < 20 {
		t.Fatalf("chart variables %v, serve variables %d", vars, len(serveEnv))
	}
	for _, v := range vars {
		if !serveEnv[v] {
			t.Errorf("the chart sets %s, which serve does not read", v)
		}
	}
}
