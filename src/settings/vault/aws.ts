import { fail, option, requestTimeout, type VaultBackend } from './backend.js';

/** Kong's version numbers: none or 1 is the current version, 2 the previous one. */
const stages: Readonly<Record<number, string>> = { 1: 'AWSCURRENT', 2: 'AWSPREVIOUS' };

/** The SDK's error names that mean the credentials (or the role) were refused. */
const refusedCredentials = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'InvalidClientTokenId',
  'ExpiredTokenException',
  'AccessDeniedException',
  'AccessDenied',
  'CredentialsProviderError',
]);

/** Why a read failed, in words that name no value: the SDK's messages name the secret id at most. */
function reason(error: unknown, where: string): string {
  const { name, code, message, $metadata, $response } = error as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number } };
  const status = $metadata?.httpStatusCode ?? $response?.statusCode;
  if (name === 'ResourceNotFoundException') return 'no value found (not found)';
  if (name === 'DecryptionFailure') return 'AWS could not decrypt the secret with its KMS key (DecryptionFailure)';
  if (name === 'CredentialsProviderError') return 'no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a web identity token (EKS) or an instance role';
  if (name !== undefined && refusedCredentials.has(name)) return `AWS refused the credentials (${name})`;
  // An answer the SDK could not read (some endpoints answer errors in XML): its HTTP status still says what happened.
  if (status === 401 || status === 403) return `AWS refused the credentials (HTTP ${status})`;
  if (name === 'TimeoutError' || name === 'RequestTimeout' || code === 'ETIMEDOUT') return `AWS Secrets Manager at ${where} did not answer in time`;
  if (code !== undefined) return `could not reach AWS Secrets Manager at ${where} (${code})`;
  if (name === 'InvalidRequestException' || name === 'InvalidParameterException') return `AWS refused the request (${name})`;
  return `AWS Secrets Manager failed (${name ?? message ?? 'error'})`;
}

/**
 * aws: AWS Secrets Manager, as Kong's aws vault reads it:
 * {vault://aws/<secret-id>[/<json-field>]}, #1 or none the current version
 * (AWSCURRENT), #2 the previous one (AWSPREVIOUS). Credentials come from the
 * SDK's standard chain (environment, shared profile, web identity for EKS,
 * container and instance metadata), or from STS with assume_role_arn. Each
 * setting vault.aws.<name> is also a per-reference ?<name>=.
 */
export const awsBackend: VaultBackend = async (reference, { settings, env }) => {
  const get = (name: string): string | undefined => option(reference, settings, name);
  if (reference.version !== undefined && stages[reference.version] === undefined) fail('invalid version for aws secret manager (1: AWSCURRENT, 2: AWSPREVIOUS)');
  const region = get('region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? fail('no AWS region: set vault.aws.region or AWS_REGION');
  const endpoint = get('endpoint_url');
  const roleArn = get('assume_role_arn');
  const stsEndpoint = get('sts_endpoint_url');
  // One attempt after the first, each bounded by vault.timeout: a missing network fails a start in seconds, not minutes.
  const timeout = requestTimeout(settings);
  const transport = { maxAttempts: 2, requestHandler: { connectionTimeout: Math.min(5_000, timeout), requestTimeout: timeout, throwOnRequestTimeout: true } };
  // Loaded on first use: a node without aws references never pays for the SDK.
  const [{ GetSecretValueCommand, SecretsManagerClient }, { fromTemporaryCredentials }] = await Promise.all([import('@aws-sdk/client-secrets-manager'), import('@aws-sdk/credential-providers')]);
  const credentials =
    roleArn === undefined
      ? undefined
      : fromTemporaryCredentials({
          params: { RoleArn: roleArn, RoleSessionName: get('role_session_name') ?? 'securenode' },
          clientConfig: { region, ...(stsEndpoint === undefined ? {} : { endpoint: stsEndpoint }), ...transport },
        });
  const client = new SecretsManagerClient({ region, ...(endpoint === undefined ? {} : { endpoint }), ...(credentials ? { credentials } : {}), ...transport });
  try {
    const answer = await client.send(new GetSecretValueCommand({ SecretId: reference.resource, VersionStage: stages[reference.version ?? 1] }));
    if (answer.SecretString !== undefined) return answer.SecretString;
    if (answer.SecretBinary !== undefined) return Buffer.from(answer.SecretBinary).toString('utf8');
    return fail('AWS Secrets Manager answered without a secret value');
  } catch (error) {
    if ((error as Error).name === 'VaultReferenceError') throw error;
    return fail(reason(error, endpoint ?? `the ${region} region`));
  } finally {
    client.destroy();
  }
};
