/**
 * Scope resolution (docs/validators.md, "Scopes and groups"): a client's scopes are its
 * ceiling; a scope named in any validator's groupScopes goes only to members of a group mapped
 * to it; a request is granted whole or refused (RFC 6749 §3.3, §5.2 invalid_scope).
 */
import { describe, expect, it } from 'vitest';
import { InvalidScopeError } from '../../src/oauth/errors.js';
import { checkScopeRequest, grantScope, refreshScope } from '../../src/oauth/scope.js';
import { ScopePolicy } from '../../src/oauth/scope-policy.js';

const policy = new ScopePolicy([
  { name: 'directory', groupScopes: { Admins: ['admin'], ops: ['ops', 'admin'] } },
  { name: 'local', groupScopes: {} },
]);
const intranet = { scopes: ['read', 'edit', 'admin'], defaultScopes: ['read', 'admin'] };
const mobile = { scopes: ['read'], defaultScopes: ['read'] };
const sorted = (s: Set<string>) => [...s].sort();

describe('ScopePolicy.grantable', () => {
  it('gates a scope named in groupScopes: a user outside the group does not get it, even though the client lists it', () => {
    expect(sorted(policy.grantable(intranet, 'directory', ['editors']))).toEqual(['edit', 'read']);
    expect(sorted(policy.grantable(intranet, 'directory', []))).toEqual(['edit', 'read']);
  });

  it('grants a gated scope to members of any group mapped to it, group names ignoring case', () => {
    expect(sorted(policy.grantable(intranet, 'directory', ['admins']))).toEqual(['admin', 'edit', 'read']);
    expect(sorted(policy.grantable(intranet, 'directory', ['OPS']))).toEqual(['admin', 'edit', 'read']);
  });

  it('never widens a client beyond its own scopes: an admin through a client with [read] gets read only', () => {
    expect(sorted(policy.grantable(mobile, 'directory', ['admins', 'ops']))).toEqual(['read']);
  });

  it("gates a scope through every validator: another validator's group of the same name does not earn it", () => {
    expect(sorted(policy.grantable(intranet, 'local', ['admins']))).toEqual(['edit', 'read']);
    expect(sorted(policy.grantable(intranet, 'no-longer-configured', ['admins']))).toEqual(['edit', 'read']);
  });

  it('lists the gated scopes', () => {
    expect(policy.gatedScopes).toEqual(['admin', 'ops']);
    expect(policy.isGated('read')).toBe(false);
  });
});

describe('checkScopeRequest (before any validator is asked)', () => {
  it("refuses a scope beyond the client's ceiling", () => {
    expect(() => checkScopeRequest(['read', 'delete'], intranet)).toThrow(new InvalidScopeError('scope "delete" is not allowed'));
    expect(() => checkScopeRequest(['admin'], mobile)).toThrow(InvalidScopeError);
    expect(() => checkScopeRequest(['read', 'admin'], intranet)).not.toThrow();
  });

  it('refuses a request without scope from a client without defaultScopes (RFC 6749 §3.3), never a token with scope ""', () => {
    const none = { scopes: ['read'], defaultScopes: [] };
    expect(() => checkScopeRequest(undefined, none)).toThrow(
      new InvalidScopeError('no scope was requested and the client has no default scope'),
    );
    expect(() => checkScopeRequest([], none)).toThrow(InvalidScopeError);
    expect(() => checkScopeRequest(undefined, intranet)).not.toThrow();
  });
});

describe('grantScope (once the user is known)', () => {
  const editor = policy.grantable(intranet, 'directory', ['editors']);
  const admin = policy.grantable(intranet, 'directory', ['admins']);

  it('grants a request whole, or refuses it naming the scope: never a silently narrower token', () => {
    expect(grantScope(['read', 'admin'], intranet.defaultScopes, admin)).toEqual(['read', 'admin']);
    expect(() => grantScope(['read', 'admin'], intranet.defaultScopes, editor)).toThrow(
      new InvalidScopeError('scope "admin" is not granted to this user'),
    );
  });

  it('grants the default scopes the user may have when none is requested', () => {
    expect(grantScope(undefined, intranet.defaultScopes, admin)).toEqual(['read', 'admin']);
    expect(grantScope(undefined, intranet.defaultScopes, editor)).toEqual(['read']);
  });

  it('refuses when the user may have none of the default scopes', () => {
    expect(() => grantScope(undefined, ['admin'], editor)).toThrow(InvalidScopeError);
  });
});

describe('refreshScope (RFC 6749 §6)', () => {
  it('keeps the original scope when nothing changed, and allows narrowing', () => {
    const all = new Set(['read', 'edit', 'admin']);
    expect(refreshScope(undefined, ['read', 'admin'], all)).toEqual({ scope: ['read', 'admin'], kept: ['read', 'admin'] });
    expect(refreshScope(['read'], ['read', 'admin'], all)).toEqual({ scope: ['read'], kept: ['read', 'admin'] });
  });

  it('never widens, even to a scope the user could have', () => {
    expect(() => refreshScope(['read', 'edit'], ['read'], new Set(['read', 'edit']))).toThrow(
      new InvalidScopeError('a refresh may narrow the scope, never widen it'),
    );
  });

  it('drops, for good, a scope the configuration no longer grants the user', () => {
    const now = new Set(['read']);
    expect(refreshScope(undefined, ['read', 'admin'], now)).toEqual({ scope: ['read'], kept: ['read'] });
    expect(() => refreshScope(['admin'], ['read', 'admin'], now)).toThrow(
      new InvalidScopeError('scope "admin" is no longer granted to this user'),
    );
    expect(() => refreshScope(undefined, ['admin'], now)).toThrow(InvalidScopeError);
  });
});
