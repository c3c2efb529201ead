import { describe, expect, it } from 'vitest';

import {
  backgroundColors, brandStylesheet, cardColors, checkAccent, contrastRatio, formatRatio, minimumContrast, onAccentChoices, onAccentFor, parseHexColor, relativeLuminance,
} from '../../src/theme/brand-colors.ts';

const hex = (r: number, g: number, b: number) => `#${[r, g, b].map((value) => value.toString(16).padStart(2, '0')).join('')}`;

/** Every 17th value of each channel: 16³ = 4096 colours, the whole cube's corners and a grid through it. */
const grid: string[] = [];
for (let r = 0; r <= 255; r += 17) for (let g = 0; g <= 255; g += 17) for (let b = 0; b <= 255; b += 17) grid.push(hex(r, g, b));

describe('parseHexColor', () => {
  it('reads #rrggbb in either case', () => {
    expect(parseHexColor('#2456c9')).toEqual([0x24, 0x56, 0xc9]);
    expect(parseHexColor('#FFCC00')).toEqual([255, 204, 0]);
    expect(parseHexColor('#000000')).toEqual([0, 0, 0]);
  });

  it.each(['#fff', 'ffcc00', '#ffcc0', '#ffcc000', '#gg0000', 'red', 'rgb(0,0,0)', ' #ffcc00', '#ffcc00 ', ''])('refuses %j', (value) => {
    expect(parseHexColor(value)).toBeUndefined();
  });
});

describe('relative luminance and contrast (WCAG 2.2)', () => {
  it('gives the definitions’ fixed points', () => {
    expect(relativeLuminance('#000000')).toBe(0);
    expect(relativeLuminance('#ffffff')).toBeCloseTo(1, 12);
    // sRGB 128 → 0.21586 (the linear segment ends at 0.04045: 10/255 is on it, 11/255 is not).
    expect(relativeLuminance('#808080')).toBeCloseTo(0.21586, 5);
    expect(relativeLuminance('#0a0a0a')).toBeCloseTo(10 / 255 / 12.92, 12);
    expect(relativeLuminance('#ff0000')).toBeCloseTo(0.2126, 12);
    expect(relativeLuminance('#00ff00')).toBeCloseTo(0.7152, 12);
    expect(relativeLuminance('#0000ff')).toBeCloseTo(0.0722, 12);
  });

  it('gives the well-known ratios', () => {
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 10);
    expect(contrastRatio('#777777', '#ffffff')).toBeCloseTo(4.48, 2);
    expect(contrastRatio('#767676', '#ffffff')).toBeCloseTo(4.54, 2);
    expect(contrastRatio('#2456c9', '#ffffff')).toBeCloseTo(6.46, 2);
  });

  it('is symmetric, 1 for a colour against itself, and between 1 and 21 for 4096 colours against the cards', () => {
    for (const color of grid) {
      expect(contrastRatio(color, color)).toBe(1);
      for (const surface of [cardColors.light, cardColors.dark, backgroundColors.light, backgroundColors.dark]) {
        const ratio = contrastRatio(color, surface);
        expect(ratio).toBe(contrastRatio(surface, color));
        expect(ratio).toBeGreaterThanOrEqual(1);
        expect(ratio).toBeLessThanOrEqual(21);
      }
    }
  });

  it('refuses a value that is not #rrggbb', () => {
    expect(() => contrastRatio('#fff', '#000000')).toThrow(/#rrggbb/);
  });
});

describe('formatRatio', () => {
  it('rounds down to one decimal, so a failing ratio never reads as the one needed', () => {
    expect(formatRatio(4.4999)).toBe('4.4:1');
    expect(formatRatio(4.5)).toBe('4.5:1');
    expect(formatRatio(1.52)).toBe('1.5:1');
    expect(formatRatio(21)).toBe('21.0:1');
    expect(formatRatio(1)).toBe('1.0:1');
  });
});

