// The rule language's vocabulary (GET /rules/vocabulary), read once.
import { get } from './api.js';

let cached;
export async function vocabulary() {
  if (!cached) cached = get('rules/vocabulary');
  return cached;
}

export const FUNCTIONS = [
  ['HasPrivilege("read")', 'resource.HasPrivilege("…"): the user may do that action on the resource'],
  ['IsOwned()', 'resource.IsOwned(): the resource has an owner'],
  ['Empty()', 'user.group.Empty(): the attribute has no value'],
  ['IsAnonymous()', 'user.IsAnonymous(): the user is not signed in'],
];

// filterName is the QMC spelling of a type in a resource filter.
export const filterName = (t) => (t.aliases && t.aliases[0]) || t.name;

// attributes lists "user.x" and "resource.x" paths for suggestions and
// for the Basic view's condition rows.
export function attributes(v) {
  const out = [];
  for (const a of v.userAttributes || []) out.push(`user.${a.name}`);
  for (const a of v.commonAttributes || []) out.push(`resource.${a.name}`);
  const seen = new Set(out);
  for (const t of v.resourceTypes || []) {
    for (const a of t.attributes || []) {
      const p = `resource.${a.name}`;
      if (!seen.has(p)) { seen.add(p); out.push(p); }
    }
  }
  for (const n of v.navigations || []) {
    for (const a of n.attributes || []) out.push(`resource.${n.name}.${a.name}`);
  }
  out.push('user.@customProperty', 'resource.@customProperty');
  return out;
}

// allActions lists the platform's actions and those of the external
// resource types of the registry (a ticket's close), without repeats.
export function allActions(v) {
  const out = [...(v.actions || [])];
  for (const t of v.resourceTypes || []) {
    for (const a of (t.external && t.actions) || []) if (!out.includes(a)) out.push(a);
  }
  return out;
}
