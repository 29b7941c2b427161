import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addSubModel, allTypesModel, identityModel, mlpModel, OnnxType, writeModel } from './onnx-models.js';

/** A model repository with the test models (simple in versions 1 and 2, all_types, identity, mlp…). */
export async function testRepository(): Promise<string> {
  const repo = await mkdtemp(join(tmpdir(), 'beamline-inference-'));
  const simple = 'max_batch_size: 8\ndynamic_batching { }\nversion_policy: { all { } }\n';
  await writeModel(repo, 'simple', addSubModel(), { version: 1, pbtxt: simple });
  await writeModel(repo, 'simple', addSubModel(), { version: 2 });
  await writeModel(repo, 'all_types', allTypesModel());
  await writeModel(repo, 'add_fp32', addSubModel(OnnxType.FLOAT, ['n']), { json: { max_batch_size: 0 } });
  await writeModel(repo, 'identity', identityModel(), { pbtxt: 'max_batch_size: 4\n' });
  await writeModel(repo, 'identity_bytes', identityModel(OnnxType.STRING, [1]), {});
  await writeModel(repo, 'mlp', mlpModel(), {
    pbtxt: 'max_batch_size: 64\ndynamic_batching { max_queue_delay_microseconds: 2000 }\n',
  });
  return repo;
}

/** The metadata every frontend must give for `simple` (both versions, batch dimension −1 first). */
export const SIMPLE_METADATA = {
  name: 'simple',
  versions: ['1', '2'],
  platform: 'onnxruntime_onnx',
  inputs: [
    { name: 'INPUT0', datatype: 'INT32', shape: [-1, 16] },
    { name: 'INPUT1', datatype: 'INT32', shape: [-1, 16] },
  ],
  outputs: [
    { name: 'OUTPUT0', datatype: 'INT32', shape: [-1, 16] },
    { name: 'OUTPUT1', datatype: 'INT32', shape: [-1, 16] },
  ],
};
