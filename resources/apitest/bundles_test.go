package apitest_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/resources/bundles"
	"github.com/rulekeeper/rulekeeper/resources/bundles/bundletest"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

type file struct {
	Path        string `json:"path"`
	Size        int64  `json:"size"`
	ContentType string `json:"contentType"`
}

type bundle struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	QEXTFilename string   `json:"qextFilename"`
	QEXTVersion  string   `json:"qextVersion"`
	Author       string   `json:"author"`
	Description  string   `json:"description"`
	Tags         []string `json:"tags"`
	Files        []file   `json:"files"`
	CreatedBy    string   `json:"createdBy"`
	Version      int64    `json:"version"`
}

type bundlesList struct {
	Items []bundle `json:"items"`
	Next  string   `json:"next"`
}

// form is a multipart body with the archive (nil: no file field), tags
// and any other fields.
func form(t *testing.T, archive []byte, tags []string, extra map[string]string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if archive != nil {
		fw, err := w.CreateFormFile("file", "bundle.zip")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(archive)
	}
	for _, tag := range tags {
		_ = w.WriteField("tags", tag)
	}
	for k, v := range extra {
		_ = w.WriteField(k, v)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

// send sends a multipart request and decodes the answer into out (a 2xx)
// or an error body, which it returns.
func send(t *testing.T, d *servicetest.Tenant, user, method, path string, archive []byte, tags []string, extra map[string]string, out any) (int, errBody) {
	t.Helper()
	body, ct := form(t, archive, tags, extra)
	res := d.Do(user, method, path, body, map[string]string{"Content-Type": ct})
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var e errBody
	if res.StatusCode >= 400 {
		_ = json.Unmarshal(raw, &e)
	} else if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, raw, err)
		}
	}
	return res.StatusCode, e
}

// call is a JSON request that must answer want.
func bundlesCall(t *testing.T, d *servicetest.Tenant, user, method, path string, body any, want int, out any) errBody {
	t.Helper()
	var raw json.RawMessage
	got := d.Call(user, method, path, body, &raw)
	if got != want {
		t.Fatalf("%s: %s %s = %d, want %d: %s", user, method, path, got, want, raw)
	}
	var e errBody
	if got >= 400 {
		_ = json.Unmarshal(raw, &e)
	} else if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, raw, err)
		}
	}
	return e
}

// download fetches a file and returns its status, content and type.
func download(t *testing.T, d *servicetest.Tenant, user, path string) (int, []byte, string) {
	t.Helper()
	res := d.Do(user, "GET", path, nil, nil)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, raw, res.Header.Get("Content-Type")
}

// fixture reads an archive of the bundles package's testdata.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "bundles", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// contents lists the regular files of a zip archive by path relative to
// root.
func contents(t *testing.T, archive []byte, root string) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range zr.File {
		if f.Mode().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		_ = rc.Close()
		out[strings.TrimPrefix(f.Name, root+"/")] = string(b)
	}
	return out
}

func repo(d *servicetest.Tenant, kind bundles.Kind) *store.Bundles {
	if kind == bundles.Theme {
		return d.Svc.Store.Themes
	}
	return d.Svc.Store.Extensions
}

