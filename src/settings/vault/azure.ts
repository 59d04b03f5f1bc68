import { fail, option, requestTimeout, type VaultBackend } from './backend.js';

/** Why a read failed, in words that name no value. */
function reason(error: unknown, where: string): string {
  const { name, statusCode, code, message } = error as { name?: string; statusCode?: number; code?: string; message?: string };
  if (statusCode === 404) return 'no value found (not found)';
  if (statusCode === 401 || statusCode === 403) return `Azure refused the credentials (HTTP ${statusCode})`;
  if (name === 'AuthenticationError' || name === 'AuthenticationRequiredError') return `Azure refused the credentials (${name})`;
  if (name === 'CredentialUnavailableError' || name === 'AggregateAuthenticationError') return 'no Azure credentials: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or run with a managed or workload identity';
  if (name === 'AbortError' || /aborted|timed? ?out/i.test(message ?? '')) return `Key Vault at ${where} did not answer in time`;
  if (code !== undefined && /^E[A-Z]+$/.test(code)) return `could not reach Key Vault at ${where} (${code})`;
  if (code === 'REQUEST_SEND_ERROR') return `could not reach Key Vault at ${where}`;
  return `Key Vault failed (${statusCode ? `HTTP ${statusCode}` : (name ?? 'error')})`;
}

/** A vault on this machine (a stand-in, an emulator): it has no Azure domain for the challenge's resource to match. */
function isLoopback(url: URL): boolean {
  return url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
}

/**
 * azure: Azure Key Vault secrets, as Kong's azure vault reads them:
 * {vault://azure/<secret-name>[/<json-field>][?version=<id>]}, the current
 * version unless one is named. vault.azure.vault_uri (else AZURE_VAULT_URI)
 * names the vault. Credentials: a service principal from
 * <credentials_prefix>_CLIENT_SECRET (prefix AZURE) with vault.azure.tenant_id
 * and client_id (else <prefix>_TENANT_ID, <prefix>_CLIENT_ID), as in Kong; else
 * the SDK's default chain (workload identity, managed identity, Azure CLI).
 */
export const azureBackend: VaultBackend = async (reference, { settings, env }) => {
  const get = (name: string): string | undefined => option(reference, settings, name);
  const vaultUri = get('vault_uri') ?? env.AZURE_VAULT_URI ?? fail('no Key Vault: set vault.azure.vault_uri or AZURE_VAULT_URI');
  const vaultUrl = URL.canParse(vaultUri) ? new URL(vaultUri) : fail(`vault.azure.vault_uri is not a URL: ${vaultUri}`);
  const prefix = get('credentials_prefix') ?? 'AZURE';
  const tenantId = get('tenant_id') ?? env[`${prefix}_TENANT_ID`];
  const clientId = get('client_id') ?? env[`${prefix}_CLIENT_ID`];
  const clientSecret = env[`${prefix}_CLIENT_SECRET`];
  const authorityHost = env.AZURE_AUTHORITY_HOST;
  // Loaded on first use: a node without azure references never pays for the SDK.
  const [{ SecretClient }, identity] = await Promise.all([import('@azure/keyvault-secrets'), import('@azure/identity')]);
  const credential =
    tenantId && clientId && clientSecret
      ? new identity.ClientSecretCredential(tenantId, clientId, clientSecret, { ...(authorityHost ? { authorityHost, disableInstanceDiscovery: true } : {}) })
      : new identity.DefaultAzureCredential();
  const client = new SecretClient(vaultUrl.toString(), credential, { retryOptions: { maxRetries: 1 }, disableChallengeResourceVerification: isLoopback(vaultUrl) });
  const where = vaultUrl.origin;
  try {
    // A version id is a property of one reference: there is no setting for it.
    const version = get('version');
    const secret = await client.getSecret(reference.resource, { ...(version ? { version } : {}), abortSignal: AbortSignal.timeout(requestTimeout(settings)) });
    return secret.value ?? fail('Key Vault answered without a secret value');
  } catch (error) {
    if ((error as Error).name === 'VaultReferenceError') throw error;
    return fail(reason(error, where));
  }
};
