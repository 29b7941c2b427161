import { describe, expect, it } from 'vitest';
import { isDockerError } from '../errors/docker-error.js';
import { DockerRunner } from '../runner/docker-runner.js';
import { ctx } from '../../test/fixtures/resolve-context.js';
import { parseContainerSpec } from './container-spec.js';
import { createBody } from './create-body.js';
import { fromProcessSpec } from './from-process-spec.js';
import { resolveContainerSpec } from './resolve-spec.js';

// Env variables, labels and profiles are named by users. Names of Object.prototype's members are ordinary
// names; `__proto__` cannot pass zod (it leaves the key out), so a spec holding it is refused instead of
// starting a container without the variable or label.

const IMAGE = 'ghcr.io/lab/recon:1.2.0';
const NAMES = ['constructor', 'toString', 'hasOwnProperty', 'valueOf'];

const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
};

const withProto = (value: string) =>
  JSON.parse(`{"__proto__": ${JSON.stringify(value)}}`) as Record<string, string>;

describe('names users choose in container specs', () => {
  it('env variables and labels named like prototype members reach the create body', () => {
    const named = Object.fromEntries(NAMES.map((name) => [name, `${name}-value`]));
    const body = createBody(
      resolveContainerSpec(parseContainerSpec({ image: IMAGE, env: named, labels: named }), ctx),
    );
    for (const name of NAMES) {
      expect(body.Env).toContain(`${name}=${name}-value`);
      expect(Object.hasOwn(body.Labels, name)).toBe(true);
    }
  });

  it.each([
    ['env', { env: withProto('x') }],
    ['labels', { labels: withProto('x') }],
    ['tmpfs', { tmpfs: withProto('size=1m') }],
  ])('%s: a key __proto__ is refused, not dropped', (field, extra) => {
    const error = thrown(() => parseContainerSpec({ image: IMAGE, ...extra }));
    expect(isDockerError(error, 'DOCKER_SPEC_INVALID')).toBe(true);
    expect((error as Error).message).toContain(`${field}.__proto__: "__proto__" cannot be a key`);
  });

  it('a process spec from a command with an env variable __proto__ is refused', () => {
    const error = thrown(() => fromProcessSpec({ argv: ['true'], image: IMAGE, env: withProto('x') }));
    expect(isDockerError(error, 'DOCKER_SPEC_INVALID')).toBe(true);
    expect((error as Error).message).toContain('env.__proto__');
  });

  it.each(NAMES)('a profile named %s is unknown unless registered', (name) => {
    const error = thrown(() =>
      resolveContainerSpec(parseContainerSpec({ image: IMAGE, profile: name }), ctx),
    );
    expect(isDockerError(error, 'DOCKER_SPEC_INVALID')).toBe(true);
    expect((error as Error).message).toContain(`unknown profile "${name}"`);
    expect(
      isDockerError(
        thrown(() => new DockerRunner({ profile: name })),
        'DOCKER_SPEC_INVALID',
      ),
    ).toBe(true);
  });

  it('a profile registered under such a name is used', () => {
    const runner = new DockerRunner({
      profiles: { constructor: { name: 'constructor', pids: 64 } },
      profile: 'constructor',
    });
    expect(createBody(runner.resolve({ image: IMAGE })).HostConfig.PidsLimit).toBe(64);
  });
});
