// A span for every call of the token route, from the package's diagnostics channel, with OpenTelemetry's API.
// Call traceTokenCalls() once at start-up, after your OpenTelemetry SDK is set up; it returns a function that stops.
// The span is a child of the span active when the call reaches the route (e.g. the HTTP server span of
// @opentelemetry/instrumentation-http). Answers of 5xx, and errors passed to next(), mark the span as an error.
import { tracingChannel } from 'node:diagnostics_channel';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { channelNames } from 'express-reteno-inbox';

export function traceTokenCalls(tracer = trace.getTracer('express-reteno-inbox')) {
  const spans = new WeakMap();
  const handlers = {
    start(call) {
      spans.set(call, tracer.startSpan('reteno-inbox token'));
    },
    error(call) {
      const span = spans.get(call);
      if (call.error instanceof Error) span?.recordException(call.error);
    },
    asyncEnd(call) {
      const span = spans.get(call);
      if (!span) return;
      span.setAttributes({
        'reteno_inbox.outcome': call.outcome,
        'reteno_inbox.attempts': call.attempts,
        'reteno_inbox.waited_ms': call.waitedMs,
        ...(call.status === undefined ? {} : { 'http.response.status_code': call.status }),
        ...(call.upstreamStatus === undefined ? {} : { 'reteno_inbox.upstream_status': call.upstreamStatus }),
      });
      if (call.status === undefined || call.status >= 500) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: call.outcome });
      }
      span.end();
    },
  };
  const channel = tracingChannel(channelNames.token);
  channel.subscribe(handlers);
  return () => channel.unsubscribe(handlers);
}
