package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/resources/secrules"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// validate checks a rule file offline with the same diagnostics as the API;
// errors exit 1.
func validate(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return exitError{2, errors.New("usage: rulekeeper validate FILE.yaml")}
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	f, err := secrules.ParseFile(data)
	if err != nil {
		return exitError{1, err}
	}
	diags := f.Validate(rules.DefaultVocabulary())
	for _, d := range diags {
		fmt.Fprintf(stdout, "%s: %s\n", args[0], d)
	}
	if rules.HasErrors(diags) {
		return exitError{1, fmt.Errorf("%s: %d problem(s)", args[0], len(diags))}
	}
	fmt.Fprintf(stdout, "%s: %d rules, valid\n", args[0], len(f.Rules))
	return nil
}

// rulesCmd exports or imports the rule set of a running server as YAML.
func rulesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "export" && args[0] != "import") {
		return exitError{2, errors.New("usage: rulekeeper rules export|import --server URL --token T [FILE]")}
	}
	var server, token string
	fs := newFlags("rules "+args[0], stderr)
	fs.str(&server, "server", "http://127.0.0.1:8080", "base URL of rulekeeper")
	fs.str(&token, "token", "", "bearer token or API key of a tenant admin")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	call := func(method, path string, body []byte) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(server, "/")+path, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			return nil, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, out)
		}
		return out, nil
	}
	if args[0] == "import" {
		in := io.Reader(os.Stdin)
		if fs.NArg() == 1 {
			fh, err := os.Open(fs.Arg(0))
			if err != nil {
				return err
			}
			defer fh.Close()
			in = fh
		}
		data, err := io.ReadAll(in)
		if err != nil {
			return err
		}
		out, err := call("POST", "/api/v1/rules/import", data)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(out))
		return nil
	}
	var f secrules.File
	cursor := ""
	for {
		out, err := call("GET", "/api/v1/rules?limit=1000&cursor="+cursor, nil)
		if err != nil {
			return err
		}
		var page struct {
			Items []store.Rule `json:"items"`
			Next  string       `json:"next"`
		}
		if err := json.Unmarshal(out, &page); err != nil {
			return err
		}
		f.Rules = append(f.Rules, page.Items...)
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	y, err := f.Marshal()
	if err != nil {
		return err
	}
	_, err = stdout.Write(y)
	return err
}
