import { describe, expect, it } from 'vitest';
import { isCreatePluginError } from './create-plugin-error.js';
import { parseFeatures } from './features.js';
import { pluginNames } from './names.js';

describe('pluginNames', () => {
  it('derives every spelling from the plugin name', () => {
    expect(pluginNames('acme-shout')).toEqual({
      plugin: 'acme-shout',
      pascal: 'AcmeShout',
      factory: 'createAcmeShoutPlugin',
      constant: 'ACME_SHOUT',
      packageName: 'beamline-plugin-acme-shout',
    });
    expect(pluginNames('s3', '@lab/beamline-s3').packageName).toBe('@lab/beamline-s3');
  });

  it.each([
    '',
    'Acme',
    '3d',
    'acme_shout',
    'acme--shout',
    'acme-',
    '-acme',
    'a b',
    '__proto__',
    'x'.repeat(41),
  ])('refuses the plugin name %j, saying what is expected', (name) => {
    let thrown: unknown;
    try {
      pluginNames(name);
    } catch (error) {
      thrown = error;
    }
    expect(isCreatePluginError(thrown, 'CREATE_NAME_INVALID')).toBe(true);
    expect((thrown as Error).message).toContain('expected lowercase letters and digits');
  });

  it.each(['Acme', '@scope', 'a b', '../escape', `x${'y'.repeat(214)}`])(
    'refuses the package name %j',
    (name) => {
      expect(() => pluginNames('acme', name)).toThrow(/expected an npm package name/);
    },
  );
});

describe('parseFeatures', () => {
  it('reads a comma-separated list in canonical order', () => {
    expect(parseFeatures('service, command')).toEqual(['command', 'service']);
    expect(parseFeatures('runner,runner')).toEqual(['runner']);
  });

  it('refuses an empty list and unknown features, naming them and the allowed ones', () => {
    expect(() => parseFeatures(' , ')).toThrow(/expected one or more of command, runner, service/);
    expect(() => parseFeatures('command,store')).toThrow(/\(unknown: store\)/);
  });
});
