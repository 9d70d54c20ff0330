import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';

/**
 * The anchor of the read benchmark: a bare NestJS app (platform-express, no guards, pipes, logging
 * or database) whose one route answers the JSON object in BARE_BODY_FILE, so its body is the same
 * size as the api's.
 */
const body = JSON.parse(readFileSync(process.env.BARE_BODY_FILE!, 'utf8')) as unknown;

@Controller()
class BareController {
  @Get('moment')
  moment(): unknown {
    return body;
  }
}

@Module({ controllers: [BareController] })
class BareModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create<NestExpressApplication>(BareModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  process.stdout.write(`bare listening on http://127.0.0.1:${port}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`bare route failed to start: ${error.message}\n`);
  process.exit(1);
});
