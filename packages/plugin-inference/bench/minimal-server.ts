import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InferenceSession, Tensor } from 'onnxruntime-node';

// The overhead reference: a minimal V2 infer endpoint on node:http around one onnxruntime session in
// the main thread (JSON and binary inputs, binary or JSON FP32 outputs), no validation, no queue.
const [modelPath, threads] = [process.argv[2]!, Number(process.argv[3] ?? 1)];
const session = await InferenceSession.create(modelPath, {
  executionProviders: ['cpu'],
  intraOpNumThreads: threads,
});
const output = session.outputNames[0]!;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    void (async () => {
      const body = Buffer.concat(chunks);
      const header = req.headers['inference-header-content-length'];
      const jsonLength = header === undefined ? body.length : Number(header);
      const head = JSON.parse(body.subarray(0, jsonLength).toString()) as {
        inputs: { name: string; shape: number[]; data?: number[] }[];
        parameters?: { binary_data_output?: boolean };
      };
      const input = head.inputs[0]!;
      const data = input.data
        ? Float32Array.from(input.data)
        : new Float32Array(body.buffer.slice(body.byteOffset + jsonLength, body.byteOffset + body.length));
      const result = await session.run({ [input.name]: new Tensor('float32', data, input.shape) });
      const out = result[output]!;
      const values = out.data as Float32Array;
      if (head.parameters?.binary_data_output) {
        const json = Buffer.from(
          JSON.stringify({
            model_name: 'm',
            outputs: [
              {
                name: output,
                datatype: 'FP32',
                shape: out.dims,
                parameters: { binary_data_size: values.byteLength },
              },
            ],
          }),
        );
        res.writeHead(200, {
          'Content-Type': 'application/octet-stream',
          'Inference-Header-Content-Length': json.length,
          'Content-Length': json.length + values.byteLength,
        });
        res.write(json);
        res.end(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
      } else {
        const text = JSON.stringify({
          model_name: 'm',
          outputs: [{ name: output, datatype: 'FP32', shape: out.dims, data: Array.from(values) }],
        });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      }
    })().catch((error: unknown) => {
      res.writeHead(400).end(String(error));
    });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(`READY ${(server.address() as AddressInfo).port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
