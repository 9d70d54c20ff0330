import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { idempotencyKeyOf } from '../http/idempotency-key';
import { MomentsService } from '../services/moments.service';
import type { ClientRequest } from './api-key.guard';

/**
 * Refuses a create before its body is read when the client's key already has
 * MAX_MOMENTS_IN_FLIGHT_PER_KEY moments in flight: 429 TOO_MANY_MOMENTS_IN_FLIGHT with
 * `Retry-After`. Runs after the ApiKeyGuard, which names the owner.
 */
@Injectable()
export class InFlightLimitGuard implements CanActivate {
  constructor(private readonly moments: MomentsService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<ClientRequest>();
    await this.moments.checkInFlight(request.clientOwner ?? null, idempotencyKeyOf(request));
    return true;
  }
}
