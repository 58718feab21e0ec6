/**
 * Reads environment variables for a command's config, collecting problems so they are reported at
 * once. Production (NODE_ENV=production) has no local defaults and refuses local-only variables.
 */
export interface EnvReader {
  readonly production: boolean;
  /** The trimmed value, or undefined when unset or blank. */
  get(name: string): string | undefined;
  /** The value, or the local default outside production; records a problem when missing. */
  need(name: string, localDefault?: string): string;
  /** Records a problem when a local-only variable is set in production. */
  forbidInProduction(name: string): void;
}

export function envReader(env: NodeJS.ProcessEnv, problems: string[]): EnvReader {
  const production = env.NODE_ENV === 'production';
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  return {
    production,
    get,
    need(name, localDefault) {
      const v = get(name) ?? (production ? undefined : localDefault);
      if (v === undefined) {
        problems.push(`missing environment variable ${name}${production ? ' (required when NODE_ENV=production)' : ''}`);
        return '';
      }
      return v;
    },
    forbidInProduction(name) {
      if (production && get(name) !== undefined) problems.push(`${name} must not be set when NODE_ENV=production`);
    },
  };
}
