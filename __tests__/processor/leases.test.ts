import { isEligible, planLeases, type LeaseView } from '../../src/processor/leases';

function lease(shardId: string, o: Partial<LeaseView> = {}): LeaseView {
  return { shardId, parentShardIds: [], owner: null, epoch: 0, expired: false, finished: false, ...o };
}

describe('planLeases', () => {
  test('a lone worker takes every free lease', () => {
    const plan = planLeases([lease('s0'), lease('s1'), lease('s2'), lease('s3')], 'me');
    expect(plan.take.map((l) => l.shardId)).toEqual(['s0', 's1', 's2', 's3']);
    expect(plan.steal).toEqual([]);
  });

  test('a worker takes free leases only up to its fair share', () => {
    const plan = planLeases([lease('s0', { owner: 'other' }), lease('s1'), lease('s2'), lease('s3')], 'me');
    expect(plan.fairShare).toBe(2);
    expect(plan.take.map((l) => l.shardId)).toEqual(['s1', 's2']);
  });

  test('expired leases count as free', () => {
    const plan = planLeases([lease('s0', { owner: 'dead', expired: true }), lease('s1', { owner: 'other' })], 'me');
    expect(plan.take.map((l) => l.shardId)).toEqual(['s0']);
  });

  test('a worker below fair share with nothing free steals exactly one lease from the most loaded worker', () => {
    const leases = [
      lease('s0', { owner: 'a' }),
      lease('s1', { owner: 'a' }),
      lease('s2', { owner: 'a' }),
      lease('s3', { owner: 'b' }),
    ];
    const plan = planLeases(leases, 'me');
    expect(plan.take).toEqual([]);
    expect(plan.steal.map((l) => l.owner)).toEqual(['a']);
  });

  test('a new worker steals its whole fair share in one plan, from the most loaded workers first', () => {
    const leases = ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7'].map((id, i) => lease(id, { owner: i < 6 ? 'a' : 'b' }));
    const plan = planLeases(leases, 'me');
    expect(plan.fairShare).toBe(3);
    // a: 6 -> 3 (three steals), b keeps 2: nobody ends below the new worker.
    expect(plan.steal.map((l) => l.owner)).toEqual(['a', 'a', 'a']);
    expect(new Set(plan.steal.map((l) => l.shardId)).size).toBe(3);
  });

  test('a worker that takes free leases and is still below its fair share steals the rest in the same plan', () => {
    const leases = [lease('s0', { owner: 'a' }), lease('s1', { owner: 'a' }), lease('s2', { owner: 'a' }), lease('s3', { owner: 'a' }), lease('s4'), lease('s5', { owner: 'a' })];
    const plan = planLeases(leases, 'me');
    expect(plan.fairShare).toBe(3);
    expect(plan.take.map((l) => l.shardId)).toEqual(['s4']);
    expect(plan.steal).toHaveLength(2);
  });

  test('no lease is stolen when the difference is one (no ping-pong)', () => {
    const leases = [lease('s0', { owner: 'a' }), lease('s1', { owner: 'a' }), lease('s2', { owner: 'me' })];
    expect(planLeases(leases, 'me').steal).toEqual([]);
  });

  test('a worker at its fair share neither takes nor steals', () => {
    const leases = [lease('s0', { owner: 'a' }), lease('s1', { owner: 'me' })];
    const plan = planLeases(leases, 'me');
    expect(plan.take).toEqual([]);
    expect(plan.steal).toEqual([]);
  });

  test('children of an unfinished parent are not taken', () => {
    const leases = [lease('p', { owner: 'a' }), lease('c1', { parentShardIds: ['p'] }), lease('c2', { parentShardIds: ['p'] })];
    const plan = planLeases(leases, 'me');
    expect(plan.take).toEqual([]);
  });

  test('children become eligible once every parent is finished (merge: two parents)', () => {
    const leases = [lease('p1', { finished: true }), lease('p2', { owner: 'a' }), lease('c', { parentShardIds: ['p1', 'p2'] })];
    expect(planLeases(leases, 'me').take).toEqual([]);
    const done = [lease('p1', { finished: true }), lease('p2', { finished: true }), lease('c', { parentShardIds: ['p1', 'p2'] })];
    expect(planLeases(done, 'me').take.map((l) => l.shardId)).toEqual(['c']);
  });

  test('a parent no longer in the table (trimmed from the stream) does not block its children', () => {
    const all = new Map([['c', lease('c', { parentShardIds: ['gone'] })]]);
    expect(isEligible(all.get('c') as LeaseView, all)).toBe(true);
  });

  test('finished leases are never taken', () => {
    expect(planLeases([lease('s0', { finished: true })], 'me').take).toEqual([]);
  });
});
