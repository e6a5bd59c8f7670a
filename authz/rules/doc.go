// Package rules implements rulekeeper's QMC-style security rules: a lexer
// and parser for the condition language and the resource filter, a checker
// that reports problems with line and column, and a compiler to Rego v1.
//
// It knows nothing of HTTP or storage: the service hands it rules and a
// Vocabulary and loads the generated module (package rulekeeper.rules)
// beside the static policies.
//
// # Condition language
//
//	user.group = "Sales" and (resource.name like "Q*" or resource.@tag matches "fin.*")
//	!resource.space.Empty() && resource.HasPrivilege("read")
//
// Operators: = and != compare case-insensitively, == and !== exactly; like
// matches wildcards (* any run of characters, ? one character) over the
// whole value, case-insensitively; matches is a regular expression (Go RE2
// syntax) anchored at both ends, case-sensitive unless it says (?i). The
// right side of like and matches must be a string literal. Logical
// operators and/&& and or/|| and the prefix !, with precedence ! > and > or;
// keywords and function names are case-insensitive. String literals are
// double-quoted, on one line, with the escapes \" \\ \n \r \t; any other
// backslash stays as written, so regular expressions need no doubling.
//
// Values. Every attribute is treated as a list of strings: a string is one
// value, an array several, a boolean or number counts as its text ("true",
// "42"), a missing attribute has none. A comparison holds when some value
// on the left and some value on the right satisfy it; != and !== are the
// negations of = and == (so user.group != "Sales" means "not in Sales", and
// holds for a user with no groups).
//
// Paths (attribute names case-insensitive, custom property names as
// written): user (the subject's id), user.name, user.userId, user.email,
// user.group (group names), user.groupId, user.roles, user.status,
// user.license, user.@<property>, user.environment.<attr> (the request
// context, input.context.<attr>); resource.name, resource.id,
// resource.resourcetype, resource.owner (the owner's id: compare with user),
// resource.@<property>, the type attributes of the Vocabulary (for example
// resource.objectType for app.object), and navigations: resource.space.*
// (resource.stream.* is an alias) and resource.app.*; a bare navigation
// such as resource.space is the related object's id.
//
// Functions: resource.HasPrivilege("action") holds when the user holds the
// action on the related resource (for app.object its app, for app its
// space; resource.app.HasPrivilege and resource.space.HasPrivilege name the
// navigation explicitly); x.Empty() holds when x has no non-empty value;
// resource.IsOwned() (or resource.app.IsOwned()) when there is an owner;
// user.IsAnonymous() when input.subject.anonymous is true. An empty
// condition always holds.
//
// # Resource filter
//
// Comma-separated terms; a rule applies when any term matches: "*" every
// resource, "Type_*" every resource of a type, "Type_<id>" one resource,
// "Prefix*" every type whose name starts with Prefix. Types are the API
// names of the Vocabulary, matched case-insensitively, and their QMC
// aliases: App → app, App.Object → app.object, Stream and Space → space,
// ReloadTask → schedule, User, Group, Extension, Theme, ApiKey,
// WebIntegration, License, Settings, Event, Rule. A prefix matches both
// ("Stream*" selects space). A type the vocabulary does not know is a
// warning, not an error: callers of the decision endpoints may name types
// rulekeeper does not store. Types are compared with input.resource.type
// as sent, which must be lower case.
//
// # Generated Rego
//
// One module, package rulekeeper.rules, for all enabled rules. Each rule
// yields one body per resource type alternative and action, opening with
// equality tests OPA's rule index keys on, and adding the rule's id to the
// internal set _ids:
//
//	_ids contains "r1" if {
//		input.resource.type == "app"
//		input.action == "read"
//		input.context.environment == "hub"
//		"sales" in _lv0
//	}
//
// so a decision only evaluates the rules for its type, action and context.
// grants maps the ids to the contract's objects once, through _names:
//
//	grants contains {"kind": "rule", "id": id, "name": name} if {
//		some id in _ids
//		name := _names[id]
//	}
//
// (an object literal in every head costs OPA's compiler about a third more
// for large rule sets). Each attribute a condition reads becomes one cached
// rule listing its values (_lv0 := [lower(s) | ...input.subject.groups...]);
// being a comprehension it is [] rather than undefined when the attribute is
// missing, so tests on it can be negated safely. Prefix terms are expanded
// into an equality per known type they select plus a startswith test (which
// this OPA version indexes too) for types the vocabulary does not know.
// Or and ! become helper rules where needed; like becomes an equality,
// prefix, suffix or contains test where the pattern allows and an anchored
// regex.match otherwise. Every string in the module, rule ids and names
// included, is JSON-encoded, never spliced raw. The output is opa fmt clean
// and compiles in OPA's strict mode.
//
// HasPrivilege evaluates data.rulekeeper.builtin.grants and the rules that
// can grant the action on the related type, with input.resource replaced by
// the related resource and input.action by the named action. To stay free
// of Rego recursion the rules are stratified: a rule using HasPrivilege is
// compiled per resource type into stratum 1 + the highest stratum of the
// rules that can grant the named action on the related type, and reads only
// lower strata. Only the bodies some HasPrivilege reads (a related type and
// an action asked for) go to per-stratum sets (_s0_0, ...) that are unioned
// into _ids; all others go to _ids directly. A dependency cycle, which only
// a vocabulary whose navigations loop can produce, is a diagnostic and the
// rules on it are left out.
//
// # Indexed compilation
//
// CompileModule above is the plain compilation: OPA's rule index keys its
// bodies on type, action and environment only, so every rule for (app,
// read, hub) is evaluated for every such decision. Index (and
// CompileIndexed) is what the service loads: each condition in disjunctive
// normal form, each conjunction stored as data in a bucket,
// data.rulekeeper_rules.b[type][action][environment] (type "*" any, "?"
// unknown types; a rule of both environments is stored in the hub's, the
// console's and the "*" bucket), under the key of its most selective atom:
// k[attribute "=" value] for an equality, k[attribute "^" prefix] for a
// like prefix or the literal prefix of a matches (cut to 1, 2, 4, 8, 16 or
// 32 characters; the module's _kp lists the lengths in use),
// k[attribute "&" attribute] for two attributes that must share a value
// (the module's _kr; a decision has that key only when they do, so an
// ownership rule is one lookup too) and k[attribute "&" attribute "&"
// attribute "^" prefix] for a prefix under such a pair (_kq), s for none. The atom the key proves is not stored again; the others are
// arrays [op, operands...]. The module has,
// per bucket, one body per kind of key guarded by the bucket's type,
// action and environment, so that OPA's rule index picks the bodies of the
// input's bucket and a decision no bucket matches evaluates none; each
// body binds its bucket (a data reference that finds nothing is read again
// from the store), looks up the input's keys (_vkf: its values and their
// prefixes, one loop whatever the bucket keys on, from the _vf rules) and
// evaluates only the conjunctions found (_atom, by op: the same tests as
// the plain compilation's, on the same value lists). Those bodies (_dk)
// serve a caller that does not find the candidates itself (a stock OPA,
// the Rego tests): the engine keeps a copy of the buckets, finds and tests
// the candidates in Go and passes the rules it proved at
// input.va[ProvedID] and the candidates whose atoms the module must test
// (matches, contains, negations, HasPrivilege) at input.va[TestID]; _didx
// then reads those instead of the buckets. Rules using
// HasPrivilege, or whose normal form would exceed maxDisjuncts
// conjunctions, are compiled as above but to _g<stratum>[id] bodies; they
// are stored in the same buckets, keyed the same way from an
// over-approximation of the condition, as candidates whose conjunction is
// one atom ["g", id], which _atom decides by their _g bodies:
// one pass over the buckets finds every rule. The HasPrivilege helpers read
// a copy of the bucket bodies (_ddx) whose atoms find no candidate, and the
// lower strata's _g sets, so that no rule reads itself; a caller may give
// a helper's answer at input.va[PrivID] (the engine evaluates it apart). Put and Delete
// change one rule and return the patches of the data document; the module
// changes only when a bucket, a rule compiled to Rego or an attribute
// comes or goes. TestIndexedDifferential checks indexed, plain and the
// reference evaluator against each other on random rules and inputs.
package rules
