import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import {
  createRuntime,
  LocalProcessRunner,
  Tokens,
  type ProcessEvent,
  type ProcessSpec,
  type Runner,
  type Runtime,
} from '@beamline/core';
import { lastValueFrom, of, toArray } from 'rxjs';
import { hashToken, resolveShareConfig, ShareServer } from '@beamline/plugin-webdav';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, waitFor, type WorkerProcess } from '../../test/support/cluster.js';
import { dropTestSchemas, postgresAvailable, TEST_URL } from '../../test/support/database.js';
import { selfSignedCertificate, startFixture } from '../../test/support/gateway.js';
import { createPostgresPlugin, GatewayTokens, PostgresStore, startGateway } from '../index.js';
import { isPostgresError, type PostgresError } from '../errors/postgres-error.js';
import { ArtifactShare } from './artifact-share.js';
import { CoordinatorArtifacts, type StagedExit } from './coordinator-artifacts.js';
import { execThroughShare, shareFor } from './staged-exec.js';

const available = await postgresAvailable();

const TOKEN = 'artifact-token-7c1e9a5f3b2d4e6f8a0b1c2d3e4f5a6b';
const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * Runs a command in a mount namespace of its own where `folder` is an empty tmpfs (a host without it), or
 * holds an empty folder at `also` (a host with another folder at the run's path).
 */
function hide(folder: string, also?: string): string[] {
  const make = also === undefined ? '' : ` && mkdir -p '${also}'`;
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    `mount -t tmpfs none "$0"${make} && exec "$@"`,
    folder,
  ];
}

