/** Where a started service can be reached. */
export interface ServiceAddress {
  /** `http://127.0.0.1:8080/` and the like. */
  url: string;
}

/** What {@link Service.health} answers: `ok`, and a reason when it is not. */
export interface ServiceHealth {
  ok: boolean;
  detail?: string;
}

/** Something long-running the runtime owns: the WebDAV share, the inference server. */
export interface Service {
  readonly name: string;
  start(): Promise<ServiceAddress>;
  /** Drains (reports not ready, finishes in-flight work) and closes. */
  stop(): Promise<void>;
  health(): Promise<ServiceHealth>;
}