// storedFiles counts the GridFS files and chunks of ids (nil: the bucket).
func storedFiles(t *testing.T, d *servicetest.Tenant, kind bundles.Kind, ids []bson.ObjectID) (int64, int64) {
	t.Helper()
	f, c, err := repo(d, kind).CountFiles(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func fileIDs(t *testing.T, d *servicetest.Tenant, kind bundles.Kind, id string) []bson.ObjectID {
	t.Helper()
	b, err := repo(d, kind).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return b.FileIDs()
}

func extZip(t *testing.T, qextName, version string, files ...bundletest.Entry) []byte {
	t.Helper()
	meta := fmt.Sprintf(`{"name": "%s chart", "type": "visualization", "version": %q, "author": "Ann"}`, qextName, version)
	return bundletest.Zip(t, append([]bundletest.Entry{bundletest.QEXTFile(qextName+"/"+qextName+".qext", meta)}, files...)...)
}

func TestUploadListDownload(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	tests := []struct {
		kind    bundles.Kind
		fixture string
		root    string
		name    string
		qext    string
		typ     string
	}{
		{bundles.Extension, "extension.zip", "hello-bars", "Hello bars", "hello-bars", "visualization"},
		{bundles.Theme, "theme.zip", "night", "Night", "night", "theme"},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			base := "/api/v1/" + tt.kind.Plural()
			archive := fixture(t, tt.fixture)
			var b bundle
			if s, e := send(t, d, "admin", "POST", base, archive, []string{"Sales", " q4 ", "sales"}, nil, &b); s != 201 {
				t.Fatalf("upload: %d %+v", s, e)
			}
			if b.Name != tt.name || b.QEXTFilename != tt.qext || b.Type != tt.typ || b.QEXTVersion != "1.0.0" ||
				b.Author != "rulekeeper" || fmt.Sprint(b.Tags) != "[Sales q4]" || b.CreatedBy != d.Users["admin"].ID {
				t.Fatalf("created %+v", b)
			}
			want := contents(t, archive, tt.root)
			if len(b.Files) != len(want) {
				t.Fatalf("files %+v, want %d", b.Files, len(want))
			}
			// Everyone licensed lists and reads it.
			for _, user := range []string{"admin", "alice", "bob"} {
				var l bundlesList
				bundlesCall(t, d, user, "GET", base, nil, 200, &l)
				if len(l.Items) != 1 || l.Items[0].ID != b.ID {
					t.Fatalf("%s lists %+v", user, l)
				}
			}
			var got bundle
			bundlesCall(t, d, "bob", "GET", base+"/"+b.ID, nil, 200, &got)
			if got.ID != b.ID || got.Version != 1 {
				t.Fatalf("GET %+v", got)
			}
			for _, f := range b.Files {
				s, content, ct := download(t, d, "bob", base+"/"+b.ID+"/files/"+f.Path)
				if s != 200 || string(content) != want[f.Path] || ct != f.ContentType || f.Size != int64(len(content)) {
					t.Fatalf("%s: %d %q %q; want %q (%+v)", f.Path, s, content, ct, want[f.Path], f)
				}
			}
			// Filters: by tag and by name.
			for query, n := range map[string]int{"?tag=q4": 1, "?tag=none": 0, "?q=" + tt.qext[:3]: 1, "?q=zzz": 0} {
				var l bundlesList
				bundlesCall(t, d, "alice", "GET", base+query, nil, 200, &l)
				if len(l.Items) != n {
					t.Fatalf("%s: %d items, want %d", query, len(l.Items), n)
				}
			}
			events, err := d.Svc.Store.Events.All(context.Background(), string(tt.kind)+".created")
			if err != nil || len(events) != 1 || events[0].Source != tt.kind.EventSource() || events[0].UserID != d.Users["admin"].ID {
				t.Fatalf("events %+v, %v", events, err)
			}
		})
	}
}

func TestFileDownloadDetails(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	archive := extZip(t, "deep", "1", bundletest.Plain("deep/img/a b.png", bundletest.PNG), bundletest.Plain("deep/big.js", strings.Repeat("x", 600<<10)))
	var b bundle
	if s, e := send(t, d, "admin", "POST", "/api/v1/extensions", archive, nil, nil, &b); s != 201 {
		t.Fatalf("upload: %d %+v", s, e)
	}
	base := "/api/v1/extensions/" + b.ID + "/files/"
	tests := []struct {
		path, ct string
		status   int
		content  string
	}{
		{"img/a%20b.png", "image/png", 200, bundletest.PNG},
		// Larger than one GridFS chunk: written through the driver's stream.
		{"big.js", "text/javascript; charset=utf-8", 200, strings.Repeat("x", 600<<10)},
		{"deep.qext", "application/json", 200, ""},
		{"missing.js", "", 404, ""},
		{"../deep.qext", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := d.Do("alice", "GET", base+tt.path, nil, nil)
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("%d %s", res.StatusCode, raw)
			}
			if tt.status != 200 {
				return
			}
			if res.Header.Get("Content-Type") != tt.ct || res.Header.Get("X-Content-Type-Options") != "nosniff" ||
				!strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") {
				t.Fatalf("headers %v", res.Header)
			}
			if tt.content != "" && string(raw) != tt.content {
				t.Fatalf("content differs: %d bytes, want %d", len(raw), len(tt.content))
			}
		})
	}
}

