/**
 * Why a signing key cannot be loaded: one error type with a code and the file, whose message
 * is one line free of passwords and key bytes.
 *
 * @module
 */

/** Why a signing key could not be loaded. */
export type KeyLoadErrorCode =
  | "KEY_UNREADABLE"
  | "KEY_PASSWORD_REQUIRED"
  | "KEY_PASSWORD_WRONG"
  | "KEY_TYPE_UNSUPPORTED"
  | "KEY_FORMAT_UNSUPPORTED"
  | "KEY_TOO_SMALL"
  | "KEY_ID_FORMAT_UNSUPPORTED"
  | "CERTIFICATE_UNREADABLE"
  | "CERTIFICATE_INVALID"
  | "CERTIFICATE_KEY_MISMATCH";

/** A signing key that cannot be used; the message is one line, free of passwords and key bytes. */
export class KeyLoadError extends Error {
  override readonly name = "KeyLoadError";
  /** Machine-readable reason. */
  readonly code: KeyLoadErrorCode;
  /** The file the problem was found in. */
  readonly path: string;

  /**
   * @param code why loading failed
   * @param path the file at fault
   * @param message what the operator should fix
   */
  constructor(code: KeyLoadErrorCode, path: string, message: string) {
    super(message);
    this.code = code;
    this.path = path;
  }
}

export function unsupported(path: string, message: string): KeyLoadError {
  return new KeyLoadError("KEY_FORMAT_UNSUPPORTED", path, message);
}
