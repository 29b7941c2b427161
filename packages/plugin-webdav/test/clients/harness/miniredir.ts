import { Agent } from 'node:http';
import type { TargetKind } from '../../support/peers/target.js';
import {
  basicAuth,
  digestAuthorization,
  digestChallenge,
  httpRequest,
  type DigestChallenge,
  type HttpAnswer,
} from './http.js';

/**
 * A Windows "map network drive" session (the WebClient service, `Microsoft-WebDAV-MiniRedir`) replayed
 * request by request: the headers and bodies Windows 10/11 sends, after reference section 7 and
 * published traces (GCDWebServer#319: LOCK without Depth, `Timeout: Second-3600`, `translate: f`;
 * wsgidav#112: PUT 0 bytes, LOCK, PROPPATCH of the four Win32 properties, HEAD, PUT, PROPPATCH of the
 * modification time and attributes, UNLOCK; wsgidav#259 and reva#4972: an untagged `If: (<token>)` on
 * PUT and PROPPATCH and a `Lock-Token` without angle brackets on UNLOCK). Explorer creates "New folder"
 * and renames it with MOVE, and renames files with MOVE and `Overwrite: F`.
 */

/** What Windows 10 22H2 sends as its user agent. */
const MINIREDIR_AGENT = 'Microsoft-WebDAV-MiniRedir/10.0.19045';

const XML = 'text/xml; charset="utf-8"';
const WIN32_PROPFIND =
  '<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:"><D:prop xmlns:Z="urn:schemas-microsoft-com:">' +
  '<Z:Win32CreationTime/><Z:Win32LastAccessTime/><Z:Win32LastModifiedTime/><Z:Win32FileAttributes/></D:prop></D:propfind>';

function lockBody(owner: string): string {
  return (
    '<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>' +
    `<D:locktype><D:write/></D:locktype><D:owner><D:href>${owner}</D:href></D:owner></D:lockinfo>`
  );
}

function win32Proppatch(props: Record<string, string>): string {
  const inner = Object.entries(props)
    .map(([k, v]) => `<Z:${k}>${v}</Z:${k}>`)
    .join('');
  return (
    '<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:">' +
    `<D:set><D:prop>${inner}</D:prop></D:set></D:propertyupdate>`
  );
}

/** State carried from step to step. */
interface SessionState {
  token?: string;
  /** Set when the server refused the bare token, so the bracketed retry runs. */
  bareUnlockRefused?: boolean;
}

/** One replayed request and what a working server answers. */
interface Step {
  name: string;
  method: string;
  /** Path under the share (already percent-encoded as Windows sends it). */
  path: string;
  headers?: (s: SessionState) => Record<string, string>;
  body?: string;
  /** Send credentials (Windows retries with them after the first 401). Default true. */
  auth?: boolean;
  /** Acceptable statuses. */
  expect: number[];
  /** Statuses a peer answers instead, where it is known to differ (documented in the report). */
  peer?: Partial<Record<TargetKind, number[]>>;
  when?: (s: SessionState) => boolean;
  /** Further checks; returns problems (empty when fine). */
  check?: (a: HttpAnswer, s: SessionState) => string[];
}

/** The result of one replayed step. */
export interface ReplayedStep {
  name: string;
  request: string;
  status: number;
  ok: boolean;
  problems: string[];
}

const FOLDER = 'win%20%231'; // "win #1"
const FILE = `${FOLDER}/Report%202026%20%E2%80%94%20draft.txt`; // "Report 2026 — draft.txt"
const RENAMED = `${FOLDER}/Report%202026%20%E2%80%94%20final%20%E2%9C%93.txt`; // "… final ✓.txt"
/** The bytes the session writes into the file. */
export const MINIREDIR_CONTENT = 'Notes from Windows\r\nsecond line, ünïcödé ✓\r\n';
const TIMES = {
  Win32CreationTime: 'Mon, 07 Dec 2026 08:00:00 GMT',
  Win32LastAccessTime: 'Mon, 07 Dec 2026 08:00:01 GMT',
  Win32LastModifiedTime: 'Mon, 07 Dec 2026 08:00:02 GMT',
  Win32FileAttributes: '00000020',
};
const MODIFIED_AFTER_WRITE = 'Mon, 07 Dec 2026 08:05:00 GMT';

function tokenFrom(a: HttpAnswer): string | undefined {
  const header = a.headers['lock-token'];
  const h = Array.isArray(header) ? header[0] : header;
  const fromHeader = h ? /<([^>]+)>/.exec(h)?.[1] : undefined;
  if (fromHeader) return fromHeader;
  return /<(?:[A-Za-z]+:)?locktoken[^>]*>\s*<(?:[A-Za-z]+:)?href[^>]*>\s*([^<\s]+)\s*</.exec(a.text)?.[1];
}

