/**
 * Validates rendered Kubernetes manifests against the Kubernetes OpenAPI schemas, as compiled
 * into the `kubernetes-models` package (Kubernetes 1.27 API) and, for the ServiceMonitor, into
 * `@kubernetes-models/prometheus-operator`: types, required fields and enums.
 *
 * Those schemas, like the API server's own OpenAPI, do not forbid unknown fields, while the API
 * server (strict field validation, kubectl's default) refuses them. So a second check reports
 * every field the schema does not know — a misspelt `readOnlyRootFileSystem` would otherwise
 * pass and then be refused (or ignored) by the cluster. It watches which properties the
 * compiled validator reads: it reads every property its schema declares and enumerates the
 * keys of free-form maps, so a key it never touches is one the schema does not know.
 */

export interface Manifest {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { readonly name?: string; readonly [key: string]: unknown };
  readonly [key: string]: unknown;
}

interface ModelClass {
  new (data?: unknown): { validate(): void };
}

/** The module exporting each apiVersion's models. */
function modulePath(apiVersion: string): string {
  if (apiVersion === 'monitoring.coreos.com/v1') return '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
  return `kubernetes-models/${apiVersion}`;
}

/** The problems of one manifest (empty when valid), each as `Kind/name: path: message`. */
export async function validateManifest(manifest: Manifest): Promise<string[]> {
  const where = `${manifest.kind ?? '?'}/${manifest.metadata?.name ?? '?'}`;
  if (!manifest.apiVersion || !manifest.kind) return [`${where}: apiVersion and kind are required`];
  let Model: ModelClass | undefined;
  try {
    const module = (await import(modulePath(manifest.apiVersion))) as Record<string, unknown>;
    Model = module[manifest.kind] as ModelClass | undefined;
  } catch {
    // reported below
  }
  if (!Model) return [`${where}: no schema for ${manifest.apiVersion} ${manifest.kind}`];

  const problems: string[] = [];
  const tracker = new ReadTracker();
  const tracked = tracker.wrap(manifest, '');
  try {
    // The model's validate() runs the compiled schema on `this`: give it the tracked copy.
    Model.prototype.validate.call(tracked);
  } catch (err) {
    const errors = (err as { errors?: { instancePath: string; message?: string }[] }).errors;
    if (errors) problems.push(...errors.map((e) => `${where}: ${e.instancePath || '/'}: ${e.message ?? 'invalid'}`));
    else problems.push(`${where}: ${(err as Error).message}`);
  }
  // Unknown fields only make sense once the known ones validate (a wrong type stops the descent).
  if (problems.length === 0) problems.push(...tracker.unread().map((path) => `${where}: ${path}: unknown field`));
  return problems;
}

/** Wraps objects in proxies that record which of their keys were read or enumerated. */
class ReadTracker {
  private readonly objects: { path: string; target: Record<string, unknown>; read: Set<string> }[] = [];

  wrap<T>(value: T, path: string): T {
    if (Array.isArray(value)) return value.map((item, i) => this.wrap(item, `${path}/${i}`)) as T;
    if (typeof value !== 'object' || value === null) return value;
    const target: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) target[key] = this.wrap(child, `${path}/${key}`);
    const read = new Set<string>();
    this.objects.push({ path, target, read });
    const all = (): void => {
      for (const key of Object.keys(target)) read.add(key);
    };
    return new Proxy(target, {
      get(obj, key, receiver) {
        if (typeof key === 'string') read.add(key);
        return Reflect.get(obj, key, receiver);
      },
      has(obj, key) {
        if (typeof key === 'string') read.add(key);
        return Reflect.has(obj, key);
      },
      ownKeys(obj) {
        all();
        return Reflect.ownKeys(obj);
      },
    }) as T;
  }

  /** Paths of keys no validator read (keys of objects the validator never entered are skipped). */
  unread(): string[] {
    const out: string[] = [];
    for (const { path, target, read } of this.objects) {
      if (read.size === 0) continue;
      for (const key of Object.keys(target)) if (!read.has(key)) out.push(`${path}/${key}`);
    }
    return out;
  }
}
