import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeInterfile } from '../../src/data/interfile.js';
import { blend, type Phantom } from '../../src/data/phantom.js';

/** The busybox image the Docker plugin's set-up imports. */
export const BUSYBOX = process.env.BEAMLINE_TEST_IMAGE ?? 'beamline-test/busybox:1.36';

/**
 * A submission for the tests, with no reconstruction in it: a busybox shell script that replays a
 * recorded trajectory of images for its dataset (`traj/<dataset>/iter_<k>.hv`), reporting each with
 * `::image`, `delay` seconds apart; on a dataset whose name starts with `crash` it fails, and in a
 * container it fails (exit 9) if it can write to the data folder.
 */
const RUN_SCRIPT = `#!/bin/sh
set -e
case "$PETRIC_DATASET" in crash*) echo "boom on $PETRIC_DATASET" >&2; exit 3;; esac
# In a container the data is mounted read-only: a write there must fail.
if [ "$PETRIC_SRCDIR" = /data ] && touch /data/.probe 2>/dev/null; then echo "/data is writable" >&2; exit 9; fi
here=$(dirname "$0")
k=0
while [ -f "$here/traj/$PETRIC_DATASET/iter_$k.v" ]; do
  cp "$here/traj/$PETRIC_DATASET/iter_$k.v" "$PETRIC_OUTDIR/iter_$k.v"
  cp "$here/traj/$PETRIC_DATASET/iter_$k.hv" "$PETRIC_OUTDIR/iter_$k.hv"
  echo "::image $k iter_$k.hv"
  sleep "\${1:-0.05}"
  k=$((k+1))
done
`;

/** Writes the submission folder (script, trajectories, and a Dockerfile on the busybox image). */
export async function writeSubmission(
  dir: string,
  trajectories: Record<string, { phantom: Phantom; fractions: number[] }>,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'run'), RUN_SCRIPT);
  await chmod(join(dir, 'run'), 0o755);
  await writeFile(join(dir, 'Dockerfile'), `FROM ${BUSYBOX}\nCOPY . /submission/\n`);
  for (const [dataset, { phantom, fractions }] of Object.entries(trajectories)) {
    const traj = join(dir, 'traj', dataset);
    await mkdir(traj, { recursive: true });
    for (const [k, f] of fractions.entries()) {
      await writeInterfile(join(traj, `iter_${k}.hv`), { dims: phantom.dims, data: blend(phantom, f) });
    }
  }
}

/** Removes the images `submit --context` built for these teams (`petric-<team>:<version>` and its date tag). */
export async function removeTeamImages(
  docker: {
    listImages(o: object): Promise<{ Id: string }[]>;
    getImage(id: string): { remove(o: object): Promise<unknown> };
  },
  teams: string[],
): Promise<void> {
  for (const team of teams) {
    for (const image of await docker.listImages({ filters: { reference: [`petric-${team}`] } })) {
      await docker
        .getImage(image.Id)
        .remove({ force: true })
        .catch(() => undefined);
    }
  }
}