/** A plugin-webdav share served in this process: `/beamline` read and written with {@link TOKEN}. */
class TestShare {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'beamline-artifact-share-'));
  readonly root = path.join(this.dir, 'blobs');
  readonly tokenFile = path.join(this.dir, 'token');
  url = '';
  #server: ShareServer | undefined;

  async start(): Promise<void> {
    mkdirSync(this.root);
    writeFileSync(this.tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    this.#server = await ShareServer.open(
      resolveShareConfig({
        stateDir: path.join(this.dir, 'state'),
        tokens: { workers: { sha256: hashToken(TOKEN) } },
        shares: [{ path: '/beamline', root: this.root, read: ['workers'], write: ['workers'] }],
      }),
    );
    const { url } = await this.#server.listen({ host: '127.0.0.1', port: 0 });
    this.url = `${url.replace(/\/$/, '')}/beamline/`;
  }

  /** The bytes stored on the share under a digest. */
  blob(digest: string): string {
    return path.join(this.root, digest);
  }

  async stop(): Promise<void> {
    await this.#server?.close(5_000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe.skipIf(!available)('distributed mode through an artifact share (plugin-webdav)', () => {
  const share = new TestShare();
  let cluster: TestCluster;
  /** Scratch folders of the worker (outside the folder it cannot see). */
  let scratch: string;
  /** Files the steps read and write outside the run's folder (both sides see them). */
  let outside: string;

  beforeAll(() => share.start());
  afterAll(async () => {
    await share.stop();
    await dropTestSchemas();
  });
  afterEach(async () => {
    await cluster?.close();
    rmSync(scratch, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  function setUp(): void {
    cluster = new TestCluster();
    mkdirSync(path.join(cluster.cwd, 'tools'));
    writeFileSync(path.join(cluster.cwd, 'tools', 'use.sh'), 'printf "used:"; cat out/model.bin "$1"\n');
    scratch = mkdtempSync(path.join(os.tmpdir(), 'beamline-worker-scratch-'));
    outside = mkdtempSync(path.join(os.tmpdir(), 'beamline-steps-'));
  }

  /** A coordinator with the share configured (a fresh process's view: it knows nothing on the share yet). */
  async function coordinator(): Promise<Runtime> {
    const store = await PostgresStore.open({ url: TEST_URL, schema: cluster.schema });
    const runtime = await createRuntime({
      store,
      cwd: cluster.cwd,
      plugins: [
        createPostgresPlugin({
          url: TEST_URL,
          schema: cluster.schema,
          lease: '10s',
          pollMs: 500,
          artifacts: { share: share.url, tokenFile: share.tokenFile },
        }),
      ],
      cancelPollMs: 200,
    });
    cluster.runtimes.push(runtime);
    return runtime;
  }

  /** A worker process on a file system where the run's folder (the cluster's root) is an empty tmpfs. */
  function hiddenWorker(): Promise<WorkerProcess> {
    return cluster.worker(
      { artifacts: { share: share.url, tokenFile: share.tokenFile, scratchDir: scratch } },
      {},
      hide(cluster.root),
    );
  }

  /**
   * `make` writes a model; `use` runs a script of the run's folder (its `inputs`) that reads the model by
   * relative path and by the absolute path `make`'s output names.
   */
  function pipeline(attempts = 1) {
    return {
      name: 'through-share',
      steps: {
        make: {
          uses: 'exec',
          needs: [],
          with: {
            command: `echo run >> ${outside}/make.count; mkdir -p out && printf 'weights-%s' 42 > out/model.bin`,
            outputs: { model: 'out/model.bin' },
          },
        },
        use: {
          uses: 'exec',
          needs: ['make'],
          retry: { attempts, initialDelayMs: 100 },
          with: {
            command: `test -f ${outside}/gate || exit 3; sh tools/use.sh '\${{ steps.make.outputs.model }}' > result.txt; pwd > where.txt`,
            inputs: ['tools/*.sh'],
            outputs: { result: 'result.txt' },
          },
        },
      },
    };
  }

  async function retryMessages(runtime: Runtime, runId: string): Promise<string[]> {
    const messages: string[] = [];
    for await (const event of runtime.resolve(Tokens.Store).readEvents(runId, { types: ['retrying'] })) {
      if (event.type === 'retrying') messages.push(`${event.error.code}: ${event.error.message}`);
    }
    return messages;
  }

  it('a two-step run on a worker without the run folder; resumed on a new coordinator; then a cache hit', async () => {
    setUp();
    let runtime = await coordinator();
    const worker = await hiddenWorker();
    const first = await runtime.run(pipeline());
    const failed = await first.done;
    // `use` fails until its gate exists: the run stops after `make` ran, through the share.
    expect(failed.status).toBe('failed');
    expect(failed.steps.make?.status).toBe('succeeded');
    expect(readFileSync(path.join(cluster.cwd, 'out', 'model.bin'), 'utf8')).toBe('weights-42');
    const model = failed.steps.make?.artifacts?.[0];
    expect(model).toMatchObject({ name: 'model', sha256: sha256('weights-42'), size: 10 });
    expect(readFileSync(share.blob(sha256('weights-42')), 'utf8')).toBe('weights-42');

    // A new coordinator process (it has not seen the share yet) resumes: `make` is not run again, and
    // `use` gets its input through the share and writes its result back into the run's folder.
    await runtime.close();
    writeFileSync(path.join(outside, 'gate'), '');
    runtime = await coordinator();
    const resumed = await (await runtime.resume(first.id)).done;
    expect(resumed.status).toBe('succeeded');
    expect(readFileSync(path.join(outside, 'make.count'), 'utf8')).toBe('run\n');
    expect(readFileSync(path.join(cluster.cwd, 'result.txt'), 'utf8')).toBe('used:weights-42weights-42');
    expect(resumed.steps.use?.artifacts?.[0]).toMatchObject({
      name: 'result',
      path: path.join(cluster.cwd, 'result.txt'),
      sha256: sha256('used:weights-42weights-42'),
    });
    // It ran in the worker's scratch folder (an undeclared file stays there), which is gone afterwards.
    expect(existsSync(path.join(cluster.cwd, 'where.txt'))).toBe(false);
    expect(readdirSync(scratch)).toEqual([]);
    expect(worker.lines.filter((line) => line.includes(' ended'))).toHaveLength(3);

    // The same pipeline again: both steps are cache hits on the files fetched into the run's folder.
    const again = await (await runtime.run(pipeline())).done;
    expect(again.status).toBe('succeeded');
    expect(again.steps.make?.status).toBe('cached');
    expect(again.steps.use?.status).toBe('cached');
  });

  it("a worker with another folder at the run folder's path (not the shared one) goes through the share too", async () => {
    setUp();
    writeFileSync(path.join(outside, 'gate'), '');
    const runtime = await coordinator();
    const worker = await cluster.worker(
      { artifacts: { share: share.url, tokenFile: share.tokenFile, scratchDir: scratch } },
      {},
      hide(cluster.root, cluster.cwd),
    );
    const result = await (await runtime.run(pipeline())).done;
    expect(result.status).toBe('succeeded');
    expect(readFileSync(path.join(cluster.cwd, 'result.txt'), 'utf8')).toBe('used:weights-42weights-42');
    // It ran in its scratch folder, not in the empty folder of the same name.
    expect(existsSync(path.join(cluster.cwd, 'where.txt'))).toBe(false);
    expect(worker.lines.filter((line) => line.includes(' ended'))).toHaveLength(2);
  });

  it('a worker that has the shared folder itself runs the step there, with nothing through the share', async () => {
    setUp();
    writeFileSync(path.join(outside, 'gate'), '');
    const runtime = await coordinator();
    await cluster.worker({
      artifacts: { share: share.url, tokenFile: share.tokenFile, scratchDir: scratch },
    });
    rmSync(share.blob(sha256('used:weights-42weights-42')), { force: true });
    const result = await (await runtime.run(pipeline())).done;
    expect(result.status).toBe('succeeded');
    expect(readFileSync(path.join(cluster.cwd, 'where.txt'), 'utf8').trim()).toBe(cluster.cwd);
    // The coordinator put the inputs up; no output came back through the share.
    expect(existsSync(share.blob(sha256('used:weights-42weights-42')))).toBe(false);
  });

  it('a missing input artifact fails the attempt clearly; the retry uploads it again and succeeds', async () => {
    setUp();
    writeFileSync(path.join(outside, 'gate'), '');
    const runtime = await coordinator();
    await hiddenWorker();
    const made = await (await runtime.run({ name: 'make', steps: { make: pipeline().steps.make } })).done;
    expect(made.status).toBe('succeeded');
    // Removed from the share behind the coordinator's back (it believes the file is there).
    rmSync(share.blob(sha256('weights-42')));
    const run = await runtime.run(pipeline(2));
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.make?.status).toBe('cached');
    const [message] = await retryMessages(runtime, run.id);
    expect(message).toContain('POSTGRES_WORKER_FAILED');
    expect(message).toContain('input out/model.bin');
    expect(message).toContain(`${share.url}${sha256('weights-42')}`);
    expect(message).toContain('HTTP 404');
    expect(message).not.toContain(TOKEN);
    expect(readFileSync(path.join(cluster.cwd, 'result.txt'), 'utf8')).toBe('used:weights-42weights-42');
  });

  it('a corrupted file on the share is refused (digest mismatch), never used; the retry uploads a good copy', async () => {
    setUp();
    writeFileSync(path.join(outside, 'gate'), '');
    const runtime = await coordinator();
    await hiddenWorker();
    const made = await (await runtime.run({ name: 'make', steps: { make: pipeline().steps.make } })).done;
    expect(made.status).toBe('succeeded');
    // Same length, other bytes: only the digest tells.
    writeFileSync(share.blob(sha256('weights-42')), 'weights-66');
    const run = await runtime.run(pipeline(2));
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    const [message] = await retryMessages(runtime, run.id);
    expect(message).toMatch(/input out\/model\.bin from the artifact share .* does not match its digest/);
    expect(readFileSync(path.join(cluster.cwd, 'result.txt'), 'utf8')).toBe('used:weights-42weights-42');
    expect(readFileSync(share.blob(sha256('weights-42')), 'utf8')).toBe('weights-42');
  });

  it('a hostile exit record (a name leaving the run folder) fails the attempt and writes nothing', async () => {
    setUp();
    const runtime = await coordinator();
    // The bytes are on the share under their digest: only the name is wrong.
    const source = path.join(outside, 'payload');
    writeFileSync(source, 'payload');
    await ArtifactShare.open({ share: share.url, tokenFile: share.tokenFile }).upload(
      source,
      { sha256: sha256('payload'), size: 7 },
      'payload',
    );
    const run = await runtime.run({ name: 'hostile', steps: { make: pipeline().steps.make } });
    // No worker: a misbehaving one answers the job in the table directly.
    const client = new pg.Client({ connectionString: TEST_URL });
    await client.connect();
    try {
      let id: string | undefined;
      await waitFor(async () => {
        const { rows } = await client.query<{ id: string }>(`SELECT id FROM "${cluster.schema}".jobs`);
        id = rows[0]?.id;
        return id !== undefined;
      });
      const exit = {
        type: 'exit',
        code: 0,
        signal: null,
        oomKilled: false,
        files: [{ path: `../${path.basename(outside)}/planted`, sha256: sha256('payload'), size: 7 }],
      };
      await client.query(
        `UPDATE "${cluster.schema}".jobs SET state = 'exited', worker = 'evil', exit = $2 WHERE id = $1`,
        [id, JSON.stringify(exit)],
      );
    } finally {
      await client.end();
    }
    const result = await run.done;
    expect(result.status).toBe('failed');
    expect(result.steps.make?.error?.code).toBe('POSTGRES_ARTIFACT_INVALID');
    expect(result.steps.make?.error?.message).toContain('worker evil');
    expect(result.steps.make?.error?.message).toContain('".." component');
    expect(existsSync(path.join(outside, 'planted'))).toBe(false);
    expect(readdirSync(cluster.cwd).sort()).toEqual(['.beamline', 'tools']);
  });

  it("works against the gateway's /artifacts/ route over TLS with its certificate (ca)", async () => {
    setUp();
    const tlsFiles = selfSignedCertificate(outside, ['127.0.0.1']);
    const { tokens, close } = await GatewayTokens.open({ url: TEST_URL, schema: cluster.schema });
    const secret = await tokens.add('artifacts').finally(close);
    const gateway = await startGateway({
      url: TEST_URL,
      schema: cluster.schema,
      host: '127.0.0.1',
      port: 0,
      ...tlsFiles,
      artifactsDir: path.join(outside, 'artifacts'),
    });
    try {
      const base = `${gateway.url}/artifacts/`;
      const source = path.join(outside, 'model.bin');
      writeFileSync(source, 'weights');
      const digest = { sha256: sha256('weights'), size: 7 };
      const untrusted = ArtifactShare.open({ share: base, token: secret });
      const refused = await untrusted
        .upload(source, digest, 'model')
        .catch((error: unknown) => error as Error);
      expect(isPostgresError(refused, 'POSTGRES_ARTIFACT_UNREACHABLE')).toBe(true);
      expect(refused?.message).toContain('certificate is not trusted');
      const trusted = ArtifactShare.open({ share: base, token: secret, ca: tlsFiles.cert });
      await trusted.upload(source, digest, 'model');
      await trusted.download(digest, path.join(cluster.cwd, 'back.bin'), 'model');
      expect(readFileSync(path.join(cluster.cwd, 'back.bin'), 'utf8')).toBe('weights');
    } finally {
      await gateway.stop();
    }
  });

  it("a worker through the gateway, without the run folder, uses the gateway's /artifacts/ as its share", async () => {
    setUp();
    writeFileSync(path.join(outside, 'gate'), '');
    const tlsFiles = selfSignedCertificate(outside, ['127.0.0.1']);
    const { tokens, close } = await GatewayTokens.open({ url: TEST_URL, schema: cluster.schema });
    const [coordinatorToken, workerToken] = await Promise.all([
      tokens.add('coordinator'),
      tokens.add('w1'),
    ]).finally(close);
    const gateway = await startGateway({
      url: TEST_URL,
      schema: cluster.schema,
      host: '127.0.0.1',
      port: 0,
      ...tlsFiles,
      artifactsDir: path.join(outside, 'artifacts'),
    });
    try {
      const shareUrl = `${gateway.url}/artifacts/`;
      const store = await PostgresStore.open({ url: TEST_URL, schema: cluster.schema });
      const runtime = await createRuntime({
        store,
        cwd: cluster.cwd,
        plugins: [
          createPostgresPlugin({
            url: TEST_URL,
            schema: cluster.schema,
            lease: '10s',
            pollMs: 500,
            artifacts: { share: shareUrl, token: coordinatorToken, ca: tlsFiles.cert },
          }),
        ],
      });
      cluster.runtimes.push(runtime);
      const worker = await startFixture(
        'worker-process.ts',
        {
          gateway: { url: gateway.url, token: workerToken, ca: tlsFiles.cert },
          artifacts: { share: shareUrl, token: workerToken, ca: tlsFiles.cert, scratchDir: scratch },
        },
        {},
        hide(cluster.root),
      );
      try {
        const result = await (await runtime.run(pipeline())).done;
        expect(result.status).toBe('succeeded');
        expect(readFileSync(path.join(cluster.cwd, 'result.txt'), 'utf8')).toBe('used:weights-42weights-42');
        expect(existsSync(path.join(cluster.cwd, 'where.txt'))).toBe(false);
        expect(readdirSync(path.join(outside, 'artifacts'))).toContain(sha256('used:weights-42weights-42'));
      } finally {
        worker.child.kill('SIGKILL');
      }
    } finally {
      await gateway.stop();
    }
  });

  it('without a share, a worker that cannot see the run folder still fails the attempt, as before', async () => {
    setUp();
    const store = await PostgresStore.open({ url: TEST_URL, schema: cluster.schema });
    const runtime = await createRuntime({
      store,
      cwd: cluster.cwd,
      plugins: [createPostgresPlugin({ url: TEST_URL, schema: cluster.schema, lease: '10s', pollMs: 500 })],
    });
    cluster.runtimes.push(runtime);
    await cluster.worker({}, {}, hide(cluster.root));
    const result = await (await runtime.run({ name: 'make', steps: { make: pipeline().steps.make } })).done;
    expect(result.status).toBe('failed');
    expect(result.steps.make?.error?.message).toMatch(
      /the run's folder .* is not reachable on .*artifact share/,
    );
  });
});

describe('the coordinator fetching what a worker reports', () => {
  const share = new TestShare();
  let root: string;
  let elsewhere: string;
  beforeAll(() => share.start());
  afterAll(() => share.stop());
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(elsewhere, { recursive: true, force: true });
  });

  async function withBlob(content: string): Promise<{ artifacts: CoordinatorArtifacts; digest: string }> {
    root = mkdtempSync(path.join(os.tmpdir(), 'beamline-run-'));
    elsewhere = mkdtempSync(path.join(os.tmpdir(), 'beamline-elsewhere-'));
    const artifacts = new CoordinatorArtifacts(
      ArtifactShare.open({ share: share.url, tokenFile: share.tokenFile }),
    );
    const source = path.join(elsewhere, 'source');
    writeFileSync(source, content);
    const digest = sha256(content);
    await artifacts.share.upload(source, { sha256: digest, size: content.length }, 'test file');
    return { artifacts, digest };
  }

  it('refuses hostile names, links on the way and malformed reports, and writes nothing anywhere', async () => {
    const { artifacts, digest } = await withBlob('payload');
    symlinkSync(elsewhere, path.join(root, 'link'));
    writeFileSync(path.join(elsewhere, 'victim'), 'untouched');
    const files = { root, inputs: [], outputs: { dir: root, patterns: ['**'] } };
    const entry = (name: unknown) => ({ path: name, sha256: digest, size: 7 });
    const hostile: unknown[] = [
      [entry('../escape')],
      [entry('a/../../escape')],
      [entry('/etc/escape')],
      [entry('link/victim')],
      [entry('link')],
      [entry('ok\0.txt')],
      [entry('.')],
      [entry('a//b')],
      [entry('a\\..\\b')],
      [entry('')],
      [entry(42)],
      [entry('fine.txt'), entry('../../escape')],
      [entry('twice'), entry('twice')],
      [{ path: 'x', sha256: 'not-a-digest', size: 7 }],
      [{ path: 'x', sha256: digest, size: -1 }],
      'not a list',
      [null],
    ];
    for (const report of hostile) {
      const error = await artifacts.receiveOutputs(files, report, 'w1').then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isPostgresError(error, 'POSTGRES_ARTIFACT_INVALID'), JSON.stringify(report)).toBe(true);
    }
    expect(readFileSync(path.join(elsewhere, 'victim'), 'utf8')).toBe('untouched');
    expect(readdirSync(root)).toEqual(['link']);
    expect(readdirSync(elsewhere).sort()).toEqual(['source', 'victim']);
    // A good name in a folder that does not exist yet is placed.
    // Only what the step's declared outputs could match comes back: not its scripts, not its other files.
    const narrow = {
      root,
      inputs: [],
      outputs: { dir: path.join(root, 'sub'), patterns: ['out/*.bin', '../top.txt'] },
    };
    for (const name of ['tools/use.sh', 'sub/out/deeper/x.bin', 'sub/other.bin', 'top2.txt']) {
      const error = await artifacts
        .receiveOutputs(narrow, [entry(name)], 'w1')
        .catch((caught: unknown) => caught);
      expect(isPostgresError(error, 'POSTGRES_ARTIFACT_INVALID'), name).toBe(true);
      expect((error as Error).message).toContain("none of the step's declared outputs matches");
    }
    await artifacts.receiveOutputs(narrow, [entry('sub/out/m.bin'), entry('top.txt')], 'w1');
    expect(readFileSync(path.join(root, 'sub', 'out', 'm.bin'), 'utf8')).toBe('payload');
    expect(readFileSync(path.join(root, 'top.txt'), 'utf8')).toBe('payload');
    expect(
      await artifacts
        .receiveOutputs({ root, inputs: [] }, [entry('no-outputs-declared.txt')], 'w1')
        .catch((caught: unknown) => isPostgresError(caught, 'POSTGRES_ARTIFACT_INVALID')),
    ).toBe(true);
    // A temporary download a killed coordinator left beside it goes; other names stay.
    mkdirSync(path.join(root, 'deep', 'er'), { recursive: true });
    writeFileSync(path.join(root, 'deep', 'er', '.fine.txt.0123456789ab.part'), 'half');
    writeFileSync(path.join(root, 'deep', 'er', '.fine.txt.keep'), 'mine');
    await artifacts.receiveOutputs(files, [entry('deep/er/fine.txt')], 'w1');
    expect(readdirSync(path.join(root, 'deep', 'er')).sort()).toEqual(['.fine.txt.keep', 'fine.txt']);
    expect(readFileSync(path.join(root, 'deep', 'er', 'fine.txt'), 'utf8')).toBe('payload');
  });

  it('a file that does not match its digest is never placed under its name, and no temporary file stays', async () => {
    const { artifacts, digest } = await withBlob('payload');
    const files = { root, inputs: [], outputs: { dir: root, patterns: ['**'] } };
    writeFileSync(share.blob(digest), 'PAYLOAD');
    const same = await artifacts
      .receiveOutputs(files, [{ path: 'out.bin', sha256: digest, size: 7 }], 'w1')
      .catch((error: unknown) => error);
    expect(isPostgresError(same, 'POSTGRES_ARTIFACT_INVALID')).toBe(true);
    expect((same as Error).message).toMatch(/does not match its digest/);
    writeFileSync(share.blob(digest), 'payload and more');
    const longer = await artifacts
      .receiveOutputs(files, [{ path: 'out.bin', sha256: digest, size: 7 }], 'w1')
      .catch((error: unknown) => error);
    expect(isPostgresError(longer, 'POSTGRES_ARTIFACT_INVALID')).toBe(true);
    expect(readdirSync(root)).toEqual([]);
  });

  it("puts the step's inputs on the share: its needs' artifacts and the files its patterns match", async () => {
    const { artifacts, digest } = await withBlob('payload');
    mkdirSync(path.join(root, 'sub'));
    writeFileSync(path.join(root, 'sub', 'tool.sh'), 'echo tool');
    writeFileSync(path.join(root, 'data.csv'), 'a,b');
    const needed = { path: path.join(root, 'model.bin'), sha256: sha256('model'), size: 5 };
    writeFileSync(needed.path, 'model');
    const files = await artifacts.publishInputs({
      root,
      inputs: [needed],
      reads: { dir: path.join(root, 'sub'), patterns: ['tool.sh', '../*.csv'] },
    });
    expect(files).toEqual({
      root,
      mark: readFileSync(path.join(root, '.beamline', 'folder-mark'), 'utf8').trim(),
      inputs: [
        needed,
        { path: path.join(root, 'sub', 'tool.sh'), sha256: sha256('echo tool'), size: 9 },
        { path: path.join(root, 'data.csv'), sha256: sha256('a,b'), size: 3 },
      ],
    });
    for (const content of ['model', 'echo tool', 'a,b', 'payload']) {
      expect(readFileSync(share.blob(sha256(content)), 'utf8')).toBe(content);
    }
    expect(digest).toBe(sha256('payload'));
    const missing = await artifacts
      .publishInputs({ root, inputs: [], reads: { dir: root, patterns: ['nothing-*.txt'] } })
      .catch((error: unknown) => error);
    expect(isPostgresError(missing, 'POSTGRES_ARTIFACT_MISSING')).toBe(true);
    expect((missing as PostgresError).retryable).toBe(false);
    expect((missing as Error).message).toContain('nothing-*.txt');
    // A file changed since its digest was recorded is not uploaded under the old digest.
    writeFileSync(path.join(root, 'changed.bin'), 'new content');
    const changed = await artifacts
      .publishInputs({
        root,
        inputs: [{ path: path.join(root, 'changed.bin'), sha256: sha256('old'), size: 3 }],
      })
      .catch((error: unknown) => error);
    expect(isPostgresError(changed, 'POSTGRES_ARTIFACT_INVALID')).toBe(true);
    expect(existsSync(share.blob(sha256('old')))).toBe(false);
  });

  it('streams a large file both ways, verified', async () => {
    const { artifacts } = await withBlob('payload');
    const big = randomBytes(24 * 1024 * 1024 + 17);
    const source = path.join(elsewhere, 'big.bin');
    writeFileSync(source, big);
    const digest = { sha256: sha256(big), size: big.length };
    await artifacts.share.upload(source, digest, 'big file');
    await artifacts.receiveOutputs(
      { root, inputs: [], outputs: { dir: root, patterns: ['out'] } },
      [{ path: 'out/big.bin', ...digest }],
      'w1',
    );
    expect(readFileSync(path.join(root, 'out', 'big.bin')).equals(big)).toBe(true);
    // And an empty one.
    const empty = path.join(elsewhere, 'empty');
    writeFileSync(empty, '');
    await artifacts.share.upload(empty, { sha256: sha256(''), size: 0 }, 'empty file');
    await artifacts.receiveOutputs(
      { root, inputs: [], outputs: { dir: root, patterns: ['out'] } },
      [{ path: 'out/empty', sha256: sha256(''), size: 0 }],
      'w1',
    );
    expect(readFileSync(path.join(root, 'out', 'empty'), 'utf8')).toBe('');
  });

  it('puts hundreds of input files on the share, a few at a time', async () => {
    const { artifacts } = await withBlob('payload');
    mkdirSync(path.join(root, 'data'));
    for (let n = 0; n < 300; n++) writeFileSync(path.join(root, 'data', `part-${n}.csv`), `row ${n}\n`);
    const files = await artifacts.publishInputs({
      root,
      inputs: [],
      reads: { dir: root, patterns: ['data/*.csv'] },
    });
    expect(files?.inputs).toHaveLength(300);
    for (let n = 0; n < 300; n += 37) {
      expect(readFileSync(share.blob(sha256(`row ${n}\n`)), 'utf8')).toBe(`row ${n}\n`);
    }
  });

  it('a wrong token or an unreachable share is a clear error naming the share, never the token', async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'beamline-run-'));
    elsewhere = mkdtempSync(path.join(os.tmpdir(), 'beamline-elsewhere-'));
    const digest = sha256('payload');
    const wrong = ArtifactShare.open({ share: share.url, token: 'not-the-token' });
    const refused = await wrong
      .download({ sha256: digest, size: 7 }, path.join(root, 'x'), 'input x')
      .catch((error: unknown) => error as Error);
    expect(isPostgresError(refused, 'POSTGRES_ARTIFACT_UNREACHABLE')).toBe(true);
    expect(refused?.message).toContain('HTTP 401');
    expect(refused?.message).toContain('--artifact-token-file');
    expect(refused?.message).not.toContain('not-the-token');
    const down = ArtifactShare.open({ share: 'http://127.0.0.1:9/beamline/', token: TOKEN });
    const unreachable = await down
      .download({ sha256: digest, size: 7 }, path.join(root, 'x'), 'input x')
      .catch((error: unknown) => error as Error);
    expect(isPostgresError(unreachable, 'POSTGRES_ARTIFACT_UNREACHABLE')).toBe(true);
    expect(unreachable?.message).toContain('http://127.0.0.1:9/beamline/');
    expect(unreachable?.message).toContain('ECONNREFUSED');
    expect(unreachable?.message).not.toContain(TOKEN);
    expect(readdirSync(root)).toEqual([]);
  });

  it('refuses a bad configuration at start', () => {
    const invalid = (options: Parameters<typeof ArtifactShare.open>[0]) => {
      try {
        ArtifactShare.open(options);
      } catch (error) {
        expect(isPostgresError(error, 'POSTGRES_CONFIG_INVALID')).toBe(true);
        return (error as Error).message;
      }
      throw new Error('expected a configuration error');
    };
    expect(invalid({ share: 'ftp://host/x/' })).toContain('http:// or https://');
    expect(invalid({ share: 'not a url' })).toContain('expected an http');
    expect(invalid({ share: 'https://user:secret@host/x/' })).not.toContain('secret');
    expect(invalid({ share: 'https://host/x/', tokenFile: '/nonexistent/token' })).toContain('ENOENT');
    expect(ArtifactShare.open({ share: 'https://host/dav/beamline' }).urlOf('ab')).toBe(
      'https://host/dav/beamline/ab',
    );
  });
});

