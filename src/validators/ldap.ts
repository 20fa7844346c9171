/**
 * The `ldap` password credential validator (docs/validators.md), PingFederate's LDAP PCV:
 *
 * - **search-then-bind** (default): a pooled connection bound as the service account
 *   searches `userSearchBase` with `userSearchFilter` (`{username}` escaped per RFC 4515);
 *   exactly one entry must match; then that entry's DN is bound with the user's password on a
 *   connection of the separate bind pool. A login costs one search and one bind.
 * - **direct bind** (`userDnTemplate`, `{username}` escaped per RFC 4514): the user's DN is
 *   bound directly; the entry and its groups are then read with the user's own bind.
 *
 * Outcomes: no entry found is `unknown-user` (the chain may ask the next validator); a wrong
 * password, an ambiguous or disabled entry is `invalid-password` (the chain stops). A
 * directory that is unreachable, times out, or refuses the service account throws
 * {@link ValidatorUnavailableError}: 503, never a failed login. No ldapts error crosses this
 * interface.
 *
 * Enumeration: an unknown user (or one matching twice) still costs one bind:
 * the password is bound against a DN that does not exist (a random `cn` under
 * `userSearchBase`), which the directory refuses as it refuses a wrong password. So every
 * refusal is one search plus one bind, on the same pools, in about the same time. A disabled
 * user is found, bound like any other, and `disabledFilter` is checked only after a bind that
 * succeeded: a wrong password costs the same whether the entry is disabled or not.
 *
 * An empty password is refused before the directory is touched: a simple bind with a DN and an
 * empty password is an *unauthenticated* bind (RFC 4513 §5.1.2), which many servers accept.
 *
 * Directory states: every user bind carries the password policy request control, and what the
 * answer's controls say is judged by ldap-bind-state.ts into a refusal's `state` (and whether the
 * directory proved the password) or a success's expiry `warnings` (docs/validators.md,
 * "Directory states"). A disabled entry (`disabledFilter`) after a bind that succeeded is
 * `account_disabled` with the password proven.
 *
 * Password change ({@link LdapValidator.changePassword}): the user's own bind with the old
 * password, then the password modify extended operation (RFC 3062) on that connection, so the
 * directory applies its policy to the user itself, as `passwd` would.
 */
