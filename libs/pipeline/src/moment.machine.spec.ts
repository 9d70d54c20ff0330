import { describe, expect, it } from 'vitest';
import { startMoment, OutputKind } from '@mcm/pipeline';
describe('smoke', () => { it('starts pending', () => { expect(startMoment({ momentId: 'm', outputKind: OutputKind.Preview, originalKey: 'k' }).persisted.value).toEqual({ active: 'pending' }); }); });
