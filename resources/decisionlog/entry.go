package decisionlog

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Entry is one line of the decision log. Its fields are OPA's decision log
// fields where OPA has one (decision_id, labels, bundles, path, input,
// result, error, requested_by, timestamp, metrics, erased), plus
// rulekeeper's: the policy revision, the security rules that granted and
// the HTTP request that asked.
type Entry struct {
	DecisionID string  `json:"decision_id"`
	Labels     Labels  `json:"labels"`
	Bundles    Bundles `json:"bundles"`
	Path       string  `json:"path"`
	// Input is the input document as the policy read it (masked).
	Input any `json:"input"`
	// Result is the policy's decision; absent when Error is set.
	Result *authz.Decision `json:"result,omitempty"`
	Error  *EntryError     `json:"error,omitempty"`
	// Revision is the rules revision the decision was taken under; RuleIDs
	// the security rules among its grants.
	Revision    int64        `json:"revision"`
	RuleIDs     []string     `json:"rule_ids"`
	RequestedBy string       `json:"requested_by,omitempty"`
	Request     *RequestInfo `json:"request,omitempty"`
	Timestamp   time.Time    `json:"timestamp"`
	Metrics     Metrics      `json:"metrics"`
	Erased      []string     `json:"erased,omitempty"`
}

// Bundles is OPA's bundle metadata: rulekeeper's one bundle is the policy
// with the rules revision in force.
type Bundles struct {
	Rulekeeper struct {
		Revision string `json:"revision"`
	} `json:"rulekeeper"`
}

// Metrics are the decision's timers, named as OPA names its own.
type Metrics struct {
	Hydrate  int64 `json:"timer_rulekeeper_hydrate_ns"`
	Eval     int64 `json:"timer_rego_query_eval_ns"`
	Decision int64 `json:"timer_rulekeeper_decision_ns"`
}

// EntryError is why a decision failed (it was then a deny).
type EntryError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// RequestInfo is the HTTP request a decision was taken for: the decision
// endpoints' or the REST call the guard decided.
type RequestInfo struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	ID     string `json:"id,omitempty"`     // X-Request-ID
	Caller string `json:"caller,omitempty"` // the authenticated caller's user id
}

// Encoded is an entry ready for a sink: its JSON line (no newline) and the
// fields the database indexes.
type Encoded struct {
	ID           string
	Time         time.Time
	SubjectID    string
	ResourceType string
	ResourceID   string
	Allow        bool
	Line         []byte
}

// policyInput is the input document as the policy reads it
// (policies/CONTRACT.md): the environment is under context.
type policyInput struct {
	Subject  authz.Subject  `json:"subject"`
	Action   string         `json:"action"`
	Resource authz.Resource `json:"resource"`
	Context  struct {
		Environment string `json:"environment"`
	} `json:"context"`
	// The subject's space roles the entry keeps (Subject.Spaces is left
	// nil): those of spaceIDs (sorted) in spaces, read where they are
	// instead of copied into a map per entry.
	spaces   map[string][]string
	spaceIDs []string
}

// encode builds a record's entry and its line.
func (l *Logger) encode(r *record) (Encoded, error) {
	ld := r.ld
	in := policyInput{Subject: ld.Input.Subject, Action: ld.Input.Action, Resource: ld.Input.Resource}
	in.Context.Environment = ld.Input.Environment
	in.Subject.Spaces = nil
	in.spaces = ld.Input.Subject.Spaces
	l.spaceIDs = relevantSpaceIDs(&ld.Input, l.spaceIDs[:0])
	in.spaceIDs = l.spaceIDs
	enc := Encoded{ID: ld.ID, Time: r.at.UTC(), SubjectID: in.Subject.ID, ResourceType: in.Resource.Type,
		ResourceID: in.Resource.ID, Allow: ld.Err == nil && ld.Decision.Allow}
	rev := ld.Decision.Revision
	e := Entry{
		DecisionID: ld.ID, Labels: l.cfg.Labels, Path: Path, Input: &in,
		Revision: rev, RuleIDs: []string{}, Timestamp: enc.Time,
		Metrics: Metrics{Hydrate: ld.Hydrate.Nanoseconds(), Eval: ld.Evaluate.Nanoseconds(),
			Decision: (ld.Hydrate + ld.Evaluate).Nanoseconds()},
	}
	e.Bundles.Rulekeeper.Revision = strconv.FormatInt(rev, 10)
	if len(l.mask) > 0 {
		l.mask.clearIndexed(&enc)
	}
	if ld.Err != nil {
		e.Error = &EntryError{Code: errorCode(ld.Err), Message: ld.Err.Error()}
	} else {
		d := ld.Decision
		e.Result = &d
		for _, g := range d.Grants {
			if g.Kind == "rule" {
				e.RuleIDs = append(e.RuleIDs, g.ID)
			}
		}
	}
	if q := r.req; q != nil {
		e.RequestedBy = q.remote
		e.Request = &RequestInfo{Method: q.method, Path: q.path, ID: q.id, Caller: q.caller}
	}
	// One appender for the writer goroutine: the line is appended to its
	// buffer, which holds a whole batch (write).
	a := &l.app
	a.erased = a.erased[:0]
	start := len(a.b)
	a.entry(&e, &in, l.tree)
	enc.Line = a.b[start:len(a.b):len(a.b)]
	return enc, nil
}

// relevantSpaceIDs appends to ids, sorted, the resource's spaces (its
// own, its target's, its app's) in which the subject has roles: the only
// space roles the policy reads for this decision, so that a member of
// thousands of spaces does not make a line of thousands of entries.
func relevantSpaceIDs(in *authz.Input, ids []string) []string {
	all := in.Subject.Spaces
	if len(all) == 0 {
		return ids
	}
	r := &in.Resource
	add := func(id string) {
		if _, ok := all[id]; ok && id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	add(r.SpaceID)
	add(r.TargetSpaceID)
	if r.Space != nil {
		add(r.Space.ID)
	}
	if r.App != nil {
		add(r.App.SpaceID)
	}
	if r.Type == "space" {
		add(r.ID)
	}
	slices.Sort(ids)
	return ids
}

// relevantSpaces is the map of the subject's roles in relevantSpaceIDs:
// what an entry's input.subject.spaces holds.
func relevantSpaces(in *authz.Input) map[string][]string {
	out := map[string][]string{}
	for _, id := range relevantSpaceIDs(in, nil) {
		out[id] = in.Subject.Spaces[id]
	}
	return out
}

// errorCode names a failed decision's cause.
func errorCode(err error) string {
	switch {
	case isNotFound(err):
		return "unknown_entity"
	case store.Unavailable(err):
		return "database_unavailable"
	}
	return "decision_failed"
}

// request is what the middleware learnt of the HTTP request.
type request struct {
	method, path, id, remote string
	caller                   string // set by OnRequest, after authentication
}

type requestKey struct{}

// requestOf is the request ctx belongs to (nil outside HTTP requests).
func requestOf(ctx context.Context) *request {
	r, _ := ctx.Value(requestKey{}).(*request)
	return r
}
