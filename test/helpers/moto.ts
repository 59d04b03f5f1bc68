// moto, the open-source implementation of the AWS APIs, from the machine's
// Python (`python3 -m moto.server`), on a loopback port: Secrets Manager, STS
// and IAM for the aws vault backend's tests. Authentication is enforced, as
// AWS does: the helper makes an IAM user with a key (moto lets the first
// requests after /moto-api/reset-auth through unsigned), and every later
// request must be signed with a key moto knows.
import { spawn } from 'node:child_process';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Test } from 'tap';
import { freePort } from './free-port.js';

export interface Moto {
  readonly endpoint: string;
  readonly region: string;
  /** An IAM user's key that may do everything. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** The environment a node needs to sign its requests with that key. */
  readonly env: Record<string, string>;
  createSecret(name: string, value: string): Promise<void>;
  /** A new current version; the old one becomes AWSPREVIOUS. */
  rotateSecret(name: string, value: string): Promise<void>;
  /** An IAM role that any principal may assume; its ARN. */
  createRole(name: string): Promise<string>;
}


export async function startMoto(t: Test): Promise<Moto> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const region = 'eu-west-1';
  const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  t.teardown(() => child.kill('SIGKILL'));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const up = await fetch(`${endpoint}/moto-api/`).then((answer) => answer.ok, () => false);
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`moto did not start on ${endpoint}: ${log}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  /** The next `count` requests go through unsigned; then moto checks every signature again. */
  const unsignedFor = async (count: number) => {
    const answer = await fetch(`${endpoint}/moto-api/reset-auth`, { method: 'POST', body: String(count) });
    if (!answer.ok) throw new Error(`moto reset-auth answered ${answer.status}`);
  };
  /** An IAM query API call, unsigned (within unsignedFor); its XML answer. */
  const iam = async (parameters: Record<string, string>) => {
    const answer = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `AWS4-HMAC-SHA256 Credential=setup/20260101/${region}/iam/aws4_request` },
      body: new URLSearchParams({ Version: '2010-05-08', ...parameters }),
    });
    const text = await answer.text();
    if (!answer.ok) throw new Error(`moto IAM ${parameters.Action} answered ${answer.status}: ${text}`);
    return text;
  };
  const tag = (xml: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)![1]!;
  await unsignedFor(3);
  await iam({ Action: 'CreateUser', UserName: 'securenode-test' });
  const key = await iam({ Action: 'CreateAccessKey', UserName: 'securenode-test' });
  const everything = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] });
  await iam({ Action: 'PutUserPolicy', UserName: 'securenode-test', PolicyName: 'everything', PolicyDocument: everything });
  const credentials = { accessKeyId: tag(key, 'AccessKeyId'), secretAccessKey: tag(key, 'SecretAccessKey') };
  // The SDK's notice that its 2027 releases need Node.js 22 is not what the tests look at.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const secrets = new SecretsManagerClient({ region, endpoint, credentials });
  t.teardown(() => secrets.destroy());
  return {
    endpoint,
    region,
    credentials,
    env: { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    createSecret: async (name, value) => void (await secrets.send(new CreateSecretCommand({ Name: name, SecretString: value }))),
    rotateSecret: async (name, value) => void (await secrets.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }))),
    createRole: async (name) => {
      await unsignedFor(2);
      const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' }] });
      const role = await iam({ Action: 'CreateRole', RoleName: name, AssumeRolePolicyDocument: trust });
      await iam({ Action: 'PutRolePolicy', RoleName: name, PolicyName: 'everything', PolicyDocument: everything });
      return tag(role, 'Arn');
    },
  };
}
