import { describe, expect, it } from 'vitest';
import { isGridError } from '../errors/grid-error.js';
import { fromAliceTraint, resolveFiles } from './alice-traint.js';
import { parseInput } from './load-input.js';
import { parseMetalink } from './metalink.js';

const META4 = `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="AO2D.root">
    <size>1234</size>
    <hash type="adler32">9600001</hash>
    <hash type="md5">D41D8CD98F00B204E9800998ECF8427E</hash>
    <url priority="2">https://b.example/AO2D.root</url>
    <url priority="1" location="ch">root://a.example:1094//alice/AO2D.root?authz=SECRET</url>
  </file>
  <file name="sub/two.root"><url>https://c.example/two.root</url></file>
</metalink>`;

describe('Metalink 4', () => {
  it('reads names, sizes, checksums and replicas by priority', () => {
    const [a, b] = parseMetalink(META4);
    expect(a).toMatchObject({
      name: 'AO2D.root',
      size: 1234,
      dest: 'AO2D.root',
      checksums: { adler32: '09600001', md5: 'd41d8cd98f00b204e9800998ecf8427e' },
    });
    expect(a!.replicas.map((r) => r.url)).toEqual([
      'root://a.example:1094//alice/AO2D.root?authz=SECRET',
      'https://b.example/AO2D.root',
    ]);
    expect(b).toMatchObject({ name: 'sub/two.root', dest: 'sub/two.root', checksums: {} });
  });
  it('rejects a name that escapes the destination', () => {
    const bad = META4.replace('name="sub/two.root"', 'name="../../etc/passwd"');
    expect(() => parseMetalink(bad)).toThrow(/must be a relative path/);
  });
  it('rejects documents without a metalink root', () => {
    expect(() => parseMetalink('<foo/>')).toThrow(/no <metalink>/);
  });
});

describe('AliceTraINT AODFiles', () => {
  const task = {
    ID: 7,
    AODFiles: [
      {
        Name: 'AO2D.root',
        Path: '/alice/sim/2024/LHC24f3/0/523397/AOD/001/AO2D.root',
        Size: 100,
        LHCPeriod: 'LHC24f3',
        RunNumber: 523397,
        AODNumber: 1,
      },
      {
        Name: 'AO2D.root',
        Path: '/alice/sim/2024/LHC24f3/0/523397/AOD/002/AO2D.root',
        Size: 200,
        LHCPeriod: 'LHC24f3',
        RunNumber: 523397,
        AODNumber: 2,
      },
    ],
    Configuration: {},
  };
  it('keeps LFN and size and gives distinct destinations', () => {
    const files = fromAliceTraint(task);
    expect(files.map((f) => f.dest)).toEqual(['LHC24f3/523397/1/AO2D.root', 'LHC24f3/523397/2/AO2D.root']);
    expect(files[0]).toMatchObject({ name: task.AODFiles[0]!.Path, size: 100, replicas: [] });
  });
  it('resolves replicas through the hook, and fails clearly without one', async () => {
    const files = fromAliceTraint(task.AODFiles);
    const resolved = await resolveFiles(files, (lfn) =>
      Promise.resolve({
        replicas: [{ url: `https://se.example${lfn}`, se: 'ALICE::CERN::EOS' }],
        checksums: { md5: 'a'.repeat(32) },
      }),
    );
    expect(resolved[0]!.replicas[0]).toEqual({
      url: `https://se.example${task.AODFiles[0]!.Path}`,
      se: 'ALICE::CERN::EOS',
    });
    expect(resolved[0]!.checksums.md5).toBe('a'.repeat(32));
    await expect(resolveFiles(files, undefined)).rejects.toSatisfy((e) =>
      isGridError(e, 'GRID_INPUT_INVALID'),
    );
  });
});

describe('input detection', () => {
  it('reads JSON lists, {files}, AliceTraINT tasks, Metalink and URL lines', () => {
    expect(
      parseInput(
        JSON.stringify([{ urls: ['https://a/x.root', 'https://b/x.root'], size: 3, adler32: '1' }]),
      )[0],
    ).toMatchObject({
      name: 'x.root',
      dest: 'x.root',
      checksums: { adler32: '00000001' },
    });
    expect(parseInput(JSON.stringify({ files: [{ url: 'https://a/y', dest: 'd/y' }] }))[0]?.dest).toBe('d/y');
    expect(
      parseInput(JSON.stringify({ AODFiles: [{ Name: 'n', Path: '/a/b/c/n', Size: 1 }] }))[0]?.dest,
    ).toBe('b/c/n');
    expect(parseInput(META4)).toHaveLength(2);
    expect(
      parseInput('# comment\nhttps://a/1.root https://b/1.root\n\nhttps://a/2.root\n').map(
        (f) => f.replicas.length,
      ),
    ).toEqual([2, 1]);
  });
  it('names the problem in a bad list', () => {
    expect(() => parseInput('[{"urls": 5}]', 'list.json')).toThrow(/list\.json: not a file list \(0\.urls/);
    expect(() => parseInput('{bad', 'x.json')).toThrow(/invalid JSON/);
  });
});
