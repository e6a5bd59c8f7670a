package bundles

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/bundles/bundletest"
)

const (
	extQEXT   = `{"name": "Bar chart", "type": "visualization", "version": "1.2.0", "author": "Ann", "description": "Bars", "icon": "bar-chart", "preview": "preview.png"}`
	themeQEXT = `{"name": "Dark", "type": "theme", "version": "0.1.0", "author": "Bo"}`
)

// smallLimits keep the limit tests cheap.
func smallLimits() Limits {
	return Limits{MaxFileBytes: 4 << 20, MaxTotalBytes: 8 << 20, MaxEntries: 20, MaxRatio: 100}
}

func read(t *testing.T, data []byte, kind Kind, lim Limits) (*Archive, error) {
	t.Helper()
	return ReadBundle(bytes.NewReader(data), int64(len(data)), kind, lim)
}

func TestReadBundleAccepts(t *testing.T) {
	tests := []struct {
		name     string
		kind     Kind
		zip      []bundletest.Entry
		filename string
		root     string
		files    map[string]string // path → content type
	}{
		{
			name: "extension at the top", kind: Extension,
			zip:      []bundletest.Entry{bundletest.QEXTFile("bar.qext", extQEXT), bundletest.Plain("bar.js", "define([], function(){})"), bundletest.Plain("preview.png", bundletest.PNG)},
			filename: "bar",
			files:    map[string]string{"bar.qext": "application/json", "bar.js": "text/javascript; charset=utf-8", "preview.png": "image/png"},
		},
		{
			name: "extension in a nested folder, with OS junk", kind: Extension,
			zip: []bundletest.Entry{
				{Name: "dist/", Mode: fs.ModeDir | 0o755}, bundletest.QEXTFile("dist/Bar-Chart.QEXT", extQEXT),
				bundletest.Plain("dist/lib/d3.min.js", "!function(){}()"), bundletest.Plain("dist/data.bin", "\x00\x01\x02\x03"),
				bundletest.Plain("__MACOSX/dist/._Bar-Chart.QEXT", "junk"), bundletest.Plain("dist/.DS_Store", "junk"),
			},
			filename: "Bar-Chart", root: "dist",
			files: map[string]string{"Bar-Chart.QEXT": "application/json", "lib/d3.min.js": "text/javascript; charset=utf-8", "data.bin": "application/octet-stream"},
		},
		{
			name: "theme with every allowed type", kind: Theme,
			zip: []bundletest.Entry{
				bundletest.QEXTFile("dark/dark.qext", "\xef\xbb\xbf"+themeQEXT), bundletest.Plain("dark/theme.json", `{"_inherit": true}`),
				bundletest.Plain("dark/style.css", "body{}"), bundletest.Plain("dark/index.html", "<!doctype html><p>x"),
				bundletest.Plain("dark/logo.png", bundletest.PNG), bundletest.Plain("dark/a.jpg", bundletest.JPEG), bundletest.Plain("dark/b.jpeg", bundletest.JPEG), bundletest.Plain("dark/c.gif", bundletest.GIF),
				bundletest.Plain("dark/d.svg", `<svg xmlns="http://www.w3.org/2000/svg"/>`),
				bundletest.Plain("dark/f.woff", bundletest.WOFF), bundletest.Plain("dark/f.woff2", "wOF2\x00\x01"), bundletest.Plain("dark/f.ttf", "\x00\x01\x00\x00\x00\x10"),
				bundletest.Plain("dark/f.otf", "OTTO\x00\x10"), bundletest.Plain("dark/apple.ttf", "true\x00\x10\x00\x00"),
			},
			filename: "dark", root: "dark",
			files: map[string]string{
				"dark.qext": "application/json", "theme.json": "application/json", "style.css": "text/css; charset=utf-8",
				"index.html": "text/html; charset=utf-8", "logo.png": "image/png", "a.jpg": "image/jpeg", "b.jpeg": "image/jpeg",
				"c.gif": "image/gif", "d.svg": "image/svg+xml", "f.woff": "font/woff", "f.woff2": "font/woff2",
				"f.ttf": "font/ttf", "f.otf": "font/otf", "apple.ttf": "font/ttf",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := read(t, bundletest.Zip(t, tt.zip...), tt.kind, smallLimits())
			if err != nil {
				t.Fatal(err)
			}
			if a.QEXT.Filename != tt.filename || a.Root != tt.root {
				t.Fatalf("filename %q root %q, want %q %q", a.QEXT.Filename, a.Root, tt.filename, tt.root)
			}
			got := map[string]string{}
			for _, f := range a.Files {
				got[f.Path] = f.ContentType
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.files) {
				t.Fatalf("files\n got %v\nwant %v", got, tt.files)
			}
		})
	}
}

