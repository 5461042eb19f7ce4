import { TriadError } from '../core/errors.js';

/** Reads a credential variable by name; a missing one names the target and the variable, never a value. */
export function requireEnv(env: Record<string, string | undefined>, targetName: string, variable: string): string {
  const value = env[variable];
  if (value === undefined || value === '') {
    throw new TriadError('E_BACKEND_AUTH', `target "${targetName}": environment variable ${variable} is not set`, {
      hint: `export ${variable} before running triad (the policy names it for this target's credentials)`,
      details: { target: targetName, variable },
    });
  }
  return value;
}

/**
 * Prefixes of the environment variables the cloud SDKs read on their own (the default
 * credential chains: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_PROFILE…; AZURE_STORAGE_CONNECTION_STRING, AZURE_CLIENT_SECRET…;
 * GOOGLE_APPLICATION_CREDENTIALS, CLOUDSDK_*…), whether or not a policy names them.
 */
const SDK_CREDENTIAL_PREFIXES = ['AWS_', 'AZURE_', 'GOOGLE_', 'GCLOUD_', 'CLOUDSDK_'] as const;
/** Managed-identity endpoint and secret header (Azure App Service, Functions). */
const SDK_CREDENTIAL_NAMES = new Set(['IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'MSI_ENDPOINT', 'MSI_SECRET']);

/** Whether a cloud SDK may read credentials from this variable without being told to. */
export function isSdkCredentialVariable(name: string): boolean {
  return SDK_CREDENTIAL_NAMES.has(name) || SDK_CREDENTIAL_PREFIXES.some((p) => name.startsWith(p));
}
