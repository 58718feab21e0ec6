/**
 * Escalation policy: a high alert nobody acknowledged is re-delivered to the facility's escalation
 * target after `afterMs` (default 5 minutes), then to the next tier after another `afterMs`, until
 * the tiers run out, it is acknowledged, it falls below high, or it clears. Pure: the clock is an
 * argument, so tests step time instead of waiting.
 */
export const DEFAULT_ESCALATION_AFTER_MS = 5 * 60_000;
/** Facility key of the targets every facility without its own list uses. */
export const DEFAULT_FACILITY = '*';
export const DEFAULT_ESCALATION_TARGETS: Readonly<Record<string, readonly string[]>> = { [DEFAULT_FACILITY]: ['escalation-tier-1', 'escalation-tier-2'] };

export interface EscalationPolicy {
  readonly afterMs: number;
  /** Per facility id (or `*`): the targets of tier 1, 2, ... in order. */
  readonly targets: Readonly<Record<string, readonly string[]>>;
}

export const DEFAULT_ESCALATION_POLICY: EscalationPolicy = { afterMs: DEFAULT_ESCALATION_AFTER_MS, targets: DEFAULT_ESCALATION_TARGETS };

export function tiersFor(policy: EscalationPolicy, facilityId: string): readonly string[] {
  return policy.targets[facilityId] ?? policy.targets[DEFAULT_FACILITY] ?? [];
}

/**
 * When an alert now at `tier` (0: not escalated yet) escalates next: `afterMs` after `from` (the moment
 * it became high, or the previous escalation's due time, so the tiers do not drift); null: no tier left.
 */
export function nextEscalationAt(policy: EscalationPolicy, facilityId: string, from: Date, tier: number): Date | null {
  if (tier >= tiersFor(policy, facilityId).length) return null;
  return new Date(from.getTime() + policy.afterMs);
}

/** The target of the escalation to `tier` (1-based). */
export function targetFor(policy: EscalationPolicy, facilityId: string, tier: number): string {
  const target = tiersFor(policy, facilityId)[tier - 1];
  if (target === undefined) throw new RangeError(`facility ${facilityId} has no escalation tier ${tier}`);
  return target;
}

/**
 * Parses ALERT_ESCALATION_TARGETS: JSON `{"<facility>|*": ["tier-1 target", ...]}`. Targets are
 * routing names (EventBridge rules match them), never people or patients.
 */
export function parseEscalationTargets(raw: string): Record<string, string[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error('ALERT_ESCALATION_TARGETS must be JSON: {"<facility id>|*": ["<tier 1 target>", ...]}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('ALERT_ESCALATION_TARGETS must be a JSON object');
  const out: Record<string, string[]> = {};
  for (const [facility, targets] of Object.entries(parsed as Record<string, unknown>)) {
    if (!Array.isArray(targets) || targets.length === 0 || targets.length > 5 || !targets.every((t) => typeof t === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(t))) {
      throw new Error(`ALERT_ESCALATION_TARGETS["${facility}"] must list 1..5 target names ([A-Za-z0-9._-], up to 64 characters)`);
    }
    out[facility] = targets as string[];
  }
  return out;
}
