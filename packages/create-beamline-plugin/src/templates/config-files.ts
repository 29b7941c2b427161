import type { PluginNames } from '../names.js';
import type { Feature } from '../features.js';

/** Versions the generated package is written against (the ones this repository builds and tests with). */
export const TOOL_VERSIONS = {
  '@eslint/js': '^9.39.0',
  '@types/node': '^20.19.0',
  eslint: '^9.39.0',
  prettier: '^3.6.0',
  publint: '^0.3.25',
  typescript: '~5.9.3',
  'typescript-eslint': '^8.46.0',
  vitest: '^4.0.0',
} as const;

/** Runtime dependencies of the generated code. */
const RUNTIME_VERSIONS = { rxjs: '^7.8.2', zod: '^4.1.0' } as const;

/** `package.json`: ESM, `dist` with types, core as a peer dependency in the range of `coreVersion`. */
export function packageJson(names: PluginNames, features: readonly Feature[], coreVersion: string): string {
  const [major, minor] = coreVersion.split('.');
  // While core is 0.x a minor release may change the contracts: ^0.1.0 means 0.1.x only.
  const peerRange = `^${major}.${minor}.0`;
  const manifest = {
    name: names.packageName,
    version: '0.1.0',
    description: `Beamline plugin ${names.plugin}: ${features.join(', ')}`,
    type: 'module',
    license: 'Apache-2.0',
    keywords: ['beamline', 'beamline-plugin'],
    engines: { node: '>=20' },
    exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
    files: ['dist'],
    scripts: {
      build: 'tsc -p tsconfig.build.json',
      typecheck: 'tsc -p tsconfig.json',
      lint: 'eslint src test && prettier --check .',
      format: 'prettier --write .',
      test: 'vitest run',
      prepublishOnly: 'npm run typecheck && npm run lint && npm test && npm run build && publint --strict',
    },
    dependencies: features.includes('command') ? { ...RUNTIME_VERSIONS } : { rxjs: RUNTIME_VERSIONS.rxjs },
    peerDependencies: { '@beamline/core': peerRange },
    devDependencies: { '@beamline/core': coreVersion, ...TOOL_VERSIONS },
  };
  return JSON.stringify(manifest, null, 2) + '\n';
}

export const TSCONFIG = `{
  "compilerOptions": {
    "target": "ES2022",
    "lib": ["ES2023"],
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noUncheckedIndexedAccess": true,
    "exactOptionalPropertyTypes": true,
    "noImplicitOverride": true,
    "noFallthroughCasesInSwitch": true,
    "experimentalDecorators": true,
    "emitDecoratorMetadata": false,
    "useUnknownInCatchVariables": true,
    "esModuleInterop": true,
    "skipLibCheck": true,
    "isolatedModules": true,
    "verbatimModuleSyntax": true,
    "types": ["node"],
    "noEmit": true
  },
  "include": ["src", "test", "vitest.config.ts"]
}
`;

export const TSCONFIG_BUILD = `{
  "extends": "./tsconfig.json",
  "compilerOptions": {
    "noEmit": false,
    "rootDir": "src",
    "outDir": "dist",
    "declaration": true,
    "declarationMap": true,
    "sourceMap": true
  },
  "include": ["src"],
  "exclude": ["src/**/*.test.ts"]
}
`;

export const ESLINT_CONFIG = `import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
    },
  },
);
`;

export const PRETTIER_CONFIG = `{ "singleQuote": true, "printWidth": 110, "trailingComma": "all" }
`;

export const GITIGNORE = `node_modules
dist
coverage
.beamline
*.tsbuildinfo
*.tgz
`;

export const VITEST_CONFIG = `import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { include: ['test/**/*.test.ts'], testTimeout: 60_000 },
});
`;
