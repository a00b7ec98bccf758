/**
 * Run at `npm run build`: cuts the status root (status-root.ts) from the SDK's definitions: the calls status makes,
 * every message they carry (transitively), and the packages errors and payloads use, whole.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { STATUS_CALLS, STATUS_ROOT_PATH, WHOLE_PACKAGES, sdkProto, type StatusRootFile } from './status-root.js';

/** The parts of protobufjs's reflection this uses. */
interface Reflected {
  name: string;
  fullName: string;
  parent: Reflected | null;
  options?: Record<string, unknown>;
  nestedArray?: Reflected[];
  fieldsArray?: { resolvedType: Reflected | null }[];
  values?: object;
  toJSON(): Record<string, unknown>;
}
interface ReflectedMethod {
  resolve(): ReflectedMethod;
  resolvedRequestType: Reflected;
  resolvedResponseType: Reflected;
  toJSON(): object;
}
interface ReflectedRoot extends Reflected {
  resolveAll(): void;
  lookup(path: string): Reflected;
  lookupService(path: string): Reflected & { methods: Record<string, ReflectedMethod> };
}

const isType = (object: Reflected) => object.fieldsArray !== undefined;
const isEnum = (object: Reflected) => object.values !== undefined;

function statusDefinitions(root: ReflectedRoot): object {
  root.resolveAll();
  const kept = new Set<Reflected>();
  const keep = (object: Reflected) => {
    if (kept.has(object)) return;
    kept.add(object);
    if (object.parent && isType(object.parent)) keep(object.parent); // a nested message travels in its parent
    for (const field of object.fieldsArray ?? []) if (field.resolvedType) keep(field.resolvedType);
    for (const nested of object.nestedArray ?? []) if (isType(nested) || isEnum(nested)) keep(nested);
  };
  const keepAll = (namespace: Reflected) => {
    for (const nested of namespace.nestedArray ?? []) {
      if (isType(nested) || isEnum(nested)) keep(nested);
      else keepAll(nested);
    }
  };
  WHOLE_PACKAGES.forEach((name) => keepAll(root.lookup(name)));

  const definitions: { nested: Record<string, object> } = { nested: {} };
  const place = (fullName: string, definition: object) => {
    const names = fullName.replace(/^\./, '').split('.');
    let inJson = definitions;
    let inRoot: Reflected = root;
    for (const name of names.slice(0, -1)) {
      inRoot = inRoot.nestedArray!.find((nested) => nested.name === name)!;
      const next = (inJson.nested[name] ??= { ...(inRoot.options ? { options: inRoot.options } : {}), nested: {} });
      inJson = next as typeof definitions;
    }
    inJson.nested[names[names.length - 1]] = definition;
  };
  for (const [name, calls] of Object.entries(STATUS_CALLS)) {
    const service = root.lookupService(name);
    const methods: Record<string, object> = {};
    for (const call of calls) {
      const method = service.methods[call].resolve();
      keep(method.resolvedRequestType);
      keep(method.resolvedResponseType);
      methods[call] = method.toJSON();
    }
    place(service.fullName, { ...(service.options ? { options: service.options } : {}), methods });
  }
  // A nested message or enum is part of its parent's definition.
  for (const object of kept) if (!(object.parent && isType(object.parent))) place(object.fullName, object.toJSON());
  return definitions;
}

const { version, rootModule } = sdkProto();
const root = createRequire(import.meta.url)(rootModule) as ReflectedRoot;
const file: StatusRootFile = { sdkVersion: version, definitions: statusDefinitions(root) };
writeFileSync(STATUS_ROOT_PATH, JSON.stringify(file));
