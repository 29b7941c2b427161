/**
 * The session worker, as CommonJS source run with `new Worker(…, { eval: true })` (so it works from the
 * TypeScript sources and from the build alike). One onnxruntime session per worker, created once: a
 * reload starts a new worker instead of releasing and re-creating sessions in one thread, whose memory
 * grows (microsoft/onnxruntime#25325).
 *
 * Messages in: `load` (model path, provider list, options), `run` (id, feeds, fetches).
 * Messages out: `loaded` (active provider, fallbacks with reasons, metadata), `load-failed`, `result`,
 * `run-failed`.
 */
export const WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
// A provider that cannot load makes onnxruntime print errors to stderr; the reason is recorded and
// reported instead (ProviderFallback), so the process-wide logger only prints fatal errors.
ort.env.logLevel = 'fatal';
let session;

const now = () => performance.now() * 1e6; // clock.ts's nowNs (this source cannot import it)
const message = (error) => (error instanceof Error ? error.message : String(error)).trim();
const providerName = (spec) => (typeof spec === 'string' ? spec : spec.name);

async function load(msg) {
  const fallbacks = [];
  const providers = msg.providers;
  for (let i = 0; i < providers.length; i += 1) {
    // A GPU provider is tried with the rest of the list behind it, so onnxruntime may place nodes the
    // first cannot run on the next (TensorRT's per-node CUDA fallback); a provider that cannot load
    // throws at create time and the next suffix is tried.
    const list = providers.slice(i);
    try {
      session = await ort.InferenceSession.create(msg.modelPath, { ...msg.options, executionProviders: list });
      const meta = (names, metadata) =>
        names.map((name, index) => {
          const m = metadata[index] || {};
          return { name, isTensor: m.isTensor !== false, type: m.isTensor === false ? 'non-tensor' : String(m.type), shape: m.isTensor === false ? [] : Array.from(m.shape || []) };
        });
      parentPort.postMessage({
        type: 'loaded',
        provider: providerName(list[0]),
        fallbacks,
        inputs: meta(session.inputNames, session.inputMetadata),
        outputs: meta(session.outputNames, session.outputMetadata),
      });
      return;
    } catch (error) {
      fallbacks.push({ provider: providerName(list[0]), reason: message(error) });
      if (msg.strict) break;
    }
  }
  parentPort.postMessage({ type: 'load-failed', fallbacks });
}

async function run(msg) {
  try {
    const t0 = now();
    const feeds = {};
    for (const name of Object.keys(msg.feeds)) {
      const feed = msg.feeds[name];
      feeds[name] = new ort.Tensor(feed.type, feed.data, feed.dims);
    }
    const t1 = now();
    const results = await session.run(feeds, msg.fetches);
    const t2 = now();
    const outputs = {};
    const transfer = [];
    for (const name of msg.fetches) {
      const tensor = results[name];
      let data = tensor.data;
      if (ArrayBuffer.isView(data)) {
        if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice();
        transfer.push(data.buffer);
      }
      outputs[name] = { type: tensor.type, dims: Array.from(tensor.dims), data };
    }
    const t3 = now();
    try {
      parentPort.postMessage({ type: 'result', id: msg.id, outputs, input: t1 - t0, infer: t2 - t1, output: t3 - t2 }, transfer);
    } catch {
      parentPort.postMessage({ type: 'result', id: msg.id, outputs, input: t1 - t0, infer: t2 - t1, output: t3 - t2 });
    }
  } catch (error) {
    parentPort.postMessage({ type: 'run-failed', id: msg.id, message: message(error) });
  }
}

parentPort.on('message', (msg) => {
  if (msg.type === 'load') void load(msg);
  else if (msg.type === 'run') void run(msg);
});
`;
