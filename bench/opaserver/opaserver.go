// Package opaserver runs the stock OPA server beside rulekeeper for the
// benchmarks in bench/ that use it as their baseline: it installs the OPA
// version go.mod names, starts it (or any server binary) as a child
// process, writes rulekeeper's policies for `opa run`, and encodes decision
// inputs exactly as rulekeeper's engine builds them (policies/CONTRACT.md),
// so that both evaluate the same document.
package opaserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/rulekeeper/rulekeeper/policies"
)

// Module is OPA's Go module path.
const Module = "github.com/open-policy-agent/opa"

// Version is the OPA version the calling binary is built with (go.mod's).
func Version() (string, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", errors.New("no build information: run with go run or go build")
	}
	for _, d := range bi.Deps {
		if d.Path == Module {
			if d.Replace != nil {
				return d.Replace.Version, nil
			}
			return d.Version, nil
		}
	}
	return "", fmt.Errorf("%s is not a dependency of this binary", Module)
}

// Install builds OPA at version into the user's cache directory (once:
// go install is quick when the binary is up to date) and returns its path.
func Install(ctx context.Context, version string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "rulekeeper-loadbench", "opa-"+version)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "install", Module+"@"+version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", Module, version, err, TruncateHead(string(out), 2000))
	}
	return filepath.Join(dir, "opa"), nil
}

// WritePolicies copies the embedded policy files (the very bytes the
// rulekeeper binary embeds) into dir for `opa run`, with the module
// generated from the security rules beside them: the JSON documents are
// rooted at their own top-level key, so OPA's loader places them at
// data.rulekeeper.* as policies.Data() does.
func WritePolicies(dir, rulesModule string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if rulesModule != "" {
		if err := os.WriteFile(filepath.Join(dir, "generated_rules.rego"), []byte(rulesModule), 0o640); err != nil {
			return err
		}
	}
	return fs.WalkDir(policies.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(policies.FS, path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.FromSlash(path)), b, 0o640)
	})
}

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Process is a server process started by a benchmark.
type Process struct {
	Name string
	URL  string
	Log  string // its output
	cmd  *exec.Cmd
	done chan error
}

// Start runs bin with args, output to logPath, and waits (up to 90 s)
// until url+health answers 200. The process dies with its parent.
func Start(ctx context.Context, name, bin string, args []string, url, health, logPath string) (*Process, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &Process{Name: name, URL: url, cmd: cmd, Log: logPath, done: make(chan error, 1)}
	go func() {
		c.done <- cmd.Wait()
		out.Close()
	}()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-c.done:
			c.done <- err
			return nil, fmt.Errorf("%s exited before it was ready (%v); log: %s\n%s", name, err, logPath, Tail(logPath))
		case <-ctx.Done():
			c.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := hc.Get(url + health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("%s was not ready within 90 s; log: %s\n%s", name, logPath, Tail(logPath))
		}
	}
}

// Stop asks the process to terminate and kills it after 10 s.
func (c *Process) Stop() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
	}
}

// Alive reports an error when the process has exited.
func (c *Process) Alive() error {
	select {
	case err := <-c.done:
		c.done <- err
		return fmt.Errorf("%s exited during the run (%v); log: %s\n%s", c.Name, err, c.Log, Tail(c.Log))
	default:
		return nil
	}
}

// Tail is the end of the file at path (its last 2,000 bytes).
func Tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return TruncateHead(string(b), 2000)
}

// TruncateHead keeps the last n bytes of s.
func TruncateHead(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// PID is the process id.
func (c *Process) PID() int { return c.cmd.Process.Pid }
