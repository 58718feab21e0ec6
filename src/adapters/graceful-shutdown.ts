/**
 * SIGTERM/SIGINT handling shared by the services' entry points (processor, HL7 gateway, FHIR API):
 * ECS sends SIGTERM, then SIGKILL after the task's stop timeout, so each stops its work within a
 * deadline and exits 0, or exits 1 when stopping fails or overruns (the next task resumes from what
 * was committed).
 */
import { errorSummary, type Logger } from './logger';

export function exitOnSignals(running: { stop(): Promise<void> }, logger: Logger, deadlineMs: number): void {
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, deadlineMs }, 'shutting down');
    setTimeout(() => {
      logger.error('shutdown deadline exceeded; exiting');
      process.exit(1);
    }, deadlineMs).unref();
    running.stop().then(
      () => {
        logger.info('shutdown complete');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err: errorSummary(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
