/**
 * Conformance: real-shaped IHE PCD-01 messages (conformance/*.hl7, written from the PCD Technical
 * Framework's ORU^R01 structure and vendor message examples) and every supported code and unit,
 * through the gateway's core: records to put, or the ACK to send.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAck } from '../../src/hl7/ack';
import { OBSERVATION_CODES, UNIT_CODES, type ContractUnit } from '../../src/hl7/codes';
import { acknowledgements, prepareMessage, type Prepared } from '../../src/hl7/prepare';
import type { DeviceEvent } from '../../src/schema';

const NOW = new Date('2026-03-01T12:00:00Z');
const fixture = (name: string): string => readFileSync(join(__dirname, 'conformance', name), 'utf8').trimEnd().replace(/\n/g, '\r');
const prepare = (text: string, tz?: string): Prepared => prepareMessage(Buffer.from(text, 'utf8'), { now: NOW, ...(tz ? { localTimeZone: tz } : {}) });
const events = (p: Prepared): DeviceEvent[] => (p.kind === 'store' ? p.records.map((r) => JSON.parse(r.data.toString()) as DeviceEvent) : []);
const ackOf = (p: Prepared) => {
  const outcome = p.kind === 'store' ? 'accepted' : p.outcome;
  return acknowledgements(p.header, outcome, p.issues, { now: NOW, nextControlId: () => 'ACK1' }).map(parseAck);
};

/** One metric OBX in an otherwise complete PCD-01 message. */
function singleObx(obx: string, opts: { pid?: string; msh9?: string; version?: string; processing?: string; controlId?: string; obr7?: string } = {}): string {
  return [
    `MSH|^~\\&|MONGW^0009FB0000000001^EUI-64|WARD1|VITALS|HOSP|20260301115900+0000||${opts.msh9 ?? 'ORU^R01^ORU_R01'}|${opts.controlId ?? 'C-1'}|${opts.processing ?? 'P'}|${opts.version ?? '2.6'}|||NE|AL||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO`,
    opts.pid ?? 'PID|||MRN-100^^^HOSP^MR',
    'PV1||I|WARD1^1^1^HOSP',
    `OBR|1|C-1^MONGW^0009FB0000000001^EUI-64|C-1^MONGW^0009FB0000000001^EUI-64|182777000^monitoring of patient^SCT|||${opts.obr7 ?? '20260301115800+0000'}`,
    'OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||0009FB0000000001^EUI-64',
    obx,
  ].join('\r');
}

