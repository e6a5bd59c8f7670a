package authz

import (
	"context"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Specialize specializes the policy in force for the keys of ins and waits
// until it is done (benchmarks: the specialization is compiled per policy
// revision, in the background, and is not what they measure).
func (e *Engine) Specialize(ctx context.Context, ins []*Input) error {
	c := e.current.Load()
	if c.spec == nil {
		return nil
	}
	terms := make([]*ast.Term, len(ins))
	for i, in := range ins {
		var projected Input
		terms[i] = c.proj.apply(in, &projected).valueWith(&e.strs, c.proj)
	}
	if err := c.specializeNow(ctx, terms...); err != nil {
		return err
	}
	// Until the worker is idle: none of its work in what is measured.
	for {
		c.spec.mu.Lock()
		running := c.spec.running
		c.spec.mu.Unlock()
		if !running {
			return nil
		}
		if err := pause(ctx); err != nil {
			return err
		}
	}
}
