/**
 * Child processes of the local runner (migrations, processors): spawned with the runner's
 * environment plus their own, output appended to a log file (never the terminal), and stopped with
 * SIGTERM, then SIGKILL after a deadline. Every child is killed if the runner itself exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export interface ChildSpec {
  readonly name: string;
  readonly script: string;
  readonly env: NodeJS.ProcessEnv;
  /** stdout and stderr are appended here. */
  readonly logFile: string;
}

export interface RunningChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or the signal's name) when the child ends. */
  readonly exited: Promise<number | string>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort: a runner that crashes must not leave processors behind.
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

export function startChild(spec: ChildSpec): RunningChild {
  installExitHook();
  const fd = openSync(spec.logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [spec.script], {
      env: spec.env,
      stdio: ['ignore', fd, fd],
      // Own process group: a terminal's Ctrl-C reaches the runner only, which then drains in order.
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`${spec.name} did not start`);
  live.add(child);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', () => {
      live.delete(child);
      resolve('spawn-error');
    });
  });
  return { name: spec.name, process: child, pid: child.pid, exited };
}

/** SIGTERM, then SIGKILL after `deadlineMs`; resolves with how the child ended. */
export async function stopChild(child: RunningChild, deadlineMs: number): Promise<number | string> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return child.exited;
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), deadlineMs);
  try {
    return await child.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
