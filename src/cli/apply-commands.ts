import type { ApplyReport, FieldChange, PlannedAction, ResourceKind } from '../libraries/apply.ts';
import type { AuditSource } from '../libraries/audit.ts';
import { message } from '../messages/messages.ts';
import type { Command } from './output.ts';
import { printable } from './output.ts';

/**
 * `gatehouse apply FILE`: configuration as code (src/libraries/apply.ts, docs/configuration-as-code.md).
 * The plan is printed as a diff: `+` create, `~` update (each field's change under it), `-` delete
 * (with --prune), `=` unchanged, `!` skipped; `--dry-run` prints it and changes nothing.
 */

/** Who applies: an operator at the command line, through `apply`. */
export const applySource: AuditSource = { actor: 'cli', via: 'apply' };

const marks: Record<PlannedAction['action'], string> = { create: '+', update: '~', delete: '-', unchanged: '=', skip: '!' };
const kinds: readonly ResourceKind[] = ['api', 'client', 'connection', 'roles'];

/** A value in a change line: lists as [a, b], nothing as -, text escaped for the terminal. */
function shown(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return `[${value.map(printable).join(', ')}]`;
  if (typeof value === 'string') return printable(value);
  return printable(JSON.stringify(value));
}

const changeLine = (change: FieldChange) => `      ${change.field}: ${shown(change.from)} → ${shown(change.to)}`;

/** The plan as text: a section per kind of resource, a line per resource, its field changes under an update. */
export function planText(report: ApplyReport): string {
  const lines: string[] = [];
  for (const kind of kinds) {
    const actions = report.actions.filter((action) => action.kind === kind);
    if (!actions.length) continue;
    lines.push(message(`apply.heading_${kind}`));
    const width = Math.max(...actions.map((action) => printable(action.key).length));
    for (const action of actions) {
      const what = action.action === 'skip' ? message('apply.skip_no_account') : action.action;
      lines.push(`  ${marks[action.action]} ${printable(action.key).padEnd(width)}  ${what}`);
      if (action.action === 'update') lines.push(...action.changes.map(changeLine));
    }
  }
  const { counts } = report;
  const values = { create: counts.create, update: counts.update, delete: counts.delete, unchanged: counts.unchanged, skip: counts.skip };
  if (report.dryRun) lines.push('', message('apply.summary', values), message('apply.dry_run'));
  else lines.push('', report.changes ? message('apply.applied', values) : message('apply.no_changes', values));
  return lines.join('\n');
}

/** The report as JSON: snake_case, secrets only as their variable. */
export function planJson(report: ApplyReport) {
  return {
    dry_run: report.dryRun,
    prune: report.prune,
    changes: report.changes,
    counts: report.counts,
    actions: report.actions.map((action) => ({
      action: action.action,
      kind: action.kind,
      key: action.key,
      ...('at' in action ? { at: action.at } : {}),
      ...(action.action === 'update' ? { changes: action.changes } : {}),
      ...(action.action === 'skip' ? { reason: action.reason } : {}),
    })),
  };
}

export const applyCommands: Record<string, Command> = {
  apply: {
    usage: 'apply FILE [--dry-run] [--prune]   (makes the clients, APIs, connections and roles FILE lists exist as written; secrets from the environment; --prune deletes what it does not list)',
    options: { 'dry-run': { type: 'boolean' }, prune: { type: 'boolean' } },
    positionals: ['FILE'],
    async run(ctx, values, [file]) {
      const desired = await ctx.libraries.apply.read(file!, ctx.env);
      const report = await ctx.libraries.apply.run(desired, { dryRun: values['dry-run'] === true, prune: values.prune === true }, applySource);
      return { json: planJson(report), text: planText(report) };
    },
  },
};
