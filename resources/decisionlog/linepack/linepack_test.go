package linepack_test

import (
	"bufio"
	"bytes"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/rulekeeper/rulekeeper/resources/decisionlog/linepack"
)

func readLines(tb testing.TB, file string) [][]byte {
	tb.Helper()
	f, err := os.Open(file)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	return lines
}

// roundTrip packs lines with e and checks they read back identical.
func roundTrip(t testing.TB, e *linepack.Encoder, lines [][]byte) []byte {
	t.Helper()
	packed, err := e.Encode(nil, lines)
	if err != nil {
		t.Fatal(err)
	}
	got, err := linepack.Decode(packed)
	if err != nil {
		t.Fatalf("decode: %v (lines %q)", err, lines)
	}
	if len(got) != len(lines) {
		t.Fatalf("%d lines back, want %d", len(got), len(lines))
	}
	for i := range lines {
		if !bytes.Equal(got[i], lines[i]) {
			t.Fatalf("line %d:\n got %q\nwant %q", i, got[i], lines[i])
		}
	}
	return packed
}

func deflated(lines [][]byte) int {
	var out bytes.Buffer
	w, _ := flate.NewWriter(&out, flate.BestSpeed)
	for _, l := range lines {
		_, _ = w.Write(l)
		_, _ = w.Write([]byte{'\n'})
	}
	_ = w.Close()
	return out.Len()
}

// TestRealLines: entries as the service writes them (testdata: /authz/check
// calls of bench/loadbench) read back identical, in less room than their
// lines DEFLATE-compressed (what was stored before; a few times less in a
// batch of thousands, where the subjects and resources repeat).
func TestRealLines(t *testing.T) {
	lines := readLines(t, "testdata/lines.jsonl")
	var e linepack.Encoder
	packed := roundTrip(t, &e, lines)
	if d := deflated(lines); len(packed) >= d {
		t.Errorf("packed %d bytes, the lines DEFLATE-compressed %d", len(packed), d)
	}
	// The encoder again, on other lines: nothing of the last batch is left.
	slices.Reverse(lines)
	roundTrip(t, &e, lines[:len(lines)/2])
	roundTrip(t, &e, nil)
	roundTrip(t, &e, lines)
}

