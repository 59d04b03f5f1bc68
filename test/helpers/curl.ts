import { execa } from 'execa';

/** curl https://localhost:PORT/PATH trusting only `ca`; stdout is the body, a newline, then the status code. */
export function curl(port: number, ca: string, args: string[], path = '/') {
  return execa('curl', ['-sS', '--cacert', ca, '-w', '\n%{http_code}', ...args, `https://localhost:${port}${path}`], { reject: false });
}

/** The status code of a curl() result. */
export function statusOf(result: { stdout: string }): string | undefined {
  return result.stdout.split('\n').at(-1);
}