import { randomBytes } from 'node:crypto';
import {
  AndFilter,
  EqualityFilter,
  FilterParser,
  InsufficientAccessError,
  InvalidCredentialsError,
  InvalidDNSyntaxError,
  NoSuchObjectError,
  NotFilter,
  ResultCodeError,
  type Entry,
  type Filter,
} from 'ldapts';
import type { LdapValidatorConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { ldapSpan } from '../observability/tracing.js';
import { canonicalUsername, registerAdDomain } from '../security/canonical-username.js';
import { adBindRefusal, adChangePassword, adEntryRefusal } from './ad-account.js';
import { binaryDecoder, binaryValue, BINARY_ATTRIBUTES } from './ad-binary.js';
import { DomainControllers } from './ad-discovery.js';
import { parseAdLogin } from './ad-names.js';
import { describeLdapError, LdapConnector, type LdapConnection } from './ldap-connection.js';
import { escapeDnValue, escapeFilterValue, fillTemplate, firstRdnValue } from './ldap-escape.js';
import { LdapPool } from './ldap-pool.js';
import { judgeBind, type BindVerdict, type UserBind } from './ldap-bind-state.js';
import { encodePasswordModify, PASSWORD_MODIFY_OID, PolicyControls, type PolicyError } from './ldap-password-policy.js';
import { checkSettings, type Settings } from './ldap-settings.js';
import {
  INVALID_PASSWORD,
  UNKNOWN_USER,
  ValidatorUnavailableError,
  type PasswordChangeOutcome,
  type PasswordPolicyFailure,
  type PasswordValidator,
  type Principal,
  type RecheckOutcome,
  type ValidationOutcome,
  type ValidatorHealth,
} from './types.js';

/** Tuning that is not configuration; tests shorten it. */
export interface LdapValidatorOptions {
  /** A URL that failed is tried after the others for this long (default 30 000 ms). */
  readonly retryFailedUrlAfterMs?: number;
  /** DNS servers for Active Directory discovery (`host:port`); the system's by default. */
  readonly dnsServers?: readonly string[];
}

/** The longest a health check keeps `/readyz` waiting. */
const HEALTH_WAIT_MS = 1000;
/**
 * Usernames a directory would match as another spelling of some user: RFC 4518 string
 * preparation drops ignorable code points and controls, makes spaces at the ends insignificant
 * and collapses runs of them. Refused, so that one user has one spelling and lockout counters
 * cannot be sidestepped with `" alice"` or `"al\u00adice"`. Lone surrogates cannot be sent.
 */
const UNPREPARED = /^ | $| {2}|[^\S ]|[\p{Cc}\p{Cf}\p{Cs}\p{Default_Ignorable_Code_Point}]/u;

export class LdapValidator implements PasswordValidator {
  readonly type = 'ldap';
  readonly name: string;
  readonly #settings: Settings;
  readonly #config: LdapValidatorConfig;
  readonly #log: Logger;
  /** Bound as the service account (or anonymous without `bindDn`); only ever searches. */
  readonly #service: LdapPool;
  /** Only ever carries user binds (and direct-bind mode's reads right after them). */
  readonly #binds: LdapPool;
  /** Bound with the password of unknown users; see the module comment. */
  readonly #noSuchUserDn: string;
  #healthCheck: Promise<ValidatorHealth> | undefined;

  private constructor(settings: Settings, logger: Logger, options: LdapValidatorOptions) {
    const { config } = settings;
    this.name = config.name;
    this.#settings = settings;
    this.#config = config;
    this.#log = logger.child({ validator: config.name });
    // Active Directory: domain controllers from DNS SRV records first (ad-discovery.ts).
    const discovered =
      settings.ad && settings.ad.discovery !== 'off'
        ? new DomainControllers(
            settings.ad.names.domain,
            settings.ad.discovery,
            options.dnsServers ? { dnsServers: options.dnsServers } : {},
          )
        : undefined;
    const connector = new LdapConnector({
      urls: config.urls,
      ...(discovered ? { resolveUrls: () => discovered.urls() } : {}),
      startTls: config.startTls,
      tls: { rejectUnauthorized: config.tlsRejectUnauthorized, ...(settings.ca ? { ca: settings.ca } : {}) },
      timeoutMs: config.timeoutMs,
      retryFailedUrlAfterMs: options.retryFailedUrlAfterMs ?? 30_000,
      onUrlFailed: (url, reason) =>
        this.#log.warn({ url, reason }, 'LDAP server did not answer; the other URLs are tried first for a while'),
      onUrlRecovered: (url) => this.#log.info({ url }, 'LDAP server answers again'),
    });
    const serviceBind = config.bindDn ? (c: LdapConnection) => c.bind(config.bindDn, config.bindPassword) : undefined;
    const pool = { connector, size: config.poolSize, waitMs: config.timeoutMs };
    this.#service = new LdapPool({ ...pool, ...(serviceBind ? { prepare: serviceBind } : {}) });
    this.#binds = new LdapPool(pool);
    this.#noSuchUserDn = `cn=ropc-gateway-no-such-user-${randomBytes(12).toString('hex')},${config.userSearchBase}`;
  }

  /**
   * Checks the configuration (every problem at once) and reads the CA file. Does not connect:
   * the gateway starts while the directory is down, and logins answer 503 until it is back.
   * @throws LdapConfigError with one line per problem.
   */
  static async open(raw: LdapValidatorConfig, logger: Logger, options: LdapValidatorOptions = {}): Promise<LdapValidator> {
    const settings = await checkSettings(raw);
    const { config } = settings;
    const validator = new LdapValidator(settings, logger, options);
    const log = validator.#log;
    if (!config.startTls && config.urls.some((u) => /^ldap:/i.test(u))) {
      log.warn({ urls: config.urls }, 'plain ldap:// without startTls: passwords cross the network in clear');
    }
    if (!config.tlsRejectUnauthorized) log.warn('tlsRejectUnauthorized is false: the directory certificate is not verified');
    if (settings.ad) registerAdDomain(validator, settings.ad.names);
    log.info({ urls: config.urls, mode: settings.mode, directory: config.directory }, 'LDAP validator ready');
    return validator;
  }

  /**
   * `unknown-user` only when the directory says no entry has the name (search-then-bind: the
   * search finds none; direct bind: see {@link #directRefusal}). Everything else that is
   * refused — a wrong password, a disabled or ambiguous entry, an empty password, a spelling
   * the directory would fold into another name — is `invalid-password`: the chain stops.
   */
  async validate(username: string, password: string): Promise<ValidationOutcome> {
    const name = this.#acceptable(username, password);
    if (name === undefined) return INVALID_PASSWORD;
    if (this.#settings.ad) {
      // Active Directory: CORP\alice, alice@corp.example.com and alice name one account.
      const login = parseAdLogin(name, this.#settings.ad.names);
      if (login === 'foreign') return UNKNOWN_USER;
      return this.#searchThenBind(login.account, password, { upn: login.upn });
    }
    return this.#settings.mode === 'direct' ? this.#directBind(name, password) : this.#searchThenBind(name, password);
  }

  /**
   * Changes the password of `username`, proving `oldPassword` with the user's own bind: a
   * refusal of that bind is answered as a login's would be (`refused`); the directory's policy
   * refusing `newPassword` is `policy`. An expired password without grace logins cannot bind,
   * so it is refused `password_expired`: such a policy needs `pwdGraceAuthNLimit` for users to
   * change their own expired passwords (docs/validators.md, "Changing a password").
   * @throws ValidatorUnavailableError when the directory cannot answer, or when the
   *   connection is not encrypted and `passwordChangeWithoutTls` is off.
   */
  async changePassword(username: string, oldPassword: string, newPassword: string): Promise<PasswordChangeOutcome> {
    const { config } = this.#settings;
    if (!config.passwordChangeWithoutTls && !config.startTls && config.urls.some((u) => /^ldap:/i.test(u))) {
      throw new ValidatorUnavailableError(
        this.name,
        'password change refused: the directory connection is not encrypted (use ldaps:// or startTls; passwordChangeWithoutTls is for tests)',
      );
    }
    if (this.#settings.ad) return this.#changeAdPassword(this.#settings.ad, username, oldPassword, newPassword);
    const name = this.#acceptable(username, oldPassword);
    if (name === undefined || newPassword === '') return { changed: false, refused: REFUSED_INVALID };
    let dn: string;
    if (this.#settings.mode === 'direct') {
      dn = fillTemplate(config.userDnTemplate, { username: name }, escapeDnValue);
    } else {
      const entry = await this.#findUser(name);
      if (entry === 'none' || entry === 'ambiguous') {
        await this.#bindUser(this.#noSuchUserDn, oldPassword, 'search');
        return { changed: false, refused: entry === 'none' ? REFUSED_UNKNOWN : REFUSED_INVALID };
      }
      dn = entry.dn;
    }
    const mode = this.#settings.mode === 'direct' ? 'direct' : 'search';
    const result = await this.#call('changing a password', () =>
      this.#binds.use(async (c): Promise<PasswordChangeOutcome | 'refused-direct'> => {
        const bind = await bindAs(c, dn, oldPassword, mode);
        if (bind.status === 'no-such-dn') return { changed: false, refused: REFUSED_UNKNOWN };
        const verdict = judgeBind(bind);
        // A success, or must-change (a pwdReset bind allows exactly this operation).
        const mayChange = verdict.ok || verdict.state === 'password_change_required';
        if (!mayChange)
          return bind.status === 'refused' && mode === 'direct' && verdict.state === undefined
            ? 'refused-direct'
            : { changed: false, refused: refusal(verdict) };
        return modifyPassword(c, oldPassword, newPassword);
      }),
    );
    if (result === 'refused-direct') return { changed: false, refused: (await this.#directRefusal(dn)) as Refusal };
    if (result.changed) this.#log.info({ event: 'password_changed' }, 'a user changed their password in the directory');
    return result;
  }

  /**
   * Active Directory (docs/active-directory.md, "Changing a password"): the user's own bind,
   * then unicodePwd delete-old/add-new.
   */
  async #changeAdPassword(
    ad: NonNullable<Settings['ad']>,
    username: string,
    oldPassword: string,
    newPassword: string,
  ): Promise<PasswordChangeOutcome> {
    const refused = (outcome: ValidationOutcome): PasswordChangeOutcome => ({ changed: false, refused: outcome as Refusal });
    const name = this.#acceptable(username, oldPassword);
    if (name === undefined || newPassword === '') return refused(INVALID_PASSWORD);
    const login = parseAdLogin(name, ad.names);
    if (login === 'foreign') return refused(UNKNOWN_USER);
    const entry = await this.#findUser(login.account, { upn: login.upn });
    if (entry === 'none' || entry === 'ambiguous') {
      await this.#bindUser(this.#noSuchUserDn, oldPassword, 'search');
      return refused(entry === 'none' ? UNKNOWN_USER : INVALID_PASSWORD);
    }
    const service = <T>(task: (c: LdapConnection) => Promise<T>): Promise<T> => this.#service.use(task);
    const result = await this.#call('changing a password', () =>
      this.#binds.use((c) => adChangePassword(c, entry.dn, oldPassword, newPassword, service)),
    );
    if (result.changed) this.#log.info({ event: 'password_changed' }, 'a user changed their password in the directory');
    return result;
  }

  /** The canonical name to look up, or undefined when the attempt is refused without the directory. */
  #acceptable(username: string, password: string): string | undefined {
    // RFC 4513 §5.1.2: a DN with an empty password is an unauthenticated bind; never send one.
    if (password === '') return undefined;
    const name = canonicalUsername(username, this.#config.caseSensitive);
    if (name === '' || UNPREPARED.test(name)) return undefined;
    return name;
  }

  /**
   * Searches the subject (`subjectAttribute`, escaped) with the service account: `gone` when no
   * entry has it or it matches `disabledFilter`. In direct-bind mode without a service
   * account there is nobody to search as: `unsupported`.
   */
  async recheck(subject: string): Promise<RecheckOutcome> {
    const { config } = this.#settings;
    if (this.#settings.mode === 'direct' && !config.bindDn) return 'unsupported';
    // objectGUID / objectSid subjects are searched by their bytes (ad-binary.ts).
    const bytes = binaryDecoder(config.subjectAttribute) ? binaryValue(config.subjectAttribute, subject) : undefined;
    if (binaryDecoder(config.subjectAttribute) && bytes === undefined) return 'gone';
    const filter = bytes
      ? this.#binaryFilter(config.subjectAttribute, bytes)
      : this.#withoutDisabled(`(${config.subjectAttribute}=${escapeFilterValue(subject)})`);
    const [base, scope] = config.userSearchBase
      ? [config.userSearchBase, 'sub' as const]
      : [fillTemplate(config.userDnTemplate, { username: subject }, escapeDnValue), 'base' as const];
    const entries = await this.#call('re-checking a subject', () =>
      this.#service.use((c) =>
        c.search(base, { scope, filter, attributes: ['1.1'], sizeLimit: 1 }).catch((err: unknown) => {
          // A base-scope read of a DN that no longer exists.
          if (scope === 'base' && err instanceof NoSuchObjectError) return [];
          throw err;
        }),
      ),
    );
    return entries.length > 0 ? 'active' : 'gone';
  }

  /**
   * One root DSE read on a service connection. `/readyz` waits at most {@link HEALTH_WAIT_MS}
   * (a probe's own timeout is often 1 s); a check still running then is shared by the next
   * calls instead of piling up.
   */
  async health(): Promise<ValidatorHealth> {
    const wait = Math.min(this.#config.timeoutMs, HEALTH_WAIT_MS);
    this.#healthCheck ??= this.#checkHealth().finally(() => {
      this.#healthCheck = undefined;
    });
    const late: ValidatorHealth = { name: this.name, type: this.type, status: 'down', detail: `no answer within ${wait} ms` };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<ValidatorHealth>((resolve) => (timer = setTimeout(() => resolve(late), wait)));
    try {
      return await Promise.race([this.#healthCheck, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #checkHealth(): Promise<ValidatorHealth> {
    const base = { name: this.name, type: this.type };
    try {
      await this.#call('health check', () =>
        this.#service.use((c) => c.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['1.1'] })),
      );
      return { ...base, status: 'up', detail: `${this.#service.lastUrl ?? ''} answers` };
    } catch (err) {
      const reason =
        err instanceof ValidatorUnavailableError ? err.message.replace(/^validator \S+ unavailable: /, '') : describeLdapError(err);
      return { ...base, status: 'down', detail: reason };
    }
  }

  async close(): Promise<void> {
    registerAdDomain(this, undefined);
    await Promise.all([this.#service.close(), this.#binds.close()]);
  }

  // -------------------------------------------------------------------------------------------

  async #searchThenBind(name: string, password: string, extra: Readonly<Record<string, string>> = {}): Promise<ValidationOutcome> {
    const { config } = this.#settings;
    const entry = await this.#findUser(name, extra);
    if (entry === 'none' || entry === 'ambiguous') {
      await this.#bindUser(this.#noSuchUserDn, password, 'search');
      return entry === 'none' ? UNKNOWN_USER : INVALID_PASSWORD;
    }
    const bind = await this.#bindUser(entry.dn, password, 'search');
    if (this.#settings.ad) {
      // Active Directory: a refused bind's sub-code (ad-account.ts), then the entry's
      // account-control bits, which AD reports for a proven password only.
      if (bind.status !== 'bound') return bind.status === 'refused' ? adBindRefusal(bind.diagnostic ?? '') : INVALID_PASSWORD;
      const state = adEntryRefusal(values(entry, 'userAccountControl')[0], values(entry, 'msDS-User-Account-Control-Computed')[0]);
      if (state) return state;
    }
    const verdict = judgeBind(bind);
    if (!verdict.ok) return refusal(verdict);
    // Only a bind that succeeded pays for the disabledFilter search: a wrong password costs the
    // same whether the entry is disabled or not, and so does a refused bind with a state (an
    // extra search there would time a proven password where the answer hides it).
    if (config.disabledFilter && (await this.#isDisabled(entry.dn))) return DISABLED;
    const groups = await this.#groups(entry, name, undefined);
    return withWarnings({ valid: true, principal: this.#principal(entry, groups) }, verdict);
  }

  /**
   * The one entry the user filter finds. The filter is without disabledFilter: a disabled user
   * is still this directory's user, so the chain must stop at it (disabledFilter is checked
   * after the bind). sizeLimit 2: enough to tell "exactly one" from "more than one".
   */
  async #findUser(name: string, extra: Readonly<Record<string, string>> = {}): Promise<Entry | 'none' | 'ambiguous'> {
    const { config, userAttributes } = this.#settings;
    const filter = fillTemplate(config.userSearchFilter, { ...extra, username: name }, escapeFilterValue);
    const entries = await this.#call('searching the user', () =>
      this.#service.use((c) =>
        c.search(config.userSearchBase, {
          scope: 'sub',
          filter,
          attributes: userAttributes,
          sizeLimit: 2,
          explicitBufferAttributes: BUFFER_ATTRIBUTES,
        }),
      ),
    );
    if (entries.length === 1) return entries[0]!;
    if (entries.length > 1) {
      this.#log.warn(
        { dns: entries.map((e) => e.dn) },
        'the user search matched more than one entry; login refused (make userSearchFilter unique)',
      );
      return 'ambiguous';
    }
    return 'none';
  }

  async #directBind(name: string, password: string): Promise<ValidationOutcome> {
    const { config, userAttributes } = this.#settings;
    const dn = fillTemplate(config.userDnTemplate, { username: name }, escapeDnValue);
    return this.#call('direct bind', () =>
      this.#binds.use(async (c): Promise<ValidationOutcome | null> => {
        const bind = await bindAs(c, dn, password, 'direct');
        if (bind.status === 'no-such-dn') return UNKNOWN_USER;
        const verdict = judgeBind(bind);
        if (!verdict.ok) return verdict.state === undefined ? null : refusal(verdict);
        // The user reads its own entry: gone from the answer when it matches disabledFilter.
        const filter = config.disabledFilter ? `(!${config.disabledFilter})` : '(objectClass=*)';
        const entry = (await c.search(dn, { scope: 'base', filter, attributes: userAttributes }))[0];
        if (entry === undefined) return config.disabledFilter ? DISABLED : INVALID_PASSWORD;
        const groups = await this.#groups(entry, name, c);
        return withWarnings({ valid: true, principal: this.#principal(entry, groups) }, verdict);
      }),
    ).then((outcome) => outcome ?? this.#directRefusal(dn));
  }

  /**
   * A direct bind refused with invalidCredentials cannot tell an unknown DN from a wrong
   * password. With a service account the DN is looked up: no entry is `unknown-user`. Without
   * one the validator cannot tell and answers `invalid-password`, so the chain stops: a direct
   * bind validator without `bindDn` owns every name (docs/validators.md, "The chain").
   */
  async #directRefusal(dn: string): Promise<ValidationOutcome> {
    if (!this.#config.bindDn) return INVALID_PASSWORD;
    const entries = await this.#call('looking up a refused DN', () =>
      this.#service.use((c) =>
        c.search(dn, { scope: 'base', filter: '(objectClass=*)', attributes: ['1.1'] }).catch((err: unknown) => {
          if (err instanceof NoSuchObjectError) return [];
          throw err;
        }),
      ),
    );
    return entries.length === 0 ? UNKNOWN_USER : INVALID_PASSWORD;
  }

  /** True when the entry matches `disabledFilter` (a base search with the service account). */
  async #isDisabled(dn: string): Promise<boolean> {
    const filter = `(!${this.#config.disabledFilter})`;
    const entries = await this.#call('checking disabledFilter', () =>
      this.#service.use((c) => c.search(dn, { scope: 'base', filter, attributes: ['1.1'] })),
    );
    return entries.length === 0;
  }

  /** Binds `dn` on the bind pool, with the password policy controls. */
  async #bindUser(dn: string, password: string, mode: 'search' | 'direct'): Promise<UserBind> {
    return this.#call('binding the user', () => this.#binds.use((c) => bindAs(c, dn, password, mode)));
  }

  /** Group names from `memberOfAttribute`, or from a group search (none when neither is set). */
  async #groups(entry: Entry, name: string, userConnection: LdapConnection | undefined): Promise<string[]> {
    const { groups } = this.#settings;
    if (groups.memberOfAttribute) {
      return unique(values(entry, groups.memberOfAttribute).flatMap((dn) => firstRdnValue(dn) ?? []));
    }
    if (!groups.searchBase) return [];
    const filter = fillTemplate(groups.searchFilter, { dn: entry.dn, username: name }, escapeFilterValue);
    const search = (c: LdapConnection): Promise<Entry[]> =>
      c.search(groups.searchBase, { scope: 'sub', filter, attributes: [groups.nameAttribute] });
    const found = userConnection ? await search(userConnection) : await this.#call('searching groups', () => this.#service.use(search));
    return unique(found.flatMap((g) => values(g, groups.nameAttribute)[0] ?? firstRdnValue(g.dn) ?? []));
  }

  #principal(entry: Entry, groups: readonly string[]): Principal {
    const { config } = this.#settings;
    const subject = values(entry, config.subjectAttribute)[0];
    if (subject === undefined || subject === '') {
      throw new ValidatorUnavailableError(
        this.name,
        `the user entry has no ${config.subjectAttribute} (subjectAttribute); check the configuration`,
      );
    }
    const attributes: Record<string, string> = {};
    for (const [key, attribute] of Object.entries(config.attributes)) {
      const value = values(entry, attribute)[0];
      if (value !== undefined) attributes[key] = value;
    }
    return Object.freeze({ subject, groups: Object.freeze([...groups]), attributes: Object.freeze(attributes) });
  }

  /** `(attribute=bytes)` without disabledFilter's entries, as a filter object (ad-binary.ts). */
  #binaryFilter(attribute: string, bytes: Buffer): Filter {
    const equality = new EqualityFilter({ attribute, value: bytes });
    const disabled = this.#config.disabledFilter;
    return disabled ? new AndFilter({ filters: [equality, new NotFilter({ filter: FilterParser.parseString(disabled) })] }) : equality;
  }

  #withoutDisabled(filter: string): string {
    const disabled = this.#config.disabledFilter;
    return disabled ? `(&${filter}(!${disabled}))` : filter;
  }

  /** Runs a directory call; anything but our own outage error becomes one, with a log-safe reason. */
  async #call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await ldapSpan(what, run);
    } catch (err) {
      if (err instanceof ValidatorUnavailableError) throw err;
      // User binds answer false on InvalidCredentials, so one that gets here is the service bind.
      const hint = err instanceof InvalidCredentialsError ? ' (the service account bind was refused: check bindDn and bindPassword)' : '';
      throw new ValidatorUnavailableError(this.name, `${what}: ${describeLdapError(err)}${hint}`, { cause: err });
    }
  }
}

