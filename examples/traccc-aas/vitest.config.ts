import { defineConfig } from 'vitest/config';
import { beamlineVitestConfig } from '../../vitest.shared.js';

export default defineConfig(beamlineVitestConfig());