func TestEdgeCases(t *testing.T) {
	id := `"decision_id":"6b13cd8739b74e4661a35da3"`
	for _, tc := range []struct {
		name  string
		lines []string
	}{
		{"empty batch", nil},
		{"empty line", []string{"", "", "{}"}},
		{"not JSON", []string{"hello", "[1,2]", "{", "}", `{"a"`, `{"a":`, `{"a":1`, `{"a":1,}`, `{"a":1}x`, `{"a" :1}`, "\x00\xff\n"}},
		{"spaces", []string{`{ "a": 1 }`, `{"a":1 }`, ` {"a":1}`}},
		{"escapes", []string{`{"a\"b":"c\\","d\\":"}{\"","e":"\u00e9"}`, `{"a\"b":"x","d\\":"y"}`}},
		{"key lists of one length", []string{`{"a":1}`, `{"b":1}`, `{"a":2}`, `{"c":{"x":1}}`, `{"c":{"y":1}}`, `{"c":{"x":1}}`}},
		{"duplicate keys", []string{`{"a":1,"a":2,"a":{"a":3}}`, `{"a":1}`}},
		{"nested", []string{`{"input":{"subject":{"id":"u1","spaces":{"s1":["a"]}},"action":"read"},"request":{"id":"x-1"}}`,
			`{"input":{"subject":{"id":"u2"},"action":"read","resource":{"type":"app"}},"request":{"id":"x-2","method":"POST"}}`,
			`{"input":null,"request":[],"metrics":"x"}`, `{"input":{},"request":{"id":null},"metrics":{}}`}},
		{"decision ids", []string{`{` + id + `}`, `{"decision_id":"6B13CD8739B74E4661A35DA3"}`, `{"decision_id":"6b13"}`,
			`{"decision_id":"ffffffffffffffffffffffff"}`, `{"decision_id":"000000000000000000000000"}`, `{"decision_id":6}`, `{` + id + `}`}},
		{"timestamps", []string{`{"timestamp":"2026-12-05T08:38:31.311874282Z"}`, `{"timestamp":"2026-12-05T08:38:31.3118Z"}`,
			`{"timestamp":"2026-12-05T08:38:31.31187Z"}`, `{"timestamp":"2026-12-05T08:38:31.311870Z"}`, `{"timestamp":"2026-12-05T08:38:31Z"}`,
			`{"timestamp":"2026-12-05T08:38:31.1Z"}`, `{"timestamp":"2026-12-05T08:38:31.000000001Z"}`, `{"timestamp":"2026-12-05T08:38:31.0000000001Z"}`,
			`{"timestamp":"2026-12-05T09:38:31.5+01:00"}`, `{"timestamp":"1969-12-31T23:59:59.5Z"}`, `{"timestamp":"1969-12-31T23:59:59.25Z"}`,
			`{"timestamp":"1600-01-01T00:00:00.5Z"}`, `{"timestamp":"1600-01-01T00:00:00.25Z"}`, `{"timestamp":"9999-12-31T23:59:59.999999999Z"}`,
			`{"timestamp":"2026-12-05T08:38:31.3x8Z"}`, `{"timestamp":"2026-12-05T08:38:31.Z"}`, `{"timestamp":"now"}`, `{"timestamp":""}`, `{"timestamp":1}`}},
		{"metrics", []string{`{"metrics":{"timer_rulekeeper_hydrate_ns":1203,"timer_rego_query_eval_ns":3377,"timer_rulekeeper_decision_ns":4580}}`,
			`{"metrics":{"timer_rulekeeper_hydrate_ns":1,"timer_rego_query_eval_ns":2,"timer_rulekeeper_decision_ns":99}}`,
			`{"metrics":{"timer_rulekeeper_decision_ns":5,"timer_rulekeeper_hydrate_ns":1}}`,
			`{"metrics":{"timer_rulekeeper_hydrate_ns":-0,"timer_rego_query_eval_ns":007,"timer_rulekeeper_decision_ns":1e3}}`,
			`{"metrics":{"timer_rulekeeper_hydrate_ns":9223372036854775807,"timer_rego_query_eval_ns":9223372036854775807,"timer_rulekeeper_decision_ns":-9223372036854775808}}`,
			`{"metrics":{"timer_rulekeeper_hydrate_ns":99999999999999999999,"timer_rego_query_eval_ns":1.5,"timer_rulekeeper_decision_ns":""}}`}},
		{"request ids", []string{`{"request":{"id":"f46279a25cbd50a1-3ux"}}`, `{"request":{"id":"f46279a25cbd50a1-3uy"}}`,
			`{"request":{"id":"other"}}`, `{"request":{"id":""}}`, `{"request":{"id":"f46279a25cbd50a1-3uz"}}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lines [][]byte
			for _, l := range tc.lines {
				lines = append(lines, []byte(l))
			}
			var e linepack.Encoder
			roundTrip(t, &e, lines)
			roundTrip(t, &e, lines) // the encoder reused
		})
	}
}

// TestCorrupt: a damaged batch is an error, never a panic or a wrong line.
func TestCorrupt(t *testing.T) {
	lines := readLines(t, "testdata/lines.jsonl")[:5]
	var e linepack.Encoder
	packed, err := e.Encode(nil, lines)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{nil, []byte("x"), packed[:len(packed)/2], deflate([]byte("LP1")), deflate([]byte("LP1\x05\x01\x00\x09\x00")),
		deflate([]byte("nope")), deflate([]byte("LP1\x01\x01\x00\x01\x05\x00\x05"))} {
		if _, err := linepack.Decode(bad); err == nil {
			t.Errorf("Decode(%q): no error", bad)
		}
	}
}

func deflate(b []byte) []byte {
	var out bytes.Buffer
	w, _ := flate.NewWriter(&out, flate.BestSpeed)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// FuzzRoundTrip: any batch of byte strings reads back identical (the
// input split at newlines into lines; then the same encoder again on them
// reversed).
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(strings.Join([]string{`{"a":1}`, `{"decision_id":"6b13cd8739b74e4661a35da3","timestamp":"2026-12-05T08:38:31.311874282Z"}`}, "\n")))
	for _, l := range readLines(f, "testdata/lines.jsonl")[:3] {
		f.Add(l)
	}
	var e linepack.Encoder // one for every input: reused as the log reuses it
	f.Fuzz(func(t *testing.T, in []byte) {
		lines := bytes.Split(in, []byte{'\n'})
		roundTrip(t, &e, lines)
		slices.Reverse(lines)
		roundTrip(t, &e, lines)
	})
}

// FuzzDecode: any inflated form is read without a panic.
func FuzzDecode(f *testing.F) {
	var e linepack.Encoder
	packed, _ := e.Encode(nil, readLines(f, "testdata/lines.jsonl")[:2])
	raw, _ := inflate(packed)
	f.Add(raw)
	f.Add([]byte("LP1\x01\x01\x00\x01\x00"))
	var out bytes.Buffer
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	f.Fuzz(func(t *testing.T, raw []byte) {
		out.Reset()
		w.Reset(&out)
		_, _ = w.Write(raw)
		_ = w.Close()
		_, _ = linepack.Decode(out.Bytes())
	})
}

func inflate(b []byte) ([]byte, error) {
	var out bytes.Buffer
	_, err := out.ReadFrom(flate.NewReader(bytes.NewReader(b)))
	return out.Bytes(), err
}

// BenchmarkEncode, BenchmarkDecode and BenchmarkDeflateLines (what was
// stored before: the lines, DEFLATE) on the lines of $LINES (default
// testdata/lines.jsonl); cpu-ns/line is the process's CPU.
func benchLines(b *testing.B) [][]byte {
	file := os.Getenv("LINES")
	if file == "" {
		file = "testdata/lines.jsonl"
	}
	return readLines(b, file)
}

func BenchmarkEncode(b *testing.B) {
	lines := benchLines(b)
	var e linepack.Encoder
	var dst []byte
	c0 := cpu()
	for b.Loop() {
		dst, _ = e.Encode(dst, lines)
	}
	b.ReportMetric(float64((cpu()-c0).Nanoseconds())/float64(b.N*len(lines)), "cpu-ns/line")
	b.ReportMetric(float64(len(dst))/float64(len(lines)), "B/line")
}

func BenchmarkDecode(b *testing.B) {
	lines := benchLines(b)
	var e linepack.Encoder
	dst, _ := e.Encode(nil, lines)
	c0 := cpu()
	for b.Loop() {
		_, _ = linepack.Decode(dst)
	}
	b.ReportMetric(float64((cpu()-c0).Nanoseconds())/float64(b.N*len(lines)), "cpu-ns/line")
}

func BenchmarkDeflateLines(b *testing.B) {
	lines := benchLines(b)
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	var out bytes.Buffer
	c0 := cpu()
	for b.Loop() {
		out.Reset()
		w.Reset(&out)
		for _, l := range lines {
			_, _ = w.Write(l)
			_, _ = w.Write([]byte{'\n'})
		}
		_ = w.Close()
	}
	b.ReportMetric(float64((cpu()-c0).Nanoseconds())/float64(b.N*len(lines)), "cpu-ns/line")
	b.ReportMetric(float64(out.Len())/float64(len(lines)), "B/line")
}

// cpu is this process's CPU time so far.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
