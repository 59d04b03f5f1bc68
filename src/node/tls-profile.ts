import { constants } from 'node:crypto';

/**
 * Mozilla's "intermediate" server profile, for both ports: TLS 1.2 with ECDHE
 * and AEAD suites only (no static RSA key exchange, no CBC, no SHA-1 MACs),
 * TLS 1.3 with its own suites, and no renegotiation (a client-initiated one
 * is a cheap way to make the server do handshakes).
 */
export const intermediateTls = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
} as const;
