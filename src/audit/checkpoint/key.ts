import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config';

/**
 * The checkpoint authority: an Ed25519 key the database never sees, so someone who can rewrite
 * the database cannot re-sign its checkpoints. Checkpoints are also journaled under `journalDir`
 * (journal.ts), apart from the database.
 */
export interface CheckpointSigner {
  keyId: string;
  publicKeyPem: string;
  /** The directory of the checkpoint journals (one file per trail); undefined: not journaled. */
  journalDir?: string;
  sign(text: string): string;
}

export const auditDir = (dataDir: string) => path.join(dataDir, 'audit');
export const checkpointKeyPath = (dataDir: string) => path.join(auditDir(dataDir), 'checkpoint-key.pem');

/** `ed25519:` and the first 128 bits of the SHA-256 of the public key (SPKI DER), hex. */
export function keyIdOf(publicKeyPem: string): string {
  const der = crypto.createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return `ed25519:${crypto.createHash('sha256').update(der).digest('hex').slice(0, 32)}`;
}

export function signerFromPem(privateKeyPem: string, journalDir?: string): CheckpointSigner {
  const privateKey = crypto.createPrivateKey(privateKeyPem);
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`The audit checkpoint key must be an Ed25519 private key (got ${privateKey.asymmetricKeyType ?? 'unknown'}).`);
  }
  const publicKeyPem = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return {
    keyId: keyIdOf(publicKeyPem),
    publicKeyPem,
    journalDir,
    sign: (text) => crypto.sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64'),
  };
}

export function verifySignature(publicKeyPem: string, text: string, signatureB64: string): boolean {
  try {
    return crypto.verify(null, Buffer.from(text, 'utf8'), publicKeyPem, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}

/**
 * AUDIT_CHECKPOINT_KEY when set, else the key in DATA_DIR/audit, created on first use. Every
 * process sharing a database must sign with the same key: set AUDIT_CHECKPOINT_KEY, or share
 * DATA_DIR (the server and `npm run worker` on one host do).
 */
export function loadCheckpointSigner(config: Pick<Config, 'dataDir' | 'audit'>): CheckpointSigner {
  const journal = auditDir(config.dataDir);
  if (config.audit.checkpointKeyPem) return signerFromPem(config.audit.checkpointKeyPem, journal);
  const file = checkpointKeyPath(config.dataDir);
  if (fs.existsSync(file)) return signerFromPem(fs.readFileSync(file, 'utf8'), journal);
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  fs.mkdirSync(auditDir(config.dataDir), { recursive: true, mode: 0o700 });
  try {
    // wx: two processes starting together must not overwrite each other's key.
    fs.writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return signerFromPem(fs.readFileSync(file, 'utf8'), journal);
    throw err;
  }
  return signerFromPem(pem, journal);
}

/** The public key `verify` trusts by default: the configured or stored key, never a new one. */
export function localCheckpointPublicKey(config: Pick<Config, 'dataDir' | 'audit'>): string | null {
  if (config.audit.checkpointKeyPem) return signerFromPem(config.audit.checkpointKeyPem).publicKeyPem;
  const file = checkpointKeyPath(config.dataDir);
  return fs.existsSync(file) ? signerFromPem(fs.readFileSync(file, 'utf8')).publicKeyPem : null;
}

/** A pinned key file may hold the public key or (carelessly) the private one: accept both, keep only the public part. */
export function readPublicKeyFile(file: string): string {
  const text = fs.readFileSync(file, 'utf8');
  const key = /PRIVATE KEY/.test(text) ? crypto.createPublicKey(crypto.createPrivateKey(text)) : crypto.createPublicKey(text);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file} is not an Ed25519 key.`);
  return key.export({ type: 'spki', format: 'pem' }).toString();
}
