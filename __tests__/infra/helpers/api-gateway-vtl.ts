/**
 * A minimal, honest stand-in for API Gateway's mapping-template runtime, on the `velocityjs`
 * engine: `$input.path` / `$input.json` over a JSONPath subset (`$`, `.name`, `[index]`),
 * `$util.base64Encode` (UTF-8), `$context.requestId` and `$context.responseOverride.status`.
 * `$foreach` comes from velocityjs itself. Anything outside the subset throws, so a template that
 * starts using more of API Gateway's runtime fails here instead of passing by accident.
 */
import { render } from 'velocityjs';

const SEGMENT = /\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/y;

function select(root: unknown, path: string): unknown {
  if (!path.startsWith('$')) throw new Error(`unsupported JSONPath ${path}`);
  let node: unknown = root;
  SEGMENT.lastIndex = 1;
  while (SEGMENT.lastIndex < path.length) {
    const at = SEGMENT.lastIndex;
    const m = SEGMENT.exec(path);
    if (!m) throw new Error(`unsupported JSONPath ${path} at ${at}`);
    if (node === null || typeof node !== 'object') return undefined;
    node = m[1] !== undefined ? (node as Record<string, unknown>)[m[1]] : (node as unknown[])[Number(m[2])];
  }
  return node;
}

export interface RenderedTemplate {
  readonly output: string;
  /** `$context.responseOverride.status` if the template set it. */
  readonly statusOverride?: number;
}

export function renderMappingTemplate(template: string, body: unknown, requestId = 'req-0001'): RenderedTemplate {
  const context = { requestId, responseOverride: {} as { status?: number } };
  const output = render(template, {
    input: {
      path: (p: string) => select(body, p),
      json: (p: string) => JSON.stringify(select(body, p)),
    },
    util: { base64Encode: (s: unknown) => Buffer.from(String(s), 'utf8').toString('base64') },
    context,
  });
  return { output, statusOverride: context.responseOverride.status };
}

/**
 * Gateway-response templates are not Velocity: API Gateway substitutes `$context.*` variables
 * only. This does the same with the given values and fails on any variable left unknown.
 */
export function substituteGatewayResponse(template: string, values: Record<string, string>): string {
  return template.replace(/\$context\.[A-Za-z.]+/g, (name) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for ${name}`);
    return value;
  });
}
