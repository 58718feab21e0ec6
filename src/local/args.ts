/**
 * Command-line options of the local runner (`npm start -- --rate 1000 --duration 60`).
 * Every problem is reported at once, naming the option, the rule and the value received.
 */

export interface RunOptions {
  /** Events per second the simulator sends, every kind included. @default 1000 (the mission's peak) */
  readonly rate: number;
  /** Simulated patients, one monitor each. @default 1000 (at the default rate, one reading per monitor per second) */
  readonly patients: number;
  /** Seconds to run; null runs until Ctrl-C/SIGTERM. @default null */
  readonly durationSec: number | null;
  /** Share of malformed events (schema-invalid, physiologically impossible, undecodable). @default 0.005 */
  readonly malformedShare: number;
  /** Share of re-sent (duplicate) event ids. @default 0.01 */
  readonly duplicateShare: number;
  /** Share of patients who deteriorate during the run. @default 0.05 */
  readonly deterioratingShare: number;
  /** Processor processes sharing the stream's shards. @default 2 */
  readonly processors: number;
  /** Shards of the local stream (when it is created). @default 4 */
  readonly shards: number;
  /** Seconds to wait, after sending stops, for the processors to store everything. @default 60 */
  readonly drainTimeoutSec: number;
  /** Project-local state directory (kinesalite data, PostgreSQL cluster, keys, logs). @default .local */
  readonly stateDir: string;
  /** Seed of the simulator's random numbers. @default random */
  readonly seed: number | null;
  /** Start from an empty stream and database (the local PHI key is kept). @default false */
  readonly fresh: boolean;
  /** Share of the slots sent as IHE PCD-01 over MLLP to the HL7 gateway instead of JSON. @default 0.2 */
  readonly hl7Share: number;
  /** Seconds before an unacknowledged high alert escalates (5 minutes on AWS; short for a demo). @default 20 */
  readonly escalationSec: number;
}

export const DEFAULT_RUN_OPTIONS: RunOptions = {
  rate: 1000,
  patients: 1000,
  durationSec: null,
  malformedShare: 0.005,
  duplicateShare: 0.01,
  deterioratingShare: 0.05,
  processors: 2,
  shards: 4,
  drainTimeoutSec: 60,
  stateDir: '.local',
  seed: null,
  fresh: false,
  hl7Share: 0.2,
  escalationSec: 20,
};

export const USAGE = `usage: npm start -- [options]
  --rate N               events per second (default ${DEFAULT_RUN_OPTIONS.rate})
  --patients N           simulated patients, one monitor each (default ${DEFAULT_RUN_OPTIONS.patients})
  --duration S           seconds to run (default: until Ctrl-C)
  --malformed-share X    share of malformed events, 0..0.5 (default ${DEFAULT_RUN_OPTIONS.malformedShare})
  --duplicate-share X    share of re-sent event ids, 0..0.5 (default ${DEFAULT_RUN_OPTIONS.duplicateShare})
  --deteriorating-share X share of deteriorating patients, 0..1 (default ${DEFAULT_RUN_OPTIONS.deterioratingShare})
  --processors N         processor processes (default ${DEFAULT_RUN_OPTIONS.processors})
  --shards N             shards of the stream when it is created (default ${DEFAULT_RUN_OPTIONS.shards})
  --drain-timeout S      seconds to wait for the processors to catch up at the end (default ${DEFAULT_RUN_OPTIONS.drainTimeoutSec})
  --state-dir DIR        project-local state: kinesalite data, PostgreSQL, keys, logs (default ${DEFAULT_RUN_OPTIONS.stateDir})
  --seed N               seed of the simulator (default random)
  --fresh                start from an empty stream and database (state grows ~100 MB/min at 1,000/s)
  --hl7-share X          share sent as HL7 v2 (IHE PCD-01) over MLLP to the HL7 gateway, 0..1 (default ${DEFAULT_RUN_OPTIONS.hl7Share})
  --escalation-seconds S an unacknowledged high alert escalates after S seconds, then again per tier (default ${DEFAULT_RUN_OPTIONS.escalationSec}; 300 on AWS)
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type NumericKey = 'rate' | 'patients' | 'durationSec' | 'malformedShare' | 'duplicateShare' | 'deterioratingShare' | 'processors' | 'shards' | 'drainTimeoutSec' | 'seed' | 'hl7Share' | 'escalationSec';

interface NumericRule {
  readonly key: NumericKey;
  readonly integer: boolean;
  readonly min: number;
  readonly max: number;
}

const NUMERIC_FLAGS: Readonly<Record<string, NumericRule>> = {
  '--rate': { key: 'rate', integer: false, min: 1, max: 100_000 },
  '--patients': { key: 'patients', integer: true, min: 1, max: 100_000 },
  '--duration': { key: 'durationSec', integer: false, min: 1, max: 7 * 24 * 3600 },
  '--malformed-share': { key: 'malformedShare', integer: false, min: 0, max: 0.5 },
  '--duplicate-share': { key: 'duplicateShare', integer: false, min: 0, max: 0.5 },
  '--deteriorating-share': { key: 'deterioratingShare', integer: false, min: 0, max: 1 },
  '--processors': { key: 'processors', integer: true, min: 1, max: 16 },
  '--shards': { key: 'shards', integer: true, min: 1, max: 64 },
  '--drain-timeout': { key: 'drainTimeoutSec', integer: false, min: 1, max: 3600 },
  '--seed': { key: 'seed', integer: true, min: 0, max: 2 ** 32 - 1 },
  '--hl7-share': { key: 'hl7Share', integer: false, min: 0, max: 1 },
  '--escalation-seconds': { key: 'escalationSec', integer: true, min: 1, max: 86_400 },
};

/** Parses argv (without node and script); accepts `--flag value` and `--flag=value`. */
export function parseArgs(argv: readonly string[]): RunOptions {
  const options: { -readonly [K in keyof RunOptions]: RunOptions[K] } = { ...DEFAULT_RUN_OPTIONS };
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') throw new UsageError(USAGE);
    if (arg === '--fresh') {
      options.fresh = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else if (flag.startsWith('--')) value = argv[++i];
    if (flag === '--state-dir') {
      if (!value) problems.push('--state-dir needs a directory');
      else options.stateDir = value;
      continue;
    }
    const rule = NUMERIC_FLAGS[flag];
    if (!rule) {
      problems.push(`unknown option ${JSON.stringify(arg)}`);
      continue;
    }
    const n = value === undefined || value.trim() === '' ? Number.NaN : Number(value);
    if (!Number.isFinite(n) || (rule.integer && !Number.isInteger(n)) || n < rule.min || n > rule.max) {
      const kind = rule.integer ? 'a whole number' : 'a number';
      problems.push(`${flag} must be ${kind} from ${rule.min} to ${rule.max}; received ${JSON.stringify(value ?? null)}`);
      continue;
    }
    options[rule.key] = n;
  }
  if (problems.length > 0) throw new UsageError(`${problems.join('\n')}\n\n${USAGE}`);
  return options;
}
