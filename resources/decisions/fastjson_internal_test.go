package decisions

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
)

// checkBodies are the seeds of FuzzCheckBody and the cases of
// TestDecodeCheck: fast is whether decodeCheck takes the body.
var checkBodies = []struct {
	body string
	fast bool
}{
	{`{"subject":{"id":"u1"},"action":"read","resource":{"type":"app","id":"a1"},"context":{"environment":"hub"}}`, true},
	{" {\n\t\"action\" : \"create\" , \"resource\":{\"type\":\"app\",\"spaceId\":\"s1\",\"owner\":\"bob\",\"name\":\"x y\"},\"subject\":{\"id\":\"u\"}}\r\n", true},
	{`{"subject":{},"resource":{},"context":{}}`, true},
	{`{}`, true},
	{`{"action":""}`, true},
	// Not the usual shape: the general decoder decides (and words errors).
	{``, false},
	{`null`, false},
	{`{"subject":{"id":"u1"},"subject":{"name":"n"}}`, false},
	{`{"action":"read","action":"update"}`, false},
	{`{"resource":{"type":"app","type":"space"}}`, false},
	{`{"Action":"read"}`, false},
	{`{"subject":{"id":"u1","name":"n"}}`, false},
	{`{"resource":{"type":"app","properties":{"a":1}}}`, false},
	{`{"resource":{"type":"app","id":null}}`, false},
	{`{"resource":{"type":"app"}}x`, false},
	{`{"resource":{"type":"app"}}{}`, false},
	{`{"action":"re\"ad"}`, false},
	{`{"action":"r\u00e9ad"}`, false},
	{"{\"action\":\"ré\"}", false},
	{`{"action":1}`, false},
	{`{"action":"read",}`, false},
	{`{"action":"read"`, false},
	{`{"id":"u1"}`, false},
	{`{"subject":{"type":"app"}}`, false},
	{`{"resource":{"environment":"hub"}}`, false},
	{`{"unknown":"x"}`, false},
	{`{"":"x"}`, false},
	{`[]`, false},
}

func TestDecodeCheck(t *testing.T) {
	for _, tt := range checkBodies {
		var got checkRequest
		if fast := decodeCheck([]byte(tt.body), &got); fast != tt.fast {
			t.Errorf("%s: fast path %v, want %v", tt.body, fast, tt.fast)
			continue
		}
		if tt.fast {
			sameAsDecodeJSON(t, tt.body, got)
		}
	}
}

// sameAsDecodeJSON checks that apierror.DecodeJSON reads body without an
// error and into got.
func sameAsDecodeJSON(t *testing.T, body string, got checkRequest) {
	t.Helper()
	var want checkRequest
	if err := apierror.DecodeJSON([]byte(body), &want); err != nil {
		t.Fatalf("%q: the fast path took a body DecodeJSON refuses: %v", body, err)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("%q: fast path read %s, DecodeJSON %s", body, g, w)
	}
}

// FuzzCheckBody: whatever decodeCheck takes, DecodeJSON reads the same.
func FuzzCheckBody(f *testing.F) {
	for _, tt := range checkBodies {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got checkRequest
		if !decodeCheck(body, &got) {
			return
		}
		sameAsDecodeJSON(t, string(body), got)
	})
}

// The body's buffer is reused by Fiber: the decoded strings must not alias
// it, whether the body fits in the parts' text or not.
func TestDecodeCheckCopies(t *testing.T) {
	long := strings.Repeat("n", checkText)
	for _, name := range []string{"", long} {
		body := []byte(`{"subject":{"id":"u1"},"action":"read","resource":{"type":"app","id":"a1","name":"` + name + `"}}`)
		var got checkRequest
		if !decodeCheck(body, &got) {
			t.Fatal("not taken")
		}
		for i := range body {
			body[i] = 'x'
		}
		if got.Subject.ID != "u1" || got.Action != "read" || got.Resource.Type != "app" || got.Resource.ID != "a1" || got.Resource.Name != name {
			t.Fatalf("%d bytes: strings alias the body: %+v %+v", len(body), got.Subject, got.Resource)
		}
	}
}

