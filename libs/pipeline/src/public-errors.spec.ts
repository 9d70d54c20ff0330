import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GENERIC_ERROR_MESSAGE, PUBLIC_ERROR_MESSAGES, errorDetail, publicErrorMessage, publicMomentError, stageFailure } from './public-errors';

const ROOT = resolve(__dirname, '../../..');
/** Where the codes a failed moment can carry are raised. */
const SOURCES = ['libs/audio/src', 'apps/worker/src', 'apps/music-tools/src', 'libs/core/src/mcp', 'libs/core/src/elevenlabs', 'libs/pipeline/src'];
const CODE = `'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)'`;
/** A code literal where an error is made: `new XError('CODE'`, `stageFailure('CODE'`, `code: 'CODE'`, `failureCode = 'CODE'`, or a union of code types. */
const RAISED = [new RegExp(`(?:new [A-Za-z]*(?:Error|Failure)|stageFailure)\\(\\s*${CODE}`, 'g'), new RegExp(`[cC]ode\\s*[:=]\\s*${CODE}`, 'g')];
const CODE_UNION = /(?:ErrorCode\s*=|readonly code:)((?:\s*\|?\s*'[A-Z0-9_]+')+)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'))
    .map((file) => join(ROOT, dir, file));
}

function raisedCodes(): Set<string> {
  const codes = new Set<string>();
  for (const file of SOURCES.flatMap(sourceFiles)) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of RAISED) for (const match of text.matchAll(pattern)) codes.add(match[1]);
    for (const match of text.matchAll(CODE_UNION)) for (const code of match[1].matchAll(/'([A-Z0-9_]+)'/g)) codes.add(code[1]);
  }
  return codes;
}

describe('public errors', () => {
  it('has a client sentence for every code the pipeline raises', () => {
    const codes = raisedCodes();
    // The scan finds the codes of every layer, so a miss below is a real gap, not a blind scan.
    expect([...codes]).toEqual(
      expect.arrayContaining(['AUDIO_UNDECODABLE', 'AUDIO_TIMEOUT', 'MCP_UNAVAILABLE', 'STEM_DOWNLOAD_FAILED', 'ELEVENLABS_REJECTED', 'STAGE_INPUT_MISSING', 'BLUEPRINT_INVALID']),
    );
    const missing = [...codes].filter((code) => !Object.hasOwn(PUBLIC_ERROR_MESSAGES, code));
    expect(missing, 'codes without a sentence in PUBLIC_ERROR_MESSAGES').toEqual([]);
  });

  it('writes sentences that name no host, path, engine or vendor', () => {
    for (const [code, sentence] of Object.entries(PUBLIC_ERROR_MESSAGES)) {
      expect(sentence, code).toMatch(/^[A-Z].*\.$/);
      expect(sentence, code).not.toMatch(/https?:|\/|\\|\d{2,}|ffmpeg|mcp|music-tools|elevenlabs|s3|postgres|redis/i);
    }
  });

  it('answers an unknown code with a sentence that says nothing of the cause', () => {
    expect(publicErrorMessage('SOMETHING_NEW')).toBe(GENERIC_ERROR_MESSAGE);
    expect(publicErrorMessage('toString')).toBe(GENERIC_ERROR_MESSAGE);
  });

  it('keeps the raw cause for operators and never shows it to clients', () => {
    const raw = 'music-tools at http://10.0.3.7:8080 is unavailable: connect ECONNREFUSED 10.0.3.7:8080';
    const failure = { stage: 'validate' as const, ...stageFailure('MCP_UNAVAILABLE', raw, true) };
    expect(failure).toEqual({ stage: 'validate', code: 'MCP_UNAVAILABLE', message: PUBLIC_ERROR_MESSAGES.MCP_UNAVAILABLE, retryable: true, detail: raw });
    expect(publicMomentError(failure)).toEqual({ stage: 'validate', code: 'MCP_UNAVAILABLE', message: PUBLIC_ERROR_MESSAGES.MCP_UNAVAILABLE, retryable: true });
    expect(errorDetail(failure)).toBe(raw);
  });

  it('hides the raw message of errors stored before the split, and hands it to operators', () => {
    const stored = { stage: 'analyze' as const, code: 'AUDIO_UNDECODABLE', message: 'ffmpeg failed: /tmp/mcm-analyze-a1/original: Invalid data', retryable: false };
    expect(publicMomentError(stored)?.message).toBe(PUBLIC_ERROR_MESSAGES.AUDIO_UNDECODABLE);
    expect(errorDetail(stored)).toBe(stored.message);
    expect(publicMomentError(null)).toBeNull();
    expect(errorDetail(null)).toBeNull();
  });
});
