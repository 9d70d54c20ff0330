import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { BLUEPRINT_SCHEMA } from '@mcm/pipeline';
import { ADMIN_SECURITY } from './controllers/admin.controller';
import { CLIENT_BEARER_SECURITY, CLIENT_KEY_SECURITY } from './controllers/api-docs.decorators';
import { ProblemDto } from './dtos/problem.dto';

export const DOCS_PATH = 'docs';
export const OPENAPI_JSON_PATH = `${DOCS_PATH}/openapi.json`;

/** The blueprint's JSON Schema as an OpenAPI 3.1 component (3.1 speaks JSON Schema 2020-12). */
export function blueprintComponent(): Record<string, unknown> {
  const { $schema: _schema, $id: _id, ...schema } = structuredClone(BLUEPRINT_SCHEMA) as typeof BLUEPRINT_SCHEMA & Record<string, unknown>;
  return schema;
}

function documentConfig(): Omit<OpenAPIObject, 'paths'> {
  return new DocumentBuilder()
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
    .build();
}

/** The OpenAPI document of the app: served at /docs and written to libs/sdk by `npm run openapi`. */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(app, documentConfig(), {
    extraModels: [ProblemDto],
    operationIdFactory: (_controller, method) => method,
  });
  document.components ??= {};
  document.components.schemas = { ...document.components.schemas, Blueprint: blueprintComponent() };
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