describe('a step run through the share on a host without its run folder', () => {
  const share = new TestShare();
  let scratchDir: string;
  beforeAll(() => share.start());
  afterAll(() => share.stop());
  afterEach(() => rmSync(scratchDir, { recursive: true, force: true }));

  async function setUp(): Promise<{
    shared: ArtifactShare;
    root: string;
    input: { path: string; sha256: string; size: number };
  }> {
    scratchDir = mkdtempSync(path.join(os.tmpdir(), 'beamline-scratch-'));
    const shared = ArtifactShare.open({ share: share.url, tokenFile: share.tokenFile, scratchDir });
    const source = path.join(scratchDir, 'source');
    writeFileSync(source, 'input-data');
    await shared.upload(source, { sha256: sha256('input-data'), size: 10 }, 'test input');
    rmSync(source);
    const root = `/nonexistent-beamline-${randomBytes(4).toString('hex')}/run`;
    return { shared, root, input: { path: `${root}/in/data.txt`, sha256: sha256('input-data'), size: 10 } };
  }

  it('fetches the inputs, rewrites the paths, uploads the declared outputs and reports them; the scratch folder goes', async () => {
    const { shared, root, input } = await setUp();
    const spec: ProcessSpec = {
      argv: [
        'sh',
        '-c',
        `cat ${root}/in/data.txt > out.txt; printf '%s|%s|%s' "$X" "${root}-other" "$(pwd)" > paths.txt; touch undeclared`,
      ],
      env: { X: `${root}/y` },
      cwd: `${root}/sub`,
      files: {
        root,
        inputs: [input],
        outputs: { dir: `${root}/sub`, patterns: ['out.txt', 'paths.txt', 'none-*.bin'] },
      },
    };
    expect(shareFor(shared, spec)).toBe(shared);
    expect(shareFor(undefined, spec)).toBeUndefined();
    expect(shareFor(shared, { ...spec, files: { root: os.tmpdir(), inputs: [] } })).toBeUndefined();
    const events = await lastValueFrom(
      execThroughShare(shared, new LocalProcessRunner(), spec).pipe(toArray()),
    );
    const exit = events.at(-1) as StagedExit;
    expect(exit).toMatchObject({ type: 'exit', code: 0 });
    expect(exit.files?.map((file) => file.path)).toEqual(['sub/out.txt', 'sub/paths.txt']);
    expect(exit.files?.[0]).toEqual({ path: 'sub/out.txt', sha256: sha256('input-data'), size: 10 });
    const [x, other, cwd] = readFileSync(share.blob(exit.files![1]!.sha256), 'utf8').split('|');
    // The run's folder became the scratch folder where it is a whole path, and only there.
    expect(x).toMatch(new RegExp(`^${scratchDir}/beamline-step-[^/]+/run/y$`));
    expect(other).toBe(`${root}-other`);
    expect(cwd).toBe(path.join(path.dirname(x!), 'sub'));
    await waitFor(() => readdirSync(scratchDir).length === 0, 30_000, 'the scratch folder to go');
  });

  it('a container step: its mount of the run folder becomes the scratch folder, the container path stays', async () => {
    const { shared, root, input } = await setUp();
    const seen: ProcessSpec[] = [];
    const container: Runner = {
      name: 'container',
      identity: () => Promise.resolve('container'),
      exec: (spec) => {
        seen.push(spec);
        // What the container would write into its /workspace mount.
        writeFileSync(path.join(spec.mounts![0]!.source, 'out.txt'), 'from the container');
        return of<ProcessEvent[]>({ type: 'exit', code: 0, signal: null, oomKilled: false });
      },
    };
    const spec: ProcessSpec = {
      argv: ['sh', '-c', 'cat in/data.txt'],
      image: 'alpine:3',
      mounts: [{ source: `${root}/sub`, target: '/workspace', readOnly: false }],
      cwd: '/workspace',
      files: { root, inputs: [input], outputs: { dir: `${root}/sub`, patterns: ['out.txt'] } },
    };
    const events = await lastValueFrom(execThroughShare(shared, container, spec).pipe(toArray()));
    const source = seen[0]!.mounts![0]!.source;
    expect(source).toMatch(new RegExp(`^${scratchDir}/beamline-step-${process.pid}-[^/]+/run/sub$`));
    expect(seen[0]).toMatchObject({ cwd: '/workspace', image: 'alpine:3', argv: spec.argv });
    expect((events.at(-1) as StagedExit).files).toEqual([
      { path: 'sub/out.txt', sha256: sha256('from the container'), size: 18 },
    ]);
  });

  it('a step that fails uploads nothing; an input missing on the share fails before the process starts', async () => {
    const { shared, root, input } = await setUp();
    const failing: ProcessSpec = {
      argv: ['sh', '-c', 'echo partial > out.txt; exit 4'],
      cwd: root,
      files: { root, inputs: [input], outputs: { dir: root, patterns: ['out.txt'] } },
    };
    const events = await lastValueFrom(
      execThroughShare(shared, new LocalProcessRunner(), failing).pipe(toArray()),
    );
    expect(events.at(-1)).toEqual({ type: 'exit', code: 4, signal: null, oomKilled: false });
    expect(existsSync(share.blob(sha256('partial\n')))).toBe(false);

    const missing = { path: `${root}/gone.bin`, sha256: sha256('never uploaded'), size: 14 };
    const started: ProcessEvent[] = [];
    const error = await new Promise<unknown>((resolve) => {
      execThroughShare(shared, new LocalProcessRunner(), {
        ...failing,
        files: { root, inputs: [missing] },
      }).subscribe({
        next: (event) => started.push(event),
        error: resolve,
        complete: () => resolve(undefined),
      });
    });
    expect(isPostgresError(error, 'POSTGRES_ARTIFACT_MISSING')).toBe(true);
    expect((error as Error).message).toContain('input gone.bin');
    expect(started).toEqual([]);
    await waitFor(() => readdirSync(scratchDir).length === 0, 30_000, 'the scratch folder to go');
  });

  it('removes the scratch folders of workers that are gone (kill -9), never those of live ones', async () => {
    const { shared, root } = await setUp();
    const dead = spawnSync('true').pid;
    mkdirSync(path.join(scratchDir, `beamline-step-${dead}-abc123`, 'run', 'out'), { recursive: true });
    writeFileSync(path.join(scratchDir, `beamline-step-${dead}-abc123`, 'run', 'out', 'model.bin'), 'x');
    mkdirSync(path.join(scratchDir, `beamline-step-${process.ppid}-def456`));
    mkdirSync(path.join(scratchDir, 'unrelated'));
    const spec: ProcessSpec = { argv: ['true'], cwd: root, files: { root, inputs: [] } };
    const events = await lastValueFrom(
      execThroughShare(shared, new LocalProcessRunner(), spec).pipe(toArray()),
    );
    expect(events.at(-1)).toMatchObject({ type: 'exit', code: 0 });
    await waitFor(
      () => readdirSync(scratchDir).sort().join(',') === `beamline-step-${process.ppid}-def456,unrelated`,
      30_000,
      'only the dead worker’s scratch folder to go',
    );
  });

  it('refuses, not retryable, inputs or a work directory outside the run folder', async () => {
    const { shared, root, input } = await setUp();
    const failure = (spec: ProcessSpec) =>
      new Promise<unknown>((resolve) => {
        execThroughShare(shared, new LocalProcessRunner(), spec).subscribe({
          error: resolve,
          complete: () => resolve(undefined),
        });
      });
    const outsideInput = await failure({
      argv: ['true'],
      cwd: root,
      files: { root, inputs: [{ ...input, path: `${root}-other/data.txt` }] },
    });
    expect(isPostgresError(outsideInput, 'POSTGRES_ARTIFACT_INVALID')).toBe(true);
    expect((outsideInput as PostgresError).retryable).toBe(false);
    const outsideDir = await failure({
      argv: ['true'],
      cwd: `${root}/../elsewhere`,
      files: { root, inputs: [], outputs: { dir: path.resolve(root, '../elsewhere'), patterns: ['x'] } },
    });
    expect(isPostgresError(outsideDir, 'POSTGRES_ARTIFACT_INVALID')).toBe(true);
    expect((outsideDir as Error).message).toContain('work directory');
  });

  it('cut off mid-step (unsubscribed), the process is stopped and the scratch folder goes', async () => {
    const { shared, root, input } = await setUp();
    const spec: ProcessSpec = { argv: ['sleep', '30'], cwd: root, files: { root, inputs: [input] } };
    let pid: number | undefined;
    const subscription = execThroughShare(shared, new LocalProcessRunner(), spec).subscribe({
      next: (event) => {
        if (event.type === 'started') pid = event.pid;
      },
    });
    await waitFor(() => pid !== undefined, 30_000, 'the process to start');
    expect(readdirSync(scratchDir)).toHaveLength(1);
    subscription.unsubscribe();
    await waitFor(
      () => {
        try {
          process.kill(pid!, 0);
          return false;
        } catch {
          return true;
        }
      },
      30_000,
      'the process to be gone',
    );
    await waitFor(() => readdirSync(scratchDir).length === 0, 30_000, 'the scratch folder to go');
  });

  it('a cancel while the inputs are fetched ends with a cancelled exit and starts nothing', async () => {
    const { shared, root, input } = await setUp();
    const controller = new AbortController();
    controller.abort(new Error('cancelled by the test'));
    const spec: ProcessSpec = { argv: ['touch', `${root}/ran`], cwd: root, files: { root, inputs: [input] } };
    const events = await lastValueFrom(
      execThroughShare(shared, new LocalProcessRunner(), spec, { signal: controller.signal }).pipe(toArray()),
    );
    expect(events).toEqual([
      { type: 'exit', code: null, signal: null, oomKilled: false, reason: 'cancelled' },
    ]);
  });
});
