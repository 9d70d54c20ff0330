import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, getSchemaPath, type OpenAPIObject } from '@nestjs/swagger';
import { BLUEPRINT_SCHEMA } from '@mcm/pipeline';
import { ADMIN_SECURITY } from './controllers/admin.controller';
import { CLIENT_BEARER_SECURITY, CLIENT_KEY_SECURITY } from './controllers/api-docs.decorators';
import { WEBHOOK_EVENTS, WEBHOOK_EVENT_TYPES } from '@mcm/core';
import { ProblemDto } from './dtos/problem.dto';
import { MomentWebhookDto } from './dtos/webhook.dto';

export const DOCS_PATH = 'docs';
export const OPENAPI_JSON_PATH = `${DOCS_PATH}/openapi.json`;

/** The blueprint's JSON Schema as an OpenAPI 3.1 component (3.1 speaks JSON Schema 2020-12). */
export function blueprintComponent(): Record<string, unknown> {
  const { $schema: _schema, $id: _id, ...schema } = structuredClone(BLUEPRINT_SCHEMA) as typeof BLUEPRINT_SCHEMA & Record<string, unknown>;
  return schema;
}

function documentConfig(): Omit<OpenAPIObject, 'paths'> {
  return (
    new DocumentBuilder()
      .setOpenAPIVersion('3.1.0')
      .setTitle('Main Character Moment API')
      .setDescription(
        'Turns a hummed or spoken phone clip into a personal theme song. Upload a recording, poll the moment, play the preview. ' +
          'Every error is an RFC 9457 problem (`application/problem+json`) with a stable `code`.',
      )
      .setVersion('1.0.0')
      // Relative: the document is served by (and describes) the deployment it comes from.
      .addServer('/', 'The deployment serving this document.')
      .addTag('Moments', 'Upload a recording and follow it to a finished song.')
      .addTag('Compatibility', 'The routes of the original service.')
      .addTag('Admin', 'Operator endpoints: inspect and retry jobs. Bearer ADMIN_TOKEN.')
      .addTag('Health', 'Liveness and readiness probes.')
      .addSecurity(ADMIN_SECURITY, { type: 'http', scheme: 'bearer', description: 'The ADMIN_TOKEN of the deployment.' })
      .addSecurity(CLIENT_KEY_SECURITY, { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'A client key from API_KEYS, when the deployment configures them.' })
      .addSecurity(CLIENT_BEARER_SECURITY, { type: 'http', scheme: 'bearer', description: 'The same client key, as a bearer token.' })
      .build()
  );
}

const WEBHOOK_HEADERS = [
  { name: 'webhook-id', description: "The delivery's id: the same on every attempt; drop a message whose id you already handled.", example: 'msg_7d1c2b64-5a0e-4c55-9a43-1f7e5d1c9b20_42' },
  { name: 'webhook-timestamp', description: 'Seconds since the epoch when the attempt was signed; refuse old ones (Standard Webhooks allows 5 minutes).', example: '1764000031' },
  {
    name: 'webhook-signature',
    description: 'Space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per WEBHOOK_SECRET of the deployment: accept the message when one matches a secret you hold.',
    example: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
  },
];

/**
 * The webhook deliveries, as OpenAPI 3.1 `webhooks`: one per event a moment may subscribe to,
 * each POSTing a `MomentWebhook` with the Standard Webhooks headers.
 */
function webhooks(): NonNullable<OpenAPIObject['webhooks']> {
  return Object.fromEntries(
    WEBHOOK_EVENTS.map((event) => {
      const type = WEBHOOK_EVENT_TYPES[event];
      return [
        type,
        {
          post: {
            operationId: `${event}Webhook`,
            summary: `${type}: the moment ${event === 'start' ? 'started work' : event === 'progress' ? 'moved on (status, stage or progress)' : `ended ${event.toUpperCase()}`}`,
            description: `Sent to \`webhook_url\` when \`webhook_events\` includes \`${event}\`. Retried on the Standard Webhooks schedule until a 2xx answer; 410 Gone stops every delivery to the URL.`,
            tags: ['Moments'],
            security: [],
            parameters: WEBHOOK_HEADERS.map(({ name, description, example }) => ({ name, in: 'header' as const, required: true, description, schema: { type: 'string' as const, example } })),
            requestBody: { required: true, content: { 'application/json': { schema: { $ref: getSchemaPath(MomentWebhookDto) } } } },
            responses: {
              '200': { description: 'Any 2xx: received; no more attempts.' },
              '410': { description: 'Gone: no further deliveries to this URL for the moment.' },
            },
          },
        },
      ];
    }),
  );
}

/** The OpenAPI document of the app: served at /docs and written to libs/sdk by `npm run openapi`. */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(app, documentConfig(), {
    extraModels: [ProblemDto, MomentWebhookDto],
    operationIdFactory: (_controller, method) => method,
  });
  document.components ??= {};
  document.components.schemas = { ...document.components.schemas, Blueprint: blueprintComponent() };
  document.webhooks = webhooks();
  return document;
}

export function setupOpenApi(app: INestApplication): void {
  const document = createOpenApiDocument(app);
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: OPENAPI_JSON_PATH,
    raw: ['json'],
    customSiteTitle: 'Main Character Moment API',
    swaggerOptions: { persistAuthorization: true, displayOperationId: true },
  });
}