func TestQEXTMetadata(t *testing.T) {
	a, err := read(t, bundletest.Zip(t, bundletest.QEXTFile("x/bar.qext", `{"name": " Bar chart ", "type": "visualization", "version": "1.2.0",
		"author": "Ann", "description": "Bars", "icon": "bar-chart", "preview": "preview.png",
		"homepage": "https://example.com", "license": "MIT", "keywords": ["a", "b"], "dependencies": {"qlik-sense": ">=3"}}`)), Extension, smallLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := QEXT{Filename: "bar", Name: "Bar chart", Type: "visualization", Version: "1.2.0", Author: "Ann",
		Description: "Bars", Icon: "bar-chart", Preview: "preview.png", Homepage: "https://example.com", License: "MIT", Keywords: "a, b"}
	if a.QEXT != want {
		t.Fatalf("got %+v\nwant %+v", a.QEXT, want)
	}
}

func TestReadBundleRefuses(t *testing.T) {
	ok := bundletest.QEXTFile("e.qext", extQEXT)
	themeOK := bundletest.QEXTFile("t.qext", themeQEXT)
	zeros := strings.Repeat("\x00", 3<<20)
	tests := []struct {
		name string
		kind Kind
		data []byte
		code string
		path string
	}{
		{"not a zip", Extension, []byte("hello, not a zip archive"), CodeBadArchive, ""},
		{"empty upload", Extension, []byte{}, CodeBadArchive, ""},
		{"empty archive", Extension, bundletest.Zip(t), CodeNoQEXT, ""},
		{"no qext", Extension, bundletest.Zip(t, bundletest.Plain("a.js", "x")), CodeNoQEXT, ""},
		{"two qext", Extension, bundletest.Zip(t, ok, bundletest.QEXTFile("sub/other.qext", extQEXT)), CodeSeveralQEXT, "sub/other.qext"},
		{"qext not JSON", Extension, bundletest.Zip(t, bundletest.QEXTFile("e.qext", "name: x")), CodeBadQEXT, "e.qext"},
		{"qext is an array", Extension, bundletest.Zip(t, bundletest.QEXTFile("e.qext", `[{"name": "x"}]`)), CodeBadQEXT, "e.qext"},
		{"qext without name", Extension, bundletest.Zip(t, bundletest.QEXTFile("e.qext", `{"type": "visualization"}`)), CodeBadQEXT, "e.qext"},
		{"qext name not a string", Extension, bundletest.Zip(t, bundletest.QEXTFile("e.qext", `{"name": 3}`)), CodeBadQEXT, "e.qext"},
		{"qext too large", Extension, bundletest.Zip(t, bundletest.QEXTFile("e.qext", `{"name": "x", "description": "`+strings.Repeat("a", maxQEXTBytes)+`"}`)), CodeBadQEXT, "e.qext"},
		{"qext without file name", Extension, bundletest.Zip(t, bundletest.QEXTFile(".qext", extQEXT)), CodeBadQEXT, ".qext"},
		{"theme qext of another type", Theme, bundletest.Zip(t, bundletest.QEXTFile("t.qext", extQEXT)), CodeBadQEXT, "t.qext"},
		{"extension qext of a theme", Extension, bundletest.Zip(t, bundletest.QEXTFile("t.qext", themeQEXT)), CodeBadQEXT, "t.qext"},
		{"dot dot", Extension, bundletest.Zip(t, ok, bundletest.Plain("../evil.js", "x")), CodeUnsafePath, "../evil.js"},
		{"dot dot inside", Extension, bundletest.Zip(t, ok, bundletest.Plain("a/../../evil.js", "x")), CodeUnsafePath, "a/../../evil.js"},
		{"absolute path", Extension, bundletest.Zip(t, ok, bundletest.Plain("/etc/passwd", "x")), CodeUnsafePath, "/etc/passwd"},
		{"backslash", Extension, bundletest.Zip(t, ok, bundletest.Plain(`..\evil.js`, "x")), CodeUnsafePath, `..\evil.js`},
		{"drive letter", Extension, bundletest.Zip(t, ok, bundletest.Plain("C:/evil.js", "x")), CodeUnsafePath, "C:/evil.js"},
		{"empty segment", Extension, bundletest.Zip(t, ok, bundletest.Plain("a//b.js", "x")), CodeUnsafePath, "a//b.js"},
		{"symlink", Extension, bundletest.Zip(t, ok, bundletest.Entry{Name: "link", Data: []byte("/etc/passwd"), Mode: fs.ModeSymlink | 0o777}), CodeUnsafePath, "link"},
		{"junk is still checked", Extension, bundletest.Zip(t, ok, bundletest.Plain("__MACOSX/../../x", "x")), CodeUnsafePath, "__MACOSX/../../x"},
		{"duplicate path", Extension, bundletest.Zip(t, ok, bundletest.Plain("a.js", "1"), bundletest.Plain("A.js", "2")), CodeBadArchive, "A.js"},
		{"outside the qext folder", Extension, bundletest.Zip(t, bundletest.QEXTFile("ext/e.qext", extQEXT), bundletest.Plain("other/a.js", "x")), CodeBadArchive, "other/a.js"},
		{"encrypted", Extension, bundletest.Zip(t, ok, bundletest.Entry{Name: "a.js", Data: []byte("x"), Raw: true, Flags: 0x1}), CodeBadArchive, "a.js"},
		{"unknown compression", Extension, bundletest.Zip(t, ok, bundletest.Entry{Name: "a.js", Data: []byte("x"), Raw: true, Method: 99}), CodeBadArchive, "a.js"},
		{"header lies about the size", Extension, bundletest.Zip(t, ok, bundletest.Entry{Name: "a.js", Data: []byte("0123456789"), Raw: true, Declared: 3}), CodeBadArchive, "a.js"},
		{"theme with javascript", Theme, bundletest.Zip(t, themeOK, bundletest.Plain("a.js", "x")), CodeTypeNotAllowed, "a.js"},
		{"theme with a text file", Theme, bundletest.Zip(t, themeOK, bundletest.Plain("README.md", "x")), CodeTypeNotAllowed, "README.md"},
		{"theme png that is text", Theme, bundletest.Zip(t, themeOK, bundletest.Plain("logo.png", "<script>alert(1)</script>")), CodeTypeNotAllowed, "logo.png"},
		{"theme jpeg that is a png", Theme, bundletest.Zip(t, themeOK, bundletest.Plain("a.jpg", bundletest.PNG)), CodeTypeNotAllowed, "a.jpg"},
		{"theme css that is an ELF", Theme, bundletest.Zip(t, themeOK, bundletest.Plain("a.css", bundletest.ELF)), CodeTypeNotAllowed, "a.css"},
		{"theme font that is a png", Theme, bundletest.Zip(t, themeOK, bundletest.Plain("f.woff", bundletest.PNG)), CodeTypeNotAllowed, "f.woff"},
		{"extension .exe", Extension, bundletest.Zip(t, ok, bundletest.Plain("setup.exe", "x")), CodeTypeNotAllowed, "setup.exe"},
		{"extension .DLL", Extension, bundletest.Zip(t, ok, bundletest.Plain("x.DLL", "x")), CodeTypeNotAllowed, "x.DLL"},
		{"extension .so", Extension, bundletest.Zip(t, ok, bundletest.Plain("lib/x.so", "x")), CodeTypeNotAllowed, "lib/x.so"},
		{"extension .sh", Extension, bundletest.Zip(t, ok, bundletest.Plain("run.sh", "echo")), CodeTypeNotAllowed, "run.sh"},
		{"extension .bat", Extension, bundletest.Zip(t, ok, bundletest.Plain("run.bat", "echo")), CodeTypeNotAllowed, "run.bat"},
		{"extension .cmd", Extension, bundletest.Zip(t, ok, bundletest.Plain("run.cmd", "echo")), CodeTypeNotAllowed, "run.cmd"},
		{"extension .ps1", Extension, bundletest.Zip(t, ok, bundletest.Plain("run.ps1", "echo")), CodeTypeNotAllowed, "run.ps1"},
		{"extension .msi", Extension, bundletest.Zip(t, ok, bundletest.Plain("x.msi", "x")), CodeTypeNotAllowed, "x.msi"},
		{"extension .jar", Extension, bundletest.Zip(t, ok, bundletest.Plain("x.jar", "x")), CodeTypeNotAllowed, "x.jar"},
		{"extension ELF named .js", Extension, bundletest.Zip(t, ok, bundletest.Plain("a.js", bundletest.ELF)), CodeTypeNotAllowed, "a.js"},
		{"extension PE named .dat", Extension, bundletest.Zip(t, ok, bundletest.Plain("a.dat", bundletest.PE)), CodeTypeNotAllowed, "a.dat"},
		{"extension Mach-O", Extension, bundletest.Zip(t, ok, bundletest.Plain("tool", bundletest.MACH)), CodeTypeNotAllowed, "tool"},
		{"extension script with #!", Extension, bundletest.Zip(t, ok, bundletest.Plain("cli.js", "#!/usr/bin/env node\n")), CodeTypeNotAllowed, "cli.js"},
		{"file declared too large", Extension, bundletest.Zip(t, ok, bundletest.Entry{Name: "big.js", Data: []byte("x"), Raw: true, Declared: 4<<20 + 1}), CodeFileTooLarge, "big.js"},
		{"too many entries", Extension, bundletest.Zip(t, append([]bundletest.Entry{ok}, manyFiles(20)...)...), CodeArchiveTooLarge, ""},
		{"compression ratio (zip bomb)", Extension, bundletest.Zip(t, ok, bundletest.Plain("bomb.js", zeros)), CodeArchiveTooLarge, "bomb.js"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := read(t, tt.data, tt.kind, smallLimits())
			var r *Refusal
			if !errors.As(err, &r) {
				t.Fatalf("got %v, %v; want a %s refusal", a, err, tt.code)
			}
			if r.Code != tt.code || r.Path != tt.path {
				t.Fatalf("got %s %q (%s), want %s %q", r.Code, r.Path, r.Message, tt.code, tt.path)
			}
		})
	}
}

