/**
 * What the local run sees of the alerts: every event the local bus accepted is checked against the
 * alert event schema and for patient identifiers (none may leave the pipeline), counted, and timed
 * (stream arrival of the observation -> bus accepted); each high alert gets a status line (facility,
 * pseudonym prefix, score, latency). The acknowledging client: it acknowledges about half the raised
 * alerts (by alert id, so the choice is stable) through the ingest API's acknowledge route, once more
 * to check the idempotent answer, and leaves the others to escalate.
 */
import type { AlertEventDetail } from '../alerts/detail';
import { validateAlertEvent } from '../schema/alert-event';
import type { BusEvent } from './alert-bus';

/** Attempts per acknowledgement on server errors and lost connections (~30 s with backoff: a database restart). */
const ACK_ATTEMPTS = 10;

export interface AlertWatchOptions {
  readonly say: (line: string) => void;
  /** Patient identifiers the run sends (or a pattern they follow): none may appear in an event. */
  readonly looksLikePatientId: (text: string) => boolean;
}

export interface AckClientSettings {
  readonly url: string;
  readonly apiKey: string;
  readonly delayMs: number;
}

export interface AlertFigures {
  alerts_delivered: number;
  alert_delivery_p99_ms: number | null;
  alerts_escalated: number;
  alerts_acknowledged: number;
  alert_duplicate_deliveries: number;
}

export class AlertWatch {
  private readonly seen = new Set<string>();
  private readonly latencies: number[] = [];
  private duplicates = 0;
  private escalated = 0;
  private acknowledgedEvents = 0;
  readonly problems: string[] = [];
  private readonly acks = { sent: 0, ok: 0, reAckOk: 0, cleared: 0, failed: 0 };
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  private ack?: AckClientSettings;

  constructor(private readonly options: AlertWatchOptions) {}

  /** From now on, acknowledge about half the raised alerts through the API. */
  startAcknowledging(settings: AckClientSettings): void {
    this.ack = settings;
  }

  onEvent(event: BusEvent): void {
    const d = event.detail as AlertEventDetail;
    const valid = validateAlertEvent(d);
    if (!valid.ok) {
      this.problem(`an alert event broke the schema: ${valid.errors.map((e) => `${e.field} ${e.message}`).join('; ')}`);
      return;
    }
    if (this.options.looksLikePatientId(JSON.stringify(d))) this.problem(`alert ${d.alertId} carries a patient identifier`);
    if (this.seen.has(d.transitionId)) {
      this.duplicates++;
      return;
    }
    this.seen.add(d.transitionId);
    const latencyMs = d.receivedAt && (d.transition === 'raised' || d.transition === 'changed') ? event.acceptedAt - Date.parse(d.receivedAt) : null;
    if (latencyMs !== null) this.latencies.push(latencyMs);
    if (d.transition === 'escalated') this.escalated++;
    if (d.transition === 'acknowledged') this.acknowledgedEvents++;
    if (d.severity === 'high' && (d.transition === 'raised' || d.transition === 'changed' || d.transition === 'escalated')) {
      const what = d.transition === 'escalated' ? `escalated to tier ${d.escalation?.tier} (${d.escalation?.target})` : d.transition;
      this.options.say(
        `alert HIGH ${what}: facility ${d.facilityId}, patient ${d.patientPseudonym.slice(0, 8)}…, NEWS2 ${d.score.total}` +
          (latencyMs === null ? '' : `, delivered ${latencyMs} ms after the observation arrived`),
      );
    }
    if (d.transition === 'raised' && this.ack && !this.stopped && parseInt(d.alertId.slice(0, 1), 16) % 2 === 0) this.acknowledgeLater(d.alertId);
  }

  /** Waits for the acknowledgements in flight; no new ones start. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.inFlight);
  }

  figures(): AlertFigures {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const p99 = sorted.length === 0 ? null : (sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] as number);
    return {
      alerts_delivered: this.seen.size,
      alert_delivery_p99_ms: p99,
      alerts_escalated: this.escalated,
      alerts_acknowledged: this.acknowledgedEvents,
      alert_duplicate_deliveries: this.duplicates,
    };
  }

  get ackCounts(): Readonly<typeof this.acks> {
    return this.acks;
  }

  private problem(text: string): void {
    if (this.problems.length < 10) this.problems.push(text);
  }

  private acknowledgeLater(alertId: string): void {
    const ack = this.ack;
    if (!ack) return;
    const p = (async () => {
      await new Promise((r) => setTimeout(r, ack.delayMs));
      const post = () => fetch(`${ack.url}/v1/alerts/${alertId}/acknowledge`, { method: 'POST', headers: { 'x-api-key': ack.apiKey } });
      this.acks.sent++;
      // A clinician's client retries a server error or a lost connection (the local run restarts
      // PostgreSQL under it): acknowledging is idempotent, so a retry after a lost answer is safe.
      let retried = false;
      let first: Response | undefined;
      for (let attempt = 0; attempt < ACK_ATTEMPTS; attempt++) {
        if (attempt > 0) {
          retried = true;
          await new Promise((r) => setTimeout(r, Math.min(4_000, 250 * 2 ** (attempt - 1))));
        }
        try {
          first = await post();
          if (first.status < 500) break;
        } catch (err) {
          if (attempt === ACK_ATTEMPTS - 1) throw err;
        }
      }
      if (!first) throw new Error('no answer');
      if (first.status === 409) {
        this.acks.cleared++; // cleared before the nurse got to it
        return;
      }
      const body = (await first.json()) as { alreadyAcknowledged?: boolean };
      // After a retry, "already acknowledged" means the lost first attempt committed.
      if (first.status !== 200 || (body.alreadyAcknowledged !== false && !(retried && body.alreadyAcknowledged === true))) {
        this.acks.failed++;
        this.problem(`acknowledging an alert answered ${first.status}`);
        return;
      }
      this.acks.ok++;
      const again = await post();
      const againBody = (await again.json()) as { alreadyAcknowledged?: boolean };
      if (again.status === 200 && againBody.alreadyAcknowledged === true) this.acks.reAckOk++;
      else this.problem(`re-acknowledging an alert answered ${again.status} (alreadyAcknowledged ${String(againBody.alreadyAcknowledged)})`);
    })().catch((err: unknown) => {
      this.acks.failed++;
      this.problem(`acknowledging an alert failed: ${err instanceof Error ? err.name : 'error'}`);
    });
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }
}
