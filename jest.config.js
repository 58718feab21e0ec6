// Type checking is done once by `npm run typecheck` (tsc); ts-jest only transpiles (isolatedModules),
// which keeps the suite ~10x faster and lighter (see ../shared/TOOLCHAIN.md).
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }] },
  setupFilesAfterEnv: ['<rootDir>/__tests__/setup.ts'],
  testTimeout: 120000,
  maxWorkers: 2,
};
