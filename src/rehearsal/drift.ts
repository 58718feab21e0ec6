/**
 * Drift after the rehearsal's apply: every planned change of `cdktf diff` must be an allowlisted
 * emulator artifact, matched by resource type and top-level attribute (never by address, which is a
 * generated name). Reads the plan as `terraform show -json` prints it.
 */
import { isDeepStrictEqual } from 'node:util';
import { DriftEntry } from '../infra/emulator';

export interface PlanResourceChange {
  readonly address: string;
  readonly type: string;
  readonly mode?: string;
  readonly change: {
    readonly actions: readonly string[];
    readonly before?: Record<string, unknown> | null;
    readonly after?: Record<string, unknown> | null;
    readonly after_unknown?: Record<string, unknown> | null;
  };
}
export interface Plan {
  readonly resource_changes?: readonly (PlanResourceChange & { readonly action_reason?: string })[];
  readonly configuration?: { readonly root_module?: { readonly resources?: readonly { readonly address: string; readonly expressions?: unknown }[] } };
}

export interface DriftFinding {
  readonly address: string;
  readonly type: string;
  readonly actions: readonly string[];
  /** Attributes that change; `*` for a resource created, destroyed or replaced as a whole. */
  readonly attributes: readonly string[];
}
export interface DriftReport {
  /** Changes whose every attribute is an allowlisted emulator artifact. */
  readonly allowlisted: readonly (DriftFinding & { readonly entries: readonly DriftEntry[] })[];
  /**
   * Changes that only follow from allowlisted ones: attributes known only after apply because they
   * come from a data source Terraform defers to apply time, as its inputs have (allowlisted) changes
   * pending. A policy document reading a drifting stream's ARN, say. A real change would be known.
   */
  readonly consequences: readonly (DriftFinding & { readonly because: readonly string[] })[];
  /** Changes with at least one attribute that is not (the attributes listed are the unmatched ones). */
  readonly unexpected: readonly DriftFinding[];
  /** The allowlist entries that matched something. */
  readonly entriesUsed: readonly DriftEntry[];
}

/** Top-level attributes an in-place update changes (before differs from after, or after is unknown). */
export function changedAttributes(change: PlanResourceChange['change']): string[] {
  const actions = change.actions;
  if (actions.length !== 1 || actions[0] !== 'update') return ['*'];
  const before = change.before ?? {};
  const after = change.after ?? {};
  const unknown = change.after_unknown ?? {};
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const changed = [...keys].filter((key) => isUnknown(unknown[key]) || !isDeepStrictEqual(before[key], after[key]));
  return changed.sort();
}

/** after_unknown marks an attribute (or anything inside it) that is known only after apply. */
function isUnknown(marker: unknown): boolean {
  if (marker === true) return true;
  if (Array.isArray(marker)) return marker.some(isUnknown);
  if (typeof marker === 'object' && marker !== null) return Object.values(marker).some(isUnknown);
  return false;
}

const IGNORED_ACTIONS = new Set(['no-op', 'read']);

/** Every `references` entry in a plan configuration's expressions, as resource addresses. */
function referencedAddresses(expressions: unknown): string[] {
  const found = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) { node.forEach(walk); return; }
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'references' && Array.isArray(value)) {
        for (const ref of value) {
          const parts = String(ref).split('.');
          const address = parts[0] === 'data' ? parts.slice(0, 3).join('.') : parts.slice(0, 2).join('.');
          if (address.split('.').length >= 2) found.add(address);
        }
      } else {
        walk(value);
      }
    }
  };
  walk(expressions);
  return [...found];
}

