// Pulumi's Node.js SDK records a stack trace for every promise it makes (runtime/debuggable.js,
// for its leak report at exit), and formats each one through the source maps of the
// TypeScript loader. With a few promises per resource, that is most of what a preview of a
// large stack costs: 100 domains evaluate about three times faster without (npm run bench,
// docs/benchmarks.md). So the program runs without stack traces; mailstack's own errors
// say what is wrong in their message (a config error names its key path). To debug the
// program itself: MAILSTACK_STACK_TRACES=1 pulumi preview.

/** Switch stack traces off for this process unless MAILSTACK_STACK_TRACES=1. */
export function withoutStackTraces(env: NodeJS.ProcessEnv = process.env): void {
    if (env.MAILSTACK_STACK_TRACES !== "1") Error.stackTraceLimit = 0;
}
