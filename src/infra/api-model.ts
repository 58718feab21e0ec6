/**
 * The API Gateway request model for `POST /v1/events`, derived from the one event contract
 * (`src/schema/device-event.v1.schema.json`) so the API, the processor and the local ingest
 * server can never disagree about what a valid batch is.
 *
 * API Gateway models are JSON Schema draft-04. The schema file is written with keywords that
 * draft-04 and draft-07 share, so converting is mechanical: declare draft-04, drop `$id` (draft-04
 * spells it `id`, and API Gateway would try to treat it as a base URI) and inline every local
 * `#/definitions/...` reference, because API Gateway resolves `$ref` only to other *models* by URL.
 */
import deviceEventSchemaFile from '../schema/device-event.v1.schema.json';

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** The JSON Schema dialect API Gateway models are written in. */
export const API_GATEWAY_SCHEMA_DIALECT = 'http://json-schema.org/draft-04/schema#';

/** Name of the batch model (API Gateway model names are alphanumeric). */
export const DEVICE_EVENT_BATCH_MODEL_NAME = 'DeviceEventBatchV1';

/**
 * Keywords that exist only in draft-06 and later. Draft-04 validators silently ignore unknown
 * keywords, so letting one through would make the API accept what ajv rejects: refuse instead.
 */
const POST_DRAFT4_KEYWORDS = ['const', 'contains', 'propertyNames', 'if', 'then', 'else', 'examples', '$comment'] as const;

/** Keywords whose meaning changed after draft-04 (boolean in draft-04, number later). */
const BOOLEAN_IN_DRAFT4 = ['exclusiveMinimum', 'exclusiveMaximum'] as const;

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function resolveLocalRef(root: JsonObject, ref: string, at: string): JsonValue {
  if (!ref.startsWith('#/')) {
    throw new Error(`schema ${at}.$ref must be a local reference ("#/..."); received "${ref}"`);
  }
  let node: JsonValue = root;
  for (const segment of ref.slice(2).split('/')) {
    const key = segment.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(node) || !(key in node)) {
      throw new Error(`schema ${at}.$ref must point at an existing definition; received "${ref}"`);
    }
    node = node[key];
  }
  return node;
}

function inline(node: JsonValue, root: JsonObject, at: string, refStack: readonly string[]): JsonValue {
  if (Array.isArray(node)) return node.map((item, i) => inline(item, root, `${at}[${i}]`, refStack));
  if (!isObject(node)) return node;

  if (typeof node.$ref === 'string') {
    const ref = node.$ref;
    if (refStack.includes(ref)) {
      throw new Error(`schema ${at}.$ref must not be recursive (API Gateway models cannot inline a cycle); received "${ref}"`);
    }
    // Draft-04 ignores siblings of $ref, so the referenced schema replaces the node entirely.
    return inline(resolveLocalRef(root, ref, at), root, at, [...refStack, ref]);
  }

  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if ((POST_DRAFT4_KEYWORDS as readonly string[]).includes(key)) {
      throw new Error(`schema ${at}.${key} must not be used: draft-04 (API Gateway) does not know it`);
    }
    if ((BOOLEAN_IN_DRAFT4 as readonly string[]).includes(key) && typeof value !== 'boolean') {
      throw new Error(`schema ${at}.${key} must be a boolean in draft-04; received ${JSON.stringify(value)}`);
    }
    // Keys under "properties" are property names, not keywords: recurse into their schemas only.
    if (key === 'properties' && isObject(value)) {
      const props: JsonObject = {};
      for (const [name, schema] of Object.entries(value)) props[name] = inline(schema, root, `${at}.properties.${name}`, refStack);
      out[key] = props;
    } else {
      out[key] = inline(value, root, `${at}.${key}`, refStack);
    }
  }
  return out;
}

/**
 * Converts a draft-07 schema that uses only draft-04-compatible keywords into an API Gateway
 * model: `$schema` set to draft-04, `$id` dropped, local references inlined, `definitions` removed.
 * Throws (naming the JSON path) on anything draft-04 would silently ignore.
 */
export function toApiGatewayModelSchema(schema: JsonObject): JsonObject {
  const { $schema: _dialect, $id: _id, definitions: _definitions, ...rest } = schema;
  const body = inline(rest, schema, '$', []);
  if (!isObject(body)) throw new Error('schema must be a JSON object');
  return { $schema: API_GATEWAY_SCHEMA_DIALECT, ...body };
}

/** The event schema file as loaded (draft-07 dialect, with definitions). */
export const DEVICE_EVENT_BATCH_SCHEMA: JsonObject = deviceEventSchemaFile as unknown as JsonObject;

/** The model API Gateway validates `POST /v1/events` bodies against. */
export const DEVICE_EVENT_BATCH_MODEL: JsonObject = toApiGatewayModelSchema(DEVICE_EVENT_BATCH_SCHEMA);
