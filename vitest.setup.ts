// Tests import modules directly, not the entry point that loads the polyfill tsyringe needs.
import 'reflect-metadata';

// Scripts that tests spawn with `node --import tsx` must compile core's parameter decorators, which tsx
// only does for files its tsconfig includes; the base config includes the whole repository.
process.env.TSX_TSCONFIG_PATH ??= new URL('./tsconfig.base.json', import.meta.url).pathname;
