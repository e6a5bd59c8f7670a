// Package ferretserver builds and runs FerretDB's own server (cmd/ferretdb
// of the FerretDB module in go.mod, SQLite handler) as a separate process on
// 127.0.0.1: the database of the test suites and of the fault suite. Test
// binaries that talk to it do not link FerretDB and SQLite themselves, which
// made every one of them twice as slow to link.
package ferretserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Binary returns the path of FerretDB's server built from the FerretDB
// module that go.mod requires, building it on first use. cmd/ferretdb embeds
// build/version/version.txt, which the module zip lacks, so the module is
// copied into a temporary directory with that file written and built
// through a go.mod that replaces the module by the copy. The binary is
// cached under the user's cache directory, keyed by the module's version;
// concurrent callers (test binaries of several packages) wait for one build.
// dir is any directory inside the rulekeeper module.
func Binary(ctx context.Context, dir string) (string, error) {
	gomod, err := output(ctx, dir, "go", "env", "GOMOD")
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("ferretserver: %s is not inside a Go module: %v", dir, err)
	}
	mod, err := output(ctx, dir, "go", "list", "-m", "-f", "{{.Version}} {{.Dir}}", "github.com/FerretDB/FerretDB")
	if err != nil {
		return "", fmt.Errorf("ferretserver: find the FerretDB module: %w", err)
	}
	version, modDir, ok := strings.Cut(mod, " ")
	if !ok || modDir == "" {
		return "", fmt.Errorf("ferretserver: the FerretDB module is not downloaded (go list said %q)", mod)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "rulekeeper", "ferretdb-"+version)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(bin+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("ferretserver: lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // built by another process while this one waited
	}
	if err := build(ctx, dir, gomod, version, modDir, bin); err != nil {
		return "", fmt.Errorf("ferretserver: build FerretDB %s: %w", version, err)
	}
	return bin, nil
}

func build(ctx context.Context, dir, gomod, version, modDir, bin string) error {
	tmp, err := os.MkdirTemp("", "ferretdb-build-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "ferretdb")
	if _, err := output(ctx, dir, "cp", "-r", modDir, src); err != nil {
		return err
	}
	if _, err := output(ctx, dir, "chmod", "-R", "u+w", src); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "build", "version", "version.txt"), []byte(version+"\n"), 0o644); err != nil {
		return err
	}
	m, err := os.ReadFile(gomod)
	if err != nil {
		return err
	}
	m = append(m, []byte("\nreplace github.com/FerretDB/FerretDB => "+src+"\n")...)
	sum, _ := os.ReadFile(filepath.Join(filepath.Dir(gomod), "go.sum"))
	fsum, _ := os.ReadFile(filepath.Join(src, "go.sum"))
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), m, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "go.sum"), append(sum, fsum...), 0o644); err != nil {
		return err
	}
	part := fmt.Sprintf("%s.%d.part", bin, os.Getpid())
	if _, err := output(ctx, filepath.Dir(gomod), "go", "build", "-mod=mod", "-modfile", filepath.Join(tmp, "go.mod"),
		"-ldflags=-s -w", "-o", part, "github.com/FerretDB/FerretDB/cmd/ferretdb"); err != nil {
		return err
	}
	return os.Rename(part, bin)
}

func output(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, ee.Stderr)
		}
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Command is the command line of the server bin keeping its SQLite files
// and state in dir and listening on 127.0.0.1:port, logging only errors.
func Command(bin, dir string, port int) (*exec.Cmd, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	debug, err := FreePort()
	if err != nil {
		return nil, err
	}
	return exec.Command(bin, "--handler=sqlite", "--sqlite-url=file:"+data+"/?_pragma=synchronous(OFF)",
		fmt.Sprintf("--listen-addr=127.0.0.1:%d", port), fmt.Sprintf("--debug-addr=127.0.0.1:%d", debug),
		"--state-dir="+dir, "--telemetry=disable", "--log-level=error"), nil
}

// URI is the mongodb:// address of a server on 127.0.0.1:port.
func URI(port int) string { return fmt.Sprintf("mongodb://127.0.0.1:%d/", port) }

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitTCP waits until something accepts connections on addr.
func WaitTCP(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := (&net.Dialer{Timeout: 200 * time.Millisecond}).DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("nothing listens on %s after %s: %w", addr, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Server is a running server process.
type Server struct {
	cmd  *exec.Cmd
	dir  string
	port int
}

// Start builds (or finds) the server and starts it in a new temporary
// directory on a free port; Stop ends it and removes the directory.
func Start(ctx context.Context, dir string) (*Server, error) {
	bin, err := Binary(ctx, dir)
	if err != nil {
		return nil, err
	}
	data, err := os.MkdirTemp("", "rulekeeper-ferretdb-*")
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		cmd, err := Command(bin, data, port)
		if err != nil {
			return nil, err
		}
		cmd.Stderr = os.Stderr
		// Ends with the test binary that started it, even when that one is killed.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			_ = os.RemoveAll(data)
			return nil, fmt.Errorf("ferretserver: start %s: %w", bin, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		werr := WaitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)
		select {
		case <-exited:
			werr = fmt.Errorf("exited at start")
		default:
		}
		if werr == nil {
			return &Server{cmd: cmd, dir: data, port: port}, nil
		}
		_ = cmd.Process.Kill()
		<-exited
		if attempt == 2 { // the port was taken in between, three times
			_ = os.RemoveAll(data)
			return nil, fmt.Errorf("ferretserver: %s: %w", bin, werr)
		}
	}
}

// URI is the server's mongodb:// address.
func (s *Server) URI() string { return URI(s.port) }

// Stop kills the server and removes its files.
func (s *Server) Stop() {
	_ = s.cmd.Process.Kill()
	_ = os.RemoveAll(s.dir)
}