func manyFiles(n int) []bundletest.Entry {
	out := make([]bundletest.Entry, n)
	for i := range out {
		out[i] = bundletest.Plain(fmt.Sprintf("f%d.js", i), "x")
	}
	return out
}

// The sizes that count are the ones read, whatever the headers say.
func TestLimitsAreMeasured(t *testing.T) {
	ok := bundletest.QEXTFile("e.qext", extQEXT)
	random := func(n int) string {
		b := make([]byte, n)
		x := uint32(2463534242)
		for i := range b {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b[i] = byte(x)
		}
		return string(b)
	}
	tests := []struct {
		name string
		lim  Limits
		zip  []byte
		code string
	}{
		{"file too large", Limits{MaxFileBytes: 1000, MaxTotalBytes: 1 << 20, MaxEntries: 10, MaxRatio: 100},
			bundletest.Zip(t, ok, bundletest.Plain("a.bin", random(1001))), CodeFileTooLarge},
		{"archive too large in total", Limits{MaxFileBytes: 1000, MaxTotalBytes: 2000, MaxEntries: 10, MaxRatio: 100},
			bundletest.Zip(t, ok, bundletest.Plain("a.bin", random(900)), bundletest.Plain("b.bin", random(900)), bundletest.Plain("c.bin", random(900))), CodeArchiveTooLarge},
		{"compression ratio", Limits{MaxFileBytes: 4 << 20, MaxTotalBytes: 64 << 20, MaxEntries: 10, MaxRatio: 2},
			bundletest.Zip(t, ok, bundletest.Plain("a.txt", strings.Repeat("abcd", 1<<19)), bundletest.Plain("b.txt", strings.Repeat("efgh", 1<<19))), CodeArchiveTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The header check alone would not catch these: sizes within
			// the limit per header are refused while reading.
			_, err := read(t, tt.zip, Extension, tt.lim)
			var r *Refusal
			if !errors.As(err, &r) || r.Code != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
		})
	}
}

