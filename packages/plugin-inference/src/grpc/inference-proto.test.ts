import protobuf from 'protobufjs';
import { describe, expect, test } from 'vitest';
import { INFERENCE_PROTO } from './inference-proto.js';

const root = protobuf.parse(INFERENCE_PROTO, { keepCase: true }).root;
root.resolveAll();
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/**
 * The bytes are written out by hand from the protocol's field numbers (Triton's grpc_service.proto and
 * model_config.proto), so a wrong number in this package's proto fails here rather than against a real
 * client.
 */
describe('wire compatibility with the V2 gRPC protocol', () => {
  test('ModelInferRequest: model_name 1, model_version 2, id 3, parameters 4, inputs 5 (shape 3, packed), outputs 6, raw_input_contents 7', () => {
    const Request = root.lookupType('inference.ModelInferRequest');
    const bytes = Request.encode(
      Request.fromObject({
        model_name: 'm',
        model_version: '1',
        id: 'x',
        parameters: { timeout: { int64_param: 5 } },
        inputs: [{ name: 'A', datatype: 'FP32', shape: [1, 2] }],
        outputs: [{ name: 'B' }],
        raw_input_contents: [Buffer.from([1, 2])],
      }),
    ).finish();
    expect(hex(bytes)).toBe(
      [
        '0a016d', // 1: "m"
        '120131', // 2: "1"
        '1a0178', // 3: "x"
        '220d' + '0a0774696d656f7574' + '1202' + '1005', // 4: map entry { key "timeout", value { int64_param(2) 5 } }
        '2a0d' + '0a0141' + '1204' + '46503332' + '1a020102', // 5: { name "A", datatype "FP32", shape packed [1,2] }
        '3203' + '0a0142', // 6: { name "B" }
        '3a020102', // 7: raw bytes
      ].join(''),
    );
  });

  test('ModelInferResponse: outputs 5, raw_output_contents 6', () => {
    const Response = root.lookupType('inference.ModelInferResponse');
    const bytes = Response.encode(
      Response.fromObject({
        outputs: [{ name: 'B', datatype: 'INT64', shape: [3] }],
        raw_output_contents: [Buffer.from([9])],
      }),
    ).finish();
    expect(hex(bytes)).toBe('2a0d' + '0a0142' + '1205494e543634' + '1a0103' + '320109');
  });

  test('InferTensorContents and statistics keep their field numbers', () => {
    const Contents = root.lookupType('inference.InferTensorContents');
    expect(
      hex(
        Contents.encode(
          Contents.fromObject({ int64_contents: [7], bytes_contents: [Buffer.from('a')] }),
        ).finish(),
      ),
    ).toBe('1a0107' + '420161');
    const Stats = root.lookupType('inference.ModelStatistics');
    expect(
      hex(
        Stats.encode(
          Stats.fromObject({
            inference_count: 4,
            execution_count: 2,
            inference_stats: { cache_miss: { count: 1 } },
          }),
        ).finish(),
      ),
    ).toBe('2004' + '2802' + '3204' + '42020801');
  });

  test('ModelConfig: max_batch_size 4, input 5 (data_type 2, dims 4), instance_group 7 (kind 4), dynamic_batching 11, backend 17', () => {
    const Config = root.lookupType('inference.ModelConfig');
    const bytes = Config.encode(
      Config.fromObject({
        max_batch_size: 8,
        input: [{ name: 'A', data_type: 'TYPE_FP32', dims: [16] }],
        instance_group: [{ count: 2, kind: 'KIND_CPU' }],
        dynamic_batching: { max_queue_delay_microseconds: 100 },
        backend: 'o',
      }),
    ).finish();
    expect(hex(bytes)).toBe(
      '2008' + '2a08' + '0a0141' + '100b' + '220110' + '3a04' + '1002' + '2002' + '5a021064' + '8a01016f',
    );
  });
});