describe('conformance messages', () => {
  test('a multi-parameter monitor yields one event per observation time, from the preferred codes', () => {
    const p = prepare(fixture('01-multiparameter-monitor.hl7'));
    const [now, nibp] = events(p);
    expect(now).toMatchObject({
      deviceId: '0009FB0000A1B2C3', patientId: 'MRN-4471203', facilityId: 'ZHGENERAL', observedAt: '2026-03-01T09:15:00.000Z',
      vitals: { pulse: { value: 88, unit: 'bpm' }, respirationRate: { value: 19, unit: 'breaths/min' }, spo2: { value: 94, unit: '%' }, temperature: { value: 37.9, unit: 'Cel' } },
    });
    expect(nibp).toMatchObject({ observedAt: '2026-03-01T09:08:32.000Z', vitals: { systolicBp: { value: 118, unit: 'mmHg' }, diastolicBp: { value: 74, unit: 'mmHg' } } });
    expect(p.counts).toEqual({ observations: 9, mapped: 6, superseded: 1, unsupported: 2, statusSkipped: 0 });
  });

  test('codes the pipeline does not store are counted and named in the AA', () => {
    const [ack] = ackOf(prepare(fixture('01-multiparameter-monitor.hl7')));
    expect(ack?.code).toBe('AA');
    expect(ack?.controlId).toBe('MMS2026030110150200017');
    expect(ack?.errors).toEqual([
      { location: 'OBX^5^3', condition: '103', severity: 'W', reason: 'unsupported-code', message: 'observation code 148066 (MDC_ECG_V_P_C_RATE) is not stored by this gateway: 1 OBX' },
      { location: 'OBX^13^3', condition: '103', severity: 'W', reason: 'unsupported-code', message: 'observation code 150023 (MDC_PRESS_BLD_NONINV_MEAN) is not stored by this gateway: 1 OBX' },
    ]);
  });

  test('an integration engine sending LOINC codes and UCUM units is understood, kPa and Fahrenheit included', () => {
    const [e] = events(prepare(fixture('02-integration-engine-loinc.hl7')));
    expect(e).toMatchObject({
      deviceId: 'BEDSIDE-22', patientId: 'PAT-000981', facilityId: 'STGALLEN',
      vitals: {
        pulse: { value: 132, unit: 'bpm' }, respirationRate: { value: 26, unit: 'breaths/min' }, spo2: { value: 89, unit: '%' },
        systolicBp: { value: 11.9, unit: 'kPa' }, diastolicBp: { value: 7.1, unit: 'kPa' }, temperature: { value: 101.3, unit: '[degF]' },
      },
    });
  });

  test('a sender asking for accept and application acknowledgements gets CA then AA', () => {
    expect(ackOf(prepare(fixture('02-integration-engine-loinc.hl7'))).map((a) => a.code)).toEqual(['CA', 'AA']);
  });

  test('the cuff pressure is preferred over an arterial line, as a pair, and the MDS device id is used', () => {
    const p = prepare(fixture('03-arterial-line-and-cuff.hl7'));
    const [e] = events(p);
    expect(e?.deviceId).toBe('0009FB0000C0FFEE');
    expect(e?.vitals).toEqual({ pulse: { value: 112, unit: 'bpm' }, systolicBp: { value: 101, unit: 'mmHg' }, diastolicBp: { value: 58, unit: 'mmHg' }, temperature: { value: 35.4, unit: 'Cel' } });
    expect(p.counts.superseded).toBe(2);
  });

  test('a central station reporting two patients yields one event per patient, device from OBR-3', () => {
    const es = events(prepare(fixture('04-two-patients-central-station.hl7')));
    expect(es.map((e) => [e.patientId, e.deviceId, e.observedAt])).toEqual([
      ['CARD-1001', '0009FB0000001001', '2026-03-01T07:00:00.000Z'],
      ['CARD-1002', '0009FB0000001002', '2026-03-01T07:00:00.000Z'],
    ]);
  });

  test('a probe-off message (every result status X) is accepted with nothing to store, and says so', () => {
    const p = prepare(fixture('05-probe-off.hl7'));
    expect(p.kind === 'store' && p.records).toEqual([]);
    const [ack] = ackOf(p);
    expect(ack?.code).toBe('AA');
    expect(ack?.errors).toEqual([{ location: '', condition: '103', severity: 'I', reason: 'status-skipped', message: '2 OBX not stored: result status X (cannot be obtained)' }]);
  });

  test('times without a UTC offset are refused, or read in the configured local zone', () => {
    const [refused] = ackOf(prepare(fixture('06-no-utc-offset.hl7')));
    expect(refused?.code).toBe('AE');
    expect(refused?.errors[0]).toMatchObject({ location: 'OBR^1^7', reason: 'bad-time' });
    const later = prepareMessage(Buffer.from(fixture('06-no-utc-offset.hl7')), { now: new Date('2026-03-01T13:00:00Z'), localTimeZone: 'Europe/Zurich' });
    expect(events(later)).toMatchObject([{ deviceId: '080019FFFE0B4020', facilityId: 'GE_Healthcare', observedAt: '2026-03-01T12:41:00.000Z' }]);
  });

  test('LF line endings (a file sent as is) read like CR', () => {
    expect(events(prepare(fixture('04-two-patients-central-station.hl7').replace(/\r/g, '\n')))).toHaveLength(2);
  });
});

