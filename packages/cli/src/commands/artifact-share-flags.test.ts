import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliServices } from '../cli-services.js';
import { createFakeIO } from '../testing/fake-io.js';
import { runCli } from '../testing/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'beamline-artifact-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(
  join(dir, 'pipeline.yaml'),
  'name: p\nsteps:\n  a:\n    uses: exec\n    with: { command: "true" }\n',
);

/** Services that record what `run` asked of the runtime, then stop it there. */
function recording(): { services: CliServices; seen: unknown[] } {
  const seen: unknown[] = [];
  const services: CliServices = {
    openRuntime: (_io, options) => {
      seen.push(options);
      return Promise.reject(new Error('stopped by the test'));
    },
    openStore: () => Promise.reject(new Error('not used')),
    hasStore: () => false,
  };
  return { services, seen };
}

describe('--artifact-share and --artifact-token-file', () => {
  it('run passes the share and the token file (resolved against the working directory) to the runtime', async () => {
    const { services, seen } = recording();
    await runCli(
      [
        'run',
        'pipeline.yaml',
        '--queue',
        'postgres://u:p@db/beamline',
        '--artifact-share',
        'https://files.lab/dav/beamline/',
        '--artifact-token-file',
        'token',
      ],
      { io: createFakeIO({ cwd: dir }), services },
    );
    expect(seen).toEqual([
      {
        queue: 'postgres://u:p@db/beamline',
        artifacts: { share: 'https://files.lab/dav/beamline/', tokenFile: join(dir, 'token') },
      },
    ]);
  });

  it('run reads BEAMLINE_ARTIFACT_SHARE and BEAMLINE_ARTIFACT_TOKEN_FILE', async () => {
    const { services, seen } = recording();
    const env = {
      BEAMLINE_QUEUE: 'postgres://u:p@db/beamline',
      BEAMLINE_ARTIFACT_SHARE: 'https://files.lab/dav/beamline/',
      BEAMLINE_ARTIFACT_TOKEN_FILE: '/etc/beamline/token',
    };
    await runCli(['run', 'pipeline.yaml'], { io: createFakeIO({ cwd: dir, env }), services });
    expect(seen).toEqual([
      { artifacts: { share: 'https://files.lab/dav/beamline/', tokenFile: '/etc/beamline/token' } },
    ]);
  });

  it('run refuses a share without a queue, and a token file without a share (exit 2)', async () => {
    const { services, seen } = recording();
    const noQueue = await runCli(['run', 'pipeline.yaml', '--artifact-share', 'https://files.lab/x/'], {
      io: createFakeIO({ cwd: dir }),
      services,
    });
    expect(noQueue.code).toBe(2);
    expect(noQueue.stderr).toContain('--artifact-share goes with --queue');
    const noShare = await runCli(
      ['run', 'pipeline.yaml', '--queue', 'postgres://db/b', '--artifact-token-file', 'token'],
      { io: createFakeIO({ cwd: dir }), services },
    );
    expect(noShare.code).toBe(2);
    expect(noShare.stderr).toContain('--artifact-token-file goes with --artifact-share');
    expect(seen).toEqual([]);
  });

  it('worker refuses a share that is not an http(s) URL before it connects anywhere', async () => {
    const result = await runCli(
      ['worker', '--queue', 'postgres://u:p@127.0.0.1:9/none', '--artifact-share', 'ftp://files.lab/x/'],
      { io: createFakeIO({ cwd: dir }) },
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('artifact share: expected an http:// or https:// URL');
  });
});