/** A refusal outcome. */
type Refusal = Extract<ValidationOutcome, { valid: false }>;
const REFUSED_UNKNOWN = UNKNOWN_USER as Refusal;
const REFUSED_INVALID = INVALID_PASSWORD as Refusal;

/** A disabled entry whose password the bind proved. */
const DISABLED: ValidationOutcome = Object.freeze({
  valid: false,
  reason: 'invalid-password',
  state: 'account_disabled',
  passwordVerified: true,
});

/** A refused bind's outcome: the plain refusal when the directory said nothing more. */
function refusal(verdict: BindVerdict & { ok: false }): Refusal {
  if (verdict.state === undefined) return REFUSED_INVALID;
  return { valid: false, reason: 'invalid-password', state: verdict.state, passwordVerified: verdict.passwordVerified };
}

function withWarnings(outcome: ValidationOutcome & { valid: true }, verdict: BindVerdict & { ok: true }): ValidationOutcome {
  return verdict.warnings ? { ...outcome, warnings: verdict.warnings } : outcome;
}

/**
 * Binds as a user, with the password policy request control. InvalidCredentials means a wrong
 * password (or, for the made-up DN, an unknown user) unless the controls say more
 * (ldap-bind-state.ts). In direct-bind mode the DN comes from the username, so a DN the server
 * cannot parse or does not know is the user's mistake too (`no-such-dn`: no such user); in
 * search mode it came from the directory.
 */