func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	ok := bundletest.QEXTFile("e.qext", `{"name": "E", "type": "visualization"}`)
	themeOK := bundletest.QEXTFile("t.qext", `{"name": "T", "type": "theme"}`)
	tests := []struct {
		name    string
		kind    bundles.Kind
		archive []byte
		extra   map[string]string
		status  int
		code    string
	}{
		{"not a zip", bundles.Extension, []byte("not a zip"), nil, 400, bundles.CodeBadArchive},
		{"no qext", bundles.Extension, bundletest.Zip(t, bundletest.Plain("a.js", "x")), nil, 400, bundles.CodeNoQEXT},
		{"several qext", bundles.Theme, bundletest.Zip(t, themeOK, bundletest.QEXTFile("b/t.qext", `{"name": "T", "type": "theme"}`)), nil, 400, bundles.CodeSeveralQEXT},
		{"bad qext", bundles.Extension, bundletest.Zip(t, bundletest.QEXTFile("e.qext", "{")), nil, 400, bundles.CodeBadQEXT},
		{"theme with javascript", bundles.Theme, bundletest.Zip(t, themeOK, bundletest.Plain("a.js", "x")), nil, 400, bundles.CodeTypeNotAllowed},
		{"theme png that is not one", bundles.Theme, bundletest.Zip(t, themeOK, bundletest.Plain("a.png", "<html>")), nil, 400, bundles.CodeTypeNotAllowed},
		{"extension with an executable", bundles.Extension, bundletest.Zip(t, ok, bundletest.Plain("a.bin", bundletest.ELF)), nil, 400, bundles.CodeTypeNotAllowed},
		{"extension with .exe", bundles.Extension, bundletest.Zip(t, ok, bundletest.Plain("a.exe", "x")), nil, 400, bundles.CodeTypeNotAllowed},
		{"file over 250 MB", bundles.Extension, bundletest.Zip(t, ok, bundletest.Entry{Name: "big.js", Data: []byte("x"), Raw: true, Declared: 250<<20 + 1}), nil, 400, bundles.CodeFileTooLarge},
		{"zip slip", bundles.Extension, fixture(t, "zipslip.zip"), nil, 400, bundles.CodeUnsafePath},
		{"symlink", bundles.Extension, bundletest.Zip(t, ok, bundletest.Entry{Name: "l", Data: []byte("/"), Mode: os.ModeSymlink | 0o777}), nil, 400, bundles.CodeUnsafePath},
		{"zip bomb", bundles.Extension, fixture(t, "bomb.zip"), nil, 400, bundles.CodeArchiveTooLarge},
		{"no file", bundles.Extension, nil, nil, 400, "missing_file"},
		{"unknown field", bundles.Extension, bundletest.Zip(t, ok), map[string]string{"name": "x"}, 400, "unknown_field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, e := send(t, d, "admin", "POST", "/api/v1/"+tt.kind.Plural(), tt.archive, []string{"t"}, tt.extra, nil)
			if s != tt.status || e.Code != tt.code || e.Message == "" {
				t.Fatalf("got %d %+v, want %d %s", s, e, tt.status, tt.code)
			}
			if tt.status == 400 && tt.archive != nil && tt.extra == nil && e.Details["field"] != "file" {
				t.Fatalf("details %v", e.Details)
			}
		})
	}
	t.Run("JSON body", func(t *testing.T) {
		e := bundlesCall(t, d, "admin", "POST", "/api/v1/extensions", map[string]any{"name": "x"}, 415, nil)
		if e.Code != "unsupported_media_type" {
			t.Fatalf("%+v", e)
		}
	})
	// Nothing was stored by any refused upload.
	for _, kind := range []bundles.Kind{bundles.Extension, bundles.Theme} {
		var l bundlesList
		bundlesCall(t, d, "admin", "GET", "/api/v1/"+kind.Plural(), nil, 200, &l)
		if f, c := storedFiles(t, d, kind, nil); len(l.Items) != 0 || f != 0 || c != 0 {
			t.Fatalf("%s: %d bundles, %d files, %d chunks after refusals", kind, len(l.Items), f, c)
		}
	}
}

