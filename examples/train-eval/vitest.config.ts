import { defineConfig } from 'vitest/config';
import { beamlineVitestConfig } from '../../vitest.shared.js';

const shared = beamlineVitestConfig();

// The shared projects look under src/ and test/; an example keeps its one test next to the pipeline.
export default defineConfig({
  ...shared,
  test: {
    ...(shared as { test?: object }).test,
    projects: [{ extends: true, test: { name: 'demo', include: ['demo.test.ts'], testTimeout: 120_000 } }],
  },
});
