/**
 * Keeps one child process running, as ECS keeps a service's tasks running: when the child exits
 * without being asked to, it is started again after a jittered, growing delay (reset once a child
 * has stayed up for STABLE_AFTER_MS), and every restart is logged and counted.
 */

export interface SupervisedChild {
  readonly pid: number;
  /** Resolves with the exit code or signal name when the process ends. */
  readonly exited: Promise<number | string>;
}

export interface SupervisorOptions<T extends SupervisedChild> {
  readonly name: string;
  /** Starts a new instance (resolves once it is ready). */
  readonly start: () => Promise<T>;
  /** Progress lines (restarts, failures). */
  readonly log: (message: string) => void;
  /** First restart delay; doubled per consecutive restart. @default 500 */
  readonly baseDelayMs?: number;
  /** @default 10000 */
  readonly maxDelayMs?: number;
  /** A child up this long resets the delay. @default 30000 */
  readonly stableAfterMs?: number;
  readonly random?: () => number;
}

export class Supervisor<T extends SupervisedChild> {
  /** Restarts after an unexpected exit (attempts that failed to start included). */
  restarts = 0;
  private currentChild: T;
  private startedAt = Date.now();
  private consecutive = 0;
  private stopping = false;
  private restarting?: Promise<void>;
  private cancelWait?: () => void;

  private constructor(
    first: T,
    private readonly options: SupervisorOptions<T>,
  ) {
    this.currentChild = first;
    this.watch(first);
  }

  /** Starts the first instance (failing if it does not start) and supervises it from then on. */
  static async start<T extends SupervisedChild>(options: SupervisorOptions<T>): Promise<Supervisor<T>> {
    return new Supervisor(await options.start(), options);
  }

  get current(): T {
    return this.currentChild;
  }

  /**
   * Stops supervising (no more restarts) and hands the current instance to `stop`; resolves
   * undefined without calling it when that instance had already exited unexpectedly (its restart
   * was still waiting out the backoff): there is nothing left to stop.
   */
  async stop<R>(stop: (child: T) => Promise<R>): Promise<R | undefined> {
    this.stopping = true;
    this.cancelWait?.();
    await this.restarting;
    if (this.exited.has(this.currentChild)) return undefined;
    return stop(this.currentChild);
  }

  /** Instances that have exited (kept only until replaced). */
  private readonly exited = new WeakSet<T>();

  private watch(child: T): void {
    void child.exited.then((how) => {
      this.exited.add(child);
      if (this.stopping || child !== this.currentChild) return;
      this.restarting = this.restart(how);
    });
  }

  private delayMs(): number {
    if (Date.now() - this.startedAt >= (this.options.stableAfterMs ?? 30_000)) this.consecutive = 0;
    const cap = Math.min(this.options.maxDelayMs ?? 10_000, (this.options.baseDelayMs ?? 500) * 2 ** this.consecutive++);
    // Equal jitter: at least half the cap, so restarts really back off.
    return Math.round(cap / 2 + (this.options.random ?? Math.random)() * (cap / 2));
  }

  private async restart(how: number | string): Promise<void> {
    for (;;) {
      const delay = this.delayMs();
      this.restarts++;
      this.options.log(`${this.options.name} exited unexpectedly (${how}); restarting in ${delay} ms (restart ${this.restarts})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.cancelWait = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.cancelWait = undefined;
      if (this.stopping) return;
      try {
        const child = await this.options.start();
        this.currentChild = child;
        this.startedAt = Date.now();
        this.options.log(`${this.options.name} restarted (pid ${child.pid})`);
        if (this.stopping) return;
        this.watch(child);
        return;
      } catch (err) {
        how = `failed to start: ${(err as Error).message}`;
      }
    }
  }
}
