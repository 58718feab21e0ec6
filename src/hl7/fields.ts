/**
 * Safe reads from a parsed HL7 v2 message (@medplum/core's Hl7Message): a missing field, repetition,
 * component or subcomponent reads as '', and escape sequences (\F\ \S\ \T\ \R\ \E\) are decoded, which
 * the library's own accessors do not do.
 */
import type { Hl7Context, Hl7Field, Hl7Segment } from '@medplum/core';

export function field(segment: Hl7Segment, index: number): Hl7Field | undefined {
  // Field 1 and 2 of MSH are the separators; the library maps those itself.
  return segment.getField(index) ?? undefined;
}

/** Number of repetitions of a field (0 when absent or empty). */
export function repetitions(segment: Hl7Segment, index: number): number {
  const f = field(segment, index);
  if (!f) return 0;
  return f.components.length === 1 && f.components[0]?.every((c) => c === '') ? 0 : f.components.length;
}

/**
 * One component (1-based), optionally one subcomponent (1-based) of one repetition (0-based),
 * unescaped. '' when absent.
 */
export function component(segment: Hl7Segment, index: number, comp = 1, sub?: number, rep = 0): string {
  const f = field(segment, index);
  const raw = f?.components[rep]?.[comp - 1] ?? '';
  const value = sub === undefined ? raw : (raw.split(segment.context.subcomponentSeparator)[sub - 1] ?? '');
  return unescapeHl7(value, segment.context);
}

/** The whole first repetition of a field as sent (components joined), unescaped per component. */
export function text(segment: Hl7Segment, index: number): string {
  return component(segment, index, 1);
}

/** Decodes the HL7 escape sequences for the separators; other sequences (\X..\, \H\, ...) are kept. */
export function unescapeHl7(value: string, ctx: Hl7Context): string {
  const esc = ctx.escapeCharacter;
  if (!esc || !value.includes(esc)) return value;
  const map: Record<string, string> = {
    F: ctx.fieldSeparator,
    S: ctx.componentSeparator,
    T: ctx.subcomponentSeparator,
    R: ctx.repetitionSeparator,
    E: esc,
  };
  let out = '';
  let i = 0;
  while (i < value.length) {
    const ch = value[i] as string;
    if (ch === esc && i + 2 < value.length && value[i + 2] === esc && map[value[i + 1] as string] !== undefined) {
      out += map[value[i + 1] as string];
      i += 3;
    } else {
      out += ch;
      i += 1;
    }
  }
  return out;
}

/** Escapes text for an HL7 field (the ACK's own messages; never data). */
export function escapeHl7(value: string): string {
  return value.replace(/\\/g, '\\E\\').replace(/\|/g, '\\F\\').replace(/\^/g, '\\S\\').replace(/&/g, '\\T\\').replace(/~/g, '\\R\\').replace(/[\r\n]+/g, ' ');
}
