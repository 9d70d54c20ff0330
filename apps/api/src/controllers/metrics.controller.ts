import { Controller, Get, Res, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { MetricsGuard } from '../guards/metrics.guard';
import { MetricsService } from '../services/metrics.service';

/** Prometheus text for operators' scrapers; not part of the client API, so not in the OpenAPI document. */
@ApiExcludeController()
@Controller()
export class MetricsController {
  constructor(private readonly service: MetricsService) {}

  @Get('metrics')
  @UseGuards(MetricsGuard)
  async metrics(@Res() response: Response): Promise<void> {
    const { contentType, body } = await this.service.scrape();
    response.status(200).setHeader('Content-Type', contentType).setHeader('Cache-Control', 'no-store').send(body);
  }
}
