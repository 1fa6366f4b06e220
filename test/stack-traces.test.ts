// components/stack-traces.ts: off by default, on with MAILSTACK_STACK_TRACES=1.
import { withoutStackTraces } from "../components/stack-traces";

test("stack traces are off unless MAILSTACK_STACK_TRACES=1", () => {
    const limit = Error.stackTraceLimit;
    try {
        Error.stackTraceLimit = 10;
        withoutStackTraces({ MAILSTACK_STACK_TRACES: "1" });
        expect(Error.stackTraceLimit).toBe(10);
        withoutStackTraces({});
        expect(Error.stackTraceLimit).toBe(0);
        expect(new Error("x").stack).toBe("Error: x");
    } finally {
        Error.stackTraceLimit = limit;
    }
});
