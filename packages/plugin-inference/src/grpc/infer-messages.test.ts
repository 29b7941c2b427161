import protobuf from 'protobufjs';
import { describe, expect, test } from 'vitest';
import { isInferenceError } from '../errors/inference-error.js';
import { decodeGrpcInfer } from './grpc-codec.js';
import {
  decodeInferRequest,
  decodeInferResponse,
  deserializeInferRequest,
  encodeInferRequest,
  encodeInferResponse,
} from './infer-messages.js';
import { INFERENCE_PROTO } from './inference-proto.js';

const root = protobuf.parse(INFERENCE_PROTO, { keepCase: true }).root;
root.resolveAll();
const Request = root.lookupType('inference.ModelInferRequest');
const Response = root.lookupType('inference.ModelInferResponse');
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const fromHex = (...parts: string[]) => Buffer.from(parts.join(''), 'hex');

function refused(bytes: Buffer, message: RegExp): void {
  const result = deserializeInferRequest(bytes);
  expect('malformed' in result).toBe(true);
  const error = (result as { malformed: unknown }).malformed;
  expect(isInferenceError(error, 'INFERENCE_INVALID_ARGUMENT')).toBe(true);
  expect((error as Error).message).toMatch(message);
}

describe('static ModelInferRequest/ModelInferResponse codec', () => {
  test('encodes a request byte for byte as protobuf does (fields 1-7, packed shape, int64 parameter)', () => {
    const bytes = encodeInferRequest({
      model_name: 'm',
      model_version: '1',
      id: 'x',
      parameters: { timeout: 5 },
      tensors: [{ name: 'A', datatype: 'FP32', shape: [1, 2] }],
      outputs: ['B'],
      raw: [Uint8Array.of(1, 2)],
    });
    // the bytes inference-proto.test.ts checks protobufjs against
    expect(hex(bytes)).toBe(
      '0a016d' +
        '120131' +
        '1a0178' +
        '220d0a0774696d656f757412021005' +
        '2a0d0a01411204465033321a020102' +
        '32030a0142' +
        '3a020102',
    );
  });

  test('encodes a response byte for byte as protobuf does (outputs 5, raw_output_contents 6), large values included', () => {
    const big = Buffer.alloc(300, 7);
    const bytes = encodeInferResponse({
      model_name: 'identité',
      model_version: '12',
      id: '',
      tensors: [
        { name: 'B', datatype: 'INT64', shape: [3] },
        { name: 'C', datatype: 'FP32', shape: [1, 75, 2 ** 40] },
      ],
      raw: [Uint8Array.of(9), big, new Uint8Array(0)],
    });
    const reference = Response.encode(
      Response.fromObject({
        model_name: 'identité',
        model_version: '12',
        outputs: [
          { name: 'B', datatype: 'INT64', shape: [3] },
          { name: 'C', datatype: 'FP32', shape: [1, 75, 2 ** 40] },
        ],
        raw_output_contents: [Buffer.from([9]), big, Buffer.alloc(0)],
      }),
    ).finish();
    expect(hex(bytes)).toBe(hex(reference));
    const decoded = Response.toObject(Response.decode(bytes), { longs: Number }) as {
      outputs: { shape: number[] }[];
    };
    expect(decoded.outputs[1]!.shape).toEqual([1, 75, 2 ** 40]);
  });

  test('decodes what protobufjs encodes: typed contents of every kind, parameters, 64-bit values exact', () => {
    const message = Request.fromObject({
      model_name: 'm',
      id: 'req',
      parameters: {
        priority: { int64_param: 2 },
        flag: { bool_param: true },
        text: { string_param: 'é' },
        ratio: { double_param: 0.5 },
        big: { uint64_param: '18446744073709551615' },
      },
      inputs: [
        {
          name: 'X',
          datatype: 'INT64',
          shape: [2],
          parameters: { binary_data_size: { int64_param: 16 } },
          contents: {
            bool_contents: [true, false],
            int_contents: [-1, 2147483647, -2147483648],
            int64_contents: ['-9223372036854775808', '9223372036854775807'],
            uint_contents: [4294967295],
            uint64_contents: ['18446744073709551615'],
            fp32_contents: [1.5, -0],
            fp64_contents: [Math.PI],
            bytes_contents: [Buffer.from('ab'), Buffer.alloc(0)],
          },
        },
      ],
      outputs: [{ name: 'Y', parameters: { classification: { int64_param: 3 } } }],
    });
    const decoded = decodeInferRequest(Buffer.from(Request.encode(message).finish()));
    expect(decoded).toEqual({
      model_name: 'm',
      model_version: '',
      id: 'req',
      parameters: {
        priority: { int64_param: 2n },
        flag: { bool_param: true },
        text: { string_param: 'é' },
        ratio: { double_param: 0.5 },
        big: { uint64_param: 18446744073709551615n },
      },
      inputs: [
        {
          name: 'X',
          datatype: 'INT64',
          shape: [2],
          parameters: { binary_data_size: { int64_param: 16n } },
          contents: {
            bool_contents: [true, false],
            int_contents: [-1, 2147483647, -2147483648],
            int64_contents: [-9223372036854775808n, 9223372036854775807n],
            uint_contents: [4294967295],
            uint64_contents: [18446744073709551615n],
            fp32_contents: [1.5, -0],
            fp64_contents: [Math.PI],
            bytes_contents: [Buffer.from('ab'), Buffer.alloc(0)],
          },
        },
      ],
      outputs: [{ name: 'Y', parameters: { classification: { int64_param: 3n } } }],
      raw_input_contents: [],
    });
  });

  test('raw_input_contents are views of the received message, not copies', () => {
    const bytes = encodeInferRequest({
      model_name: 'm',
      model_version: '',
      id: '',
      tensors: [{ name: 'A', datatype: 'UINT8', shape: [3] }],
      raw: [Uint8Array.of(1, 2, 3)],
    });
    const decoded = decodeInferRequest(bytes);
    expect(decoded.raw_input_contents[0]!.buffer).toBe(bytes.buffer);
    expect([...decoded.raw_input_contents[0]!]).toEqual([1, 2, 3]);
    const response = decodeInferResponse(
      encodeInferResponse({
        model_name: 'm',
        model_version: '1',
        id: 'i',
        tensors: [{ name: 'B', datatype: 'UINT8', shape: [1] }],
        raw: [Uint8Array.of(4)],
      }),
    );
    expect(response).toMatchObject({
      model_name: 'm',
      model_version: '1',
      id: 'i',
      outputs: [{ name: 'B', datatype: 'UINT8', shape: [1] }],
    });
    expect([...response.raw_output_contents[0]!]).toEqual([4]);
  });

  test('repeated scalars are read packed or unpacked, and both forms may be mixed', () => {
    // inputs { name "A"; datatype "FP32"; shape 1 (unpacked); shape 2 (unpacked); contents { fp32 1.0 (unpacked), fp32 [2.0] (packed) } }
    const contents = '35' + '0000803f' + '3204' + '00000040';
    const tensor = '0a0141' + '120446503332' + '1801' + '1802' + '2a' + '0b' + contents;
    const decoded = decodeInferRequest(
      fromHex('2a', (tensor.length / 2).toString(16).padStart(2, '0'), tensor),
    );
    expect(decoded.inputs[0]!.shape).toEqual([1, 2]);
    expect(decoded.inputs[0]!.contents!.fp32_contents).toEqual([1, 2]);
    // int64 shape given as a 10-byte negative varint, unpacked: decoded as -1 and refused by the server
    const negative = decodeInferRequest(fromHex('2a14', '0a0141', '18ffffffffffffffffff01', '120446503332'));
    expect(negative.inputs[0]!.shape).toEqual([-1]);
    expect(() => decodeGrpcInfer(negative)).toThrow(
      /shape must be a list of non-negative integers, got \[-1\]/,
    );
  });

  test('unknown fields of every wire type are skipped, at the top and inside tensors', () => {
    const unknownTop =
      'c83e05' + // field 1001 varint
      'c93e0102030405060708' + // field 1001 fixed64
      'ca3e03616263' + // field 1001 length-delimited
      'cd3e01020304' + // field 1001 fixed32
      'cb3e' +
      '0801' +
      'cc3e'; // field 1001 group with a varint inside
    const unknownInTensor = '4001'; // field 8 varint inside InferInputTensor
    const tensor = '0a0141' + '120555494e5438' + '1a0102' + unknownInTensor;
    const bytes = fromHex(
      unknownTop,
      '0a016d',
      '2a',
      (tensor.length / 2).toString(16).padStart(2, '0'),
      tensor,
      unknownTop,
      '3a020102',
    );
    const decoded = decodeInferRequest(bytes);
    expect(decoded.model_name).toBe('m');
    expect(decoded.inputs).toEqual([{ name: 'A', datatype: 'UINT8', shape: [2], parameters: {} }]);
    expect([...decoded.raw_input_contents[0]!]).toEqual([1, 2]);
  });

  test('over-long lengths and other malformed bytes are refused as INVALID_ARGUMENT, naming the field', () => {
    refused(fromHex('3a05', '0102'), /field raw_input_contents says 5 bytes but only 2 remain/);
    refused(fromHex('0a7f', '6d'), /field model_name says 127 bytes but only 1 remain/);
    refused(fromHex('2a03', '0a0541'), /field inputs.name says 5 bytes but only 1 remain/);
    // a length beyond 2^32
    refused(fromHex('3a', '8080808080808001'), /field raw_input_contents says \d+ bytes/);
    refused(fromHex('c83e', 'ffffffffffffffffffff01'), /varint is longer than 10 bytes/);
    refused(fromHex('0a'), /varint runs past the end/);
    refused(fromHex('cf3e'), /invalid wire type 7/);
    refused(fromHex('00'), /invalid field tag 0/);
    refused(fromHex('0801'), /field 1 has wire type 0, expected 2/);
    refused(fromHex('2a04', '1a020102', '1a'), /varint runs past the end/);
    refused(fromHex('2a02', '3501'), /fixed32 runs past the end/);
    refused(fromHex('cb3e0801'), /group #1001 has no end/);
    refused(Buffer.from('cb3e'.repeat(100_000), 'hex'), /groups are nested more than 32 deep/);
  });

  test('a request with nothing in it decodes to the defaults', () => {
    const empty = decodeInferRequest(Buffer.alloc(0));
    expect([empty.model_name, empty.id, empty.inputs, empty.raw_input_contents]).toEqual(['', '', [], []]);
  });
});
