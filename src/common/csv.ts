// CSV as spreadsheets read it (RFC 4180): a field with a comma, quote or line break is quoted.

export type CsvValue = string | number | boolean | null | undefined;

export function csvField(value: CsvValue): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One row, without the line break. */
export function csvRow(values: readonly CsvValue[]): string {
  return values.map(csvField).join(',');
}
