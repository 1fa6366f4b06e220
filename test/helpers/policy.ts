// Runs the policy pack's policies the way @pulumi/policy's analyzer server does
// (node_modules/@pulumi/policy/server.js): props behind the SDK's unknown-checking proxy,
// isType by the class's Pulumi type, notApplicable as a thrown stop, every reportViolation
// collected. Resources come hand-built or from the mocks' record of the real program.

import {
    unknownCheckingProxy,
    type PolicyResource,
    type PolicyResourceOptions,
    type ResourceValidationArgs,
    type ResourceValidationPolicy,
    type StackValidationArgs,
    type StackValidationPolicy,
} from "@pulumi/policy";

import type { RecordedOptions, RecordedResource } from "./mocks";

export interface Violation {
    readonly message: string;
    /** The resource a stack policy named; resource policies always mean the resource checked. */
    readonly urn?: string;
}

export interface Outcome {
    readonly violations: Violation[];
    /** Set when the policy said it does not apply (e.g. another resource type). */
    readonly notApplicable?: string;
}

class NotApplicable extends Error {}

type ResourceClass = { new (...rest: any[]): unknown; __pulumiType?: string };
const isTypeOf = (type: string, cls: ResourceClass) => cls.__pulumiType === type;

export interface ResourceSpec {
    readonly type: string;
    readonly name: string;
    readonly props: Record<string, any>;
    readonly protect?: boolean;
    readonly ignoreChanges?: string[];
}

export const urnOf = (type: string, name: string) => `urn:pulumi:test::mailstack::${type}::${name}`;

function optionsOf(spec: { protect?: boolean; ignoreChanges?: string[] }): PolicyResourceOptions {
    return {
        protect: spec.protect ?? false,
        ignoreChanges: spec.ignoreChanges ?? [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
    };
}

const common = {
    stackTags: new Map<string, string>() as ReadonlyMap<string, string>,
    getConfig: <T extends object>() => ({}) as T,
    notApplicable: (reason?: string): never => {
        throw new NotApplicable(reason ?? "");
    },
};

/** One resource policy against one resource, as the engine's Analyze call would run it. */
export async function checkResource(policy: ResourceValidationPolicy, spec: ResourceSpec): Promise<Outcome> {
    const props = unknownCheckingProxy(spec.props);
    const args: ResourceValidationArgs = {
        ...common,
        type: spec.type,
        props,
        urn: urnOf(spec.type, spec.name),
        name: spec.name,
        opts: optionsOf(spec),
        isType: (cls) => isTypeOf(spec.type, cls as ResourceClass),
        asType: ((cls: ResourceClass) =>
            isTypeOf(spec.type, cls) ? props : undefined) as ResourceValidationArgs["asType"],
    };
    const violations: Violation[] = [];
    const validations = [policy.validateResource ?? []].flat();
    try {
        for (const validate of validations) await validate(args, (message) => violations.push({ message }));
    } catch (e) {
        if (e instanceof NotApplicable) return { violations, notApplicable: e.message };
        throw e;
    }
    return { violations };
}

export interface StackResourceSpec extends ResourceSpec {
    /** Input name -> names of the resources its value came from (the engine's propertyDependencies). */
    readonly propertyDependencies?: Record<string, string[]>;
}

/** Stack resources as AnalyzeStack hands them over, dependencies linked by name. */
export function stackResources(specs: readonly StackResourceSpec[]): PolicyResource[] {
    const byName = new Map<string, PolicyResource>();
    const resources = specs.map((spec) => {
        const props = unknownCheckingProxy(spec.props);
        const r: PolicyResource = {
            type: spec.type,
            props,
            urn: urnOf(spec.type, spec.name),
            name: spec.name,
            opts: optionsOf(spec),
            dependencies: [],
            propertyDependencies: {},
            isType: (cls) => isTypeOf(spec.type, cls as ResourceClass),
            asType: ((cls: ResourceClass) =>
                isTypeOf(spec.type, cls) ? props : undefined) as PolicyResource["asType"],
        };
        byName.set(spec.name, r);
        return r;
    });
    specs.forEach((spec, i) => {
        for (const [key, names] of Object.entries(spec.propertyDependencies ?? {})) {
            const deps = names.map((n) => {
                const d = byName.get(n);
                if (!d) throw new Error(`${spec.name}.${key} depends on ${n}, which is not in the stack`);
                return d;
            });
            resources[i].propertyDependencies[key] = deps;
            resources[i].dependencies.push(...deps.filter((d) => !resources[i].dependencies.includes(d)));
        }
    });
    return resources;
}

/** One stack policy against a whole stack, as the engine's AnalyzeStack call would run it. */
export async function checkStack(policy: StackValidationPolicy, resources: PolicyResource[]): Promise<Outcome> {
    const args: StackValidationArgs = { ...common, resources };
    const violations: Violation[] = [];
    try {
        await policy.validateStack(args, (message, urn) => violations.push({ message, ...(urn ? { urn } : {}) }));
    } catch (e) {
        if (e instanceof NotApplicable) return { violations, notApplicable: e.message };
        throw e;
    }
    return { violations };
}

/**
 * The program's resources as the mocks recorded them, as the engine would describe them to
 * the policy pack: inputs as props (the mocks' outputs are the inputs, plus computed values
 * the policies do not read), `protect` and `ignoreChanges` from the recorded options, and a
 * property's dependencies found the way its value got there: an input equal to another
 * resource's id came from that resource (`primaryIpId: ip4.id.apply(Number)`, also inside a list
 * of objects such as the server's `publicNets`).
 */
export function fromMocks(
    created: readonly RecordedResource[],
    options: readonly RecordedOptions[],
): { specs: StackResourceSpec[]; resources: PolicyResource[] } {
    const byId = new Map(created.map((r) => [r.id, r.name] as const));
    const specs = created.map((r): StackResourceSpec => {
        const o = options.find((x) => x.type === r.type && x.name === r.name);
        if (!o) throw new Error(`no recorded options for ${r.type} ${r.name}`);
        const propertyDependencies: Record<string, string[]> = {};
        // The scalars anywhere inside a value: an id may sit in a list of objects
        // (`publicNets: [{ipv4: ip4.id.apply(Number), ...}]`).
        const scalars = (v: unknown): (string | number)[] =>
            typeof v === "string" || typeof v === "number"
                ? [v]
                : Array.isArray(v)
                  ? v.flatMap(scalars)
                  : v !== null && typeof v === "object"
                    ? Object.values(v).flatMap(scalars)
                    : [];
        for (const [key, value] of Object.entries(r.inputs)) {
            const from = scalars(value)
                .map((v) => byId.get(String(v)))
                .filter((n): n is string => n !== undefined && n !== r.name);
            if (from.length) propertyDependencies[key] = from;
        }
        return {
            type: r.type,
            name: r.name,
            props: r.inputs,
            protect: o.protect === true,
            ...(o.ignoreChanges ? { ignoreChanges: o.ignoreChanges } : {}),
            propertyDependencies,
        };
    });
    return { specs, resources: stackResources(specs) };
}
