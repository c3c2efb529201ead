import { sweep } from './sweep.ts';

// One file per language: vitest runs them side by side (docs/accessibility.md has the timings).
sweep(['en'], 'en');
