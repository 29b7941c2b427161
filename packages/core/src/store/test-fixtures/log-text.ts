/** The text of log event `seq` of `runId` in the garbage-collection tests: 8–24 kB, so it lives in the log text file. */
export function logText(runId: string, seq: number): string {
  const line = `${runId} event ${seq} `;
  return `${line.repeat(Math.ceil((8_000 + ((seq * 7919) % 16_000)) / line.length))}\n`;
}
