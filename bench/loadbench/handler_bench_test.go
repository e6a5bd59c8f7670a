package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

// BenchmarkCheckHandler is one POST /authz/check by id over a keep-alive
// connection, answered from the caches (the demo tenant, the tenant
// admin's API key): what one request of the load bench costs the process,
// client included. Run with -memprofile / -cpuprofile to see where the
// server's allocations go.
func BenchmarkCheckHandler(b *testing.B) {
	d := servicetest.Dev(b)
	benchCheck(b, d)
}

// BenchmarkCheckHandlerLogged is BenchmarkCheckHandler with the decision
// log on (stdout, to a file): with -cpuprofile, where the log's cost goes.
func BenchmarkCheckHandlerLogged(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "decisions.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	d := servicetest.DevWith(b, func(c *service.Config) { c.DecisionLog = "stdout"; c.DecisionLogOut = f })
	benchCheck(b, d)
}

func benchCheck(b *testing.B, d *servicetest.Tenant) {
	var key struct {
		Secret string `json:"secret"`
	}
	if s := d.Call("admin", "POST", "/api/v1/api-keys", map[string]string{"description": "bench"}, &key); s != http.StatusCreated {
		b.Fatalf("api key: %d", s)
	}
	var bodies [][]byte
	for _, u := range d.Users {
		for _, a := range d.Apps {
			body, _ := json.Marshal(map[string]any{
				"subject": map[string]string{"id": u.ID}, "action": "read",
				"resource": map[string]string{"type": "app", "id": a.ID}, "context": map[string]string{"environment": "hub"},
			})
			bodies = append(bodies, body)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	url := d.URL() + "/authz/check"
	do := func(body []byte) {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key.Secret)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
	for _, body := range bodies {
		do(body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		do(bodies[i%len(bodies)])
	}
}
