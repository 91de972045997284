// The floor plan in .dependency-cruiser.cjs holds: no import circle, and no arrow against the
// direction data flows in (capture → inference, inference/modelling → store, modules → app).
import { createRequire } from 'node:module';
import { cruise, type IConfiguration } from 'dependency-cruiser';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/paths.js';

describe('architecture', () => {
  it('src/ keeps the layering of .dependency-cruiser.cjs', async () => {
    const config = createRequire(import.meta.url)(`${REPO}/.dependency-cruiser.cjs`) as IConfiguration;
    const cwd = process.cwd();
    process.chdir(REPO);
    try {
      const result = await cruise(['src'], { ...config.options, ruleSet: { forbidden: config.forbidden }, validate: true });
      const output = result.output as { summary: { violations: { rule: { name: string }; from: string; to: string; cycle?: { name: string }[] }[]; totalCruised: number } };
      const violations = output.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (${v.cycle.map((c) => c.name).join(' → ')})` : ''}`);
      expect(violations).toEqual([]);
      expect(output.summary.totalCruised).toBeGreaterThan(100);
    } finally {
      process.chdir(cwd);
    }
  });
});
