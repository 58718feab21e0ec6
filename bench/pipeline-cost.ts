/**
 * What one event costs through our processor against a minimal and a naive consumer of the same
 * records, in one run (see bench/pipeline-cost/run.ts and bench/README.md).
 *
 *   npm run bench:pipeline -- [--events 100000] [--repeats 3] [--shards 4] [--patients 1000]
 *                             [--consumers processor,minimal,naive] [--json FILE] [--ts-node]
 *                             [--cpu-prof DIR] [--records-per-call N] [--pg-statements]
 *
 * Consumers run as compiled JavaScript (tsconfig.build.json -> dist/, as in the image) unless --ts-node.
 * Prints a table of medians and ratios; asserts nothing.
 */
import { writeFileSync } from 'node:fs';
import { CONSUMERS, runPipelineCost, type Consumer } from './pipeline-cost/run';
import { formatReport } from './pipeline-cost/report';

function parseArgs(argv: readonly string[]): { events?: number; repeats?: number; shards?: number; patients?: number; consumers?: Consumer[]; json?: string; compiled?: boolean; cpuProfileDir?: string; recordsPerCall?: number; statementStats?: boolean } {
  const out: ReturnType<typeof parseArgs> = {};
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const int = (min: number): number => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < min) problems.push(`${flag} must be a whole number >= ${min}; received ${JSON.stringify(value)}`);
      return n;
    };
    if (flag === '--events') out.events = int(1);
    else if (flag === '--repeats') out.repeats = int(1);
    else if (flag === '--shards') out.shards = int(1);
    else if (flag === '--patients') out.patients = int(1);
    else if (flag === '--json') out.json = value;
    else if (flag === '--cpu-prof') out.cpuProfileDir = value;
    else if (flag === '--records-per-call') out.recordsPerCall = int(1);
    else if (flag === '--pg-statements') {
      out.statementStats = true;
      i--; // a flag without a value
    } else if (flag === '--ts-node') {
      out.compiled = false;
      i--; // a flag without a value
    }
    else if (flag === '--consumers') {
      const list = (value ?? '').split(',');
      const unknown = list.filter((c) => !(CONSUMERS as readonly string[]).includes(c));
      if (unknown.length > 0) problems.push(`--consumers must name ${CONSUMERS.join(', ')}; received ${JSON.stringify(value)}`);
      out.consumers = list as Consumer[];
    } else problems.push(`unknown option ${JSON.stringify(flag)}`);
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const result = await runPipelineCost({ compiled: true, ...args });
  if (args.json) writeFileSync(args.json, JSON.stringify(result, null, 2));
  process.stdout.write(`${formatReport(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
