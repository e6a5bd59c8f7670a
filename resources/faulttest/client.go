package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// client calls one replica with one credential (a bearer token or an API
// key, both sent as Bearer).
type client struct {
	base, cred string
	http       *http.Client
}

func newClient(base, cred string) *client {
	return &client{base: base, cred: cred, http: &http.Client{Timeout: 30 * time.Second}}
}

// result is one answer: status, body, and how long it took.
type result struct {
	status  int
	body    []byte
	took    time.Duration
	headers http.Header
	err     error
}

func (c *client) do(ctx context.Context, method, path string, body any, headers map[string]string) result {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.cred)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	res, err := c.http.Do(req)
	if err != nil {
		return result{err: err, took: time.Since(start)}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return result{status: res.StatusCode, body: b, took: time.Since(start), headers: res.Header}
}

// must calls and decodes a 2xx answer into out.
func (c *client) must(t testing.TB, method, path string, body, out any) {
	t.Helper()
	r := c.do(context.Background(), method, path, body, nil)
	if r.err != nil || r.status/100 != 2 {
		t.Fatalf("%s %s: %d %v %s", method, path, r.status, r.err, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// check asks whether subject may do action on a resource; allow is only
// true for a 200 whose decision allows.
func (c *client) check(ctx context.Context, subject, action, typ, id string) (allow bool, r result) {
	r = c.do(ctx, "POST", "/authz/check", map[string]any{
		"subject": map[string]any{"id": subject}, "action": action,
		"resource": map[string]any{"type": typ, "id": id},
	}, nil)
	if r.err != nil || r.status != 200 {
		return false, r
	}
	var d struct {
		Allow bool `json:"allow"`
	}
	if err := json.Unmarshal(r.body, &d); err != nil {
		r.err = fmt.Errorf("decode decision: %w", err)
		return false, r
	}
	return d.Allow, r
}
