package pushdown_test

import (
	"regexp"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/pushdown"
)

func TestTranslate(t *testing.T) {
	apps, spaces, objects := pushdown.AppFields(), pushdown.SpaceFields(), pushdown.ObjectFields()
	ext := pushdown.BundleFields("extension")
	for _, tc := range []struct {
		name   string
		f      *authz.Filter
		fields pushdown.Fields
		want   string
		exact  bool
	}{
		{"equality", authz.Eq("owner", "u1"), apps, `{"ownerId":"u1"}`, true},
		{"in", authz.Eq("spaceId", "s1", "s2"), apps, `{"spaceId":{"$in":["s1","s2"]}}`, true},
		{"empty string also matches a missing field", authz.Eq("spaceId", ""), apps,
			`{"$or":[{"spaceId":""},{"spaceId":{"$exists":false}},{"spaceId":null}]}`, true},
		{"fold", authz.EqFold("name", "Q.x", "q.X"), apps, `{"name":{"$regex":"^Q\\.x\\z","$options":"i"}}`, true},
		{"fold without letters is equality", authz.EqFold("id", "123"), apps, `{"_id":"123"}`, true},
		{"like", authz.Regex("name", "^(?s:q.*)$", true), apps, `{"name":{"$regex":"^(?s:q.*)$","$options":"i"}}`, true},
		{"not", authz.Not(authz.Eq("attributes.dept", "Sales")), apps, `{"$nor":[{"attributes.dept":"Sales"}]}`, true},
		{"bool true", authz.Eq("sectionAccess", "true"), apps, `{"sectionAccess":true}`, true},
		{"bool false is not true", authz.Eq("sectionAccess", "false"), apps, `{"sectionAccess":{"$ne":true}}`, true},
		{"bool other", authz.Eq("sectionAccess", "yes"), apps, `{"_id":{"$in":[]}}`, true},
		{"tags hide attributes.tags", authz.Eq("attributes.tags", "x"), apps,
			`{"$or":[{"tags":"x"},{"$and":[{"tags.0":{"$exists":false}},{"attributes.tags":"x"}]}]}`, true},
		{"opaque is true where positive", authz.And(authz.Eq("owner", "u1"), authz.Opaque("x")), apps, `{"ownerId":"u1"}`, false},
		{"unmappable is false under not", authz.Not(authz.Or(authz.Eq("owner", "u1"), authz.Eq("spaceType", "shared"))), apps,
			`{"$nor":[{"ownerId":"u1"}]}`, false},
		{"unmappable under not and", authz.Not(authz.And(authz.Eq("owner", "u1"), authz.Eq("spaceType", "shared"))), apps, `{}`, false},
		{"or of everything", authz.Or(authz.Eq("owner", "u1"), authz.Opaque("x")), apps, `{}`, false},
		{"and, or", authz.And(authz.Eq("owner", "u1"), authz.Or(authz.Eq("spaceId", "s1"), authz.Regex("name", "^(?s:a.*)$", false))), apps,
			`{"$and":[{"ownerId":"u1"},{"$or":[{"spaceId":"s1"},{"name":{"$regex":"\\Aa(?s:.)*\\z"}}]}]}`, true},
		{"matches left to Go is true where positive", authz.And(authz.Eq("owner", "u1"), authz.Regex("name", `^(?:\bQ)$`, false)), apps, `{"ownerId":"u1"}`, false},
		{"matches on a constant field is decided here", authz.Regex("type", `^(?:\bapp)$`, false), apps, `{}`, true},
		{"everything", authz.Everything(), apps, `{}`, true},
		{"nothing", authz.Nothing(), apps, `{"_id":{"$in":[]}}`, true},
		{"constant type", authz.Eq("type", "app"), apps, `{}`, true},
		{"other type", authz.Eq("type", "space"), apps, `{"_id":{"$in":[]}}`, true},
		{"no related app", authz.Eq("app.id", "a1"), apps, `{"_id":{"$in":[]}}`, true},
		{"dotted attribute reaches nothing", authz.Eq("attributes.a.b", "x"), apps, `{"_id":{"$in":[]}}`, true},
		{"space is its own space", authz.Eq("space.id", "s1"), spaces, `{"_id":"s1"}`, true},
		{"space type", authz.Eq("spaceType", "managed"), spaces, `{"type":"managed"}`, true},
		{"bundle owner", authz.Eq("owner", "u1"), ext, `{"createdBy":"u1"}`, true},
		{"bundle attribute", authz.Eq("attributes.dept", "x"), ext, `{"_id":{"$in":[]}}`, true},
		{"object app", authz.And(authz.Eq("app.id", "a1"), authz.Eq("public", "true")), objects,
			`{"$and":[{"appId":"a1"},{"public":true}]}`, true},
		{"object space is elsewhere", authz.Eq("spaceId", "s1"), objects, `{}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, exact, err := pushdown.Translate(tc.f, tc.fields)
			if err != nil {
				t.Fatal(err)
			}
			js, err := bson.MarshalExtJSON(got, false, false)
			if err != nil {
				t.Fatal(err)
			}
			if string(js) != tc.want || exact != tc.exact {
				t.Errorf("%s\n got %s exact %v\nwant %s exact %v", tc.f, js, exact, tc.want, tc.exact)
			}
		})
	}
}

func TestTranslateErrors(t *testing.T) {
	for _, f := range []*authz.Filter{
		nil,
		authz.Regex("name", "(", false),
		{Op: authz.FilterRegex, Field: "name"},
		{Op: authz.FilterNot},
		{Op: 99},
	} {
		if _, _, err := pushdown.Translate(f, pushdown.AppFields()); err == nil {
			t.Errorf("%v: no error", f)
		}
	}
}

// TestMongoRegex: which `matches` patterns (as the planner anchors them)
// the database is given, and how; the others are evaluated in Go.
func TestMongoRegex(t *testing.T) {
	for _, tc := range []struct{ pattern, want string }{
		{`^(?:^zzz)$`, `\A\Azzz\z`},
		{`^(?:Q.*)$`, `\AQ[^\n]*\z`},
		{`^(?:a|b|cd)$`, `\A(?:[a-b]|cd)\z`},
		{`^(?:[A-Z][a-z0-9_]+)$`, `\A[A-Z][0-9\x{5f}a-z]+\z`},
		{`^(?:a.b)$`, `\Aa[^\n]b\z`},
		{`^(?:\.\*\$)$`, `\A\x{2e}\x{2a}\x{24}\z`},
		{`^(?:(?i)k)$`, `\A[Kk\x{212a}]\z`},
		{`^(?:(?s).{2,5})$`, `\A(?s:.){2,5}\z`},
		{`^(?:x{3,})$`, `\Ax{3,}\z`},
		{`^(?:(ab)+?)$`, `\A(?:ab)+\z`},
		{`^(?:[^a])$`, `\A[\x{0}-\x{60}b-\x{10ffff}]\z`},
		{`^(?:ü)$`, `\A\x{fc}\z`},
		{`^(?:\d\s)$`, `\A[0-9][\x{9}-\x{a}\x{c}-\x{d}\x{20}]\z`},
		{`^(?:)$`, `\A\z`},
		// Left to Go.
		{`^(?:\bQ)$`, ""},                // word boundary
		{`^(?:\BQ)$`, ""},                // not a word boundary
		{`^(?:(?m)^Q$)$`, ""},            // line anchors
		{`^(?:[^\x00-\x{10FFFF}])$`, ""}, // empty class
		{`^(?:\pL)$`, ""},                // too long once written out
		{`(`, ""},                        // not a pattern
	} {
		got, ok := pushdown.MongoRegex(tc.pattern)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("%s: got %q (%v), want %q", tc.pattern, got, ok, tc.want)
		}
	}
}

// FuzzMongoRegex: a pattern MongoRegex writes out reads, in Go, as the
// original does: it compiles and matches the same values.
func FuzzMongoRegex(f *testing.F) {
	for _, s := range []string{`^(?:Q.*)$`, `(?i)k|ſ`, `[^a]+\d{2,3}`, `(?s).\n$`, `\pL`, `a{0}|()`, `[[:upper:]]*?`} {
		f.Add(s, "Q\nK")
	}
	f.Fuzz(func(t *testing.T, pattern, value string) {
		orig, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		out, ok := pushdown.MongoRegex(pattern)
		if !ok {
			return
		}
		re, err := regexp.Compile(out)
		if err != nil {
			t.Fatalf("%q → %q: %v", pattern, out, err)
		}
		if orig.MatchString(value) != re.MatchString(value) {
			t.Fatalf("%q → %q: they disagree on %q", pattern, out, value)
		}
	})
}
