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