export function classifyDrift(plan: Plan, allowlist: readonly DriftEntry[]): DriftReport {
  const allowlisted: (DriftFinding & { entries: DriftEntry[] })[] = [];
  const consequences: (DriftFinding & { because: string[] })[] = [];
  const unexpected: DriftFinding[] = [];
  const candidates: { finding: DriftFinding; change: PlanResourceChange['change'] }[] = [];
  const used = new Set<DriftEntry>();
  for (const rc of plan.resource_changes ?? []) {
    if (rc.mode === 'data' || rc.change.actions.every((a) => IGNORED_ACTIONS.has(a))) continue;
    const attributes = changedAttributes(rc.change);
    const matched = attributes.map((attribute) => allowlist.find((e) => e.type === rc.type && e.attribute === attribute));
    const finding = { address: rc.address, type: rc.type, actions: rc.change.actions, attributes };
    if (attributes.length > 0 && matched.every((m) => m !== undefined)) {
      const entries = matched as DriftEntry[];
      entries.forEach((e) => used.add(e));
      allowlisted.push({ ...finding, entries });
    } else {
      candidates.push({ finding: { ...finding, attributes: attributes.length === 0 ? ['(no attribute differs)'] : attributes.filter((_, i) => matched[i] === undefined) }, change: rc.change });
    }
  }

  // Consequences: only deferred data-source values, whose inputs have only allowlisted changes.
  const expressions = new Map((plan.configuration?.root_module?.resources ?? []).map((r) => [r.address, r.expressions]));
  const changed = new Set((plan.resource_changes ?? []).filter((rc) => rc.mode !== 'data' && !rc.change.actions.every((a) => IGNORED_ACTIONS.has(a))).map((rc) => rc.address));
  const allowlistedAddresses = new Set(allowlisted.map((f) => f.address));
  const deferred = new Set((plan.resource_changes ?? []).filter((rc) => rc.action_reason === 'read_because_dependency_pending').map((rc) => rc.address));
  const deferredBecauseOfAllowlisted = (dataAddress: string): string[] | undefined => {
    if (!deferred.has(dataAddress)) return undefined;
    const pending = referencedAddresses(expressions.get(dataAddress)).filter((a) => changed.has(a));
    return pending.length > 0 && pending.every((a) => allowlistedAddresses.has(a)) ? pending : undefined;
  };
  for (const { finding, change } of candidates) {
    const unknown = change.after_unknown ?? {};
    const ownExpressions = (expressions.get(finding.address) ?? {}) as Record<string, unknown>;
    const because = new Set<string>();
    const follows = finding.attributes.every((attribute) => {
      if (!isUnknown(unknown[attribute])) return false;
      const refs = referencedAddresses(ownExpressions[attribute]);
      const data = refs.filter((a) => a.startsWith('data.'));
      if (data.length === 0 || refs.some((a) => !a.startsWith('data.') && changed.has(a))) return false;
      return data.every((d) => {
        const pending = deferredBecauseOfAllowlisted(d);
        pending?.forEach((p) => because.add(p));
        return pending !== undefined || !deferred.has(d);
      }) && data.some((d) => deferred.has(d));
    });
    if (follows) consequences.push({ ...finding, because: [...because].sort() });
    else unexpected.push(finding);
  }
  return { allowlisted, consequences, unexpected, entriesUsed: allowlist.filter((e) => used.has(e)) };
}

export interface PlanCounts {
  readonly add: number;
  readonly change: number;
  readonly destroy: number;
}

/** What `terraform plan` says in its "Plan:" line (or "No changes."), as terraform counts it. */
export function countsFromPlanText(coloured: string): PlanCounts | undefined {
  // eslint-disable-next-line no-control-regex
  const text = coloured.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '');
  if (/No changes\./.test(text)) return { add: 0, change: 0, destroy: 0 };
  const m = /Plan: (\d+) to add, (\d+) to change, (\d+) to destroy/.exec(text);
  return m ? { add: Number(m[1]), change: Number(m[2]), destroy: Number(m[3]) } : undefined;
}

/** The same counts from the plan JSON: a replacement counts as one add and one destroy. */
export function countsFromPlan(plan: Plan): PlanCounts {
  let add = 0;
  let change = 0;
  let destroy = 0;
  for (const rc of plan.resource_changes ?? []) {
    if (rc.mode === 'data') continue;
    const a = rc.change.actions;
    if (a.includes('create')) add += 1;
    if (a.includes('delete')) destroy += 1;
    if (a.length === 1 && a[0] === 'update') change += 1;
  }
  return { add, change, destroy };
}
