package main

import (
	"bytes"
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rulekeeper/rulekeeper/policies"
)

const opaModule = "github.com/open-policy-agent/opa"

// opaVersion is the OPA version this binary is built with (go.mod's).
func opaVersion() (string, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", errors.New("no build information: run with go run or go build")
	}
	for _, d := range bi.Deps {
		if d.Path == opaModule {
			if d.Replace != nil {
				return d.Replace.Version, nil
			}
			return d.Version, nil
		}
	}
	return "", fmt.Errorf("%s is not a dependency of this binary", opaModule)
}

// goTool runs the go command in dir with extra environment.
func goTool(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, truncate(string(out), 2000))
	}
	return nil
}

// buildRulekeeper builds cmd/rulekeeper into dir.
func buildRulekeeper(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "rulekeeper")
	if err := goTool(ctx, root, nil, "build", "-o", bin, "./cmd/rulekeeper"); err != nil {
		return "", err
	}
	return bin, nil
}

// installOPA installs the stock OPA server of go.mod's version into the
// user cache (the module's go.sum does not cover OPA's command, so it is
// built as `go install module@version` does, outside this module).
func installOPA(ctx context.Context, version string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "rulekeeper-loadbench", "opa-"+version)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	if err := goTool(ctx, os.TempDir(), []string{"GOBIN=" + dir}, "install", opaModule+"@"+version); err != nil {
		return "", err
	}
	return filepath.Join(dir, "opa"), nil
}

// writePolicies copies the embedded policy files (the very bytes the
// rulekeeper binary embeds) into dir for `opa run`, with the module
// generated from the security rules beside them: the JSON documents are
// rooted at their own top-level key, so OPA's loader places them at
// data.rulekeeper.* as policies.Data() does.
func writePolicies(dir, rulesModule string) error {
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

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// child is a server process started by the bench.
type child struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  string
	done chan error
}

// start runs bin with args, output to logPath, and waits until health
// answers 200.
func start(ctx context.Context, name, bin string, args []string, url, health, logPath string) (*child, error) {
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
	c := &child{name: name, url: url, cmd: cmd, log: logPath, done: make(chan error, 1)}
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
			return nil, fmt.Errorf("%s exited before it was ready (%v); log: %s\n%s", name, err, logPath, tail(logPath))
		case <-ctx.Done():
			c.stop()
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
			c.stop()
			return nil, fmt.Errorf("%s was not ready within 90 s; log: %s\n%s", name, logPath, tail(logPath))
		}
	}
}

// stop asks the process to terminate and kills it after 10 s.
func (c *child) stop() {
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

// alive reports an error when the process has exited.
func (c *child) alive() error {
	select {
	case err := <-c.done:
		c.done <- err
		return fmt.Errorf("%s exited during the run (%v); log: %s\n%s", c.name, err, c.log, tail(c.log))
	default:
		return nil
	}
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return truncateHead(string(b), 2000)
}

func truncateHead(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// cpu is the CPU time (user and system) the process has used so far, from
// /proc/<pid>/stat; 0 when it cannot be read.
func (c *child) cpu() time.Duration {
	if c == nil || c.cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count from its ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick
}