async function bindAs(connection: LdapConnection, dn: string, password: string, mode: 'search' | 'direct'): Promise<UserBind> {
  const controls = new PolicyControls();
  try {
    await connection.bind(dn, password, controls.forRequest());
    return { status: 'bound', answer: controls.answer() };
  } catch (err) {
    if (err instanceof InvalidCredentialsError) return { status: 'refused', answer: controls.answer(), diagnostic: diagnosticOf(err) };
    if (mode === 'direct' && (err instanceof InvalidDNSyntaxError || err instanceof NoSuchObjectError))
      return { status: 'no-such-dn', answer: controls.answer() };
    throw err;
  }
}

/** The server's diagnostic message of a result (ldapts appends ` Code: 0x..`). */
function diagnosticOf(err: ResultCodeError): string {
  return err.message.replace(/ Code: 0x[0-9a-f]+$/i, '').trim();
}

/** ppolicy's errors on a password modify, in the shared vocabulary. */
const POLICY_FAILURES: Partial<Record<PolicyError, PasswordPolicyFailure>> = {
  passwordTooShort: 'too_short',
  passwordInHistory: 'in_history',
  passwordTooYoung: 'too_young',
  insufficientPasswordQuality: 'insufficient_quality',
  passwordModNotAllowed: 'mod_not_allowed',
  mustSupplyOldPassword: 'must_supply_old_password',
};

