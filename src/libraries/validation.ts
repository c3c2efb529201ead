import { describeIssues, GatehouseError } from '../errors.ts';

/** One problem with one field of an input: `path` names the field in the input's own terms (["redirectUris", 0]). */
export type Issue = { path: readonly (string | number)[]; message: string };

/**
 * Input that failed validation, with each problem and the field it concerns: a caller names the
 * fields in its own terms (the CLI its flags, a page its form fields) from `issues`, without parsing
 * the sentence. `message` is every problem on one line ("email: Enter a valid email address.; …").
 */
export class InvalidInputError extends GatehouseError {
  readonly issues: readonly Issue[];

  constructor(issues: readonly Issue[]) {
    super('invalid_input', 'error.problems', { problems: describeIssues(issues.map((issue) => ({ path: [...issue.path], message: issue.message }))) });
    this.name = 'InvalidInputError';
    this.issues = issues;
  }
}

/** The issues of a zod error (or any list of issues) as an InvalidInputError. */
export function invalidInput(issues: ReadonlyArray<{ path: readonly PropertyKey[]; message: string }>): InvalidInputError {
  return new InvalidInputError(issues.map((issue) => ({
    path: issue.path.map((key) => (typeof key === 'number' ? key : String(key))),
    message: issue.message,
  })));
}

/** The field problems an error carries, if it is a validation error. */
export function issuesOf(error: unknown): readonly Issue[] | undefined {
  return error instanceof InvalidInputError ? error.issues : undefined;
}