function multistatusAllOk(a: HttpAnswer): string[] {
  const statuses = [...a.text.matchAll(/HTTP\/1\.1\s+(\d{3})/g)].map((m) => Number(m[1]));
  if (statuses.length === 0) return ['multistatus without any status line'];
  const bad = statuses.filter((s) => s < 200 || s > 299);
  return bad.length ? [`propstat statuses ${bad.join(', ')} in ${a.text.slice(0, 800)}`] : [];
}

function contains(what: string, ...needles: string[]): (a: HttpAnswer) => string[] {
  return (a) => needles.filter((n) => !a.text.includes(n)).map((n) => `${what}: response lacks ${n}`);
}

function steps(mount: string, host: string): Step[] {
  const destination = (p: string) => `http://${host}${mount}/${p}`;
  const base = { 'User-Agent': MINIREDIR_AGENT, translate: 'f', Connection: 'Keep-Alive' };
  const ifToken = (s: SessionState) => ({ If: `(<${s.token}>)` });
  const list: Step[] = [
    {
      name: 'OPTIONS without credentials asks for a login',
      method: 'OPTIONS',
      path: '',
      auth: false,
      expect: [401],
      check: (a) => (a.headers['www-authenticate'] ? [] : ['401 without WWW-Authenticate']),
    },
    {
      name: 'OPTIONS with credentials claims class 2 and MS-Author-Via',
      method: 'OPTIONS',
      path: '',
      expect: [200],
      check: (a) => {
        const p: string[] = [];
        if (!/\b2\b/.test(String(a.headers.dav ?? '')))
          p.push(`DAV header ${String(a.headers.dav)} lacks class 2`);
        if (!/DAV/i.test(String(a.headers['ms-author-via'] ?? ''))) p.push('no MS-Author-Via: DAV');
        return p;
      },
    },
    {
      name: 'PROPFIND the mapped folder, Depth 0',
      method: 'PROPFIND',
      path: '',
      headers: () => ({ Depth: '0' }),
      body: '',
      expect: [207],
    },
    {
      name: 'PROPFIND the mapped folder, Depth 1',
      method: 'PROPFIND',
      path: '',
      headers: () => ({ Depth: '1' }),
      body: '',
      expect: [207],
    },
    { name: 'Explorer: MKCOL "New folder"', method: 'MKCOL', path: 'New%20folder', expect: [201] },
    {
      name: 'Explorer: rename "New folder" (MOVE, Overwrite: F)',
      method: 'MOVE',
      path: 'New%20folder',
      headers: () => ({ Destination: destination(FOLDER), Overwrite: 'F' }),
      expect: [201],
    },
    {
      name: 'PROPFIND the new file (absent)',
      method: 'PROPFIND',
      path: FILE,
      headers: () => ({ Depth: '0', 'Content-Type': XML }),
      body: WIN32_PROPFIND,
      expect: [404],
    },
    { name: 'PUT 0 bytes creates the file', method: 'PUT', path: FILE, body: '', expect: [201, 204] },
    {
      name: 'LOCK without a token (no Depth, Timeout: Second-3600)',
      method: 'LOCK',
      path: FILE,
      headers: () => ({
        'Content-Type': XML,
        Timeout: 'Second-3600',
        'Cache-Control': 'no-cache',
        Pragma: 'no-cache',
      }),
      body: lockBody('WORKSTATION\\writer'),
      expect: [200],
      check: (a, s) => {
        const token = tokenFrom(a);
        if (token) s.token = token;
        const header = String(a.headers['lock-token'] ?? '');
        const p: string[] = [];
        if (!token) p.push('no lock token in the answer');
        if (!/^<[^>]+>$/.test(header.trim()))
          p.push(`Lock-Token header ${JSON.stringify(header)} is not <token>`);
        return p;
      },
    },
    {
      name: 'PROPPATCH the four Win32 properties with If: (<token>)',
      method: 'PROPPATCH',
      path: FILE,
      headers: (s) => ({ 'Content-Type': XML, ...ifToken(s) }),
      body: win32Proppatch(TIMES),
      expect: [207],
      check: multistatusAllOk,
    },
    { name: 'HEAD the file', method: 'HEAD', path: FILE, expect: [200] },
    {
      name: 'PUT without the token is refused while locked',
      method: 'PUT',
      path: FILE,
      body: 'not the owner\r\n',
      expect: [423],
    },
    {
      name: 'PUT the content with If: (<token>)',
      method: 'PUT',
      path: FILE,
      headers: (s) => ifToken(s),
      body: MINIREDIR_CONTENT,
      expect: [200, 201, 204],
    },
    {
      name: 'LOCK refresh with If: (<token>) and no body',
      method: 'LOCK',
      path: FILE,
      headers: (s) => ({ Timeout: 'Second-3600', ...ifToken(s) }),
      expect: [200],
    },
    {
      name: 'PROPPATCH Win32LastModifiedTime and attributes after the write',
      method: 'PROPPATCH',
      path: FILE,
      headers: (s) => ({ 'Content-Type': XML, ...ifToken(s) }),
      body: win32Proppatch({ Win32LastModifiedTime: MODIFIED_AFTER_WRITE, Win32FileAttributes: '00000020' }),
      expect: [207],
      check: multistatusAllOk,
    },
    {
      name: 'UNLOCK with a bare Lock-Token (no angle brackets)',
      method: 'UNLOCK',
      path: FILE,
      headers: (s) => ({ 'Lock-Token': s.token ?? '' }),
      expect: [204],
      peer: { apache: [400] },
      check: (a, s) => {
        if (a.status === 400) s.bareUnlockRefused = true;
        return [];
      },
    },
    {
      name: 'UNLOCK with <token> (only where the bare token was refused)',
      method: 'UNLOCK',
      path: FILE,
      headers: (s) => ({ 'Lock-Token': `<${s.token}>` }),
      when: (s) => s.bareUnlockRefused === true,
      expect: [204],
    },
    {
      name: 'PROPFIND Depth 0 returns the Win32 properties',
      method: 'PROPFIND',
      path: FILE,
      headers: () => ({ Depth: '0', 'Content-Type': XML }),
      body: WIN32_PROPFIND,
      expect: [207],
      check: contains('Win32 properties', MODIFIED_AFTER_WRITE, TIMES.Win32CreationTime, '00000020'),
    },
    {
      name: 'Explorer: rename the file (MOVE, Overwrite: F) once unlocked',
      method: 'MOVE',
      path: FILE,
      headers: () => ({ Destination: destination(RENAMED), Overwrite: 'F' }),
      expect: [201],
    },
    {
      name: 'the Win32 properties moved with the file',
      method: 'PROPFIND',
      path: RENAMED,
      headers: () => ({ Depth: '0', 'Content-Type': XML }),
      body: WIN32_PROPFIND,
      expect: [207],
      check: contains('Win32 properties after MOVE', MODIFIED_AFTER_WRITE, TIMES.Win32CreationTime),
    },
    {
      name: 'GET the renamed file',
      method: 'GET',
      path: RENAMED,
      expect: [200],
      check: (a) => (a.text === MINIREDIR_CONTENT ? [] : [`content ${JSON.stringify(a.text.slice(0, 200))}`]),
    },
    {
      name: 'the old name is gone',
      method: 'PROPFIND',
      path: FILE,
      headers: () => ({ Depth: '0' }),
      body: '',
      expect: [404],
    },
  ];
  return list.map((s) => ({
    ...s,
    headers: (st: SessionState) => ({ ...base, ...(s.headers?.(st) ?? {}) }),
  }));
}

