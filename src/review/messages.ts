// Request validation errors as sentences a user can act on, per field: the UI shows each next
// to its field. The `error` text of the answer stays the validator's, for API clients and logs.

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

/** What a pattern allows, for the fields the UI has (a pattern itself means nothing to a user). */
const PATTERNS: Record<string, string> = {
  name: 'A user name is up to 64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit.',
  user: 'A user name is up to 64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit.',
  label: 'A label is up to 64 letters, digits, spaces, ".", "_" or "-", starting with a letter or digit.',
  camera: 'A camera id is up to 63 lower-case letters, digits, "-" or "_".',
  id: 'That is not an inspection id.',
  partId: 'A part id is 1 to 128 printable ASCII characters (letters, digits, punctuation; spaces only inside).',
};

/** "uncertainBand" → "Uncertain band". */
function title(field: string): string {
  const words = field.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function sentence(field: string, issue: ValidationIssue): string {
  const p = issue.params;
  const name = title(field.split('.').pop() || 'the value');
  switch (issue.keyword) {
    case 'required':
      return `${name} is required.`;
    case 'minLength':
      return p.limit === 1 ? `${name} cannot be empty.` : `${name} needs at least ${String(p.limit)} characters.`;
    case 'maxLength':
      return `${name} can have at most ${String(p.limit)} characters.`;
    case 'pattern':
      return PATTERNS[field.split('.').pop() ?? ''] ?? `${name} has characters that are not allowed.`;
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum':
    case 'exclusiveMaximum': {
      const words = { minimum: 'at least', exclusiveMinimum: 'above', maximum: 'at most', exclusiveMaximum: 'below' }[issue.keyword];
      return `${name} must be ${words} ${String(p.limit)}.`;
    }
    case 'type':
      return p.type === 'number' || p.type === 'integer' ? `${name} must be a ${p.type === 'integer' ? 'whole ' : ''}number.` : `${name} must be a ${String(p.type)}.`;
    case 'minItems':
      return `Choose at least ${String(p.limit)}.`;
    case 'maxItems':
      return `At most ${String(p.limit)} at once.`;
    case 'additionalProperties':
      return `"${String(p.additionalProperty)}" is not a field here.`;
    default:
      return `${name} is not one of the values allowed.`;
  }
}

/** The field (dotted path; "" for the whole body) of each issue and its sentence. */
export function fieldErrors(issues: readonly ValidationIssue[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of issues) {
    const path = issue.instancePath.replace(/^\//, '').replace(/\//g, '.');
    const field = issue.keyword === 'required' ? [path, String(issue.params.missingProperty)].filter(Boolean).join('.') : path;
    out[field] ??= sentence(field, issue);
  }
  return out;
}
