/**
 * `npm start` entry point (node dist/src/local/cli.js [options]).
 *
 * Two processes: this supervisor, and the runner it starts in a new process group. A terminal's
 * Ctrl-C goes to the whole foreground group; were PostgreSQL and the processors in it, they would
 * stop before the runner could drain them. So the supervisor alone receives it and passes one
 * signal to the runner, which stops sending, waits for the processors to catch up, prints the final
 * line and stops everything in order. If the supervisor dies, the runner sees its IPC channel close
 * and shuts down too.
 *
 * Exit code: 0 only when every valid event sent was stored and nothing was left running; 1 otherwise
 * (the reason on stderr); 2 for a usage error.
 */
import { spawn } from 'node:child_process';
import { parseArgs, UsageError } from './args';
import { LocalRun } from './runner';
import { formatFinalLine } from './status';

const RUNNER_ENV = 'VITALS_LOCAL_RUNNER_CHILD';
const SIGNAL_DEBOUNCE_MS = 1_000;

function supervise(argv: readonly string[]): void {
  try {
    parseArgs(argv); // fail fast on a typo, before anything starts
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(err instanceof UsageError && /^usage:/.test((err as Error).message) ? 0 : 2);
  }
  // The AWS SDK's notice about Node versions after 2026 would otherwise interrupt the status lines.
  const nodeArgs = [...process.execArgv, '--disable-warning=NodeVersionSupportWarning'];
  const child = spawn(process.execPath, [...nodeArgs, __filename, ...argv], {
    env: { ...process.env, [RUNNER_ENV]: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  // One Ctrl-C can arrive twice: from the terminal and again from npm, which forwards signals to its
  // script. Signals within SIGNAL_DEBOUNCE_MS count once, so a single Ctrl-C never skips the drain.
  let lastForwardedAt = 0;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      const now = Date.now();
      if (child.exitCode !== null || now - lastForwardedAt < SIGNAL_DEBOUNCE_MS) return;
      lastForwardedAt = now;
      child.kill(signal === 'SIGHUP' ? 'SIGTERM' : signal);
    });
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

async function runner(argv: readonly string[]): Promise<number> {
  const options = parseArgs(argv);
  const run = new LocalRun(options, { stderr: process.stderr });
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals === 1) process.stderr.write('\n[local] stopping (Ctrl-C again to skip waiting for the processors)\n');
    run.requestStop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // The supervisor is gone (killed): nobody will read our output, stop quickly and cleanly.
  process.on('disconnect', () => {
    run.requestStop();
    run.requestStop();
  });

  try {
    const result = await run.run();
    process.stdout.write(`${formatFinalLine(result.summary)}\n`);
    const failures = [...result.failures, ...run.leftovers];
    if (failures.length > 0) {
      process.stderr.write(`[local] FAILED: ${failures.join('; ')}\n`);
      return 1;
    }
    process.stderr.write('[local] OK: every valid event sent was stored\n');
    return 0;
  } catch (err) {
    process.stderr.write(`[local] FAILED: ${(err as Error).message}\n`);
    if (run.leftovers.length > 0) process.stderr.write(`[local] left behind: ${run.leftovers.join('; ')}\n`);
    return 1;
  }
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  if (process.env[RUNNER_ENV] === '1') {
    runner(argv).then(
      (code) => {
        process.exitCode = code;
        process.disconnect?.();
        // Anything still holding the event loop now is a bug; do not hang the terminal on it.
        setTimeout(() => process.exit(code), 2_000).unref();
      },
      (err: unknown) => {
        process.stderr.write(`[local] FAILED: ${String(err)}\n`);
        process.exit(1);
      },
    );
  } else {
    supervise(argv);
  }
}
