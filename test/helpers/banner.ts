/** The value on the line after a banner label (SPEC 3.2: label line, then the value alone, indented two spaces). */
export function bannerValue(output: string, label: string): string | undefined {
  const lines = output.split(/\r?\n/);
  const index = lines.findIndex((line) => line.includes(label));
  return index < 0 ? undefined : /^ {2}(\S+)$/.exec(lines[index + 1] ?? '')?.[1];
}
