import { describe, expect, it } from 'vitest';
import { decodeJobMark, encodeJobMark, jobName, type JobMark } from './job-comment.js';

const owner = { pid: 4242, host: 'login01', bootId: 'b00t', startTime: 1234 };

describe('job comments and names', () => {
  it('round-trips the mark', () => {
    const mark: JobMark = {
      project: 'petric',
      submission: 'sub-1',
      owner,
      run: 'run-1',
      step: 'train[dataset=a]',
    };
    const comment = encodeJobMark(mark);
    expect(comment.startsWith('beamline:1 ')).toBe(true);
    expect(decodeJobMark(comment)).toEqual(mark);
  });

  it("stays within Slurm's 1024 characters and keeps what the janitor needs", () => {
    const long = {
      project: 'p',
      submission: 's'.repeat(36),
      owner,
      run: 'r'.repeat(600),
      step: 'ü'.repeat(900),
    };
    const comment = encodeJobMark(long);
    expect(comment.length).toBeLessThanOrEqual(1024);
    // eslint-disable-next-line no-control-regex
    expect(comment).toMatch(/^[\x00-\x7f]*$/);
    const back = decodeJobMark(comment);
    expect(back).toMatchObject({ project: 'p', submission: long.submission, owner });
  });

  it('does not take other comments for marks', () => {
    expect(decodeJobMark('')).toBeUndefined();
    expect(decodeJobMark('my own comment')).toBeUndefined();
    expect(decodeJobMark('beamline:1 {not json')).toBeUndefined();
    expect(decodeJobMark('beamline:1 {"project":"p","submission":"s"}')).toBeUndefined();
    expect(
      decodeJobMark('beamline:1 {"project":"p","submission":"s","owner":{"pid":"1","host":"h"}}'),
    ).toBeUndefined();
  });

  it('names jobs after run and step, printable', () => {
    expect(jobName('run-1', 'train', 'x')).toBe('beamline/run-1/train');
    expect(jobName(undefined, undefined, 'sh')).toBe('beamline/sh');
    expect(jobName('r', 'a\nb\u0007', 'x')).toBe('beamline/r/a?b?');
    expect(jobName('r', 's'.repeat(2000), 'x').length).toBe(1024);
  });
});
