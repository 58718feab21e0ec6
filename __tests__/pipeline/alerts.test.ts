import { alertTransition, type AlertState } from '../../src/pipeline/alerts';
import { scoreNews2, type News2Input, type News2Result } from '../../src/pipeline/news2';

const NORMAL: News2Input = {
  respirationRate: 16, spo2: 98, spo2Scale: 1, onSupplementalOxygen: false,
  systolicBp: 120, pulse: 70, consciousness: 'A', temperatureC: 37,
};
const LOW = scoreNews2(NORMAL); // 0
const LOW_WITH_THREE = scoreNews2({ ...NORMAL, consciousness: 'V' }); // 3, low-medium
const MEDIUM = scoreNews2({ ...NORMAL, pulse: 111, respirationRate: 21, temperatureC: 38.1 }); // 5
const MEDIUM_WITH_THREE = scoreNews2({ ...NORMAL, consciousness: 'V', pulse: 111 }); // 5
const HIGH = scoreNews2({ ...NORMAL, pulse: 111, respirationRate: 21, temperatureC: 38.1, spo2: 95, systolicBp: 101 }); // 7

/** Feeds scores through alertTransition from a fresh patient and returns the alert kinds raised (null for none). */
function run(...scores: News2Result[]): Array<string | null> {
  let state: AlertState | null = null;
  return scores.map((s) => {
    const d = alertTransition(state, s);
    state = d.next;
    return d.raise ? (d.kind ?? 'missing-kind') : null;
  });
}

describe('alertTransition', () => {
  it('checks the fixtures are in the bands the tests assume', () => {
    expect([LOW.risk, LOW_WITH_THREE.risk, MEDIUM.risk, MEDIUM_WITH_THREE.risk, HIGH.risk]).toEqual([
      'low', 'low-medium', 'medium', 'medium', 'high',
    ]);
  });

  it('raises nothing for a first score that is low', () => {
    expect(run(LOW)).toEqual([null]);
  });

  it('raises a medium alert when risk rises from low to medium', () => {
    expect(run(LOW, MEDIUM)).toEqual([null, 'risk-medium']);
  });

  it('raises a high alert when risk rises from low to high', () => {
    expect(run(LOW, HIGH)).toEqual([null, 'risk-high']);
  });

  it('raises a high alert when risk rises from medium to high', () => {
    expect(run(LOW, MEDIUM, HIGH)).toEqual([null, 'risk-medium', 'risk-high']);
  });

  it('raises an alert for a first score that is already medium', () => {
    expect(run(MEDIUM)).toEqual(['risk-medium']);
  });

  it('raises one alert per transition, not one per event, while risk stays medium', () => {
    expect(run(LOW, MEDIUM, MEDIUM, MEDIUM)).toEqual([null, 'risk-medium', null, null]);
  });

  it('raises nothing while risk stays high', () => {
    expect(run(HIGH, HIGH)).toEqual(['risk-high', null]);
  });

  it('raises nothing when risk falls', () => {
    expect(run(HIGH, MEDIUM, LOW)).toEqual(['risk-high', null, null]);
  });

  it('raises again when risk falls and then rises again', () => {
    expect(run(LOW, MEDIUM, LOW, MEDIUM)).toEqual([null, 'risk-medium', null, 'risk-medium']);
  });

  it('raises again when risk falls from high to medium and rises to high again', () => {
    expect(run(HIGH, MEDIUM, HIGH)).toEqual(['risk-high', null, 'risk-high']);
  });

  it('raises a single-parameter alert when a parameter scoring 3 appears at a low total', () => {
    expect(run(LOW, LOW_WITH_THREE)).toEqual([null, 'single-parameter-3']);
  });

  it('raises the single-parameter alert once until the parameter clears', () => {
    expect(run(LOW, LOW_WITH_THREE, LOW_WITH_THREE, LOW, LOW_WITH_THREE)).toEqual([
      null, 'single-parameter-3', null, null, 'single-parameter-3',
    ]);
  });

  it('raises one risk alert, not two, when risk rises and a parameter scoring 3 appears together', () => {
    expect(run(LOW, MEDIUM_WITH_THREE, MEDIUM_WITH_THREE)).toEqual([null, 'risk-medium', null]);
  });

  it('raises a risk alert when a low-medium patient rises to medium', () => {
    expect(run(LOW_WITH_THREE, MEDIUM_WITH_THREE)).toEqual(['single-parameter-3', 'risk-medium']);
  });

  it('raises a single-parameter alert when a 3 appears in a patient already at medium', () => {
    expect(run(MEDIUM, MEDIUM_WITH_THREE)).toEqual(['risk-medium', 'single-parameter-3']);
  });

  it('returns the new state for the caller to store', () => {
    expect(alertTransition(null, MEDIUM_WITH_THREE).next).toEqual({ risk: 'medium', anyParameterThree: true });
    expect(alertTransition({ risk: 'high', anyParameterThree: true }, LOW).next).toEqual({ risk: 'low', anyParameterThree: false });
  });
});
