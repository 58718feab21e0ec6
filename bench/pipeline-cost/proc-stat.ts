/**
 * CPU time and memory of processes from /proc (Linux): utime + stime of a process, plus, for a
 * server like PostgreSQL, of every descendant and of the children it has already reaped (cutime +
 * cstime), so backends that come and go are counted too.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux). */
export const CLOCK_TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface Stat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime, in ticks. */
  readonly own: number;
  /** cutime + cstime (reaped children), in ticks. */
  readonly children: number;
}

function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // exited meanwhile
  }
  // The command name (field 2) may contain spaces and parentheses: split after its closing ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid = field 4, utime..cstime = fields 14..17.
  return { pid, ppid: Number(fields[1]), own: Number(fields[11]) + Number(fields[12]), children: Number(fields[13]) + Number(fields[14]) };
}

function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** CPU seconds used so far by `pid` and its descendants (live ones, and the ones reaped by the tree). */
export function treeCpuSeconds(pid: number): number {
  const stats = allStats();
  const byParent = new Map<number, Stat[]>();
  for (const s of stats) {
    const list = byParent.get(s.ppid);
    if (list) list.push(s);
    else byParent.set(s.ppid, [s]);
  }
  const root = stats.find((s) => s.pid === pid);
  if (!root) throw new Error(`process ${pid} is not running`);
  let ticks = 0;
  const stack = [root];
  while (stack.length > 0) {
    const s = stack.pop() as Stat;
    ticks += s.own + s.children;
    stack.push(...(byParent.get(s.pid) ?? []));
  }
  return ticks / CLOCK_TICKS_PER_S;
}

/** CPU seconds used so far by one process (threads included, children not). */
export function processCpuSeconds(pid: number): number {
  const s = readStat(pid);
  if (!s) throw new Error(`process ${pid} is not running`);
  return s.own / CLOCK_TICKS_PER_S;
}

/** Peak resident set size (VmHWM) of a live process, in MiB. */
export function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
