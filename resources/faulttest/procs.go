// Package faulttest is rulekeeper's fault suite: it builds and starts the
// real pieces as processes on 127.0.0.1 — FerretDB's own server (built from
// the FerretDB module in go.mod, SQLite handler) and two `rulekeeper serve
// --mongo-uri` replicas on it — and drives the scenarios of issue 13: the
// stale allow on an idle replica, the compare-and-swap race, the last-admin
// race, the database paused and killed under load, SIGTERM among creates
// with Idempotency-Key, and revocation and rule propagation. `go test` runs
// a reduced form; `make faults` (RULEKEEPER_FAULTS=full) the full one, whose
// figures README.md records.
package faulttest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/ferretserver"
)

// repoRoot is the module root, two levels above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func run(t testing.TB, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// ferretBinary is FerretDB's server built from the module in go.mod
// (resources/ferretserver caches it).
func ferretBinary(t testing.TB) string {
	t.Helper()
	bin, err := ferretserver.Binary(context.Background(), repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// rulekeeperBinary builds the checkout's rulekeeper, without debug
// information (linking is most of the build once the build cache is warm).
// The binary is cached by a hash of the checkout's sources (every file but
// .git, testdata and bench), so a repeated run with no change relinks
// nothing.
func rulekeeperBinary(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == ".git" || name == "testdata" || name == "node_modules" || name == "bin" || name == ".data" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, "_test.go") || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", strings.TrimPrefix(path, root), len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "rulekeeper-faulttest", fmt.Sprintf("rulekeeper-%x", h.Sum(nil)[:8]))
	if _, err := os.Stat(bin); err != nil {
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			t.Fatal(err)
		}
		// Builds of other checkouts' states are dropped once a day old:
		// another checkout's suite may be running one right now.
		old, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), "rulekeeper-*"))
		for _, o := range old {
			if fi, err := os.Stat(o); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
				_ = os.Remove(o)
			}
		}
		part := bin + fmt.Sprintf(".%d.part", os.Getpid())
		run(t, root, "go", "build", "-ldflags=-s -w", "-o", part, "./cmd/rulekeeper")
		if err := os.Rename(part, bin); err != nil {
			t.Fatal(err)
		}
	}
	// The suite runs its own copy (a hard link where it can), which no
	// other run's clean-up can take away halfway through (a replica is
	// started again for the SIGTERM scenario minutes after the others).
	mine := filepath.Join(t.TempDir(), "rulekeeper")
	if err := os.Link(bin, mine); err != nil {
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mine, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return mine
}

func freePort(t testing.TB) int {
	t.Helper()
	port, err := ferretserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// ferret is a FerretDB server process on a fixed port and data directory,
// so that it can be killed and started again in the same place.
type ferret struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
}

func startFerret(t testing.TB, bin string) *ferret {
	f := &ferret{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	f.start()
	t.Cleanup(f.stop)
	return f
}

func (f *ferret) uri() string { return fmt.Sprintf("mongodb://127.0.0.1:%d/", f.port) }

func (f *ferret) start() {
	f.t.Helper()
	cmd, err := ferretserver.Command(f.bin, f.dir, f.port)
	if err != nil {
		f.t.Fatal(err)
	}
	f.cmd = cmd
	if err := f.cmd.Start(); err != nil {
		f.t.Fatalf("start FerretDB: %v", err)
	}
	waitTCP(f.t, fmt.Sprintf("127.0.0.1:%d", f.port), 30*time.Second)
}

func (f *ferret) signal(sig syscall.Signal) {
	if f.cmd != nil && f.cmd.Process != nil {
		_ = f.cmd.Process.Signal(sig)
	}
}

// kill ends the server at once (SIGKILL) and waits for it.
func (f *ferret) kill() {
	f.signal(syscall.SIGCONT)
	f.signal(syscall.SIGKILL)
	if f.cmd != nil {
		_ = f.cmd.Wait()
	}
	f.cmd = nil
}

func (f *ferret) stop() { f.kill() }

func waitTCP(t testing.TB, addr string, within time.Duration) {
	t.Helper()
	if err := ferretserver.WaitTCP(context.Background(), addr, within); err != nil {
		t.Fatal(err)
	}
}

// replica is one `rulekeeper serve` process.
type replica struct {
	url string
	cmd *exec.Cmd
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startReplica runs rulekeeper in dev mode (its own dev issuer; the demo
// tenant is seeded once into the shared database) on uri.
func startReplica(t testing.TB, bin, uri string, extra ...string) *replica {
	t.Helper()
	args := append([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--mongo-uri", uri, "--log-level", "error"}, extra...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	select {
	case u := <-found:
		return &replica{url: u, cmd: cmd}
	case <-ctx.Done():
		t.Fatal("rulekeeper did not start within 60 s")
	}
	return nil
}
