declare module 's3rver' {
  interface S3rverOptions {
    directory: string;
    silent?: boolean;
  }
  export default class S3rver {
    constructor(options: S3rverOptions);
    /** The Koa request handler, for a server of one's own. */
    callback(): (request: import('node:http').IncomingMessage, response: import('node:http').ServerResponse) => unknown;
  }
}

declare module 's3rver/lib/models/account' {
  const AWSAccount: {
    /** The account s3rver serves every authenticated request as. */
    DUMMY_ACCOUNT: { createKeyPair(accessKeyId: string, secretAccessKey: string): void };
  };
  export default AWSAccount;
}
