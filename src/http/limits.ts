/**
 * Size bounds of a request, shared by the transport (which enforces a hard ceiling while
 * parsing) and the application (which refuses with a readable registry error below it).
 *
 * @module
 */

/** Longest request URL accepted: 32 scopes of 255-character names fit comfortably. */
export const MAX_URL_LENGTH = 16 * 1024;
/** Most header bytes accepted: a large Authority token, a DPoP proof and ordinary headers. */
export const MAX_HEADER_BYTES = 32 * 1024;
/**
 * The transport's own header ceiling: twice the application's, so that a block just over
 * `MAX_HEADER_BYTES` still gets the registry-style `431` and anything larger is cut off while
 * it is being parsed, before it costs more memory.
 */
export const MAX_PARSED_HEADER_BYTES = 2 * MAX_HEADER_BYTES;
/** Largest `POST /token` form accepted: an Authority token plus a few dozen scopes. */
export const MAX_FORM_BYTES = 64 * 1024;
