/** Command-line options of `npm run bench -- …`, with their defaults and bounds. */

export const USAGE = `usage: npm run bench -- [options]

  --rounds N            interleaved rounds per case; medians are reported (default 3)
  --duration S          seconds measured per case and round (default 10)
  --warmup S            seconds of unmeasured load before each measurement (default 2)
  --connections N       concurrent connections (default 50)
  --cases LIST          comma-separated case ids, or "default" / "all" (default: default)
  --skip LIST           case ids to leave out
  --quick               a smoke run: 1 round, 2 s, 1 s warm-up
  --load wrk|autocannon force a load generator (default: wrk when installed)
  --soak S              soak mode: S seconds of load on one case, RSS and event-loop delay over time
  --soak-case ID        the case to soak (default gw-redis)
  --interval S          soak sampling interval (default 10)
  --soak-mix N          soak: N sessions a second beside the load, each a password grant, a refresh
                        and two RFC 7009 revocations, their tokens used and refused (default 2; 0 = off)
  --no-soak-mix         soak the resource path alone (the same as --soak-mix 0)
  --soak-login file|ldap  the sessions' validator: the users file (argon2id, 64 MiB a verification)
                        or slapd (the gateway gets the LDAP validator too) (default file)
  --memory-limit MB     start every gateway in a memory cgroup of MB, as a container's limit (Node sizes
                        V8's heap from it; root and a cgroup memory controller needed; the Helm chart's is 256)
  --profile ID          profile mode: run one case with the server under node --cpu-prof, print the top frames
  --no-build            do not rebuild dist/ even when src/ is newer
  --allow-build-errors  go on when npm run build reports type errors (others' work in progress)
  --help                this text
`;

export interface Options {
  readonly rounds: number;
  readonly duration: number;
  readonly warmup: number;
  readonly connections: number;
  readonly cases: string;
  readonly skip: readonly string[];
  readonly load: 'wrk' | 'autocannon' | undefined;
  readonly soak: number | undefined;
  readonly soakCase: string;
  readonly interval: number;
  /** Token sessions per second during a soak (bench/lib/soak-mix.ts); 0 = resource path only. */
  readonly soakMix: number;
  /** The validator of the soak's password grants. */
  readonly soakLogin: 'file' | 'ldap';
  readonly profile: string | undefined;
  /** MB of a memory cgroup every gateway runs in (bench/lib/cgroup.ts); undefined: none. */
  readonly memoryLimit: number | undefined;
  readonly build: boolean;
  readonly allowBuildErrors: boolean;
}

export class UsageError extends Error {}

function int(name: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${name}: a whole number from ${min} to ${max} is required, not ${JSON.stringify(value)}`);
  return n;
}

export function parseArgs(argv: readonly string[]): Options | 'help' {
  const o = {
    rounds: 3,
    duration: 10,
    warmup: 2,
    connections: 50,
    cases: 'default',
    skip: [] as string[],
    load: undefined as Options['load'],
    soak: undefined as number | undefined,
    soakCase: 'gw-redis',
    interval: 10,
    soakMix: 2,
    soakLogin: 'file' as Options['soakLogin'],
    profile: undefined as string | undefined,
    memoryLimit: undefined as number | undefined,
    build: true,
    allowBuildErrors: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg}: a value is required`);
      return v;
    };
    switch (arg) {
      case '--rounds':
        o.rounds = int(arg, value(), 1, 20);
        break;
      case '--duration':
        o.duration = int(arg, value(), 1, 300);
        break;
      case '--warmup':
        o.warmup = int(arg, value(), 0, 60);
        break;
      case '--connections':
        o.connections = int(arg, value(), 1, 1000);
        break;
      case '--cases':
        o.cases = value();
        break;
      case '--skip':
        o.skip = value().split(',').filter(Boolean);
        break;
      case '--quick':
        o.rounds = 1;
        o.duration = 2;
        o.warmup = 1;
        break;
      case '--load': {
        const v = value();
        if (v !== 'wrk' && v !== 'autocannon') throw new UsageError('--load: wrk or autocannon');
        o.load = v;
        break;
      }
      case '--soak':
        o.soak = int(arg, value(), 10, 3600);
        break;
      case '--soak-case':
        o.soakCase = value();
        break;
      case '--interval':
        o.interval = int(arg, value(), 2, 300);
        break;
      case '--soak-mix':
        o.soakMix = int(arg, value(), 0, 20);
        break;
      case '--soak-login': {
        const v = value();
        if (v !== 'file' && v !== 'ldap') throw new UsageError('--soak-login: file or ldap');
        o.soakLogin = v;
        break;
      }
      case '--no-soak-mix':
        o.soakMix = 0;
        break;
      case '--profile':
        o.profile = value();
        break;
      case '--memory-limit':
        o.memoryLimit = int(arg, value(), 64, 65536);
        break;
      case '--no-build':
        o.build = false;
        break;
      case '--allow-build-errors':
        o.allowBuildErrors = true;
        break;
      case '--help':
      case '-h':
        return 'help';
      default:
        throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
    }
  }
  return o;
}
