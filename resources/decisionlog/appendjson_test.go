package decisionlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
)

// fill sets every field of the struct v points to (recursively): strings to
// their field name (with characters JSON escapes), bools to true, lists
// and maps to two items, pointers to a filled value.
func fill(v reflect.Value, name string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(name + " \"q\"\\\n\t\u2028é\x01<&>")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(42)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), fmt.Sprintf("%s%d", name, i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range []string{"b-" + name, "a-" + name, "\xff"} {
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, k)
			m.SetMapIndex(reflect.ValueOf(k), e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), name)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), v.Type().Field(i).Name)
			}
		}
	default:
		panic(fmt.Sprintf("fill: %s has kind %s: teach fill and appendjson.go about it", name, v.Kind()))
	}
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	full := &authz.LoggedDecision{}
	fill(reflect.ValueOf(&full.Input).Elem(), "input")
	fill(reflect.ValueOf(&full.Decision).Elem(), "decision")
	full.Input.Resource.SpaceID = "b-Spaces" // a space the subject has roles in
	failed := decision()
	failed.Err = fmt.Errorf("boom")
	empty := &authz.LoggedDecision{}
	at := time.Date(2026, 12, 4, 22, 0, 0, 120_000_000, time.UTC)
	for name, r := range map[string]*record{
		"full":    {ld: withID(full, "id-1"), at: at, req: &request{method: "GET", path: "/p", id: "r", remote: "1.2.3.4", caller: "c"}},
		"demo":    {ld: withID(decision(), "id-2"), at: at},
		"failed":  {ld: withID(failed, "id-3"), at: at.Add(time.Nanosecond)},
		"nothing": {ld: withID(empty, ""), at: time.Time{}},
	} {
		t.Run(name, func(t *testing.T) {
			l := &Logger{cfg: Config{Labels: Labels{ID: "h/1", Version: "v\"1"}}}
			enc, err := l.encode(r)
			if err != nil {
				t.Fatal(err)
			}
			// The same entry through encoding/json.
			ld := r.ld
			in := policyInput{Subject: ld.Input.Subject, Action: ld.Input.Action, Resource: ld.Input.Resource}
			in.Context.Environment = ld.Input.Environment
			in.Subject.Spaces = relevantSpaces(&ld.Input)
			var e Entry
			if err := json.Unmarshal(enc.Line, &e); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, enc.Line)
			}
			e.Input = &in
			var buf bytes.Buffer
			je := json.NewEncoder(&buf)
			je.SetEscapeHTML(false) // what the stdout log and the API answer as they are
			if err := je.Encode(&e); err != nil {
				t.Fatal(err)
			}
			if want := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); string(want) != string(enc.Line) {
				t.Errorf("appended:\n%s\nencoding/json:\n%s", enc.Line, want)
			}
		})
	}
}
