/**
 * `validators[].subjectPrefix`: the subjects of one validator, told apart from another's.
 *
 * With a prefix `ldap:`, the directory's `jdoe` is issued as `sub: ldap:jdoe` — in the token,
 * in introspection, in `X-Auth-Subject` upstream and for `revoke --subject ldap:jdoe` — while
 * the file validator's `jdoe` stays `jdoe` (or gets a prefix of its own). The validator itself
 * never sees the prefix: a refresh re-checks the subject without it. A subject without the
 * prefix (a token issued before the prefix was configured) re-checks as `gone`, so its family
 * is revoked at the next refresh: the user logs in again and gets the new subject.
 */
import type { PasswordValidator } from './types.js';

/** Letters, digits and `.:_@/-`: safe in a header value, a log line and a shell argument. */
export const SUBJECT_PREFIX = /^[A-Za-z0-9.:_@/-]*$/;

/** `validator` with `prefix` on every subject it issues ('' returns it unchanged). */
export function withSubjectPrefix(validator: PasswordValidator, prefix: string): PasswordValidator {
  if (prefix === '') return validator;
  return {
    get burnHash() {
      return validator.burnHash;
    },
    name: validator.name,
    type: validator.type,
    async validate(username, password) {
      const outcome = await validator.validate(username, password);
      if (outcome?.valid !== true || outcome.principal === undefined) return outcome;
      return { valid: true, principal: Object.freeze({ ...outcome.principal, subject: prefix + outcome.principal.subject }) };
    },
    ...(validator.imitateRefusal ? { imitateRefusal: () => validator.imitateRefusal!() } : {}),
    recheck: (subject) => (subject.startsWith(prefix) ? validator.recheck(subject.slice(prefix.length)) : Promise.resolve('gone')),
    health: () => validator.health(),
    close: () => validator.close(),
  };
}
