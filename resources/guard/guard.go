// Package guard is how every /api/v1 handler asks the decision engine: the
// same engine and policy as the external decision endpoints, so the REST API
// and external callers always agree. A refusal is a 403 carrying the
// decision's explanation; an engine error is a 500 and never an allow.
package guard

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/identity"
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
			return d, apierror.New(http.StatusNotFound, "not_found", err.Error(), nil)
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
		return Refusal(action, res, d)
	}
	return nil
}

// RequireHubOrConsole answers nil when the caller may do action on res in
// the hub or, failing that, in the management console (where tenant
// admins act); a refusal explains the hub decision.
func (g *Guard) RequireHubOrConsole(c fiber.Ctx, action string, res authz.Resource) error {
	err := g.Require(c, Hub, action, res)
	var ae *apierror.Error
	if err == nil || !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		return err
	}
	if ok, cerr := g.Allowed(c, Console, action, res); cerr != nil || ok {
		return cerr
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
