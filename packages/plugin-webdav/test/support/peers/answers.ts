import { request } from 'node:http';

/** Whether a server at `url` answers an OPTIONS request on `/` within 5 s (any status). */
export function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${url}/`, { method: 'OPTIONS', timeout: 5000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(true));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve(false));
    req.end();
  });
}
