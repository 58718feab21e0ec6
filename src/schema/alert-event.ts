/**
 * The alert event contract: an ajv validator compiled from `alert-event.v1.schema.json`. The publisher
 * checks every event against it before it leaves (a malformed event is a bug, never sent half-right),
 * and tests validate every event they publish.
 */
import Ajv from 'ajv';
import schemaJson from './alert-event.v1.schema.json';
import { fieldErrors, type FieldError } from './index';

export const alertEventSchema: object = schemaJson;

const ajv = new Ajv({ allErrors: true, strict: true, verbose: false });
const validate = ajv.compile(schemaJson);

export function validateAlertEvent(detail: unknown): { ok: true } | { ok: false; errors: FieldError[] } {
  return validate(detail) ? { ok: true } : { ok: false, errors: fieldErrors(validate.errors) };
}
