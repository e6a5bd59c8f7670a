package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// buildRulekeeper builds cmd/rulekeeper into dir.
func buildRulekeeper(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "rulekeeper")
	if err := goTool(ctx, root, nil, "build", "-o", bin, "./cmd/rulekeeper"); err != nil {
		return "", err
	}
	return bin, nil
}
