import { sweep } from './sweep.ts';

// One file per group of states, each through every language: vitest runs them side by side (docs/accessibility.md).
sweep('account');
