package authz

import (
	"context"
	"time"
)

// DecisionLogger receives every decision Decide takes (Options.DecisionLog),
// allowed, denied or failed, with the hydrated input the policy saw.
//
// LogDecision runs on the decision's own goroutine, inside Decide: it must
// return at once (queue the entry; encode and write it elsewhere) and must
// not fail the decision. The entry's maps and slices are shared with the
// engine's caches: read them, never change them.
type DecisionLogger interface {
	LogDecision(ctx context.Context, e *LoggedDecision)
}

// LoggedDecision is one decision as Decide took it.
type LoggedDecision struct {
	Input    Input    // hydrated (partly, when hydration failed)
	Decision Decision // Allow is false when Err is set
	Err      error
	// Hydrate and Evaluate are the time spent hydrating the request and
	// evaluating (or finding in the cache) the decision.
	Hydrate, Evaluate time.Duration
}

// decideLogged is Decide with a decision logger: it times the two steps and
// hands the decision to the logger before answering.
func (e *Engine) decideLogged(ctx context.Context, req *Request) (Decision, error) {
	var ld LoggedDecision
	start := time.Now()
	err := e.hydrate(ctx, req, &ld.Input)
	ld.Hydrate = time.Since(start)
	if err != nil {
		e.failed.Observe(0)
		ld.Decision, ld.Err = Decision{Revision: e.Revision()}, err
	} else {
		ld.Decision, ld.Err = e.Evaluate(ctx, &ld.Input)
		ld.Evaluate = time.Since(start) - ld.Hydrate
	}
	e.opts.DecisionLog.LogDecision(ctx, &ld)
	return ld.Decision, ld.Err
}
