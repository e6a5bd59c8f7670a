package cpuprofile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/cpuprofile"
)

func TestStartWritesAProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	stop, err := cpuprofile.Start(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cpuprofile.Start(filepath.Join(t.TempDir(), "second.prof")); err == nil {
		t.Error("a second profile started while one runs")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("profile %s: %v, %v", path, fi, err)
	}
	if _, err := cpuprofile.Start(filepath.Join(t.TempDir(), "missing", "cpu.prof")); err == nil {
		t.Error("a profile into a missing directory started")
	}
}
