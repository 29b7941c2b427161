import * as grpc from '@grpc/grpc-js';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { inferencePackage } from '../src/grpc/grpc-frontend.js';

// The gRPC overhead reference: a minimal `ModelInfer` on @grpc/grpc-js with proto-loader (Triton's
// messages as plain objects, as a grpc-js server is usually written) around one onnxruntime session per
// model in the main thread; FP32 raw_input_contents in, raw_output_contents out; no validation, no queue.
// Arguments: `name=model.onnx` pairs, then the intra-op thread count.
const threads = Number(process.argv.at(-1));
const sessions = new Map<string, InferenceSession>();
for (const pair of process.argv.slice(2, -1)) {
  const [name, path] = pair.split('=') as [string, string];
  sessions.set(
    name,
    await InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: threads }),
  );
}

interface Request {
  model_name: string;
  inputs: { name: string; shape: string[] }[];
  raw_input_contents: Buffer[];
}

const service = (grpc.loadPackageDefinition(inferencePackage()).inference as grpc.GrpcObject)
  .GRPCInferenceService as grpc.ServiceClientConstructor;
const server = new grpc.Server({ 'grpc.max_receive_message_length': -1 });
server.addService(service.service, {
  ModelInfer: (call: grpc.ServerUnaryCall<Request, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    const request = call.request;
    const session = sessions.get(request.model_name)!;
    const input = request.inputs[0]!;
    const raw = request.raw_input_contents[0]!;
    const data = new Float32Array(raw.byteLength / 4);
    new Uint8Array(data.buffer).set(raw);
    session
      .run({ [input.name]: new Tensor('float32', data, input.shape.map(Number)) })
      .then((result) => {
        const name = session.outputNames[0]!;
        const out = result[name]!;
        const values = out.data as Float32Array;
        callback(null, {
          model_name: request.model_name,
          outputs: [{ name, datatype: 'FP32', shape: out.dims }],
          raw_output_contents: [Buffer.from(values.buffer, values.byteOffset, values.byteLength)],
        });
      })
      .catch((error: unknown) => callback({ code: grpc.status.INTERNAL, details: String(error) }));
  },
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  console.log(`READY ${port}`);
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
