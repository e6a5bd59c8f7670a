// Package guard is how every /api/v1 handler asks the decision engine: the
// same engine and policy as the external decision endpoints, so the REST API
// and external callers always agree. A refusal is a 403 carrying the
// decision's explanation; an engine error is a 500 and never an allow.
//
// A caller who may not read a resource learns nothing of it: a refusal
// about a stored resource (one with an id) that the caller may read
// neither in the hub nor in the console is the same 404 as an id that does
// not exist (Missing), so ids cannot be probed. The 403 and its explanation
// are kept for callers who may read the resource but not do the action.
package guard

import (
	"context"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Environments of a decision (QMC context).
const (
	Hub     = "hub"
	Console = "console"
)

// Decider answers decisions (an *authz.Engine).
type Decider interface {
	Decide(ctx context.Context, req authz.Request) (authz.Decision, error)
}

// Guard checks the caller's permission for an action on a resource.
type Guard struct {
	Engine Decider
	// Planner plans lists (nil: every list decides item by item).
	Planner *authz.Planner
}

// Decide asks about the request's caller; an unauthenticated request is 401.
func (g *Guard) Decide(c fiber.Ctx, env, action string, res authz.Resource) (authz.Decision, error) {
	caller := identity.CallerOf(c)
	if caller == nil {
		return authz.Decision{}, apierror.Unauthorized("missing_credentials", "authentication is required")
	}
	d, err := g.Engine.Decide(c.Context(), authz.Request{
		Subject: authz.Subject{ID: caller.User.ID}, Action: action, Resource: res, Environment: env,
	})
	if err != nil {
		if errors.Is(err, authz.ErrNotFound) {
			return d, NotFound(res)
		}
		return d, fmt.Errorf("decide %s on %s: %w", action, res.Type, err)
	}
	return d, nil
}

// Require answers nil when the caller may do action on res, a 403 with the
// explanation when not, and an error when the engine failed.
func (g *Guard) Require(c fiber.Ctx, env, action string, res authz.Resource) error {
	d, err := g.Decide(c, env, action, res)
	if err != nil {
		return err
	}
	if !d.Allow {
		return g.refuse(c, env, action, res, d)
	}
	return nil
}

// RequireKnown is Require for a resource whose existence every caller
// knows (the tenant's license): a refusal is always the explained 403.
func (g *Guard) RequireKnown(c fiber.Ctx, env, action string, res authz.Resource) error {
	d, err := g.Decide(c, env, action, res)
	if err != nil || d.Allow {
		return err
	}
	return Refusal(action, res, d)
}

// RequireHubOrConsole answers nil when the caller may do action on res in
// the hub or, failing that, in the management console (where tenant
// admins act); a refusal explains the hub decision.
func (g *Guard) RequireHubOrConsole(c fiber.Ctx, action string, res authz.Resource) error {
	d, err := g.Decide(c, Hub, action, res)
	if err != nil || d.Allow {
		return err
	}
	if ok, cerr := g.Allowed(c, Console, action, res); cerr != nil || ok {
		return cerr
	}
	if action == "read" && res.ID != "" {
		return NotFound(res) // refused in both: nothing else to ask
	}
	return g.refuse(c, Hub, action, res, d)
}

// refuse is the answer to a refused decision d (action on res in env): the
// 404 of a missing resource when res is stored and the caller may read it
// nowhere, the 403 explaining d otherwise.
func (g *Guard) refuse(c fiber.Ctx, env, action string, res authz.Resource, d authz.Decision) error {
	if res.ID == "" {
		return Refusal(action, res, d) // a kind of resource, not one that could be hidden
	}
	readable := false
	if action != "read" {
		ok, err := g.AllowedHubOrConsole(c, "read", res)
		if err != nil {
			return err
		}
		readable = ok
	} else {
		other := Console
		if env == Console {
			other = Hub
		}
		ok, err := g.Allowed(c, other, "read", res)
		if err != nil {
			return err
		}
		readable = ok
	}
	if !readable {
		return NotFound(res)
	}
	return Refusal(action, res, d)
}

// NotFound is the 404 of a stored resource that does not exist, or that
// exists but that the caller may not read: the same status, code, message
// and details in both cases.
func NotFound(res authz.Resource) *apierror.Error {
	return apierror.NotFound(res.Type, res.ID)
}

// Missing is err, read from the store for the resource of type typ and id
// named by the request, with a missing document turned into NotFound: what
// every handler returns when the id of its path does not exist, so that it
// answers exactly as for a resource the caller may not read.
func Missing(typ, id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return NotFound(authz.Resource{Type: typ, ID: id})
	}
	return err
}

// AllowedHubOrConsole is RequireHubOrConsole as a boolean, for lists.
func (g *Guard) AllowedHubOrConsole(c fiber.Ctx, action string, res authz.Resource) (bool, error) {
	ok, err := g.Allowed(c, Hub, action, res)
	if err != nil || ok {
		return ok, err
	}
	return g.Allowed(c, Console, action, res)
}

// Allowed is Require as a boolean, for filtering lists.
func (g *Guard) Allowed(c fiber.Ctx, env, action string, res authz.Resource) (bool, error) {
	d, err := g.Decide(c, env, action, res)
	return d.Allow, err
}

// Refusal is the 403 for a denied decision, explaining which gate refused
// or that nothing granted it.
func Refusal(action string, res authz.Resource, d authz.Decision) *apierror.Error {
	msg := fmt.Sprintf("you may not %s this %s", action, res.Type)
	reason := "no_grant"
	if len(d.Denies) > 0 {
		reason = d.Denies[0].Reason
		msg += " (" + reason + ")"
	} else {
		msg += ": no permission, role or rule grants it"
	}
	return apierror.Forbidden(msg, map[string]any{
		"action": action, "resourceType": res.Type, "resourceId": res.ID,
		"reason": reason, "denies": d.Denies, "revision": d.Revision,
	})
}

// Readable keeps the items the caller may read in env, one decision per
// item, in order: what every list endpoint answers.
func Readable[T any](g *Guard, c fiber.Ctx, env string, items []T, resource func(*T) authz.Resource) ([]T, error) {
	out := make([]T, 0, len(items))
	for i := range items {
		ok, err := g.Allowed(c, env, "read", resource(&items[i]))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, items[i])
		}
	}
	return out, nil
}

// Plan is the filter of the resources like template (its type and known
// fields) on which the caller may do action in any of envs, for listing
// them with resources/pushdown. Without a planner the filter is opaque: the
// list then decides every item.
func (g *Guard) Plan(c fiber.Ctx, action string, template authz.Resource, objectTypes []string, envs ...string) (*authz.Filter, error) {
	caller := identity.CallerOf(c)
	if caller == nil {
		return nil, apierror.Unauthorized("missing_credentials", "authentication is required")
	}
	if g.Planner == nil {
		return authz.Opaque("no planner"), nil
	}
	f, err := g.Planner.Plan(c.Context(), authz.PlanRequest{
		Subject: caller.User.ID, Action: action, Environments: envs, Resource: template, ObjectTypes: objectTypes,
	})
	if err != nil {
		return nil, fmt.Errorf("plan %s of %s: %w", action, template.Type, err)
	}
	return f, nil
}
