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
// # The security rules' value lists
//
// The indexed rules module looks its buckets up by the input's attribute
// values, listed and lower-cased, and by their prefixes. The engine
// computes those lists and lookup keys when it builds the input
// (rulevalues.go), looks the keys up in its copy of the buckets and tests
// the candidates' atoms it can (ruleindex.go), and passes at input.va the
// rules proved, the candidates the module must test (with the lists their
// atoms read) and the answers of the HasPrivilege helpers those need
// (privileges.go); they are a function of the (projected) input and the
// revision, so the decision and its cache key are unchanged, and the
// module finds and tests the candidates itself for a caller that does not
// pass them.
//
// # Why the decision cache cannot serve a stale allow
//
// The decision cache is keyed by the policy revision and a collision-free
// hash (SHA-256) of a canonical encoding of the projected input (below):
// every field the policy can read. The policy is pure over that input and the
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
//
// # Why the projected input decides as the full input
//
// Evaluate does not hand OPA the hydrated input as it is but its projection
// on what the revision in force can read of input.subject, and keys the
// decision cache with the same projection: what is cached is what was
// evaluated, so key and evaluation agree by construction, and the only
// claim to argue is that the policy decides (and explains) the projection
// as it decides the full input. Load computes, per subject field, how the
// revision reads it, from the parsed modules:
//
//   - A field no module reads is dropped (name, email, groups and
//     attributes under the static policies alone). Dropping what is never
//     read changes nothing.
//   - status, anonymous, roles and license are kept whole, and so is
//     flagged, which the engine computes from status, anonymous and
//     license (Subject.flagged: the projection keeps those three whenever
//     it is read).
//   - The static policies read input.subject.id only through subject_id
//     and is_app_owner, which compare it for equality with resource values
//     (resource.owner, resource.id, the app's owner, sharedWith) or with
//     ""; groupIds only for
//     membership in the resource's sharedWith; and input.subject.spaces
//     only indexed by a space id taken from the resource (space_id:
//     resource.spaceId, .id, .app.spaceId, .space.id; and targetSpaceId).
//     The related resources HasPrivilege builds are made of the resource's
//     own fields, so the same holds under "with input.resource as r".
//     The projection keeps the spaces entries and group ids that equal a
//     string of the resource, and the id when it does; any other id becomes
//     one placeholder that equals no string of the resource (if the resource
//     happens to hold the placeholder, the id is kept). Every comparison the
//     policy makes then has the same outcome: x == resource value holds for
//     the projected x exactly when it holds for the real one, and every
//     lookup spaces[k] finds the same roles. An empty id is kept (the
//     policy treats it apart).
//   - The generated rules module is checked, not trusted: a read of id or
//     groupIds counts as "compared with the resource" only in the value
//     lists authz/rules emits for "resource.owner = user"-like conditions
//     (generatedUse in input.go: the list is used only in membership tests
//     against lists of input.resource values, or in the non-empty test);
//     any other read of a subject field by the rules (a literal id, a
//     pattern, user.name, user.group, a custom attribute, spaces) keeps that
//     field whole. The rules compare case-insensitively, so "equals a string
//     of the resource" is tested ignoring case, which only keeps more.
//   - A read of input or input.subject as a whole, or of a subject field by
//     a computed name, turns the projection off for the revision.
//
// TestProjectedDecisionsEqualFullEvaluation checks the argument
// differentially: random inputs over a small universe of ids (so that
// subjects' ids, groups and spaces often meet the resource's), each with a
// look-alike subject, decided through the projection and the cache, equal
// a fresh evaluation of the whole input — under the static policies, the
// shipped rules, and rules that read the id, name, groups and attributes.
// Options.NoProjection turns it off.
//
// # The subject's fields the rules alone read
//
// With an indexed rules module, the engine finds the candidates of the
// input's buckets in Go and hands them to the module in input.va
// (ruleindex.go): the rules Go proved at input.va["@t"], and at
// input.va["@"] those whose atoms the module must test (matches, contains,
// negations, the rules compiled to Rego for HasPrivilege). The value lists
// and keys are read from the Go input (subjectSource, the projected
// subject's fields as the subject object would carry them). When input.va
// holds no "@", the subject object OPA is given carries only the fields
// the static policies read (projection.core: not the name, email, groups
// and custom properties that only rules read), because the module reads no
// subject field then: its grants are _didx, whose bodies read
// input.va["@t"] (_dfound, as input.va is set) and iterate input.va["@"]
// (absent: no body holds); the module's reads of input.subject are all in
// rules reached only from there or without input.va — the value lists
// (_vf; _v<n> and _lv<n>, case-sensitive or not, of the rules compiled to
// Rego), the atoms' tests (_atom, _datom, _pos, _lit), the rules compiled
// to Rego (_g<n>) and their HasPrivilege helpers (_p<n>_<n>), as
// rules.SubjectReaders names them. analyse checks that last claim on the
// module it is given (coreReaders)
// and gives every input the whole projected subject when it does not
// hold. Whenever input.va is absent (no copy of the buckets, or a value
// the module lists differently) or has "@" (the module tests atoms, and
// the helpers evaluate the rules on a related resource from the input's
// subject), the subject object has every projected field. The decision
// cache's key is the projected input's, of which the object given to OPA
// is a function. TestProjectedDecisionsEqualFullEvaluation (its indexed
// set, with negated, matches and HasPrivilege atoms over those fields),
// TestFoundCandidatesAgreeWithTheModule and TestCoreFields check it.
//
// # Decisions the security rules cannot grant
//
// A decision whose resource type, action and environment no body of the
// rules module names (prune.go, rulesGuardsOf), or, with an indexed
// module, whose buckets hold no candidate (input.va is {"@t": []}: no
// rule proved, none left to the module), gets no grant from the module.
// OPA decides it on the compilation's copy of the decision package
// without the rules (noRulesModule, compiled.bare): the same built-in
// grants and gates, from the same compiler and input, as the policy
// decides with an empty rules module. That the module grants nothing for
// such an input is checked on the compiled module, not assumed
// (grantsOnlyFound: every body its grants come from iterates the
// candidates' lists of input.va); TestDecisionsTheRulesCannotGrant
// compares the decisions with the module's own.
//
// # What one evaluation costs
//
// An uncached decision is one evaluation of the decision query by OPA's
// evaluator — the three parts the decision rule assembles (allow, grants,
// the gates' denies), read directly rather than as the decision object
// (engine.go: decisionQuery; in practice allow alone, whose rule computes
// the two others, which the engine then reads from the evaluation's rule
// cache: allowQuery) — called directly rather than through
// rego.PreparedEvalQuery: no goroutine per evaluation to watch the context
// (OPA's cancellation is the context's Done channel), no metrics, the
// query on the stack, and the result read as an
// OPA value, not converted to Go maps and back. The evaluator's two
// per-evaluation caches are the engine's (evalcache.go): the rule cache
// (values of the rules evaluated so far) comes from a pool instead of a
// fresh trie of hash maps, and the base-document cache is the revision's
// data document, read from the store once per compilation or Patch, so a
// table read is a lookup in that value, and so is what the evaluator asks
// the store (no store transaction: decisions hold the engine's read lock
// instead, so a Patch cannot commit under them). Neither changes what
// OPA evaluates. The input is built as an OPA value with shared keys,
// shared empty values and booleans, a shared context object per
// environment and license object per license, the strings, one-item lists
// and related spaces and apps that recur, and the resource objects asked
// about more than once, taken from an engine-wide interned set (bounded,
// by content, strings copied), and the remaining terms of one input from
// one allocation. The static policies are written
// for OPA's rule index (equalities on input fields first); bench/README.md
// ("In-process decisions") has the figures.
package authz