func TestQEXTFilenameIsUnique(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	first := extZip(t, "Bars", "1", bundletest.Plain("Bars/a.js", "1"))
	again := bundletest.Zip(t, bundletest.QEXTFile("other/bars.QEXT", `{"name": "Other bars"}`), bundletest.Plain("other/b.js", "2"))
	theme := bundletest.Zip(t, bundletest.QEXTFile("bars.qext", `{"name": "Bars theme", "type": "theme"}`))
	tests := []struct {
		name    string
		kind    bundles.Kind
		archive []byte
		status  int
		code    string
	}{
		{"first", bundles.Extension, first, 201, ""},
		{"same name in another case", bundles.Extension, again, 409, "qext_exists"},
		{"same name as a theme", bundles.Theme, theme, 201, ""},
		{"the theme again", bundles.Theme, theme, 409, "qext_exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, e := send(t, d, "admin", "POST", "/api/v1/"+tt.kind.Plural(), tt.archive, nil, nil, nil); s != tt.status || e.Code != tt.code {
				t.Fatalf("got %d %+v, want %d %s", s, e, tt.status, tt.code)
			}
		})
	}
	// The refused uploads left no files: one bundle with two files, one with one.
	if f, _ := storedFiles(t, d, bundles.Extension, nil); f != 2 {
		t.Fatalf("%d extension files stored, want 2", f)
	}
	// The unique index itself refuses a duplicate, whatever the case: no
	// read-then-write in the repository.
	err := d.Svc.Store.Extensions.Create(context.Background(), &store.Bundle{QEXTFilename: "BARS", Name: "direct"})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("direct insert of a duplicate: %v", err)
	}
}