/**
 * Replays the session against `url + mount` as `user`, with Basic credentials (Windows with
 * `BasicAuthLevel` 2, or over TLS) or Digest (Windows over plain HTTP: MD5, `qop=auth`, the nonce
 * count increasing on every request, a fresh nonce taken when the server answers `stale=true` or
 * challenges again). Every step runs (a failed step does not stop the replay, so one run shows every
 * deviation). Returns the steps with their outcome.
 */
export async function replayMiniRedir(opts: {
  url: string;
  mount: string;
  user: string;
  password: string;
  target: TargetKind;
  auth?: 'basic' | 'digest';
}): Promise<ReplayedStep[]> {
  const host = new URL(opts.url).host;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const state: SessionState = {};
  const results: ReplayedStep[] = [];
  let challenge: DigestChallenge | undefined;
  let nc = 0;
  try {
    for (const step of steps(opts.mount, host)) {
      if (step.when && !step.when(state)) continue;
      const path = `${opts.mount}/${step.path}`;
      const send = async () => {
        const headers = step.headers!(state);
        if (step.auth !== false) {
          if (opts.auth === 'digest') {
            if (challenge) {
              nc += 1;
              headers.Authorization = digestAuthorization({
                user: opts.user,
                password: opts.password,
                method: step.method,
                uri: path,
                challenge,
                nc,
              });
            }
          } else {
            headers.Authorization = basicAuth(opts.user, opts.password);
          }
        }
        const answer = await httpRequest(`${opts.url}${path}`, {
          method: step.method,
          headers,
          ...(step.body !== undefined ? { body: step.body } : step.method === 'PUT' ? { body: '' } : {}),
          agent,
        });
        const offered = digestChallenge(answer);
        const retry =
          offered !== undefined && answer.status === 401 && step.auth !== false && opts.auth === 'digest';
        if (offered) {
          challenge = offered;
          nc = 0;
        }
        return { answer, retry };
      };
      const first = await send();
      // A Digest client answers a (stale or first) challenge by sending the request again.
      const a = first.retry ? (await send()).answer : first.answer;
      const expected = step.peer?.[opts.target] ?? step.expect;
      const problems = expected.includes(a.status)
        ? []
        : [`status ${a.status}, expected ${expected.join(' or ')}: ${a.text.slice(0, 400)}`];
      problems.push(...(step.check?.(a, state) ?? []));
      results.push({
        name: step.name,
        request: `${step.method} ${path}`,
        status: a.status,
        ok: problems.length === 0,
        problems,
      });
    }
  } finally {
    agent.destroy();
  }
  return results;
}