describe('every supported code and unit', () => {
  const unitsOf = (parameter: string): Array<{ field: string; unit: ContractUnit }> =>
    UNIT_CODES.flatMap((u) => {
      const cu = u.contractUnit[parameter as keyof typeof u.contractUnit];
      return cu ? [{ field: `${u.mdcCode}^${u.mdcName}^MDC`, unit: cu }, ...u.ucum.map((uc) => ({ field: `${uc}^^UCUM`, unit: cu }))] : [];
    });
  const VALUE: Readonly<Record<string, Readonly<Record<string, number>>>> = {
    pulse: { bpm: 72 },
    respirationRate: { 'breaths/min': 16 },
    spo2: { '%': 97 },
    systolicBp: { mmHg: 120, kPa: 16 },
    diastolicBp: { mmHg: 70, kPa: 9.3 },
    temperature: { Cel: 37.2, '[degF]': 99 },
  };
  const cases = OBSERVATION_CODES.flatMap((c) =>
    unitsOf(c.parameter).map((u) => ({ name: `${c.system} ${c.code} ${c.name} in ${u.field.split('^')[0]}`, c, u })),
  );

  test('the table covers six parameters with several codes each', () => {
    expect(new Set(OBSERVATION_CODES.map((c) => c.parameter)).size).toBe(6);
    expect(cases.length).toBeGreaterThan(50);
  });

  test.each(cases)('$name', ({ c, u }) => {
    const code = c.system === 'MDC' ? `${c.code}^${c.name}^MDC` : `${c.code}^${c.name}^LN`;
    const value = VALUE[c.parameter]?.[u.unit] as number;
    const p = prepare(singleObx(`OBX|2|NM|${code}|1.1.1.1|${value}|${u.field}|||||R|||20260301115800+0000`));
    const field = c.parameter === 'temperature' ? 'temperature' : c.parameter;
    expect(events(p)).toEqual([expect.objectContaining({ vitals: { [field]: { value, unit: u.unit } } })]);
  });

  test('an MDC code sent by reference id only (no number) is understood', () => {
    const p = prepare(singleObx('OBX|2|NM|^MDC_ECG_HEART_RATE^MDC|1.1.1.1|61|^MDC_DIM_BEAT_PER_MIN^MDC|||||R'));
    expect(events(p)[0]?.vitals).toEqual({ pulse: { value: 61, unit: 'bpm' } });
  });

  test('the newer name MDC_ECG_CARD_BEAT_RATE reads as heart rate', () => {
    const p = prepare(singleObx('OBX|2|NM|^MDC_ECG_CARD_BEAT_RATE^MDC|1.1.1.1|61|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R'));
    expect(events(p)[0]?.vitals).toEqual({ pulse: { value: 61, unit: 'bpm' } });
  });
});

