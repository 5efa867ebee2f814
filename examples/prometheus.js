// Prometheus metrics from the package's diagnostics channels, with prom-client: a histogram of token-route calls
// by outcome, and counters of the token guard's decisions. Call collectTokenMetrics() once at start-up; serve
// `await register.metrics()` on your metrics endpoint. It returns a function that stops collecting.
import { channel, tracingChannel } from 'node:diagnostics_channel';
import { Counter, Histogram, register as defaultRegister } from 'prom-client';
import { channelNames } from 'express-reteno-inbox';

export function collectTokenMetrics(register = defaultRegister) {
  const calls = new Histogram({
    name: 'reteno_inbox_token_call_duration_seconds',
    help: "Calls of the token route, by outcome ('token', 'busy', 'timeout', …)",
    labelNames: ['outcome'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [register],
  });
  const overBudget = new Counter({
    name: 'reteno_inbox_over_budget_total',
    help: 'Token calls answered 429 because the contact went over its token budget',
    registers: [register],
  });
  const backoffs = new Counter({
    name: 'reteno_inbox_backoff_windows_total',
    help: 'Back-off windows started after a 429 from Reteno, by reason',
    labelNames: ['reason'],
    registers: [register],
  });
  const backoffSeconds = new Counter({
    name: 'reteno_inbox_backoff_seconds_total',
    help: 'Seconds of back-off windows started after a 429 from Reteno',
    registers: [register],
  });

  const token = tracingChannel(channelNames.token);
  const handlers = {
    asyncEnd: (call) => calls.observe({ outcome: call.outcome }, call.durationMs / 1000),
  };
  const onBudget = () => overBudget.inc();
  const onBackoff = ({ seconds, reason }) => {
    backoffs.inc({ reason });
    backoffSeconds.inc(seconds);
  };
  token.subscribe(handlers);
  channel(channelNames.budget).subscribe(onBudget);
  channel(channelNames.backoff).subscribe(onBackoff);
  return () => {
    token.unsubscribe(handlers);
    channel(channelNames.budget).unsubscribe(onBudget);
    channel(channelNames.backoff).unsubscribe(onBackoff);
    for (const metric of [calls, overBudget, backoffs, backoffSeconds])
      register.removeSingleMetric(metric.name);
  };
}
