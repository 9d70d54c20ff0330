import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';

export interface StorageCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** What S3 answers a request it will not serve: the status, and the `<Code>` and `<Message>` of its XML error. */
export interface StorageRefusal {
  status: number;
  code: string;
  message: string;
}

/** The parts of an HTTP request a signature covers. */
export interface SignedRequest {
  method: string;
  /** The request target exactly as received: path and query, still percent-encoded. */
  url: string;
  headers: IncomingHttpHeaders;
}

type Query = Record<string, string | string[]>;

const ALGORITHM = 'AWS4-HMAC-SHA256';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const PAYLOAD_HASH_HEADER = 'x-amz-content-sha256';
/** S3 refuses a signed request whose time is further than this from its own clock. */
const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGNED_SECONDS = 7 * 24 * 3600;
/** The query parameters of a presigned URL that carry the signature rather than being signed. */
const PRESIGN_PARAMS = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature'];

const refusal = (status: number, code: string, message: string): StorageRefusal => ({ status, code, message });
const ACCESS_DENIED = refusal(403, 'AccessDenied', 'Access Denied');
const SIGNATURE_MISMATCH = refusal(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
const UNKNOWN_KEY = refusal(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
const EXPIRED = refusal(403, 'AccessDenied', 'Request has expired');
const NOT_YET_VALID = refusal(403, 'AccessDenied', 'Request is not valid yet');
const SKEWED = refusal(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
const UNSIGNED_HEADERS = refusal(403, 'AccessDenied', 'There were headers present in the request which were not signed');
const ONLY_SIGV4 = refusal(400, 'InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
const TWO_MECHANISMS = refusal(400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified');
const BAD_QUERY = refusal(
  400,
  'AuthorizationQueryParametersError',
  'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
);
const BAD_HEADER = refusal(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed.');
const BAD_PAYLOAD_HASH = refusal(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.');
/** s3rver stores an aws-chunked body as it comes, framing and all, so it is refused rather than corrupted. */
const CHUNKED_PAYLOAD = refusal(501, 'NotImplemented', 'Chunked (STREAMING-*) payloads are not supported by this storage.');

/** The request's query, decoded, with repeated names as arrays; null when its percent-encoding is broken. */
function parseQuery(search: string): Query | null {
  const query: Query = Object.create(null) as Query;
  try {
    for (const pair of search.split('&')) {
      if (!pair) continue;
      const equals = pair.indexOf('=');
      const name = decodeURIComponent(equals < 0 ? pair : pair.slice(0, equals));
      const value = equals < 0 ? '' : decodeURIComponent(pair.slice(equals + 1));
      const existing = query[name];
      query[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
    }
  } catch {
    return null;
  }
  return query;
}

function single(query: Query, name: string): string | undefined {
  const value = query[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `yyyyMMddTHHmmssZ`, the only date form SigV4 signs. */
function parseAmzDate(value: string | undefined): Date | null {
  const parts = value ? /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value) : null;
  if (!parts) return null;
  const date = new Date(`${parts[1]}-${parts[2]}-${parts[3]}T${parts[4]}:${parts[5]}:${parts[6]}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** `<key id>/<yyyyMMdd>/<region>/s3/aws4_request`, dated the day of the request. */
function parseScope(credential: string, amzDate: string): { accessKeyId: string; region: string } | null {
  const [accessKeyId, day, region, service, terminator, ...rest] = credential.split('/');
  if (rest.length || !accessKeyId || !region || day !== amzDate.slice(0, 8) || service !== 's3' || terminator !== 'aws4_request') return null;
  return { accessKeyId, region };
}

function sameSignature(provided: string, expected: string | undefined): boolean {
  if (!expected || !/^[0-9a-f]{64}$/.test(provided)) return false;
  return timingSafeEqual(Buffer.from(provided, 'hex'), Buffer.from(expected, 'hex'));
}

/** The signed headers, as received; null when one is missing or `host` is not among them, as SigV4 requires. */
function signedHeaderValues(headers: IncomingHttpHeaders, list: string): Record<string, string> | null {
  const names = list.split(';');
  if (!names.includes('host')) return null;
  const values: Record<string, string> = {};
  for (const name of names) {
    const value = headers[name];
    if (typeof value !== 'string') return null;
    values[name] = value;
  }
  return values;
}

/** S3 serves no `x-amz-*` header that the signature does not cover. */
function hasUnsignedAmzHeader(headers: IncomingHttpHeaders, signed: readonly string[]): boolean {
  return Object.keys(headers).some((name) => name.startsWith('x-amz-') && !signed.includes(name));
}

/**
 * Checks a request's AWS Signature Version 4 as S3 does, by signing the same request again with the
 * one key pair storage knows and comparing in constant time: presigned URLs (query) and the
 * `Authorization` header the AWS SDK sends. Returns null for a request S3 would serve, or the
 * refusal S3 would give.
 */
export class RequestSignatureVerifier {
  private readonly signer: SignatureV4;

  constructor(private readonly credentials: StorageCredentials) {
    // The S3 flavour of SigV4: paths are signed as sent, and the payload hash is a header.
    this.signer = new SignatureV4({ credentials, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: true });
  }

  async verify(request: SignedRequest, now = new Date()): Promise<StorageRefusal | null> {
    try {
      return await this.check(request, now);
    } catch {
      // A request the signer cannot even sign again cannot carry a valid signature.
      return SIGNATURE_MISMATCH;
    }
  }

  private async check(request: SignedRequest, now: Date): Promise<StorageRefusal | null> {
    const mark = request.url.indexOf('?');
    const path = mark < 0 ? request.url : request.url.slice(0, mark);
    const query = parseQuery(mark < 0 ? '' : request.url.slice(mark + 1));
    if (!query) return SIGNATURE_MISMATCH;
    const authorization = request.headers.authorization;
    const presigned = 'X-Amz-Algorithm' in query;
    if (authorization !== undefined && presigned) return TWO_MECHANISMS;
    if (authorization !== undefined) return this.verifyHeader(request, path, query, authorization, now);
    if (presigned) return this.verifyPresigned(request, path, query, now);
    // Signature Version 2 (`Signature`, `AWSAccessKeyId`) is refused, as by S3 regions opened since 2014.
    if ('Signature' in query || 'AWSAccessKeyId' in query) return ONLY_SIGV4;
    return ACCESS_DENIED;
  }

  private async verifyPresigned(request: SignedRequest, path: string, query: Query, now: Date): Promise<StorageRefusal | null> {
    const [algorithm, credential, amzDate, expires, signedList, signature] = PRESIGN_PARAMS.map((name) => single(query, name));
    if (algorithm !== ALGORITHM || !credential || !amzDate || !expires || !signedList || !signature) return BAD_QUERY;
    const signingDate = parseAmzDate(amzDate);
    const scope = parseScope(credential, amzDate);
    const expiresIn = /^\d{1,6}$/.test(expires) ? Number(expires) : NaN;
    if (!signingDate || !scope || !(expiresIn >= 1 && expiresIn <= MAX_PRESIGNED_SECONDS)) return BAD_QUERY;
    if (scope.accessKeyId !== this.credentials.accessKeyId) return UNKNOWN_KEY;
    if (now.getTime() > signingDate.getTime() + expiresIn * 1000) return EXPIRED;
    if (signingDate.getTime() > now.getTime() + MAX_SKEW_MS) return NOT_YET_VALID;

    const names = signedList.split(';');
    const headers = signedHeaderValues(request.headers, signedList);
    if (!headers) return SIGNATURE_MISMATCH;
    if (hasUnsignedAmzHeader(request.headers, names)) return UNSIGNED_HEADERS;
    const unsignedQuery: Query = { ...query };
    for (const name of PRESIGN_PARAMS) delete unsignedQuery[name];
    // The SDK signs a presigned URL with its payload hash header hoisted into the query; presign() hoists it back.
    const hoistedHash = Object.keys(unsignedQuery).find((name) => name.toLowerCase() === PAYLOAD_HASH_HEADER);
    const unhoistable = new Set(names);
    if (hoistedHash) {
      headers[hoistedHash] = String(unsignedQuery[hoistedHash]);
      delete unsignedQuery[hoistedHash];
    } else if (!headers[PAYLOAD_HASH_HEADER]) {
      // Without one, a presigned URL's payload is UNSIGNED-PAYLOAD, a hash that is not itself a signed header.
      headers[PAYLOAD_HASH_HEADER] = UNSIGNED_PAYLOAD;
      unhoistable.add(PAYLOAD_HASH_HEADER);
    }
    const signed = await this.signer.presign(
      { method: request.method, protocol: 'http:', hostname: 'localhost', path, query: unsignedQuery, headers },
      {
        signingDate,
        expiresIn,
        signingRegion: scope.region,
        signableHeaders: new Set(names),
        unsignableHeaders: new Set(names.includes(PAYLOAD_HASH_HEADER) ? [] : [PAYLOAD_HASH_HEADER]),
        unhoistableHeaders: unhoistable,
      },
    );
    if (signed.query?.['X-Amz-SignedHeaders'] !== signedList) return SIGNATURE_MISMATCH;
    return sameSignature(signature, signed.query['X-Amz-Signature'] as string | undefined) ? null : SIGNATURE_MISMATCH;
  }

  private async verifyHeader(request: SignedRequest, path: string, query: Query, authorization: string, now: Date): Promise<StorageRefusal | null> {
    if (!authorization.startsWith(`${ALGORITHM} `)) return authorization.startsWith('AWS ') ? ONLY_SIGV4 : BAD_HEADER;
    const fields = new Map<string, string>();
    for (const field of authorization.slice(ALGORITHM.length + 1).split(',')) {
      const [name, value] = field.trim().split('=');
      fields.set(name, value ?? '');
    }
    const credential = fields.get('Credential');
    const signedList = fields.get('SignedHeaders');
    const signature = fields.get('Signature');
    const amzDate = request.headers['x-amz-date'];
    if (fields.size !== 3 || !credential || !signedList || !signature || typeof amzDate !== 'string') return BAD_HEADER;
    const signingDate = parseAmzDate(amzDate);
    const scope = parseScope(credential, amzDate);
    if (!signingDate || !scope) return BAD_HEADER;
    if (scope.accessKeyId !== this.credentials.accessKeyId) return UNKNOWN_KEY;
    if (Math.abs(now.getTime() - signingDate.getTime()) > MAX_SKEW_MS) return SKEWED;

    const payloadHash = request.headers[PAYLOAD_HASH_HEADER];
    if (typeof payloadHash !== 'string') return BAD_PAYLOAD_HASH;
    if (payloadHash.startsWith('STREAMING-')) return CHUNKED_PAYLOAD;
    if (payloadHash !== UNSIGNED_PAYLOAD && !/^[0-9a-fA-F]{64}$/.test(payloadHash)) return BAD_PAYLOAD_HASH;

    const names = signedList.split(';');
    const headers = signedHeaderValues(request.headers, signedList);
    if (!headers) return SIGNATURE_MISMATCH;
    if (hasUnsignedAmzHeader(request.headers, names)) return UNSIGNED_HEADERS;
    const signed = await this.signer.sign(
      { method: request.method, protocol: 'http:', hostname: 'localhost', path, query, headers },
      { signingDate, signingRegion: scope.region, signableHeaders: new Set(names) },
    );
    const recomputed = /SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(String(signed.headers.authorization));
    if (recomputed?.[1] !== signedList) return SIGNATURE_MISMATCH;
    return sameSignature(signature, recomputed[2]) ? null : SIGNATURE_MISMATCH;
  }
}

/** The XML body S3 answers a refused request with. */
export function storageErrorXml(refusal: StorageRefusal): string {
  const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${refusal.code}</Code><Message>${escape(refusal.message)}</Message></Error>`;
}
