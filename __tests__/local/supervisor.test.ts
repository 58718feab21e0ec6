import { spawn } from 'node:child_process';
import { Supervisor, type SupervisedChild } from '../../src/local/supervisor';

/** A real child process that lives until killed (or exits on its own after `exitAfterMs`). */
function nodeChild(exitAfterMs?: number): SupervisedChild & { kill(signal: NodeJS.Signals): void } {
  const code = exitAfterMs === undefined ? 'setInterval(() => {}, 1000)' : `setTimeout(() => process.exit(3), ${exitAfterMs})`;
  const proc = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (c, s) => resolve(c ?? s ?? 'unknown')));
  return { pid: proc.pid as number, exited, kill: (signal) => proc.kill(signal) };
}

const waitUntil = async (check: () => boolean, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('a child killed with SIGKILL is restarted, logged and counted; stop() ends supervision', async () => {
  const lines: string[] = [];
  const sup = await Supervisor.start({ name: 'worker', start: async () => nodeChild(), log: (m) => lines.push(m), baseDelayMs: 20, maxDelayMs: 100 });
  const pids = [sup.current.pid];
  for (let k = 0; k < 3; k++) {
    const before = sup.current;
    before.kill('SIGKILL');
    await waitUntil(() => sup.current !== before);
    pids.push(sup.current.pid);
  }
  expect(sup.restarts).toBe(3);
  expect(new Set(pids).size).toBe(4);
  expect(lines.filter((l) => /^worker exited unexpectedly \(SIGKILL\); restarting in \d+ ms \(restart \d\)$/.test(l))).toHaveLength(3);
  const last = sup.current;
  const how = await sup.stop(async (child) => {
    (child as ReturnType<typeof nodeChild>).kill('SIGTERM');
    return child.exited;
  });
  expect(how).toBe('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  expect(sup.current).toBe(last); // not restarted after stop()
  expect(sup.restarts).toBe(3);
});

test('restart delays grow while the child keeps failing (jittered, capped)', async () => {
  const lines: string[] = [];
  const sup = await Supervisor.start({ name: 'flaky', start: async () => nodeChild(10), log: (m) => lines.push(m), baseDelayMs: 40, maxDelayMs: 160, random: () => 1 });
  await waitUntil(() => sup.restarts >= 4);
  await sup.stop(async (child) => child.exited);
  const delays = lines.map((l) => Number(/restarting in (\d+) ms/.exec(l)?.[1])).filter((d) => Number.isFinite(d));
  expect(delays.slice(0, 4)).toEqual([40, 80, 160, 160]);
});

test('stopping while a restart waits out its backoff stops nothing and starts nothing', async () => {
  let starts = 0;
  const sup = await Supervisor.start({ name: 'dying', start: async () => (starts++, nodeChild()), log: () => undefined, baseDelayMs: 5_000, maxDelayMs: 5_000 });
  const first = sup.current as ReturnType<typeof nodeChild>;
  first.kill('SIGKILL');
  await first.exited;
  await waitUntil(() => sup.restarts === 1); // the restart is now waiting its 2.5..5 s
  const stopFn = jest.fn(async () => 0);
  expect(await sup.stop(stopFn)).toBeUndefined();
  expect(stopFn).not.toHaveBeenCalled();
  expect(starts).toBe(1);
});
