/**
 * Stable error codes and the exit-code table (SPEC 10).
 *
 * Library code throws SecurenodeError with one of these codes; only cli/ maps a
 * code to a process exit code. Messages never carry a secret.
 */

/** Process exit codes, after BSD sysexits as Elasticsearch uses them. */
export const ExitCode = {
  ok: 0,
  unexpected: 1,
  usage: 64,
  dataError: 65,
  unavailable: 69,
  cantCreate: 73,
  ioError: 74,
  tempFailure: 75,
  config: 78,
  noop: 80,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Every code a SecurenodeError can carry, with the exit code the CLI uses for it. */
export const errorExitCodes = {
  ERR_USAGE: ExitCode.usage,
  ERR_CA_ROTATION: ExitCode.usage,
  ERR_CONFIG_SYNTAX: ExitCode.config,
  ERR_CONFIG_UNKNOWN_KEY: ExitCode.config,
  ERR_CONFIG_INVALID_VALUE: ExitCode.config,
  ERR_CONFIG_DUPLICATE_KEY: ExitCode.config,
  ERR_CONFIG_MISSING: ExitCode.config,
  ERR_KEYSTORE_MISSING: ExitCode.config,
  ERR_KEYSTORE_EXISTS: ExitCode.cantCreate,
  ERR_KEYSTORE_WRONG_PASSWORD: ExitCode.dataError,
  ERR_KEYSTORE_CORRUPT: ExitCode.dataError,
  ERR_KEYSTORE_PASSWORD_REQUIRED: ExitCode.dataError,
  ERR_KEYSTORE_SETTING_MISSING: ExitCode.config,
  ERR_KEYSTORE_SETTING_EXISTS: ExitCode.cantCreate,
  ERR_KEYSTORE_SETTING_NAME: ExitCode.usage,
  ERR_PASSWORDS_DIFFER: ExitCode.dataError,
  ERR_INPUT_MISSING: ExitCode.dataError,
  ERR_STORE_CORRUPT: ExitCode.dataError,
  ERR_STORE_UNAVAILABLE: ExitCode.unavailable,
  ERR_STORE_CONFIG: ExitCode.config,
  ERR_NODE_LOCKED: ExitCode.tempFailure,
  ERR_ROOT: ExitCode.config,
  ERR_BOOTSTRAP_PASSWORD: ExitCode.config,
  ERR_TLS_MATERIAL: ExitCode.config,
  ERR_VAULT: ExitCode.config,
  ERR_FILE_MODES: ExitCode.config,
  ERR_CONFIG_OWNER: ExitCode.config,
  ERR_RESET_FAILED: ExitCode.tempFailure,
  ERR_LISTEN: ExitCode.unavailable,
  ERR_ENROLLMENT_TOKEN: ExitCode.dataError,
  ERR_ENROLLMENT_UNREACHABLE: ExitCode.unavailable,
  ERR_ENROLLMENT_DISABLED: ExitCode.config,
  ERR_ENROLLMENT_FAILED: ExitCode.cantCreate,
  ERR_PREFLIGHT_CONFIG: ExitCode.config,
  ERR_PREFLIGHT_NOT_NEW: ExitCode.noop,
  ERR_IO: ExitCode.ioError,
  ERR_CANT_CREATE: ExitCode.cantCreate,
} as const;

export type ErrorCode = keyof typeof errorExitCodes;

/** A failure of the world or of input, with a stable code that callers can switch on. */
export class SecurenodeError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecurenodeError';
    this.code = code;
  }

  /** The process exit code that cli/ uses for this error. */
  get exitCode(): ExitCodeValue {
    return errorExitCodes[this.code];
  }
}

/** Whether a value is a SecurenodeError carrying the given code (any code when omitted). */
export function isSecurenodeError(value: unknown, code?: ErrorCode): value is SecurenodeError {
  return value instanceof SecurenodeError && (code === undefined || value.code === code);
}
