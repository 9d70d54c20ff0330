declare module 's3rver' {
  interface S3rverOptions {
    port?: number;
    address?: string;
    directory: string;
    silent?: boolean;
  }
  export default class S3rver {
    constructor(options: S3rverOptions);
    run(): Promise<{ address: string; port: number }>;
    /** The listening server once `run()` resolved. */
    httpServer?: import('node:http').Server;
    close(): Promise<void>;
  }
}