func TestOpenReadsTheFilesBack(t *testing.T) {
	content := map[string]string{"e.qext": extQEXT, "a.js": "alert(1)", "img/p.png": bundletest.PNG, "empty.txt": ""}
	var entries []bundletest.Entry
	for name, data := range content {
		entries = append(entries, bundletest.Plain("root/"+name, data))
	}
	a, err := read(t, bundletest.Zip(t, entries...), Extension, smallLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Files) != len(content) {
		t.Fatalf("%d files, want %d", len(a.Files), len(content))
	}
	for _, f := range a.Files {
		rc, err := a.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil || string(got) != content[f.Path] || f.Size != int64(len(got)) {
			t.Fatalf("%s: %q (size %d), %v; want %q", f.Path, got, f.Size, err, content[f.Path])
		}
	}
}

func TestFixtures(t *testing.T) {
	tests := []struct {
		file string
		kind Kind
		code string // "" accepted
	}{
		{"extension.zip", Extension, ""},
		{"theme.zip", Theme, ""},
		{"zipslip.zip", Extension, CodeUnsafePath},
		{"bomb.zip", Extension, CodeArchiveTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = read(t, data, tt.kind, DefaultLimits(0))
			var r *Refusal
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.code != "" && (!errors.As(err, &r) || r.Code != tt.code):
				t.Fatalf("got %v, want %s", err, tt.code)
			}
		})
	}
}

