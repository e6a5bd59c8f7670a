package authz

import (
	"context"
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// RuleGrantsQuery is the set of grants of the security rules alone.
const RuleGrantsQuery = "data.rulekeeper.rules.grants"

// Evaluator decides against one compiled policy — the revision in force or
// a proposed rule set that is not — without the decision cache and without
// touching the engine's metrics: what-if analysis (preview, impact, audit)
// evaluates millions of inputs that no caller will ask again.
type Evaluator struct {
	c     *compiled
	rules rego.PreparedEvalQuery
}

// WithRules compiles the static policies with a proposed rules module (as
// rules.CompileModule makes it; "" for none) into an Evaluator. Nothing is
// put in force.
func (e *Engine) WithRules(ctx context.Context, rulesModule string) (*Evaluator, error) {
	c, err := e.compile(ctx, e.Revision(), rulesModule, nil)
	if err != nil {
		return nil, err
	}
	return newEvaluator(ctx, c)
}

// InForce is an Evaluator of the revision in force.
func (e *Engine) InForce(ctx context.Context) (*Evaluator, error) {
	return newEvaluator(ctx, e.current.Load())
}

func newEvaluator(ctx context.Context, c *compiled) (*Evaluator, error) {
	pq, err := rego.New(
		rego.Query(RuleGrantsQuery),
		rego.Compiler(c.compiler),
		rego.Store(c.store),
		rego.StoreReadAST(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: prepare the rule grants query: %w", err)
	}
	return &Evaluator{c: c, rules: pq}, nil
}

// Revision is the revision the evaluator was compiled at (for a proposed
// rule set, the revision in force when it was compiled).
func (v *Evaluator) Revision() int64 { return v.c.revision }

// Evaluate decides an already hydrated input, like Engine.Evaluate.
func (v *Evaluator) Evaluate(ctx context.Context, in *Input) (Decision, error) {
	return v.evalValue(ctx, in.value())
}

// evalValue is one uncached evaluation of the decision query.
func (v *Evaluator) evalValue(ctx context.Context, input ast.Value) (Decision, error) {
	return v.c.decide(ctx, input)
}

// RuleGrants evaluates only the security rules' grants for in: much cheaper than a decision, and enough to tell whether a rule
// grants. Gates are not consulted.
func (v *Evaluator) RuleGrants(ctx context.Context, in *Input) ([]Grant, error) {
	return v.ruleGrantsValue(ctx, in.value())
}

func (v *Evaluator) ruleGrantsValue(ctx context.Context, input ast.Value) ([]Grant, error) {
	rs, err := v.rules.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, fmt.Errorf("authz: evaluate the rule grants: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, nil // no rules module: no rule grants
	}
	set, ok := rs[0].Expressions[0].Value.([]any)
	if !ok {
		return nil, errors.New("authz: the rule grants are not a set")
	}
	out := make([]Grant, 0, len(set))
	for _, g := range set {
		m, ok := g.(map[string]any)
		if !ok {
			return nil, errors.New("authz: a rule grant is not an object")
		}
		out = append(out, Grant{Kind: asString(m["kind"]), ID: asString(m["id"]), Name: asString(m["name"])})
	}
	return out, nil
}

// inputOf assembles the policy input from prepared parts, without
// rebuilding the subject and resource values for every triple.
func inputOf(s, r *Target, action, env string) ast.Value {
	return ast.NewObject(
		[2]*ast.Term{ast.StringTerm("subject"), s.term},
		str("action", action),
		[2]*ast.Term{ast.StringTerm("resource"), r.term},
		[2]*ast.Term{ast.StringTerm("context"), ast.NewTerm(ast.NewObject(str("environment", env)))},
	)
}