/**
 * The RFC 3062 password modify of the bound user, old and new password given. A refusal with
 * a result code is the policy's (the control names which rule when the directory sends it);
 * anything else (a lost connection, a timeout) is thrown on as an outage.
 */
async function modifyPassword(connection: LdapConnection, oldPassword: string, newPassword: string): Promise<PasswordChangeOutcome> {
  const controls = new PolicyControls();
  try {
    await connection.exop(PASSWORD_MODIFY_OID, encodePasswordModify({ oldPassword, newPassword }), controls.forRequest());
    return { changed: true };
  } catch (err) {
    if (!(err instanceof ResultCodeError)) throw err;
    // The old password was proven by the bind; refused here it means the entry changed since.
    if (err instanceof InvalidCredentialsError) return { changed: false, refused: REFUSED_INVALID };
    const error = controls.answer().policy?.error;
    const known = error === undefined || error === 'unknown' ? undefined : POLICY_FAILURES[error];
    const policy: PasswordPolicyFailure = known ?? (err instanceof InsufficientAccessError ? 'mod_not_allowed' : 'rejected');
    const detail = diagnosticOf(err).slice(0, 200);
    return { changed: false, policy, ...(detail ? { detail } : {}) };
  }
}

/** Binary identifiers ldapts must return as bytes (ad-binary.ts): objectGUID, objectSid. */
const BUFFER_ATTRIBUTES = Object.keys(BINARY_ATTRIBUTES);

/**
 * An attribute's values as strings, whatever the case of its name in the entry; objectGUID and
 * objectSid in their string forms (ad-binary.ts), a malformed one left out.
 */
function values(entry: Entry, attribute: string): string[] {
  const wanted = attribute.toLowerCase();
  const key = Object.keys(entry).find((k) => k !== 'dn' && k.toLowerCase() === wanted);
  const raw = key === undefined ? undefined : entry[key];
  if (raw === undefined) return [];
  const decode = binaryDecoder(attribute);
  return (Array.isArray(raw) ? raw : [raw]).flatMap((v) => (Buffer.isBuffer(v) ? (decode ? (decode(v) ?? []) : v.toString('utf8')) : v));
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}