describe('error paths', () => {
  const HR = (value: string, unit = '264864^MDC_DIM_BEAT_PER_MIN^MDC', status = 'R', time = '20260301115800+0000') =>
    `OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|${value}|${unit}|||||${status}|||${time}`;
  const expectAck = (text: string, code: string, reason: string, location?: string) => {
    const [ack] = ackOf(prepare(text));
    expect(ack?.code).toBe(code);
    expect(ack?.errors[0]).toMatchObject({ severity: 'E', reason, ...(location !== undefined ? { location } : {}) });
    return ack;
  };

  test('no PID (a monitor not admitted to a patient) is an AE naming PID-3', () => {
    expectAck(singleObx(HR('80'), { pid: 'PV2|' }), 'AE', 'no-patient', 'PID^1^3');
  });

  test('a patient identifier outside the contract pattern is an AE, the value not quoted', () => {
    const ack = expectAck(singleObx(HR('80'), { pid: 'PID|||MRN 12/34^^^H^MR' }), 'AE', 'bad-patient-id', 'PID^1^3');
    expect(JSON.stringify(ack)).not.toContain('12/34');
  });

  test('a non-numeric value is an AE at OBX-5', () => {
    expectAck(singleObx(HR('eighty')), 'AE', 'bad-value', 'OBX^2^5');
  });

  test('an empty value with a valid status is an AE', () => {
    expectAck(singleObx(HR('')), 'AE', 'bad-value', 'OBX^2^5');
  });

  test('a unit of another parameter is an AE at OBX-6', () => {
    expectAck(singleObx(HR('80', '266016^MDC_DIM_MMHG^MDC')), 'AE', 'bad-unit', 'OBX^2^6');
  });

  test('a missing unit is an AE at OBX-6', () => {
    expectAck(singleObx(HR('80', '')), 'AE', 'bad-unit', 'OBX^2^6');
  });

  test('an unknown result status is an AE at OBX-11', () => {
    expectAck(singleObx(HR('80', undefined, 'Q')), 'AE', 'bad-status', 'OBX^2^11');
  });

  test('a physiologically impossible value is an AE with the pipeline range, at the OBX it came from', () => {
    const ack = expectAck(singleObx(HR('400')), 'AE', 'out-of-range', 'OBX^2^5');
    expect(ack?.errors[0]?.message).toMatch(/pulse must be (<=|between)/);
  });

  test('a diastolic at or above the systolic is an AE (the processor rule)', () => {
    const text = singleObx([
      'OBX|2|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.3.1.1|80|266016^MDC_DIM_MMHG^MDC|||||R|||20260301115800+0000',
      'OBX|3|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.3.1.2|95|266016^MDC_DIM_MMHG^MDC|||||R|||20260301115800+0000',
    ].join('\r'));
    const ack = expectAck(text, 'AE', 'out-of-range', 'OBX^3^5');
    expect(ack?.errors[0]?.message).toMatch(/below the systolic/);
  });

  test('an observation time beyond the clock skew is an AE (the processor would dead-letter it)', () => {
    expectAck(singleObx(HR('80', undefined, 'R', '20260301123000+0000')), 'AE', 'future-time');
  });

  test('no observation time at all is an AE', () => {
    expectAck(singleObx('OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|80|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R', { obr7: '' }), 'AE', 'bad-time');
  });

  test('a message with only unsupported codes is an AE that names them', () => {
    const ack = expectAck(singleObx('OBX|2|NM|150023^MDC_PRESS_BLD_NONINV_MEAN^MDC|1.3.1.3|89|266016^MDC_DIM_MMHG^MDC|||||R'), 'AE', 'no-observation');
    expect(ack?.errors[1]).toMatchObject({ severity: 'W', reason: 'unsupported-code', message: expect.stringContaining('150023') });
  });

  test('a message without OBX is an AE', () => {
    expectAck(singleObx('NTE|1||nothing measured'), 'AE', 'no-observation');
  });

  test('another message type is rejected (AR) naming MSH-9', () => {
    expectAck(singleObx(HR('80'), { msh9: 'ADT^A01^ADT_A01' }), 'AR', 'unsupported-message', 'MSH^1^9');
    expectAck(singleObx(HR('80'), { msh9: 'ORU^R40^ORU_R40' }), 'AR', 'unsupported-message', 'MSH^1^9');
  });

  test('an HL7 version before 2.3 is rejected', () => {
    expectAck(singleObx(HR('80'), { version: '2.1' }), 'AR', 'unsupported-version', 'MSH^1^12');
  });

  test('training messages (processing id T) are rejected, never stored', () => {
    expectAck(singleObx(HR('80'), { processing: 'T' }), 'AR', 'unsupported-processing-id', 'MSH^1^11');
  });

  test('a message without a control id is rejected', () => {
    expectAck(singleObx(HR('80'), { controlId: '' }), 'AR', 'bad-header', 'MSH^1^10');
  });

  test('text that is not HL7 is rejected with an empty MSA-2', () => {
    const ack = expectAck('GET / HTTP/1.1\r\nHost: x', 'AR', 'not-hl7');
    expect(ack?.controlId).toBe('');
  });

  test('every error of a message is reported at once', () => {
    const text = singleObx([HR('fast'), 'OBX|3|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|97|266016^MDC_DIM_MMHG^MDC|||||R|||20260301115800+0000'].join('\r'));
    const [ack] = ackOf(prepare(text));
    expect(ack?.errors.map((e) => [e.location, e.reason])).toEqual([['OBX^2^5', 'bad-value'], ['OBX^3^6', 'bad-unit']]);
  });
});