describe('onAccentFor', () => {
  it('picks white on dark accents and near-black on light ones', () => {
    expect(onAccentFor('#000000')).toBe('#ffffff');
    expect(onAccentFor('#2456c9')).toBe('#ffffff');
    expect(onAccentFor('#ffffff')).toBe('#10131a');
    expect(onAccentFor('#8cb0ff')).toBe('#10131a');
    expect(onAccentFor('#ffcc00')).toBe('#10131a');
  });

  it('always picks the choice that contrasts more (4096 colours)', () => {
    for (const color of grid) {
      const best = Math.max(...onAccentChoices.map((choice) => contrastRatio(color, choice)));
      expect(contrastRatio(color, onAccentFor(color))).toBe(best);
    }
  });
});

describe('checkAccent', () => {
  it('accepts the stylesheet’s own accents in their schemes', () => {
    expect(checkAccent('#2456c9', 'light')).toMatchObject({ ok: true, onAccent: '#ffffff' });
    expect(checkAccent('#8cb0ff', 'dark')).toMatchObject({ ok: true, onAccent: '#10131a' });
  });

  it('refuses a light yellow for links on white, and measures where links are weakest', () => {
    const check = checkAccent('#FFCC00', 'light');
    expect(check).toMatchObject({ ok: false, accent: '#ffcc00', linkSurface: 'background' });
    expect(check.link).toBeLessThan(1.6);
    // The button text (near-black on yellow) is fine: only the links fail.
    expect(check.button).toBeGreaterThan(minimumContrast);
  });

  it('measures links on the page background too: #767676 is 4.54:1 on white but 4.16:1 around the card', () => {
    expect(checkAccent('#767676', 'light')).toMatchObject({ ok: false, linkSurface: 'background' });
    expect(checkAccent('#767676', 'light').link).toBeCloseTo(4.16, 2);
    expect(checkAccent('#595959', 'light').ok).toBe(true);
  });

  it('refuses the light accent in the dark scheme, and a mid grey whose button text fails either way', () => {
    expect(checkAccent('#2456c9', 'dark')).toMatchObject({ ok: false, linkSurface: 'card' });
    // Mid grey: 4.3:1 against either button text colour — no choice reaches 4.5:1.
    const grey = checkAccent('#7a7a7a', 'light');
    expect(grey.button).toBeLessThan(minimumContrast);
    expect(grey.ok).toBe(false);
  });

  it('is ok exactly when links and button text both reach 4.5:1 (4096 colours, both schemes)', () => {
    for (const color of grid) {
      for (const scheme of ['light', 'dark'] as const) {
        const check = checkAccent(color, scheme);
        const link = Math.min(contrastRatio(color, cardColors[scheme]), contrastRatio(color, backgroundColors[scheme]));
        expect(check.link).toBe(link);
        expect(check.ok).toBe(link >= 4.5 && check.button >= 4.5);
      }
    }
  });

  it('finds no colour that passes on both the light and the dark card (why the dark scheme has its own variable)', () => {
    expect(grid.filter((color) => checkAccent(color, 'light').ok && checkAccent(color, 'dark').ok)).toEqual([]);
  });
});

describe('brandStylesheet', () => {
  it('scopes the light colour to the light scheme and the dark one to the dark scheme, with their button text', () => {
    const css = brandStylesheet({ light: '#2456C9', dark: '#8cb0ff' });
    expect(css).toContain('@media (prefers-color-scheme: light){:root{--accent:#2456c9;--on-accent:#ffffff}}');
    expect(css).toContain('@media (prefers-color-scheme: dark){:root{--accent:#8cb0ff;--on-accent:#10131a}}');
  });

  it('leaves out a scheme without a colour', () => {
    const css = brandStylesheet({ light: '#2456c9', dark: null });
    expect(css).not.toContain('dark');
    expect(brandStylesheet({ dark: '#8cb0ff' })).not.toContain('light');
  });
});