func TestConcurrentUploadsOfOneName(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	d.Token("admin") // minted before the goroutines share it
	for round := range 3 {
		name := fmt.Sprintf("race%d", round)
		archive := extZip(t, name, "1", bundletest.Plain(name+"/a.js", "a"), bundletest.Plain(name+"/b.css", "b{}"))
		statuses := make([]int, 2)
		codes := make([]string, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range statuses {
			wg.Go(func() {
				<-start
				body, ct := form(t, archive, nil, nil)
				res := d.Do("admin", "POST", "/api/v1/extensions", body, map[string]string{"Content-Type": ct})
				defer res.Body.Close()
				var e errBody
				_ = json.NewDecoder(res.Body).Decode(&e)
				statuses[i], codes[i] = res.StatusCode, e.Code
			})
		}
		close(start)
		wg.Wait()
		sort.Ints(statuses)
		if statuses[0] != 201 || statuses[1] != 409 || !slices.Contains(codes, "qext_exists") {
			t.Fatalf("round %d: statuses %v codes %v, want one 201 and one 409 qext_exists", round, statuses, codes)
		}
	}
	// Three bundles of three files each (two files and the .qext); the
	// losers' uploaded files are gone.
	var l bundlesList
	bundlesCall(t, d, "admin", "GET", "/api/v1/extensions", nil, 200, &l)
	if f, _ := storedFiles(t, d, bundles.Extension, nil); len(l.Items) != 3 || f != 9 {
		t.Fatalf("%d bundles, %d files; want 3 and 9", len(l.Items), f)
	}
}

func TestReplace(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	v1 := extZip(t, "bars", "1.0", bundletest.Plain("bars/a.js", "one"), bundletest.Plain("bars/old.css", "old{}"))
	v2 := extZip(t, "bars", "2.0", bundletest.Plain("bars/a.js", "two"), bundletest.Plain("bars/new.js", "new"))
	var b bundle
	if s, e := send(t, d, "admin", "POST", "/api/v1/extensions", v1, []string{"keep"}, nil, &b); s != 201 {
		t.Fatalf("upload: %d %+v", s, e)
	}
	var other bundle
	if s, e := send(t, d, "admin", "POST", "/api/v1/extensions", extZip(t, "pies", "1"), nil, nil, &other); s != 201 {
		t.Fatalf("upload: %d %+v", s, e)
	}
	path := "/api/v1/extensions/" + b.ID
	oldIDs := fileIDs(t, d, bundles.Extension, b.ID)
	allBefore, _ := storedFiles(t, d, bundles.Extension, nil)

	t.Run("a bad archive changes nothing", func(t *testing.T) {
		s, e := send(t, d, "admin", "PATCH", path, bundletest.Zip(t, bundletest.Plain("a.js", "x")), nil, nil, nil)
		if s != 400 || e.Code != bundles.CodeNoQEXT {
			t.Fatalf("%d %+v", s, e)
		}
	})
	t.Run("another bundle's QEXT name is refused", func(t *testing.T) {
		s, e := send(t, d, "admin", "PATCH", path, extZip(t, "Pies", "9"), nil, nil, nil)
		if s != 409 || e.Code != "qext_exists" {
			t.Fatalf("%d %+v", s, e)
		}
		if f, _ := storedFiles(t, d, bundles.Extension, nil); f != allBefore {
			t.Fatalf("%d files after refused replaces, want %d", f, allBefore)
		}
	})
	t.Run("files and tags", func(t *testing.T) {
		var nb bundle
		if s, e := send(t, d, "admin", "PATCH", path, v2, []string{"new"}, nil, &nb); s != 200 {
			t.Fatalf("replace: %d %+v", s, e)
		}
		if nb.QEXTVersion != "2.0" || fmt.Sprint(nb.Tags) != "[new]" || nb.Version != b.Version+1 {
			t.Fatalf("after replace %+v", nb)
		}
		for p, want := range map[string]int{"a.js": 200, "new.js": 200, "old.css": 404} {
			if s, content, _ := download(t, d, "alice", path+"/files/"+p); s != want || (p == "a.js" && string(content) != "two") {
				t.Fatalf("%s: %d %q", p, s, content)
			}
		}
		if f, c := storedFiles(t, d, bundles.Extension, oldIDs); f != 0 || c != 0 {
			t.Fatalf("old files left: %d files %d chunks", f, c)
		}
	})
	t.Run("tags only, multipart", func(t *testing.T) {
		before := fileIDs(t, d, bundles.Extension, b.ID)
		var nb bundle
		if s, e := send(t, d, "admin", "PATCH", path, nil, []string{"x", "y"}, nil, &nb); s != 200 || fmt.Sprint(nb.Tags) != "[x y]" {
			t.Fatalf("%d %+v %+v", s, e, nb)
		}
		if after := fileIDs(t, d, bundles.Extension, b.ID); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatal("a tags-only PATCH replaced the files")
		}
	})
	tests := []struct {
		name   string
		body   any
		status int
		code   string
		tags   string
	}{
		{"JSON tags", map[string]any{"tags": []string{"a", "A", " b "}}, 200, "", "[a b]"},
		{"JSON clears tags", map[string]any{"tags": []string{}}, 200, "", "[]"},
		{"JSON unknown field", map[string]any{"name": "x"}, 400, "unknown_field", ""},
		{"JSON without tags", map[string]any{}, 400, "missing_tags", ""},
		{"JSON too many tags", map[string]any{"tags": manyTags(51)}, 400, "too_many_tags", ""},
		{"JSON tag too long", map[string]any{"tags": []string{strings.Repeat("t", 101)}}, 400, "bad_tag", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nb bundle
			e := bundlesCall(t, d, "admin", "PATCH", path, tt.body, tt.status, &nb)
			if e.Code != tt.code || (tt.status == 200 && fmt.Sprint(nb.Tags) != tt.tags) {
				t.Fatalf("%+v %+v", e, nb)
			}
		})
	}
	events, err := d.Svc.Store.Events.All(context.Background(), "extension.updated")
	if err != nil || len(events) != 4 {
		t.Fatalf("%d extension.updated events, %v; want 4", len(events), err)
	}
}

func manyTags(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("tag%d", i)
	}
	return out
}

func TestDelete(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	for _, kind := range []bundles.Kind{bundles.Extension, bundles.Theme} {
		t.Run(string(kind), func(t *testing.T) {
			archive := fixture(t, string(kind)+".zip")
			var b bundle
			if s, e := send(t, d, "admin", "POST", "/api/v1/"+kind.Plural(), archive, nil, nil, &b); s != 201 {
				t.Fatalf("upload: %d %+v", s, e)
			}
			ids := fileIDs(t, d, kind, b.ID)
			if f, c := storedFiles(t, d, kind, ids); f != int64(len(b.Files)) || c == 0 {
				t.Fatalf("stored %d files %d chunks", f, c)
			}
			path := "/api/v1/" + kind.Plural() + "/" + b.ID
			bundlesCall(t, d, "admin", "DELETE", path, nil, 204, nil)
			bundlesCall(t, d, "admin", "GET", path, nil, 404, nil)
			bundlesCall(t, d, "alice", "GET", path+"/files/"+b.Files[0].Path, nil, 404, nil)
			bundlesCall(t, d, "admin", "DELETE", path, nil, 404, nil)
			if f, c := storedFiles(t, d, kind, ids); f != 0 || c != 0 {
				t.Fatalf("left %d files %d chunks", f, c)
			}
			events, err := d.Svc.Store.Events.All(context.Background(), string(kind)+".deleted")
			if err != nil || len(events) != 1 || events[0].Data[string(kind)+"Id"] != b.ID {
				t.Fatalf("events %+v %v", events, err)
			}
			// The name is free again.
			if s, e := send(t, d, "admin", "POST", "/api/v1/"+kind.Plural(), archive, nil, nil, nil); s != 201 {
				t.Fatalf("upload again: %d %+v", s, e)
			}
		})
	}
}

