/**
 * The one event contract: ajv validators compiled from `device-event.v1.schema.json` and the matching
 * TypeScript types. The same file is the API Gateway request model, so validation here is the schema
 * and nothing else; semantic checks (calendar dates, unit-aware ranges) live in `src/pipeline`.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import schemaJson from './device-event.v1.schema.json';

export const deviceEventBatchSchema: object = schemaJson;

export type Consciousness = 'A' | 'C' | 'V' | 'P' | 'U';

export interface Measurement<U extends string> {
  value: number;
  unit: U;
}

export interface DeviceVitals {
  pulse?: Measurement<'bpm'>;
  respirationRate?: Measurement<'breaths/min'>;
  spo2?: Measurement<'%'> & { scale?: 1 | 2 };
  supplementalOxygen?: boolean;
  systolicBp?: Measurement<'mmHg' | 'kPa'>;
  diastolicBp?: Measurement<'mmHg' | 'kPa'>;
  temperature?: Measurement<'Cel' | '[degF]'>;
  consciousness?: Consciousness;
}

export interface DeviceEvent {
  schemaVersion: 1;
  eventId: string;
  deviceId: string;
  patientId: string;
  facilityId: string;
  observedAt: string;
  vitals: DeviceVitals;
}

export interface DeviceEventBatch {
  events: DeviceEvent[];
}

/** `field` is a JSON pointer into the validated document; `message` never contains the offending value (it may be PHI). */
export interface FieldError {
  field: string;
  message: string;
}

export type BatchValidation = { ok: true; batch: DeviceEventBatch } | { ok: false; errors: FieldError[] };
export type EventValidation = { ok: true; event: DeviceEvent } | { ok: false; errors: FieldError[] };

/** The batch limit of the contract (and of Kinesis PutRecords). */
export const MAX_EVENTS_PER_BATCH = 500;

/** A 500-event batch with every field wrong would otherwise produce thousands of errors. */
export const MAX_REPORTED_ERRORS = 100;

const SCHEMA_ID = (schemaJson as { $id: string }).$id;

// allErrors: report every bad field at once, as a client fixing a batch needs.
// verbose stays off so error objects do not carry the data itself.
const ajv = new Ajv({ allErrors: true, strict: true, verbose: false });
const validateBatchSchema: ValidateFunction<DeviceEventBatch> = ajv.compile<DeviceEventBatch>(schemaJson);
const validateEventSchema = ajv.getSchema<DeviceEvent>(`${SCHEMA_ID}#/definitions/DeviceEvent`);
if (!validateEventSchema) {
  throw new Error(`schema ${SCHEMA_ID} has no definitions/DeviceEvent`);
}

/** JSON pointer escaping (RFC 6901) for a property name appended to a pointer. */
export function pointerSegment(name: string): string {
  return name.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Turns an ajv error into a PHI-safe field error. Messages are built from the keyword and the
 * schema's parameters only (limits, allowed values, pattern), never from the instance data.
 */
function toFieldError(e: ErrorObject): FieldError {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { field: `${e.instancePath}/${pointerSegment(String(p.missingProperty))}`, message: 'is required' };
    case 'additionalProperties':
      // Never the property's name: it is instance data, and a producer may have keyed an object by a
      // patient id. The pointer names the object; the schema lists what it allows.
      return { field: e.instancePath, message: 'has a property that is not allowed' };
    case 'type':
      return { field: e.instancePath, message: `must be ${String(p.type)}` };
    case 'enum':
      return { field: e.instancePath, message: `must be one of ${JSON.stringify(p.allowedValues)}` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { field: e.instancePath, message: `must be ${String(p.comparison)} ${String(p.limit)}` };
    case 'minItems':
      return { field: e.instancePath, message: `must have at least ${String(p.limit)} items` };
    case 'maxItems':
      return { field: e.instancePath, message: `must have at most ${String(p.limit)} items` };
    case 'minLength':
      return { field: e.instancePath, message: `must have at least ${String(p.limit)} characters` };
    case 'maxLength':
      return { field: e.instancePath, message: `must have at most ${String(p.limit)} characters` };
    case 'minProperties':
      return { field: e.instancePath, message: `must have at least ${String(p.limit)} properties` };
    case 'pattern':
      return { field: e.instancePath, message: `must match the pattern ${String(p.pattern)}` };
    default:
      // Any keyword the schema may gain later: ajv's own message is built from the schema, not the data.
      return { field: e.instancePath, message: e.message ?? 'is invalid' };
  }
}

/** Converts ajv errors to field errors: de-duplicated, in document order, capped at MAX_REPORTED_ERRORS. */
export function fieldErrors(errors: readonly ErrorObject[] | null | undefined): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of errors ?? []) {
    const fe = toFieldError(e);
    const key = `${fe.field}\u0000${fe.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(fe);
    if (out.length >= MAX_REPORTED_ERRORS) break;
  }
  return out;
}

/** Validates an API request body (`{"events": [...]}`) against the schema. */
export function validateBatch(body: unknown): BatchValidation {
  if (validateBatchSchema(body)) return { ok: true, batch: body };
  return { ok: false, errors: fieldErrors(validateBatchSchema.errors) };
}

/** Validates one event (one Kinesis record); error pointers are relative to the event. */
export function validateEvent(event: unknown): EventValidation {
  const validate = validateEventSchema as ValidateFunction<DeviceEvent>;
  if (validate(event)) return { ok: true, event };
  return { ok: false, errors: fieldErrors(validate.errors) };
}
