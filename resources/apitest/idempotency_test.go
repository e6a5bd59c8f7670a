package apitest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/resources/idempotency"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

type idempotencyAnswer struct {
	status   int
	id, code string
	replayed bool
}

func post(t *testing.T, d *servicetest.Tenant, key string, body map[string]any) idempotencyAnswer {
	t.Helper()
	res := d.Do("alice", "POST", "/api/v1/apps", body, map[string]string{idempotency.Header: key})
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var v struct {
		ID   string `json:"id"`
		Code string `json:"code"`
	}
	_ = json.Unmarshal(raw, &v)
	return idempotencyAnswer{status: res.StatusCode, id: v.ID, code: v.Code, replayed: res.Header.Get("Idempotent-Replayed") == "true"}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	body := map[string]any{"name": "Idempotent app"}
	first := post(t, d, "k-1", body)
	if first.status != http.StatusCreated || first.id == "" || first.replayed {
		t.Fatalf("first create: %+v", first)
	}
	// Retried, also concurrently: the first answer, nothing created again.
	var wg sync.WaitGroup
	again := make([]idempotencyAnswer, 4)
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

// TestEveryCreateHonoursTheKey: each POST that creates replays its first
// answer for the same key and body and refuses another body (422); and when
// the first attempt was applied but its answer lost (the replica stopped
// before recording it, or answered 5xx), the retry answers 201 with what the
// first attempt created — one document, never two.
func TestEveryCreateHonoursTheKey(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	ctx := context.Background()
	sandbox := d.Apps["Alice's sandbox"].ID
	var sp struct {
		ID string `json:"id"`
	}
	if st := d.Call("alice", "POST", "/api/v1/spaces", map[string]any{"name": "Idem members", "type": "shared"}, &sp); st != 201 {
		t.Fatalf("space: %d", st)
	}
	for _, o := range []map[string]any{{"type": "sheet", "name": "idem sheet"}, {"type": "masteritem", "name": "idem measure"}} {
		if st := d.Call("alice", "POST", "/api/v1/apps/"+sandbox+"/objects", o, nil); st != 201 {
			t.Fatalf("object: %d", st)
		}
	}
	db := d.Svc.Store.Database()
	tests := []struct {
		name, user, path string
		body, other      func(i int) map[string]any
		// count is how many documents the create made (collection and
		// filter), or nil for creates that change a document.
		collection string
		filter     func(i int) bson.D
		// id of the answer: what a retry must answer again.
		id string
	}{
		{"app", "alice", "/api/v1/apps",
			func(i int) map[string]any { return map[string]any{"name": fmt.Sprintf("idem app %d", i)} },
			func(i int) map[string]any { return map[string]any{"name": fmt.Sprintf("other app %d", i)} },
			"apps", func(i int) bson.D { return bson.D{{Key: "name", Value: fmt.Sprintf("idem app %d", i)}} }, "id"},
		{"app duplicate", "alice", "/api/v1/apps/" + sandbox + "/duplicate",
			func(i int) map[string]any { return map[string]any{"name": fmt.Sprintf("idem copy %d", i)} },
			func(i int) map[string]any { return map[string]any{"name": fmt.Sprintf("other copy %d", i)} },
			"apps", func(i int) bson.D { return bson.D{{Key: "name", Value: fmt.Sprintf("idem copy %d", i)}} }, "id"},
		{"space", "alice", "/api/v1/spaces",
			func(i int) map[string]any {
				return map[string]any{"name": fmt.Sprintf("idem space %d", i), "type": "shared"}
			},
			func(i int) map[string]any {
				return map[string]any{"name": fmt.Sprintf("other space %d", i), "type": "shared"}
			},
			"spaces", func(i int) bson.D { return bson.D{{Key: "name", Value: fmt.Sprintf("idem space %d", i)}} }, "id"},
		{"rule", "admin", "/api/v1/rules",
			func(i int) map[string]any {
				return map[string]any{"name": fmt.Sprintf("idem rule %d", i), "resourceFilter": "App_*", "condition": `user.name = "x"`, "actions": []string{"read"}, "context": "hub"}
			},
			func(i int) map[string]any {
				return map[string]any{"name": fmt.Sprintf("other rule %d", i), "resourceFilter": "App_*", "condition": `user.name = "x"`, "actions": []string{"read"}, "context": "hub"}
			},
			"rules", func(i int) bson.D { return bson.D{{Key: "name", Value: fmt.Sprintf("idem rule %d", i)}} }, "id"},
		{"API key", "alice", "/api/v1/api-keys",
			func(i int) map[string]any {
				return map[string]any{"description": fmt.Sprintf("idem key %d", i), "expiry": "24h"}
			},
			func(i int) map[string]any {
				return map[string]any{"description": fmt.Sprintf("other key %d", i), "expiry": "24h"}
			},
			"apikeys", func(i int) bson.D { return bson.D{{Key: "description", Value: fmt.Sprintf("idem key %d", i)}} }, "id"},
		{"schedule", "alice", "/api/v1/schedules",
			func(i int) map[string]any {
				return map[string]any{"appId": sandbox, "interval": "daily", "start": fmt.Sprintf("2026-01-01T02:%02d:00Z", i)}
			},
			func(i int) map[string]any {
				return map[string]any{"appId": sandbox, "interval": "weekly", "start": fmt.Sprintf("2026-01-01T02:%02d:00Z", i)}
			},
			"schedules", func(i int) bson.D {
				return bson.D{{Key: "start", Value: time.Date(2026, 1, 1, 2, i, 0, 0, time.UTC)}}
			}, "id"},
		{"web integration", "admin", "/api/v1/web-integrations",
			func(i int) map[string]any {
				return map[string]any{"name": fmt.Sprintf("idem web %d", i), "origins": []string{fmt.Sprintf("https://idem%d.example.com", i)}}
			},
			func(i int) map[string]any {
				return map[string]any{"name": fmt.Sprintf("other web %d", i), "origins": []string{"https://other.example.com"}}
			},
			"webintegrations", func(i int) bson.D { return bson.D{{Key: "name", Value: fmt.Sprintf("idem web %d", i)}} }, "id"},
		{"member", "alice", "/api/v1/spaces/" + sp.ID + "/members",
			func(i int) map[string]any {
				return map[string]any{"type": "user", "id": d.Users[[]string{"bob", "carol", "dave"}[i]].ID, "roles": []string{"canview"}}
			},
			func(i int) map[string]any {
				return map[string]any{"type": "user", "id": d.Users["erin"].ID, "roles": []string{"canview"}}
			},
			"", nil, ""},
		{"license assignment", "admin", "/api/v1/licenses/assignments",
			func(i int) map[string]any {
				return map[string]any{"userId": d.Users[[]string{"grace", "dave"}[i]].ID, "type": []string{"analyzer", "professional"}[i]}
			},
			func(i int) map[string]any {
				return map[string]any{"userId": d.Users[[]string{"grace", "dave"}[i]].ID, "type": "analyzer_capacity"}
			},
			"", nil, "userId"},
	}
	idem := db.Collection("idempotency")
	// Events of the creates (not the sessions the calls may begin).
	events := func() int64 {
		n, err := db.Collection("events").CountDocuments(ctx, bson.D{{Key: "type", Value: bson.D{{Key: "$ne", Value: "user-session.begin"}}}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send := func(key string, body map[string]any) (int, map[string]any, bool) {
				res := d.Do(tt.user, "POST", tt.path, body, map[string]string{idempotency.Header: key})
				defer res.Body.Close()
				raw, _ := io.ReadAll(res.Body)
				var v map[string]any
				_ = json.Unmarshal(raw, &v)
				return res.StatusCode, v, res.Header.Get("Idempotent-Replayed") == "true"
			}
			answerID := func(v map[string]any) any {
				if tt.id == "" {
					return v["member"]
				}
				return v[tt.id]
			}
			for i, lost := range []bool{false, true} {
				key := fmt.Sprintf("%s-%d-%d", tt.name, i, time.Now().UnixNano())
				st, first, _ := send(key, tt.body(i))
				if st != http.StatusCreated {
					t.Fatalf("create: %d %v", st, first)
				}
				if lost {
					// The first attempt's answer is lost: its record is
					// left as a replica that stopped leaves it.
					if _, err := idem.UpdateMany(ctx, bson.D{{Key: "bodyHash", Value: bson.D{{Key: "$exists", Value: true}}}, {Key: "done", Value: true}},
						bson.D{{Key: "$set", Value: bson.D{{Key: "done", Value: false}, {Key: "leaseUntil", Value: time.Now().Add(-time.Second)}}}}); err != nil {
						t.Fatal(err)
					}
				}
				before := events()
				st, again, replayed := send(key, tt.body(i))
				if n := events() - before; n != 0 {
					t.Fatalf("the retry (answer lost: %v) recorded %d more events", lost, n)
				}
				if tt.path == "/api/v1/api-keys" {
					// The secret is shown once: a retry names the key and
					// withholds it, whether replayed or found by its id.
					details, _ := again["details"].(map[string]any)
					if first["secret"] == "" || first["secret"] == nil || st != http.StatusConflict || again["code"] != "idempotent_replay_secret_withheld" ||
						details["keyId"] != first["id"] || again["secret"] != nil || replayed == lost {
						t.Fatalf("retry (answer lost: %v): %d %v replayed %v, want 409 withholding the secret of %v", lost, st, again, replayed, first["id"])
					}
				} else if st != http.StatusCreated || fmt.Sprint(answerID(again)) != fmt.Sprint(answerID(first)) || replayed == lost {
					t.Fatalf("retry (answer lost: %v): %d %v replayed %v, want 201 %v", lost, st, again, replayed, answerID(first))
				}
				if tt.collection != "" {
					if n, err := db.Collection(tt.collection).CountDocuments(ctx, tt.filter(i)); err != nil || n != 1 {
						t.Fatalf("%d documents (%v) after the retry, want 1", n, err)
					}
				}
				if strings.HasSuffix(tt.path, "/duplicate") {
					// The copy's content is copied once, retried or not.
					src, err := db.Collection("objects").CountDocuments(ctx, bson.D{{Key: "appId", Value: sandbox}})
					if err != nil {
						t.Fatal(err)
					}
					n, err := db.Collection("objects").CountDocuments(ctx, bson.D{{Key: "appId", Value: first["id"]}})
					if err != nil || n == 0 || n != src {
						t.Fatalf("the copy has %d objects (%v) after the retry, the source %d", n, err, src)
					}
				}
				if secret, _ := first["secret"].(string); secret != "" {
					// The secret is not kept with the key's record.
					cur, err := idem.Find(ctx, bson.D{})
					if err != nil {
						t.Fatal(err)
					}
					var recs []bson.Raw
					if err := cur.All(ctx, &recs); err != nil {
						t.Fatal(err)
					}
					for _, r := range recs {
						if strings.Contains(r.String(), secret) {
							t.Fatalf("an Idempotency-Key record holds the API key's secret: %s", r)
						}
					}
				}
				if st, v, _ := send(key, tt.other(i)); st != http.StatusUnprocessableEntity {
					t.Fatalf("same key, other body: %d %v, want 422", st, v)
				}
			}
		})
	}
}
