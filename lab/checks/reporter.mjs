// node:test reporter for the lab: one JSON line per test (not per suite) for run.ts's report.
export default async function* labReporter(source) {
    for await (const event of source) {
        if (event.type !== "test:pass" && event.type !== "test:fail") continue;
        const { data } = event;
        if (data.details?.type === "suite") continue;
        const err = data.details?.error;
        const status =
            event.type === "test:fail" ? "fail" : data.skip !== undefined || data.todo !== undefined ? "skip" : "pass";
        yield `${JSON.stringify({
            name: data.name,
            status,
            ms: data.details?.duration_ms ?? 0,
            file: data.file,
            ...(err ? { error: String(err.cause?.message ?? err.cause ?? err.message) } : {}),
        })}\n`;
    }
}
