package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rulekeeper/rulekeeper/bench/opaserver"
)

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

// buildRulekeeper builds cmd/rulekeeper into dir, with go build's -pgo
// (a profile relative to root, or off), as make build does.
func buildRulekeeper(ctx context.Context, root, dir, pgo string) (string, error) {
	bin := filepath.Join(dir, "rulekeeper")
	if err := goTool(ctx, root, nil, "build", "-pgo="+pgo, "-o", bin, "./cmd/rulekeeper"); err != nil {
		return "", err
	}
	return bin, nil
}

// cpuOf is the CPU time (user and system) process p has used so far, from
// /proc/<pid>/stat; 0 when it cannot be read.
func cpuOf(p *opaserver.Process) time.Duration {
	if p == nil {
		return 0
	}
	_, cpu := statOf(p.PID())
	return cpu
}

// statOf reads of process pid's /proc/<pid>/stat its parent and its CPU
// time (user and system); ppid -1 when it cannot be read.
func statOf(pid int) (ppid int, cpu time.Duration) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1, 0
	}
	// The command name (field 2) may hold spaces: count from its ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return -1, 0
	}
	ppid, err0 := strconv.Atoi(f[1])
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err0 != nil || err1 != nil || err2 != nil {
		return -1, 0
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return ppid, time.Duration(utime+stime) * tick
}
