/** A file a step produced, recorded with its content digest. */
export interface Artifact {
  /** Name within the step (the output name, or the path relative to the step's work directory). */
  name: string;
  /** Absolute host path. */
  path: string;
  /** Lower-case hex SHA-256 of the content. */
  sha256: string;
  /** Size in bytes. */
  size: number;
  /** What it is, for consumers that treat kinds differently (`log`, `image`, `onnx`, `tensorboard`, `file`). */
  kind?: string;
}
