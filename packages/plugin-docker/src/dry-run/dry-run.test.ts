import { describe, expect, it } from 'vitest';
import { parseContainerSpec } from '../spec/container-spec.js';
import { resolveContainerSpec } from '../spec/resolve-spec.js';
import { ctx } from '../../test/fixtures/resolve-context.js';
import { dryRunJob, shellQuote } from './dry-run.js';

describe('dry run', () => {
  it('prints the docker run equivalent of a TRE job, with the API body', () => {
    const job = resolveContainerSpec(
      parseContainerSpec({
        image: 'ghcr.io/lab/recon:1.2.0',
        profile: 'tre',
        data: '/safe_data/proj',
        gpus: ['0'],
        cmd: ['python3', 'train.py', '--config', 'a b.yaml'],
        step: 'train',
      }),
      ctx,
    );
    const dry = dryRunJob(job);
    expect(dry.command).toMatchInlineSnapshot(
      `"docker run --rm --name petric-train-0123456789ab --label io.beamline.boot-id=boot-1 --label io.beamline.gpus=0 --label io.beamline.host=gpu01 --label io.beamline.job-id=0123456789abcdef0123456789abcdef --label io.beamline.managed=true --label io.beamline.owner=1234 --label io.beamline.pid=4242 --label io.beamline.pid-start=777 --label io.beamline.project=petric --label io.beamline.run= --label io.beamline.session=sess-1 --label io.beamline.step=train --init --network none --read-only --tmpfs /tmp:rw,nosuid,nodev,mode=1777 --mount type=bind,source=/safe_data/proj,target=/safe_data,readonly --mount type=bind,source=/home/u/outputs_0123456789ab,target=/safe_outputs --mount type=bind,source=/home/u/scratch_0123456789ab,target=/scratch --user 1234:1234 --env HOME=/scratch --memory 4096m --memory-swap 4096m --pids-limit 4096 --cap-drop ALL --security-opt no-new-privileges --gpus device=0 ghcr.io/lab/recon:1.2.0 python3 train.py --config 'a b.yaml'"`,
    );
    expect(dry.body.HostConfig.DeviceRequests).toEqual([
      { Driver: 'nvidia', DeviceIDs: ['0'], Capabilities: [['gpu']] },
    ]);
    expect(dry.workspace.outputs).toBe('/home/u/outputs_0123456789ab');
  });

  it('quotes for a POSIX shell', () => {
    expect(shellQuote('plain-1.0')).toBe('plain-1.0');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('"device=0,1"')).toBe(`'"device=0,1"'`);
  });
});
