import { describe, expect, it } from 'vitest';
import { bundledSoundFontPath } from '@mcm/audio/render/soundfont';
import { ConfigError, loadConfig } from './app-config';

describe('SOUNDFONT_PATH', () => {
  it('is unset by default: the bundled font plays', () => {
    expect(loadConfig({}).SOUNDFONT_PATH).toBeUndefined();
  });

  it('takes a font file that exists and refuses a path that names no file', () => {
    const font = bundledSoundFontPath('MuseScore_General_Lite');
    expect(loadConfig({ SOUNDFONT_PATH: font }).SOUNDFONT_PATH).toBe(font);
    expect(() => loadConfig({ SOUNDFONT_PATH: '/nowhere/font.sf2' })).toThrow(new ConfigError('Invalid configuration: SOUNDFONT_PATH names no file'));
  });
});