// unlicense leaves grace without a license: her first request is her
// login, where dynamic assignment (seed 000 §3.4) gives her one; the
// tenant admin then removes it.
func unlicense(t *testing.T, d *servicetest.Tenant, user string) {
	t.Helper()
	bundlesCall(t, d, user, "GET", "/api/v1/users/me", nil, 200, nil)
	if s := d.Call("admin", "DELETE", "/api/v1/licenses/assignments/"+d.Users[user].ID, nil, nil); s >= 300 && s != 404 {
		t.Fatalf("remove %s's license: %d", user, s)
	}
	var me struct {
		License struct{ Type string } `json:"license"`
	}
	bundlesCall(t, d, user, "GET", "/api/v1/users/me", nil, 200, &me)
	if me.License.Type != "" {
		t.Fatalf("%s still has a %s license", user, me.License.Type)
	}
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	unlicense(t, d, "grace")
	for _, kind := range []bundles.Kind{bundles.Extension, bundles.Theme} {
		t.Run(string(kind), func(t *testing.T) {
			base := "/api/v1/" + kind.Plural()
			archive := fixture(t, string(kind)+".zip")
			var b bundle
			if s, e := send(t, d, "admin", "POST", base, archive, nil, nil, &b); s != 201 {
				t.Fatalf("tenant admin uploads: %d %+v", s, e)
			}
			one, filePath := base+"/"+b.ID, base+"/"+b.ID+"/files/"+b.Files[0].Path
			tests := []struct {
				user, method, path string
				status             int
				code               string
			}{
				{"alice", "GET", one, 200, ""},
				{"bob", "GET", one, 200, ""},
				{"carol", "GET", filePath, 200, ""},
				{"grace", "GET", one, 404, "not_found"}, // no license: may read no bundle, one is not found
				{"grace", "GET", filePath, 404, "not_found"},
				{"frank", "GET", one, 403, "user_disabled"},
				{"", "GET", one, 401, "missing_credentials"},
				{"alice", "PATCH", one, 403, "forbidden"},
				{"alice", "DELETE", one, 403, "forbidden"},
				{"bob", "DELETE", one, 403, "forbidden"},
				{"admin", "GET", base + "/" + store.NewID(), 404, "not_found"},
			}
			for _, tt := range tests {
				t.Run(tt.user+" "+tt.method+" "+tt.path, func(t *testing.T) {
					if tt.path == filePath && tt.status == 200 {
						if s, content, _ := download(t, d, tt.user, tt.path); s != 200 || len(content) == 0 {
							t.Fatalf("download: %d %q", s, content)
						}
						return
					}
					var body any
					if tt.method == "PATCH" {
						body = map[string]any{"tags": []string{"x"}}
					}
					e := bundlesCall(t, d, tt.user, tt.method, tt.path, body, tt.status, nil)
					if e.Code != tt.code {
						t.Fatalf("code %q, want %q", e.Code, tt.code)
					}
				})
			}
			for _, user := range []string{"alice", "bob"} {
				s, e := send(t, d, user, "POST", base, archive, nil, nil, nil)
				if s != http.StatusForbidden || e.Code != "forbidden" || e.Details["action"] != "create" {
					t.Fatalf("%s uploads: %d %+v", user, s, e)
				}
				s, e = send(t, d, user, "PATCH", one, archive, nil, nil, nil)
				if s != http.StatusForbidden || e.Details["action"] != "update" {
					t.Fatalf("%s replaces: %d %+v", user, s, e)
				}
			}
			// The list shows nothing to a user without a license.
			var l bundlesList
			bundlesCall(t, d, "grace", "GET", base, nil, 200, &l)
			if len(l.Items) != 0 {
				t.Fatalf("grace lists %+v", l.Items)
			}
		})
	}
}
