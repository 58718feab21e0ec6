import { Token } from 'cdktf';
import { ENVIRONMENT_MAX_LENGTH, ENVIRONMENT_PATTERN } from './config';

export const ACCOUNT_ID_PATTERN = /^\d{12}$/;
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d$/;
export const EMAIL_PATTERN = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** True when a value is known at synth (not a token resolved only at plan or apply). */
export const isKnown = (value: unknown): boolean => !Token.isUnresolved(value);

/**
 * Collects every invalid prop of a construct and throws once, so a user sees all problems together,
 * each as "<prop> <rule>; received <value>". A rule whose received value is an unresolved token is
 * skipped: Terraform checks it at plan time (variable validations) or the provider at apply.
 */
export class PropProblems {
  private readonly problems: string[] = [];

  /** @param owner names the construct in the message, e.g. `Stream "Stream"`. */
  constructor(private readonly owner: string) {}

  check(ok: boolean, prop: string, rule: string, received: unknown): this {
    if (!ok && isKnown(received)) this.problems.push(`${prop} ${rule}; received ${JSON.stringify(received)}`);
    return this;
  }

  /** An integer in [min, max]. */
  integer(prop: string, value: number, min: number, max: number = Number.MAX_SAFE_INTEGER, why = ''): this {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    return this.check(Number.isInteger(value) && value >= min && value <= max, prop, `must be an integer ${range}${why}`, value);
  }

  arn(prop: string, value: string | undefined, service: string): this {
    if (value === undefined) return this;
    return this.check(new RegExp(`^arn:aws[a-z-]*:${service}:`).test(value), prop, `must be an ${service} ARN (arn:aws:${service}:...)`, value);
  }

  environment(prop: string, value: string): this {
    return this.check(ENVIRONMENT_PATTERN.test(value), prop, `must be lowercase alphanumeric, start with a letter, at most ${ENVIRONMENT_MAX_LENGTH} characters`, value);
  }

  accountId(prop: string, value: string): this {
    return this.check(ACCOUNT_ID_PATTERN.test(value), prop, 'must be a 12-digit AWS account id', value);
  }

  region(prop: string, value: string): this {
    return this.check(REGION_PATTERN.test(value), prop, 'must be an AWS region code like eu-central-2', value);
  }

  throwIfAny(): void {
    if (this.problems.length > 0) throw new Error(`${this.owner}: invalid props:\n - ${this.problems.join('\n - ')}`);
  }
}
