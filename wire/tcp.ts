// TCP: a connection with the reason when there is none, and a bare probe of a port.

import * as net from "node:net";

/** A TCP connection, or the reason there is none (refused, unreachable, the signal's time limit). */
export function connect(address: string, port: number, signal: AbortSignal): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
        const s = net.connect({ host: address, port });
        const abort = () => {
            s.destroy();
            reject(new Error(`no answer from ${address} port ${port} within the time limit`));
        };
        signal.addEventListener("abort", abort, { once: true });
        s.once("connect", () => {
            signal.removeEventListener("abort", abort);
            resolve(s);
        });
        s.once("error", (e: NodeJS.ErrnoException) => {
            signal.removeEventListener("abort", abort);
            reject(new Error(connectError(address, port, e)));
        });
    });
}

function connectError(address: string, port: number, e: NodeJS.ErrnoException): string {
    if (e.code === "ECONNREFUSED") return `${address} port ${port} refused the connection (nothing listening)`;
    if (e.code === "ENETUNREACH" || e.code === "EHOSTUNREACH")
        return `${address} is unreachable from here (${e.code}: no route to that network)`;
    return `${address} port ${port}: ${e.code ?? e.message}`;
}

/**
 * Whether `port` takes a TCP connection: "open", "refused" (nothing listens: a RST), or
 * "dropped" (no answer within `timeoutMs`: a firewall such as the cloud's drops it).
 */
export function tcpProbe(
    host: string,
    port: number,
    localAddress?: string,
    timeoutMs = 10_000,
): Promise<"open" | "refused" | "dropped"> {
    return new Promise((resolve, reject) => {
        const s = net.connect({ host, port, localAddress }, () => {
            s.destroy();
            resolve("open");
        });
        s.once("error", (err: NodeJS.ErrnoException) =>
            err.code === "ECONNREFUSED" ? resolve("refused") : reject(err),
        );
        s.setTimeout(timeoutMs, () => {
            s.destroy();
            resolve("dropped");
        });
    });
}
