import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hashPassword } from '@beamline/plugin-webdav';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeIO } from '../testing/fake-io.js';
import { runCli } from '../testing/run-cli.js';
import { serveCommand } from './serve-command.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-serve-'));
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', 'hello.txt'), 'hello share\n');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** An HTTPS request that trusts only the test's certificate. */
function get(
  url: string,
  init: { method?: string; auth?: string; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: init.method ?? 'GET',
        agent: false,
        ca: readFileSync(join(dir, 'cert.pem')),
        headers: init.auth ? { authorization: `Basic ${Buffer.from(init.auth).toString('base64')}` } : {},
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

async function waitFor(read: () => string, pattern: RegExp): Promise<RegExpExecArray> {
  for (let attempt = 0; attempt < 300; attempt += 1) {
    const match = pattern.exec(read());
    if (match) return match;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${pattern} in:\n${read()}`);
}

describe('beamline serve webdav', () => {
  it('serves the shares of a YAML file over HTTPS until Ctrl-C, then stops cleanly with 0', async () => {
    const hash = await hashPassword('s3cret:pw', { logN: 10 });
    writeFileSync(
      join(dir, 'shares.yaml'),
      [
        'realm: CLI test',
        'stateDir: state',
        'users:',
        `  alice: { password: '${hash}' }`,
        'shares:',
        '  - { path: /data, root: data, read: [anonymous], write: [alice] }',
        '',
      ].join('\n'),
    );
    const io = createFakeIO({ cwd: dir });
    const running = runCli(
      [
        'serve',
        'webdav',
        '--config',
        'shares.yaml',
        '--port',
        '0',
        '--cert',
        'cert.pem',
        '--key',
        'key.pem',
        '--access-log',
        '--workers',
        '2',
      ],
      { io, commands: [serveCommand] },
    );
    const [, base] = await waitFor(
      () => io.stdout.text + io.stderr.text,
      /serving (https:\/\/127\.0\.0\.1:\d+)\/data\/ with 2 worker processes/,
    );
    const read = await get(`${base}/data/hello.txt`);
    expect(read).toEqual({ status: 200, body: 'hello share\n' });
    expect((await get(`${base}/data/new.txt`, { method: 'PUT', body: 'x' })).status).toBe(401);
    expect(
      (await get(`${base}/data/new.txt`, { method: 'PUT', body: 'x', auth: 'alice:s3cret:pw' })).status,
    ).toBe(201);
    expect(readFileSync(join(dir, 'data', 'new.txt'), 'utf8')).toBe('x');
    // The access log: one JSON line per request, the user named, the password nowhere.
    await waitFor(() => io.stdout.text, /"user":"alice"/);
    expect(io.stdout.text).not.toContain('s3cret');
    io.controller.abort(new Error('received SIGINT'));
    const result = await running;
    expect(result.code).toBe(0);
    await expect(get(`${base}/data/hello.txt`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('rejects a bad configuration with 2, naming the file, line and what was expected', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'shares:\n  - { path: data, root: data }\n');
    const bad = await runCli(['serve', 'webdav', '--config', 'bad.yaml'], {
      io: createFakeIO({ cwd: dir }),
      commands: [serveCommand],
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^beamline serve webdav: bad\.yaml is invalid:$/m);
    expect(bad.stderr).toContain('bad.yaml:2:13 shares[0].path: expected a URL path like "/data"');
    expect(bad.stderr).toMatch(/\(WEBDAV_CONFIG_INVALID\)$/m);
    const missing = await runCli(['serve', 'webdav', '--config', 'missing.yaml'], {
      io: createFakeIO({ cwd: dir }),
      commands: [serveCommand],
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('(WEBDAV_CONFIG_UNREADABLE)');
    const half = await runCli(['serve', 'webdav', '--config', 'shares.yaml', '--cert', 'cert.pem'], {
      io: createFakeIO({ cwd: dir }),
      commands: [serveCommand],
    });
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('--cert and --key go together');
    const port = await runCli(['serve', 'webdav', '--config', 'shares.yaml', '--port', '70000'], {
      io: createFakeIO({ cwd: dir }),
      commands: [serveCommand],
    });
    expect(port.code).toBe(2);
    const workers = await runCli(['serve', 'webdav', '--config', 'shares.yaml', '--workers', '0'], {
      io: createFakeIO({ cwd: dir }),
      commands: [serveCommand],
    });
    expect(workers.code).toBe(2);
    expect(workers.stderr).toContain('expected a number of worker processes');
    const noConfig = await runCli(['serve', 'webdav'], {
      io: createFakeIO({ cwd: dir }),
      commands: [serveCommand],
    });
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toContain('--config');
  });

  it('--hash-password reads the password from stdin (never argv) and prints a hash the server accepts', async () => {
    const bin = fileURLToPath(new URL('../bin.ts', import.meta.url));
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const tsconfig = fileURLToPath(new URL('../../../../tsconfig.base.json', import.meta.url));
    const hashed = (
      argv: string[],
      stdin: string,
    ): Promise<{ code: number | null; out: string; err: string }> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--conditions=source', '--import', tsx, bin, ...argv], {
          cwd: dir,
          env: { ...process.env, NO_COLOR: '1', TSX_TSCONFIG_PATH: tsconfig },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
        child.on('error', reject);
        child.on('exit', (code) => resolve({ code, out, err }));
        child.stdin.end(stdin);
      });
    const password = 'pa:ss wörd+/ \'"$x';
    const { code, out, err } = await hashed(['serve', 'webdav', '--hash-password'], `${password}\r\n`);
    expect(err).toBe('');
    expect(code).toBe(0);
    const hash = out.trim();
    expect(hash).toMatch(/^\$scrypt\$ln=\d+,r=8,p=1\$/);
    expect(out).not.toContain(password);
    // The hash works in a configuration: a login with the password writes.
    writeFileSync(
      join(dir, 'hashed.yaml'),
      [
        'realm: CLI test',
        'stateDir: state-hashed',
        'users:',
        `  bob: { password: '${hash}' }`,
        'shares:',
        '  - { path: /data, root: data, read: [anonymous], write: [bob] }',
        '',
      ].join('\n'),
    );
    const io = createFakeIO({ cwd: dir });
    const running = runCli(['serve', 'webdav', '--config', 'hashed.yaml', '--port', '0', '--workers', '1'], {
      io,
      commands: [serveCommand],
    });
    const [, base] = await waitFor(
      () => io.stdout.text + io.stderr.text,
      /serving (http:\/\/127\.0\.0\.1:\d+)\/data\/\n/,
    );
    const put = await fetch(`${base}/data/from-bob.txt`, {
      method: 'PUT',
      body: 'bob',
      headers: { authorization: `Basic ${Buffer.from(`bob:${password}`).toString('base64')}` },
    });
    expect(put.status).toBe(201);
    io.controller.abort(new Error('received SIGINT'));
    expect((await running).code).toBe(0);
    // With --digest-user: the user's entry, with the Digest secret for the configuration's realm.
    const entry = await hashed(
      ['serve', 'webdav', '--hash-password', '--digest-user', 'bob', '--config', 'hashed.yaml'],
      `${password}\n`,
    );
    expect(entry.code).toBe(0);
    const md5 = createHash('md5').update(`bob:CLI test:${password}`).digest('hex');
    expect(entry.out).toMatch(
      new RegExp(`^"bob": \\{ password: '\\$scrypt\\$[^']+', digest: ${md5} \\}\\n$`),
    );
    // An empty password, or one given as an argument, is refused.
    expect((await hashed(['serve', 'webdav', '--hash-password'], '\n')).code).toBe(2);
    const argv = await hashed(['serve', 'webdav', '--hash-password', 'secret'], '');
    expect(argv.code).toBe(2);
    expect(argv.out).toBe('');
  }, 120_000);

  it('--hash-password at a terminal asks twice and echoes nothing', async () => {
    const bin = fileURLToPath(new URL('../bin.ts', import.meta.url));
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const tsconfig = fileURLToPath(new URL('../../../../tsconfig.base.json', import.meta.url));
    const command = `'${process.execPath}' --conditions=source --import '${tsx}' '${bin}' serve webdav --hash-password`;
    // util-linux `script` gives the program a pseudo-terminal: what it echoes comes back on stdout.
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1', TSX_TSCONFIG_PATH: tsconfig },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let answered = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const prompts = (out.match(/Password: |Again: /g) ?? []).length;
      while (answered < prompts) {
        answered += 1;
        child.stdin.write('typed secret\r');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(answered).toBe(2);
    expect(out).toMatch(/\$scrypt\$ln=15,r=8,p=1\$\S+/);
    expect(out).not.toContain('typed secret');
  }, 120_000);
});
