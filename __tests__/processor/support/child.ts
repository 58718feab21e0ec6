import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from './stack';

/** The real processor entry point running in a child process (so SIGKILL can hit it anywhere). */
export interface Child {
  readonly proc: ChildProcess;
  /** Resolves once the processor logs that it is running (or exits). */
  readonly ready: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `src/processor/main.ts`; every stdout/stderr line is appended to `output`. */
export function startChild(env: NodeJS.ProcessEnv, output: string[]): Child {
  const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/processor/main.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let resolveReady: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  const collect = (d: Buffer): void => {
    const text = d.toString();
    output.push(...text.split('\n').filter(Boolean));
    if (text.includes('processor running')) resolveReady();
  };
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  void exited.then(() => resolveReady());
  return { proc, ready, exited };
}