func TestAppendDecision(t *testing.T) {
	for _, d := range appendCases {
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendDecision(nil, &d); string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

// TestAppendZAnswer: the AuthZEN answer written by hand is the bytes
// encoding/json writes for zAnswer (allowed, refused by a gate, with no
// grant; nil and empty lists; strings to escape).
func TestAppendZAnswer(t *testing.T) {
	for _, d := range appendCases {
		want, err := json.Marshal(zAnswer(d))
		if err != nil {
			t.Fatal(err)
		}
		if got := appendZAnswer(nil, &d); string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

var appendCases = []authz.Decision{
	{},
	{Allow: true, Grants: []authz.Grant{{Kind: "role", ID: "r1", Name: "Admins"}, {Kind: "rule", ID: "x"}}, Denies: []authz.Deny{}, Revision: 42},
	{Grants: []authz.Grant{}, Denies: []authz.Deny{{Kind: "gate", Reason: "no license"}}, Revision: -1},
	{Allow: true, Grants: []authz.Grant{{Kind: "rule", ID: "<&>\"\\\n\r\t\x00\x1f\x7f", Name: "é\u2028\u2029\xff\xfe😀 end"}}},
	{Denies: []authz.Deny{{Kind: "gate", Reason: "<\"x\">\u2028"}, {Kind: "gate", Reason: "user_disabled"}}, Revision: 7},
	{Allow: true, Grants: []authz.Grant{}, Denies: []authz.Deny{{Kind: "gate", Reason: "ignored"}}, Revision: 3},
	{Grants: []authz.Grant{{Kind: "table", ID: "shared.app.open"}}, Denies: []authz.Deny{}},
}

// evaluationBodies are AuthZEN evaluation bodies: the usual ones, which
// decodeZEvaluation takes, and others it leaves to encoding/json.
var evaluationBodies = []struct {
	body  string
	taken bool
}{
	{`{"subject":{"type":"user","id":"u1"},"action":{"name":"read"},"resource":{"type":"app","id":"a1"}}`, true},
	{` { "resource" : {"id":"a1","type":"app"} , "subject":{"id":"u1","type":"user"},"action":{"name":"read"},"context":{"environment":"hub"}} ` + "\n", true},
	{`{"subject":{},"action":{"name":"read"}}`, true},
	{`{}`, true},
	{`{"subject":{"type":"user","id":"u1"},"subject":{"type":"user","id":"u2"}}`, false},
	{`{"subject":{"type":"user","id":"u1","id":"u2"}}`, false},
	{`{"Subject":{"type":"user","id":"u1"}}`, false},
	{`{"subject":{"type":"user","id":"u1","properties":{"x":1}}}`, false},
	{`{"subject":null}`, false},
	{`{"action":"read"}`, false},
	{`{"subject":{"type":"user","id":"\u00751"}}`, false},
	{`{"subject":{"type":"user","id":"ü"}}`, false},
	{`{"subject":{"type":"user","id":1}}`, false},
	{`{"subject":{"type":"user","id":"u1"}}x`, false},
	{`{"subject":{"type":"user","id":"u1"},}`, false},
	{`{"subject":{"type":"user","id":"u1"}`, false},
	{`[]`, false},
	{``, false},
}

// TestDecodeZEvaluation: the usual bodies are taken and decoded as
// encoding/json decodes them; the others are left to it.
func TestDecodeZEvaluation(t *testing.T) {
	for _, tt := range evaluationBodies {
		var got zEvaluation
		if taken := decodeZEvaluation([]byte(tt.body), &got); taken != tt.taken {
			t.Fatalf("%s: taken %v, want %v", tt.body, taken, tt.taken)
		} else if taken {
			sameAsDecodeLoose(t, tt.body, got)
		}
	}
}

func FuzzEvaluationBody(f *testing.F) {
	for _, tt := range evaluationBodies {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got zEvaluation
		if !decodeZEvaluation(body, &got) {
			return
		}
		sameAsDecodeLoose(t, string(body), got)
	})
}

// sameAsDecodeLoose fails t unless encoding/json decodes body to got.
func sameAsDecodeLoose(t *testing.T, body string, got zEvaluation) {
	t.Helper()
	var want zEvaluation
	if err := decodeLoose([]byte(body), &want); err != nil {
		t.Fatalf("%q: taken, but encoding/json refuses it: %v", body, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: got %+v, encoding/json %+v", body, got, want)
	}
}

// The body's buffer is reused by Fiber: the decoded strings must not alias it.
func TestDecodeZEvaluationCopies(t *testing.T) {
	body := []byte(`{"subject":{"type":"user","id":"u1"},"action":{"name":"read"},"resource":{"type":"app","id":"a1"}}`)
	var got zEvaluation
	if !decodeZEvaluation(body, &got) {
		t.Fatal("not taken")
	}
	for i := range body {
		body[i] = 'x'
	}
	if got.Subject.ID != "u1" || got.Action.Name != "read" || got.Resource.Type != "app" || got.Resource.ID != "a1" {
		t.Fatalf("strings alias the body: %+v %+v %+v", got.Subject, got.Action, got.Resource)
	}
}
