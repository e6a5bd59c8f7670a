package authz

import (
	"context"
	"time"
)

// DecisionLogger receives the decisions Decide takes (Options.DecisionLog),
// allowed, denied or failed, with the hydrated input the policy saw.
//
// Both methods run on the decision's own goroutine, inside Decide, and must
// return at once. Sample is asked before the decision is taken: it answers
// the entry to fill (the logger's own, typically reused) when this decision
// is to be logged, nil when not — a decision the sampler leaves out then
// costs nothing more than that question. LogDecision gets the filled entry
// back; from then on the logger owns it (queue it; encode and write it
// elsewhere) and it must not fail the decision. The entry's maps and slices
// are shared with the engine's caches: read them, never change them.
type DecisionLogger interface {
	Sample(ctx context.Context) *LoggedDecision
	LogDecision(ctx context.Context, e *LoggedDecision)
}

// LoggedDecision is one decision as Decide took it.
type LoggedDecision struct {
	// ID is the decision id the logger gave in Sample.
	ID       string
	Input    Input    // hydrated (partly, when hydration failed)
	Decision Decision // Allow is false when Err is set
	Err      error
	// Hydrate and Evaluate are the time spent hydrating the request and
	// evaluating (or finding in the cache) the decision.
	Hydrate, Evaluate time.Duration
}

// decideLogged is Decide for a decision the logger samples: it times the
// two steps, fills ld and hands it to the logger before answering.
func (e *Engine) decideLogged(ctx context.Context, req *Request, ld *LoggedDecision) (Decision, error) {
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
	d, derr := ld.Decision, ld.Err
	e.opts.DecisionLog.LogDecision(ctx, ld) // ld is the logger's from here
	return d, derr
}
