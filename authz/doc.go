// Package authz is rulekeeper's decision engine: OPA embedded in the process,
// evaluating the static policies of package policies plus the module that
// package authz/rules generates from the security rules.
//
// It knows nothing of HTTP or MongoDB. Callers give it a Request naming the
// subject and resource by id or in full; the engine hydrates ids through an
// Entities implementation (the store, in production) behind a short-lived
// entity cache, evaluates the prepared query of the current policy revision
// and answers a Decision: allow, the grants that allowed (table row, role,
// ownership or security rule) and the gates that refused.
//
// # Fail closed
//
// An evaluation error, an undefined or malformed result, an unknown subject
// or a hydration error all answer Allow=false together with an error; the
// caller reports the error (5xx) and never allows.
//
// # Why the decision cache cannot serve a stale allow
//
// The decision cache is keyed by the policy revision and a collision-free
// hash (SHA-256) of a canonical encoding of the whole hydrated input: every
// field the policy can read. The policy is pure over that input and the
// static tables, which are part of the revision. So a cached decision is
// exactly the decision the current policy gives for that input: a rule change
// bumps the revision (old entries can never be hit again) and a change to a
// user, group, membership, license or resource changes the hydrated input and
// therefore the key. What can lag is hydration itself: entities are cached
// for EntityTTL. Writes made through this process call Invalidate before
// they answer, so this replica never hydrates from a superseded entity;
// writes made by another replica are seen here after at most EntityTTL
// (DefaultEntityTTL, five seconds; a negative TTL disables the entity
// cache). That bound is the
// only window, and it applies to hydration by id: callers that pass full
// objects are never affected.
package authz
