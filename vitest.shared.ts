import { fileURLToPath } from 'node:url';
import { defaultServerConditions, type UserConfig } from 'vite';

/**
 * Shared Vitest settings: tests run on sources (the `source` export condition), unit tests and
 * integration tests (`*.int.test.ts`, needing a real engine or server) are separate projects.
 */
export function beamlineVitestConfig(): UserConfig {
  const conditions = ['source', ...defaultServerConditions];
  return {
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['source'] } },
    test: {
      setupFiles: [fileURLToPath(new URL('./vitest.setup.ts', import.meta.url))],
      reporters: process.env.BEAMLINE_TEST_REPORT
        ? ['default', ['json', { outputFile: process.env.BEAMLINE_TEST_REPORT }]]
        : ['default'],
      projects: [
        {
          extends: true,
          test: {
            name: 'unit',
            include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
            exclude: ['**/*.int.test.ts'],
            testTimeout: 20_000,
          },
        },
        {
          extends: true,
          test: {
            name: 'int',
            include: ['src/**/*.int.test.ts', 'test/**/*.int.test.ts'],
            testTimeout: 120_000,
            hookTimeout: 300_000,
            fileParallelism: false,
          },
        },
      ],
    },
  } as UserConfig;
}
