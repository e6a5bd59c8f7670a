package idempotency_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/idempotency"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type answer struct {
	status   int
	id, code string
	replayed bool
}

func post(t *testing.T, d *servicetest.Tenant, key string, body map[string]any) answer {
	t.Helper()
	res := d.Do("alice", "POST", "/api/v1/apps", body, map[string]string{idempotency.Header: key})
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var v struct {
		ID   string `json:"id"`
		Code string `json:"code"`
	}
	_ = json.Unmarshal(raw, &v)
	return answer{status: res.StatusCode, id: v.ID, code: v.Code, replayed: res.Header.Get("Idempotent-Replayed") == "true"}
}

func TestIdempotencyKey(t *testing.T) {
	d := servicetest.Dev(t)
	body := map[string]any{"name": "Idempotent app"}
	first := post(t, d, "k-1", body)
	if first.status != http.StatusCreated || first.id == "" || first.replayed {
		t.Fatalf("first create: %+v", first)
	}
	// Retried, also concurrently: the first answer, nothing created again.
	var wg sync.WaitGroup
	again := make([]answer, 4)
	for i := range again {
		wg.Go(func() { again[i] = post(t, d, "k-1", body) })
	}
	wg.Wait()
	for _, a := range again {
		if a.status != http.StatusCreated || a.id != first.id || !a.replayed {
			t.Fatalf("retry: %+v, want the first answer %+v replayed", a, first)
		}
	}
	// Another body with the key: 422.
	if a := post(t, d, "k-1", map[string]any{"name": "Other"}); a.status != http.StatusUnprocessableEntity || a.code != "idempotency_key_reused" {
		t.Fatalf("other body: %+v", a)
	}
	// Racing first requests with a new key: exactly one creates.
	created := map[string]bool{}
	var mu sync.Mutex
	for range 4 {
		wg.Go(func() {
			a := post(t, d, "k-2", map[string]any{"name": "Raced app"})
			mu.Lock()
			defer mu.Unlock()
			switch a.status {
			case http.StatusCreated:
				created[a.id] = true
			case http.StatusConflict: // the first one still runs
			default:
				t.Errorf("raced create: %+v", a)
			}
		})
	}
	wg.Wait()
	if len(created) != 1 {
		t.Fatalf("racing creates with one key made %d apps, want 1", len(created))
	}
	// Bad keys are refused.
	if a := post(t, d, strings.Repeat("k", idempotency.MaxKeyLength+1), body); a.status != http.StatusBadRequest {
		t.Fatalf("too long a key: %+v", a)
	}
}