// FuzzReadBundle: no input makes the reader panic, and whatever it accepts
// respects its promises.
func FuzzReadBundle(f *testing.F) {
	f.Add(bundletest.Zip(f, bundletest.QEXTFile("e.qext", extQEXT), bundletest.Plain("a.js", "x")))
	f.Add(bundletest.Zip(f, bundletest.QEXTFile("t/t.qext", themeQEXT), bundletest.Plain("t/a.css", "body{}"), bundletest.Plain("t/p.png", bundletest.PNG)))
	f.Add(bundletest.Zip(f, bundletest.QEXTFile("e.qext", extQEXT), bundletest.Plain("../x", "x")))
	f.Add([]byte("PK\x03\x04"))
	lim := Limits{MaxFileBytes: 1 << 16, MaxTotalBytes: 1 << 18, MaxEntries: 50, MaxRatio: 100}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, kind := range []Kind{Extension, Theme} {
			a, err := ReadBundle(bytes.NewReader(data), int64(len(data)), kind, lim)
			if err != nil {
				var r *Refusal
				if !errors.As(err, &r) || r.Code == "" {
					t.Fatalf("an error that is not a refusal: %v", err)
				}
				continue
			}
			qexts, total := 0, int64(0)
			for _, file := range a.Files {
				if _, _, err := cleanPath(file.Path); err != nil {
					t.Fatalf("accepted an unsafe path %q", file.Path)
				}
				if strings.HasSuffix(strings.ToLower(file.Path), ".qext") {
					qexts++
				}
				if file.Size > lim.MaxFileBytes {
					t.Fatalf("accepted %q of %d bytes", file.Path, file.Size)
				}
				total += file.Size
				rc, err := a.Open(file)
				if err != nil {
					t.Fatal(err)
				}
				n, err := io.Copy(io.Discard, rc)
				_ = rc.Close()
				if err != nil || n != file.Size {
					t.Fatalf("%q read back %d bytes, %v; checked %d", file.Path, n, err, file.Size)
				}
			}
			if qexts != 1 || total > lim.MaxTotalBytes || a.QEXT.Name == "" || a.QEXT.Filename == "" {
				t.Fatalf("accepted %d qext files, %d bytes, %+v", qexts, total, a.QEXT)
			}
		}
	})
}
