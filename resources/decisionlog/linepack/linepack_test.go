package linepack_test

import (
	"bufio"
	"bytes"
	"os"
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

func BenchmarkEncode(b *testing.B) {
	lines := readLines(b, os.Getenv("LINES"))
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
	lines := readLines(b, os.Getenv("LINES"))
	var e linepack.Encoder
	dst, _ := e.Encode(nil, lines)
	c0 := cpu()
	for b.Loop() {
		_, _ = linepack.Decode(dst)
	}
	b.ReportMetric(float64((cpu()-c0).Nanoseconds())/float64(b.N*len(lines)), "cpu-ns/line")
}

// cpu is this process's CPU time so far.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDeflateLines is what the log stored before: the lines, DEFLATE
// (klauspost level 1).
func BenchmarkDeflateLines(b *testing.B) {
	lines := readLines(b, os.Getenv("LINES"))
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
