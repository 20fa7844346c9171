/**
 * Checking a user's password for a client: the one place every password login goes through —
 * the password grant and the Basic bridge on the resource path — so brute-force protection
 * applies to both alike.
 */
import type { ChainOutcome, ValidatorChain } from '../validators/chain.js';

/**
 * Validates `username`/`password` with the client's validator chain. Resolves `{valid:false}`
 * for every kind of refusal; throws ValidatorUnavailableError (or StoreUnavailableError) on
 * an outage, which never counts as a failed login.
 */
export type PasswordLogin = (clientId: string, username: string, password: string, clientIp: string) => Promise<ChainOutcome>;

export function createPasswordLogin(chainFor: (clientId: string) => ValidatorChain): PasswordLogin {
  return (clientId, username, password) => chainFor(clientId).validate(username.normalize('NFKC'), password);
}
