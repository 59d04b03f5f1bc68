import { execa } from 'execa';

/** Run the openssl command; its exit code and output are the test's to check. */
export async function openssl(args: string[], input?: string | Buffer) {
  return execa('openssl', args, { reject: false, ...(input === undefined ? {} : { input }) });
}
