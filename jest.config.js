/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
  },
  testTimeout: 30000,
  globalSetup: '<rootDir>/test/helpers/globalSetup.ts',
  // Integration suites start servers and databases; two workers fit the 2-core machines.
  maxWorkers: 2,
};
