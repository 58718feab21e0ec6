import { iamPassword } from '../../src/adapters/db';

test('the IAM token is cached and renewed after the refresh interval', async () => {
  let now = 0;
  let issued = 0;
  const password = iamPassword({ getAuthToken: async () => `token-${++issued}` }, 600_000, () => now);
  expect(await password()).toBe('token-1');
  now = 599_999;
  expect(await password()).toBe('token-1');
  now = 600_000;
  expect(await password()).toBe('token-2');
});

test('concurrent connections share one token request', async () => {
  let issued = 0;
  const password = iamPassword({ getAuthToken: async () => `token-${++issued}` });
  const tokens = await Promise.all([password(), password(), password()]);
  expect(tokens).toEqual(['token-1', 'token-1', 'token-1']);
});

test('a failed token request is retried on the next connection', async () => {
  let calls = 0;
  const password = iamPassword({
    getAuthToken: async () => {
      calls++;
      if (calls === 1) throw new Error('sts unavailable');
      return 'token';
    },
  });
  await expect(password()).rejects.toThrow('sts unavailable');
  expect(await password()).toBe('token');
});
