// Package policies holds rulekeeper's built-in Rego policy and its data
// tables, embedded in the binary.
//
// The Rego modules (package rulekeeper.authz, rulekeeper.gates and
// rulekeeper.builtin) decide data.rulekeeper.authz.decision as described in
// CONTRACT.md. The JSON files are data documents rooted at their own top
// level key, so that OPA's loader and Data agree on their place:
// data.rulekeeper.tables (the seed's permission tables, personal and managed
// space grants, role grants) and data.rulekeeper.vocabulary (resource types
// and actions the engine accepts). README.md describes the files.
package policies

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
)

// FS holds the Rego modules (*.rego) and the data documents (*.json).
//
//go:embed *.rego *.json
var FS embed.FS

// Modules returns the Rego modules by file name (e.g. "decision.rego") with
// their source, ready for ast.ParseModuleWithOpts with Rego v1.
func Modules() (map[string]string, error) { return ModulesFrom(FS) }

// ModulesFrom is Modules read from fsys, a directory laid out as this one
// (another checkout's policies/, to compare two versions of the policy).
func ModulesFrom(fsys fs.FS) (map[string]string, error) {
	names, err := fs.Glob(fsys, "*.rego")
	if err != nil {
		return nil, err
	}
	modules := make(map[string]string, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		modules[name] = string(b)
	}
	return modules, nil
}

// Data returns the data documents merged into one tree, to be loaded at the
// root of OPA's store: {"rulekeeper": {"tables": …, "vocabulary": …}}.
// Objects are merged deeply; the same leaf in two files is an error.
func Data() (map[string]any, error) { return DataFrom(FS) }

// DataFrom is Data read from fsys, as ModulesFrom reads the modules.
func DataFrom(fsys fs.FS) (map[string]any, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	root := map[string]any{}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("policies: %s: %w", name, err)
		}
		if err := merge(root, doc, nil); err != nil {
			return nil, fmt.Errorf("policies: %s: %w", name, err)
		}
	}
	return root, nil
}

// merge adds src into dst, recursing into objects present in both.
func merge(dst, src map[string]any, at []string) error {
	for k, v := range src {
		here := append(at[:len(at):len(at)], k)
		old, ok := dst[k]
		if !ok {
			dst[k] = v
			continue
		}
		o, ok1 := old.(map[string]any)
		n, ok2 := v.(map[string]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("data.%s is defined twice", strings.Join(here, "."))
		}
		if err := merge(o, n, here); err != nil {
			return err
		}
	}
	return nil
}
